"""Temporal smoothing of predicted ab: per-frame colourisation flickers, so average ab over neighbours.

Two methods, chosen by ``SmoothingConfig.method``:

``"flow"`` (default, motion-compensated and recursive). Optical flow (DIS, :mod:`vidcolor.flow`)
is estimated on L between consecutive frames of a shot, both ways. A running estimate of ab (a
weighted sum of ab and the sum of its weights) is carried along the flow from frame to frame, once
forwards from the start of the shot and once backwards from its end; at each step the carried sums
are sampled where the flow says each pixel of the new frame came from and added to its own ab:

    S_t = ab_t + alpha * trusted_t * exp(-(L_t - L_prev(warped))^2 / (2 luma_sigma^2)) * S_prev(warped)

- alpha = radius / (radius + 1): what lies k steps back weighs alpha^k, so each side together
  weighs ``radius`` times the frame itself, and colour is averaged over many frames for the cost
  of one flow (:class:`vidcolor.flow.PairFlows`: the forward flow by DIS, the backward one its
  inverse) and two samples per frame.
- trusted_t is the forward-backward check of that step (0 where the flow folds, at occlusions,
  or came from outside the frame): there the estimate restarts from the frame's own ab, so colour
  follows the object, not the pixel. The luma term rejects what the flow got wrong.
- The result is (forward sums + backward sums - frame t) / (their weights - 1): frame t once,
  both sides of it. Flow is never computed across a scene cut, so no colour crosses it.
- All of it runs at half the frames' size (``SmoothingConfig.scale``; the size the flow is
  estimated at anyway), area-averaged, and the result is brought back by joint bilateral
  upsampling guided by L, so colour keeps to the edges of L. Measured on real footage
  (benchmarks/RESULTS.md, smoothing): less flicker and warping error than the sums at full size
  with two flows, for about half the CPU time.

``"window"`` (the previous method, kept for comparison): neighbours in [i - radius, i + radius]
averaged in place with weights exp(-(i - j)^2 / (2 sigma_t^2)) and a luma term on |L_i - L_j| at
the same pixel; it cannot follow motion, it only avoids ghosts.

Segments: a frame's result depends only on its shot's frames and, for "flow", ever less on frames
further away (a cut between k-1 and k, and the flow between them, are decided from those two frames
alone). A video processed in segments carrying :func:`context_frames` context frames on each side
(radius for "window"; for "flow" enough that what lies beyond weighs too little to move ab by more
than ``SEAM_TOLERANCE``) gives the same ab for the frames each segment owns as the whole video.

Arrays are numpy, channel-first: ``l`` is normalised L (N, 1, h, w) in [-1, 1] and ``ab`` normalised
ab (N, 2, h, w) in [-1, 1] (see :mod:`vidcolor.color`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vidcolor.errors import UsageError

# Measured on bikes.mp4 (6 hard cuts) at 96x64: cuts score 0.124-0.706, in-shot pairs at most 0.094;
# bigbuckbunny and carphone (no cuts) stay under 0.05. A missed cut costs more than a false one (the
# luma term limits bleed, a false cut only shortens smoothing for a few frames), so err low.
DEFAULT_CUT_THRESHOLD = 0.11
DEFAULT_HIST_BINS = 32
METHODS = ("flow", "window")
# Normalised ab: segments agree with the whole video to this (0.128 Lab units, far below visible).
SEAM_TOLERANCE = 1e-3


@dataclass
class SmoothingConfig:
    radius: int = (
        3  # strength: weight of each side relative to the frame ("window": frames); 0 = off
    )
    sigma_t: float = 2.0  # "window" only: temporal gaussian, in frames
    luma_sigma: float = 0.1  # per-pixel falloff on |L_i - L_j| in normalised L (0.1 = 5 L* units)
    cut_threshold: float = (
        DEFAULT_CUT_THRESHOLD  # L-histogram distance (0..1) that starts a new shot
    )
    hist_bins: int = DEFAULT_HIST_BINS  # bins of the L histogram used for cut detection
    method: str = "flow"  # "flow": motion-compensated; "window": in place (the old method)
    scale: float = 0.5  # "flow": size the flow and the running sums work at (flow.FLOW_SCALE)

    def __post_init__(self):
        if self.radius < 0:
            raise UsageError(f"smoothing radius must be >= 0, got {self.radius}")
        if self.sigma_t <= 0 or self.luma_sigma <= 0:
            raise UsageError(
                f"smoothing sigma_t and luma_sigma must be > 0, got {self.sigma_t}, {self.luma_sigma}"
            )
        if not 0 < self.cut_threshold <= 1:
            raise UsageError(f"cut_threshold must be in (0, 1], got {self.cut_threshold}")
        if self.hist_bins < 2:
            raise UsageError(f"hist_bins must be >= 2, got {self.hist_bins}")
        if self.method not in METHODS:
            raise UsageError(f"smoothing method must be one of {METHODS}, got {self.method!r}")


def _check_frames(name: str, x: np.ndarray, channels: int) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must have shape (N, {channels}, h, w), got {x.shape}")


def cut_scores(l: np.ndarray, *, bins: int = DEFAULT_HIST_BINS) -> np.ndarray:  # noqa: E741
    """Histogram distance between consecutive frames: (N,) float64, score[i] compares i-1 and i
    (score[0] = 0). Total variation distance of the L histograms, in [0, 1]."""
    l = np.asarray(l)  # noqa: E741 (the API names the L channel l)
    _check_frames("l", l, 1)
    n = l.shape[0]
    from vidcolor.smooth_kernel import histograms

    hist = histograms(np.ascontiguousarray(l[:, 0], np.float32), bins) / l[0].size
    scores = np.zeros(n, dtype=np.float64)
    scores[1:] = 0.5 * np.abs(hist[1:] - hist[:-1]).sum(axis=1)
    return scores


def detect_cuts(
    l: np.ndarray,  # noqa: E741
    *,
    threshold: float = DEFAULT_CUT_THRESHOLD,
    bins: int = DEFAULT_HIST_BINS,
) -> list[int]:
    """Indices i where a new shot starts (frames i-1 and i belong to different shots)."""
    return [int(i) for i in np.nonzero(cut_scores(l, bins=bins) > threshold)[0]]


def smooth_ab(
    ab: np.ndarray,
    l: np.ndarray,  # noqa: E741
    config: SmoothingConfig,
    cuts: list[int] | None = None,
) -> np.ndarray:
    """Smooth ab over time (see module docstring). ``cuts`` are shot starts as indices into these
    frames; None detects them from ``l``. Returns float32 (N, 2, h, w)."""
    ab = np.asarray(ab, dtype=np.float32)
    l = np.asarray(l, dtype=np.float32)  # noqa: E741
    _check_frames("ab", ab, 2)
    _check_frames("l", l, 1)
    if ab.shape[0] != l.shape[0] or ab.shape[2:] != l.shape[2:]:
        raise ValueError(f"ab {ab.shape} and l {l.shape} must have the same frames and size")
    n = ab.shape[0]
    if config.radius == 0 or n < 2:
        return ab.copy()
    if cuts is None:
        cuts = detect_cuts(l, threshold=config.cut_threshold, bins=config.hist_bins)
    shot = shot_numbers(cuts, n)
    if config.method == "window":
        return _smooth_in_place(ab, l, config, shot)
    return _smooth_along_flow(ab, l, config, shot)


def shot_numbers(cuts: list[int], n: int) -> np.ndarray:
    """(n,) int64: the shot each of ``n`` frames belongs to (0, 1, ...) given shot starts ``cuts``."""
    starts = np.zeros(n, dtype=np.int64)
    for c in cuts:
        if not 0 <= c < n:
            raise ValueError(f"cut index {c} outside 0..{n - 1}")
        starts[c] = 1
    return np.cumsum(starts)


def _temporal_weights(config: SmoothingConfig) -> list[np.float32]:
    """Weight of a neighbour d frames away, index d (d = 0 unused)."""
    return [
        np.float32(np.exp(-(d * d) / (2.0 * config.sigma_t**2))) for d in range(config.radius + 1)
    ]


def _smooth_in_place(
    ab: np.ndarray,
    l: np.ndarray,  # noqa: E741
    config: SmoothingConfig,
    shot: np.ndarray,
) -> np.ndarray:
    """The "window" method: neighbours averaged at the same pixel, luma term on |L_i - L_j|."""
    n = ab.shape[0]
    num = ab.copy()  # frame i's own weight is 1
    den = np.ones((n, 1, *ab.shape[2:]), dtype=np.float32)
    inv_2luma = np.float32(1.0 / (2.0 * config.luma_sigma**2))
    time_weight = _temporal_weights(config)
    # One pass per offset d, pairing (i, i+d) both ways. Frame i's sum is built in the same order
    # (own, +1, -1, +2, -2, ...) whatever slice of the video it sits in, so segments match exactly.
    for d in range(1, min(config.radius, n - 1) + 1):
        pairs = np.nonzero(shot[:-d] == shot[d:])[0]
        if pairs.size == 0:
            continue
        a, b = pairs, pairs + d
        diff = l[a] - l[b]
        w = time_weight[d] * np.exp(-(diff * diff) * inv_2luma)
        # a (and b) hold distinct indices for a fixed d, so fancy-index += does not drop updates.
        num[a] += w * ab[b]
        den[a] += w
        num[b] += w * ab[a]
        den[b] += w
    return num / den


def memory_weight(radius: int) -> float:
    """alpha of the flow method: one step along the flow keeps this share of the running estimate,
    so the frames on each side together weigh ``radius`` times the frame itself."""
    return radius / (radius + 1.0)


def context_frames(config: SmoothingConfig, tolerance: float = SEAM_TOLERANCE) -> int:
    """Context frames a segment needs on each side so that its owned frames get the ab of the
    whole video to within ``tolerance`` (normalised ab).

    "window": exactly ``radius``. "flow": what lies k or more frames away weighs at most
    alpha^k / (1 - alpha) against the frame's own weight of 1, and two ab differ by at most 2,
    so leaving it out moves the result by at most 2 alpha^k / (1 - alpha)."""
    if config.radius == 0 or config.method == "window":
        return config.radius
    alpha = memory_weight(config.radius)
    return math.ceil(math.log(tolerance * (1.0 - alpha) / 2.0) / math.log(alpha))


def _working_size(h: int, w: int, scale: float) -> tuple[int, int] | None:
    """(rows, columns) the flow method's sums work at, or None for the frames' own size: ``scale``
    of it, never fewer than MIN_FLOW_SIDE on the short side (the flow's own floor)."""
    from vidcolor.flow import MIN_FLOW_SIDE

    size = (round(h * scale), round(w * scale))
    return size if scale < 1.0 and min(size) >= MIN_FLOW_SIDE else None


def _area(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, C, h, w) float32 -> (N, C, *size), area-averaged plane by plane."""
    import cv2

    out = np.empty((*x.shape[:2], *size), np.float32)
    for i, frame in enumerate(x):
        for c, plane in enumerate(frame):
            out[i, c] = cv2.resize(plane, size[::-1], interpolation=cv2.INTER_AREA)
    return out


def _smooth_along_flow(
    ab: np.ndarray,
    l: np.ndarray,  # noqa: E741
    config: SmoothingConfig,
    shot: np.ndarray,
) -> np.ndarray:
    """The "flow" method at ``config.scale`` of the size (module docstring): the flow was
    estimated there already, and the running sums cost a quarter there; the result comes back to
    full size by joint bilateral upsampling guided by L, so colour keeps to edges in L. Measured
    against the sums at full size (benchmarks/RESULTS.md, smoothing): flicker and warping error
    as low or lower, ab-PSNR as high or higher, at 0.3-0.7x of the cost."""
    from vidcolor.flow import SMOOTHING_DIS, PairFlows
    from vidcolor.smooth_kernel import upsample_guided

    size = _working_size(*l.shape[2:], config.scale)
    if size is None:
        # Frames too small to shrink (small test clips, --model-size under 192): own size.
        return _recursive(ab, l, config, shot, PairFlows(l, config.scale, one_flow=True))
    l_small = _area(l, size)
    flows = PairFlows(l_small, 1.0, settings=SMOOTHING_DIS, one_flow=True)
    small = _recursive(_area(ab, size), l_small, config, shot, flows)
    out = np.empty_like(ab)
    # A sample stops counting 3 luma_sigma away in L (15 L* units by default).
    inv_width2 = np.float32(1.0 / (3.0 * config.luma_sigma) ** 2)
    for t in range(len(ab)):
        upsample_guided(small[t], l_small[t, 0], l[t, 0], inv_width2, out[t])
    return out


def _recursive(
    ab: np.ndarray,
    l: np.ndarray,  # noqa: E741
    config: SmoothingConfig,
    shot: np.ndarray,
    flows,
) -> np.ndarray:
    """A running estimate carried along the flow from the start of the shot and one from its
    end, each frame counted once. One compiled pass per frame and direction
    (:mod:`vidcolor.smooth_kernel`); ``flows`` (:class:`vidcolor.flow.PairFlows` of ``l``) are
    computed once per pair and serve both passes."""
    import cv2

    from vidcolor.smooth_kernel import carry_step, combine, first_step

    n, _, h, w = ab.shape
    alpha = np.float32(memory_weight(config.radius))
    k = np.float32(-1.0 / (2.0 * config.luma_sigma**2))
    l2 = np.ascontiguousarray(l[:, 0])
    back = np.empty((n, h, w, 4), np.float32)  # the backward pass's sums, frame by frame

    def step(t: int, other: int, before: np.ndarray | None, out: np.ndarray) -> None:
        if before is None or not 0 <= other < n or shot[other] != shot[t]:
            first_step(l2[t], ab[t], out)  # the first frame of the pass or of a shot
        else:
            x, y = flows.positions(t, other)
            seen = cv2.remap(before, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            carry_step(seen, flows.trust(t, other), l2[t], ab[t], alpha, k, out)

    for t in range(n - 1, -1, -1):
        step(t, t + 1, back[t + 1] if t + 1 < n else None, back[t])
    out = np.empty_like(ab)
    ahead, now = np.empty((h, w, 4), np.float32), np.empty((h, w, 4), np.float32)
    for t in range(n):
        step(t, t - 1, ahead if t > 0 else None, now)
        combine(now, back[t], ab[t], out[t])
        ahead, now = now, ahead
    return out
