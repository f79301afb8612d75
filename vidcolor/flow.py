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
# Smoothing needs two flows per frame within 15 ms per frame in all, so MEDIUM does not fit.
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

    def __init__(self, preset: int = DIS_PRESET):
        self.dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """(h, w) uint8 twice -> flow (h, w, 2) float32 from ``first`` to ``second``."""
        return self.dis.calc(first, second, None)


def sample(image: np.ndarray, x: np.ndarray, y: np.ndarray, *, edge: str = "zero") -> np.ndarray:
    """Bilinear ``image`` (h, w[, c]) float32 at float32 positions x, y (h', w'). Outside the
    image: 0 (``edge="zero"``) or the nearest edge pixel (``edge="replicate"``). Four channels
    cost half of three (OpenCV vectorises 4), so callers pad to 4."""
    border = cv2.BORDER_REPLICATE if edge == "replicate" else cv2.BORDER_CONSTANT
    return cv2.remap(image, x, y, cv2.INTER_LINEAR, borderMode=border, borderValue=0)


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
