"""A keyframe's colours carried through its shot along the optical flow, forwards and backwards.

Every frame of the shot keeps, per pixel, where that pixel lies in the keyframe: the composition
of the flows between consecutive frames (DIS, :mod:`vidcolor.flow`, shared with the smoothing's
kind: estimated at half size). The keyframe's colours are
sampled once at the composed positions, so a long chain blurs nothing (chaining colours would
resample them at every step).

How sure a pixel's carried colour is: its composed position must lie inside the keyframe, and the
keyframe's lightness there must agree with the pixel's own (a Gaussian of the difference, sigma
``LUMA_SIGMA``). Checking against the keyframe itself, not step by step, is what measured best
(``benchmarks/RESULTS.md``, references): a position that drifts a little over a second still lands
on the same surface and still carries the right colour, while one that lands on another surface
(an occluder, a dis-occluded background, a flow gone astray) is caught by its lightness. Chained
forward-backward checks (Sundaram et al. 2010), tried first, dropped half the pixels of a talking
head within a second although their carried colour was right: hue agreement 0.89 against 0.97.

A chain stops at a scene cut and after ``reach`` frames, and its confidence fades over the second
half of the reach, so whatever takes over further out (correspondence, the model) does so
smoothly. A frame's result depends only on the frames between it and the keyframe: a segment that
decodes them gets exactly the chain the whole video gets.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidcolor import flow

LUMA_SIGMA = 0.3  # normalised L (15 L*): how far a pixel's lightness may stray from the keyframe's


def fade(distance: np.ndarray | int, reach: int) -> np.ndarray:
    """Weight of a chain ``distance`` frames from its keyframe: 1 up to reach / 2, then falling
    linearly to 0 at ``reach``."""
    half = reach / 2.0
    d = np.asarray(distance, np.float64)
    return np.clip((reach - d) / max(reach - half, 1e-9), 0.0, 1.0)


def carry(
    l: np.ndarray,  # noqa: E741
    key: int,
    guide_ab: np.ndarray,
    guide_conf: np.ndarray,
    shot: np.ndarray,
    reach: int,
    flows: flow.PairFlows | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Carry ``guide_ab`` (2, h, w) with ``guide_conf`` (h, w), the colours at frame ``key`` of
    ``l`` (N, 1, h, w), through the frames of its shot (``shot``: (N,) shot number per frame) up
    to ``reach`` frames each way. Returns ab (N, 2, h, w) and confidence (N, h, w), 0 outside."""
    n, _, h, w = l.shape
    flows = flows or flow.PairFlows(l)
    out_ab = np.zeros((n, 2, h, w), np.float32)
    out_conf = np.zeros((n, h, w), np.float32)
    out_ab[key], out_conf[key] = guide_ab, guide_conf
    keyframe = cv2.merge([guide_ab[0], guide_ab[1], np.asarray(guide_conf, np.float32), l[key, 0]])
    minus_inv_2var = np.float32(-0.5 / LUMA_SIGMA**2)
    for step in (1, -1):
        positions = cv2.merge(list(flows.grid))  # where each pixel lies in the keyframe
        t = key
        while 0 <= t + step < n and abs(t + step - key) <= reach and shot[t + step] == shot[key]:
            t += step
            x, y = flows.positions(t, t - step)
            positions = flow.sample(positions, x, y, edge="replicate")
            px, py = positions[..., 0], positions[..., 1]
            taken = flow.sample(keyframe, px, py, edge="replicate")
            inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
            off = taken[..., 3] - l[t, 0]
            agree = np.exp(off * off * minus_inv_2var)
            out_ab[t] = np.moveaxis(taken[..., :2], -1, 0)
            out_conf[t] = taken[..., 2] * agree * inside * fade(abs(t - key), reach)
    return out_ab, out_conf
