"""Temporal smoothing of predicted ab: per-frame colourisation flickers, so average ab over neighbours.

Two methods, chosen by ``SmoothingConfig.method``:

``"flow"`` (default, motion-compensated). Optical flow (DIS, :mod:`vidcolor.flow`) is estimated on L
between consecutive frames of a shot, both ways. For frame i and each neighbour j in
[i - radius, i + radius], the consecutive flows are chained to find where every pixel of i is in j,
j's ab is sampled there and blended in with weight

    w_ij = exp(-(i - j)^2 / (2 sigma_t^2)) * trusted_ij * exp(-(L_i - L_j(warped))^2 / (2 luma_sigma^2))

- trusted_ij is the product of the forward-backward checks along the chain (0 where the pixel is
  occluded or leaves the frame on the way), so colour follows the object, not the pixel.
- The luma term rejects what the flow got wrong: sampled L that does not match L_i.
- Frame i itself has weight 1. Flow is never computed across a scene cut, so no colour crosses it.

``"window"`` (the previous method, kept for comparison): the same window averaged in place, with a
luma term on |L_i - L_j| at the same pixel; it cannot follow motion, it only avoids ghosts.

Locality, on purpose: everything frame i gets depends only on frames in [i - radius, i + radius]
(a cut between k-1 and k, and the flow between them, are decided from those two frames alone; the
sum for frame i is built in one fixed order). A video processed in segments that carry
``overlap >= radius`` context frames on each side therefore gives the same ab for the frames each
segment owns as the whole video in one go.

Arrays are numpy, channel-first: ``l`` is normalised L (N, 1, h, w) in [-1, 1] and ``ab`` normalised
ab (N, 2, h, w) in [-1, 1] (see :mod:`vidcolor.color`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidcolor.errors import UsageError

# Measured on bikes.mp4 (6 hard cuts) at 96x64: cuts score 0.124-0.706, in-shot pairs at most 0.094;
# bigbuckbunny and carphone (no cuts) stay under 0.05. A missed cut costs more than a false one (the
# luma term limits bleed, a false cut only shortens smoothing for a few frames), so err low.
DEFAULT_CUT_THRESHOLD = 0.11
DEFAULT_HIST_BINS = 32
METHODS = ("flow", "window")


@dataclass
class SmoothingConfig:
    radius: int = 3  # frames on each side; 0 turns smoothing off
    sigma_t: float = 2.0  # temporal gaussian, in frames
    luma_sigma: float = 0.1  # per-pixel falloff on |L_i - L_j| in normalised L (0.1 = 5 L* units)
    cut_threshold: float = (
        DEFAULT_CUT_THRESHOLD  # L-histogram distance (0..1) that starts a new shot
    )
    hist_bins: int = DEFAULT_HIST_BINS  # bins of the L histogram used for cut detection
    method: str = "flow"  # "flow": motion-compensated; "window": in place (the old method)

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
    flat = np.clip(l.reshape(n, -1), -1.0, 1.0)
    # Bin index per pixel, then one bincount per frame (offset so frames do not mix).
    idx = np.minimum(((flat + 1.0) * (bins / 2.0)).astype(np.int64), bins - 1)
    idx += np.arange(n)[:, None] * bins
    hist = np.bincount(idx.ravel(), minlength=n * bins).reshape(n, bins) / flat.shape[1]
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
    starts = np.zeros(n, dtype=np.int64)
    for c in cuts:
        if not 0 <= c < n:
            raise ValueError(f"cut index {c} outside 0..{n - 1}")
        starts[c] = 1
    shot = np.cumsum(starts)
    if config.method == "window":
        return _smooth_in_place(ab, l, config, shot)
    return _smooth_along_flow(ab, l, config, shot)


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


def _smooth_along_flow(
    ab: np.ndarray,
    l: np.ndarray,  # noqa: E741
    config: SmoothingConfig,
    shot: np.ndarray,
) -> np.ndarray:
    """The "flow" method (module docstring): neighbours' ab sampled where the chained flow says each
    pixel went, weighted by time, the forward-backward checks along the chain and matching L."""
    import cv2

    from vidcolor import flow

    n, _, h, w = ab.shape
    grid = flow.pixel_grid(h, w)
    near = _Neighbourhood(ab, l, shot, grid)
    time_weight = _temporal_weights(config)
    minus_inv_2luma = np.float32(-1.0 / (2.0 * config.luma_sigma**2))
    out = np.empty_like(ab)
    for i in range(n):
        near.forget_before(i - config.radius)
        num_a, num_b = ab[i, 0].copy(), ab[i, 1].copy()  # frame i's own weight is 1
        den = np.ones((h, w), np.float32)
        for direction in (1, -1):  # always this order, so any slice of the video sums alike
            (x, y), trust, j = grid, np.ones((h, w), np.float32), i
            for d in range(1, config.radius + 1):
                step = near.step(j, direction)
                if step is None:  # end of the frames, or a cut: the chain stops
                    break
                dx, dy, step_trust, _ = cv2.split(flow.sample(step, x, y))
                x, y = x + dx, y + dy
                trust *= step_trust
                j += direction
                # Interpolated flow can land a trusted pixel a fraction of a pixel outside the
                # frame: take the edge's colour there, not black (trust goes to 0 further out).
                seen = flow.sample(near.frame(j), x, y, edge="replicate")
                seen_a, seen_b, seen_l, _ = cv2.split(seen)
                weight = seen_l - l[i, 0]  # then in place: no temporaries in the hot loop
                np.multiply(weight, weight, out=weight)
                weight *= minus_inv_2luma
                weight = cv2.exp(weight)  # 4x faster than np.exp here
                weight *= trust
                weight *= time_weight[d]
                num_a += weight * seen_a
                num_b += weight * seen_b
                den += weight
        out[i, 0] = num_a / den
        out[i, 1] = num_b / den
    return out


class _Neighbourhood:
    """What the flow method samples around frame i, made when first asked for and dropped once i
    has moved past it, so memory holds ~2 * radius frames rather than the whole segment (a 10 s
    segment of 448x256 frames would need ~1.4 GB for every step and frame at once)."""

    def __init__(self, ab: np.ndarray, l: np.ndarray, shot: np.ndarray, grid) -> None:  # noqa: E741
        from vidcolor.flow import FlowEstimator, l_to_uint8

        self.ab, self.l, self.shot, self.grid = ab, l, shot, grid
        self.l8 = l_to_uint8(l[:, 0])
        self.estimate = FlowEstimator()
        self.zero = np.zeros(l.shape[2:], np.float32)
        self.pairs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.frames: dict[int, np.ndarray] = {}

    def step(self, j: int, direction: int) -> np.ndarray | None:
        """(h, w, 4) float32 (dx, dy, trusted, 0) from frame j to j + direction; None at the
        ends and across a cut. Each pair's flow depends on its two frames only."""
        k = j if direction == 1 else j - 1  # the pair (k, k + 1)
        if k < 0 or k + 1 >= len(self.l8) or self.shot[k] != self.shot[k + 1]:
            return None
        if k not in self.pairs:
            import cv2

            from vidcolor.flow import trusted

            fwd = self.estimate(self.l8[k], self.l8[k + 1])
            bwd = self.estimate(self.l8[k + 1], self.l8[k])
            self.pairs[k] = (
                cv2.merge([*cv2.split(fwd), trusted(fwd, bwd, self.grid), self.zero]),
                cv2.merge([*cv2.split(bwd), trusted(bwd, fwd, self.grid), self.zero]),
            )
        return self.pairs[k][0 if direction == 1 else 1]

    def frame(self, j: int) -> np.ndarray:
        """Frame j as OpenCV samples it: channels last, padded to 4 (a, b, L, 0)."""
        if j not in self.frames:
            import cv2

            self.frames[j] = cv2.merge([self.ab[j, 0], self.ab[j, 1], self.l[j, 0], self.zero])
        return self.frames[j]

    def forget_before(self, first: int) -> None:
        for cache in (self.pairs, self.frames):
            for key in [k for k in cache if k < first]:
                del cache[key]
