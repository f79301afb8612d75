"""Optical flow on the L channel and the warping around it, shared by temporal smoothing
(:mod:`vidcolor.smooth`) and the warping-error metric (:mod:`vidcolor.metrics.temporal`).

Flow is OpenCV's DIS (Kroeger et al. 2016, "Fast optical flow using dense inverse search"): no
weights, ~1.4 ms per 448x256 pair on one core with the FAST preset. Convention: ``flow[y, x] =
(dx, dy)`` says that pixel (x, y) of the first image is found at (x + dx, y + dy) in the second, so
``sample(second, grid + flow)`` brings the second image into the first image's pixel grid.

A flow vector is trusted where the forward-backward check passes (Sundaram et al. 2010): going
there and coming back lands within ``0.01 * (|f|^2 + |b|^2) + 0.5`` px^2 of the start, and the
destination lies inside the frame. Occluded and dis-occluded pixels fail it.
"""

from __future__ import annotations

import cv2
import numpy as np

# Per 448x256 pair on one core (bigbuckbunny frames): ULTRAFAST 0.8 ms, FAST 1.4 ms, MEDIUM 6.8 ms.
# The smoothing's whole budget is a few ms per frame (issue 27: 4), so MEDIUM does not fit.
DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST
FB_ALPHA = 0.01  # forward-backward tolerance, relative to the squared flow lengths
FB_BETA = 0.5  # and absolute, in px^2


def l_to_uint8(l: np.ndarray) -> np.ndarray:  # noqa: E741 (the API names the L channel l)
    """Normalised L in [-1, 1] (any shape) -> uint8 0..255, what DIS takes."""
    return np.clip((np.asarray(l, np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of every pixel, float32 (h, w) each: add a flow to get where each pixel goes."""
    x, y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return x, y


class FlowEstimator:
    """DIS flow between uint8 grey images of one size. Every call starts from zero flow, so a
    pair's flow depends on that pair alone (segments of a video get the same flow for a pair)."""

    def __init__(
        self,
        preset: int = DIS_PRESET,
        *,
        finest_scale: int | None = None,
        patch_stride: int | None = None,
        refinement_iterations: int | None = None,
    ):
        self.dis = cv2.DISOpticalFlow_create(preset)
        if finest_scale is not None:  # the pyramid level the patch search ends at (FAST: 2)
            self.dis.setFinestScale(finest_scale)
        if patch_stride is not None:  # px between patches (FAST: 4)
            self.dis.setPatchStride(patch_stride)
        if refinement_iterations is not None:  # variational refinement per level (FAST: 5)
            self.dis.setVariationalRefinementIterations(refinement_iterations)

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """(h, w) uint8 twice -> flow (h, w, 2) float32 from ``first`` to ``second``."""
        return self.dis.calc(first, second, None)


def sample(image: np.ndarray, x: np.ndarray, y: np.ndarray, *, edge: str = "zero") -> np.ndarray:
    """Bilinear ``image`` (h, w[, c]) float32 at float32 positions x, y (h', w'). Outside the
    image: 0 (``edge="zero"``) or the nearest edge pixel (``edge="replicate"``). Four channels
    cost half of three (OpenCV vectorises 4), so callers pad to 4."""
    border = cv2.BORDER_REPLICATE if edge == "replicate" else cv2.BORDER_CONSTANT
    return cv2.remap(image, x, y, cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def inverse_flow(
    flow: np.ndarray, grid: tuple[np.ndarray, np.ndarray], iterations: int = 2
) -> np.ndarray:
    """The flow back, (h, w, 2) float32, from ``flow`` (first -> second): b(y) = -flow(y + b(y)),
    solved by fixed-point steps from b = -flow(y). Where the motion is smooth it converges in one
    or two steps; where the flow folds (occlusions) it does not, and the forward-backward check
    against ``flow`` fails there, as it does for a second estimate. One remap per step instead of
    a second DIS (~0.05 against ~1.5 ms per 224x128 pair)."""
    back = -flow
    for _ in range(iterations):
        back = -sample(flow, grid[0] + back[..., 0], grid[1] + back[..., 1], edge="replicate")
    return back


def trusted(
    forward: np.ndarray, backward: np.ndarray, grid: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """float32 (h, w) mask, 1 where ``forward`` (first -> second) passes the forward-backward check
    against ``backward`` (second -> first) and lands inside the frame, else 0. ``grid`` is
    :func:`pixel_grid` of the frame size."""
    fx, fy = cv2.split(forward)  # contiguous planes: numpy is slow on strided (h, w, 2) views
    x, y = grid[0] + fx, grid[1] + fy
    bx, by = cv2.split(sample(backward, x, y))
    err = (fx + bx) ** 2 + (fy + by) ** 2
    bound = FB_ALPHA * (fx * fx + fy * fy + bx * bx + by * by) + FB_BETA
    h, w = fx.shape
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return ((err <= bound) & inside).astype(np.float32)


# The smoothing's and the chains' flow is estimated at half the frames' size, its patch search
# one pyramid level finer (so it ends at the same resolution as FAST on the full frame) with
# patches 6 px apart, and upsampled: 0.59x the cost for the same quality (warping error 0.514 vs
# 0.511 on bikes, 0.271 on bigbuckbunny; benchmarks/RESULTS.md, smoothing). Never on fewer than
# MIN_FLOW_SIDE rows or columns (small frames keep their own size and FAST's settings).
FLOW_SCALE = 0.5
MIN_FLOW_SIDE = 96
HALF_SIZE_DIS = {"finest_scale": 1, "patch_stride": 6}
# The smoothing's flow: the same with 2 variational refinement steps instead of 5, 0.65x the cost;
# on the smoothing benchmark's three clips flicker within 0.021 and warping error within 0.008 of
# 5 steps (bikes 1.268 / 0.423 against 1.247 / 0.415).
SMOOTHING_DIS = {**HALF_SIZE_DIS, "refinement_iterations": 2}


class PairFlows:
    """The flow between each pair of consecutive frames (N, 1, h, w normalised L), both ways,
    with each direction's forward-backward trust, estimated once per pair at ``scale`` of the
    size and kept there (uint8 trust): the smoothing's two passes, or every keyframe chain over
    the same frames, share them. A pair's flow depends on its two frames alone, so a segment gets
    the same flows as the whole video for the pairs it holds.

    ``settings``: DIS settings (:class:`FlowEstimator`'s keywords; by default HALF_SIZE_DIS below
    full size, FAST's own at full size). ``one_flow``: estimate the forward flow only and take the
    backward one as its inverse (:func:`inverse_flow`): half the cost; the smoothing measured as
    good or better that way (benchmarks/RESULTS.md, smoothing), the keyframe chains keep two."""

    def __init__(
        self,
        l: np.ndarray,  # noqa: E741
        scale: float = FLOW_SCALE,
        *,
        settings: dict | None = None,
        one_flow: bool = False,
    ) -> None:
        l8 = l_to_uint8(np.asarray(l)[:, 0])
        self.size = l8.shape[1:]
        h, w = self.size
        scale = max(scale, min(1.0, MIN_FLOW_SIDE / min(h, w)))
        small = (round(w * scale), round(h * scale))
        self.frames = [cv2.resize(x, small, interpolation=cv2.INTER_AREA) for x in l8]
        self.gain = (w / small[0], h / small[1])  # small px -> full px
        self.small_grid = pixel_grid(small[1], small[0])
        self.grid = pixel_grid(h, w)
        if settings is None:
            settings = HALF_SIZE_DIS if scale < 1.0 else {}
        self.estimate = FlowEstimator(**settings)
        self.one_flow = one_flow
        self.pairs: dict[int, tuple[np.ndarray, ...]] = {}

    def _pair(self, first: int) -> tuple[np.ndarray, ...]:
        if first not in self.pairs:
            ahead = self.estimate(self.frames[first], self.frames[first + 1])
            if self.one_flow:
                behind = inverse_flow(ahead, self.small_grid)
            else:
                behind = self.estimate(self.frames[first + 1], self.frames[first])
            self.pairs[first] = (
                ahead,
                trusted(ahead, behind, self.small_grid).astype(np.uint8),
                behind,
                trusted(behind, ahead, self.small_grid).astype(np.uint8),
            )
        return self.pairs[first]

    def motion(self, t: int, other: int) -> np.ndarray:
        """(h, w, 2) float32, full size: where each pixel of frame ``t`` lies in ``other``
        (t +- 1), as a displacement."""
        ahead, _, behind, _ = self._pair(min(t, other))
        motion = ahead if t < other else behind
        if motion.shape[:2] == self.size:
            return motion
        full = cv2.resize(motion, self.size[::-1], interpolation=cv2.INTER_LINEAR)
        return cv2.multiply(full, self.gain + (0.0, 0.0))  # small px -> full px, per channel

    def positions(self, t: int, other: int) -> tuple[np.ndarray, np.ndarray]:
        """The same as absolute x and y maps (h, w) float32 each, what ``cv2.remap`` takes. Built
        at the flow's size and resized: a map linear in the pixel grid resizes exactly, so only
        the flow is interpolated, as ``motion`` does, for a quarter of the work."""
        ahead, _, behind, _ = self._pair(min(t, other))
        motion = ahead if t < other else behind
        if motion.shape[:2] == self.size:
            return self.grid[0] + motion[..., 0], self.grid[1] + motion[..., 1]
        size = self.size[::-1]
        maps = []
        for axis in (0, 1):  # the small grid's pixel centres in full pixels, plus the motion
            gain = self.gain[axis]
            small = (self.small_grid[axis] + 0.5) * gain - 0.5 + motion[..., axis] * gain
            maps.append(cv2.resize(small, size, interpolation=cv2.INTER_LINEAR))
        return maps[0], maps[1]

    def trust(self, t: int, other: int) -> np.ndarray:
        """(h, w) uint8, full size: 1 where that motion passes its check (checked at the flow's
        own size, each of its pixels standing for the full-size pixels it covers)."""
        _, ahead_trust, _, behind_trust = self._pair(min(t, other))
        small = ahead_trust if t < other else behind_trust
        if small.shape == self.size:
            return small
        return cv2.resize(small, self.size[::-1], interpolation=cv2.INTER_NEAREST)
