"""A keyframe's colours carried through its shot along the optical flow, forwards and backwards.

Every frame of the shot keeps, per pixel, where that pixel lies in the keyframe (the composition
of the flows between consecutive frames) and how sure that is: the product of the flow's
forward-backward checks and of a lightness check at every step, so occluded, dis-occluded and
mis-tracked pixels drop out and stay out. The keyframe's colours are then sampled once at the
composed positions: chaining positions, not colours, blurs nothing over a long chain.

A chain stops at a scene cut and after ``reach`` frames, and its confidence fades over the second
half of the reach, so whatever takes over further out (correspondence, the model) does so
smoothly. Everything a frame's result depends on lies between it and the keyframe: a segment
that decodes the keyframe and the frames between gets exactly the chain the whole video gets.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidcolor import flow

LUMA_TOLERANCE = 0.1  # normalised L (5 L*) a pixel may change in one step and stay the same pixel


def fade(distance: np.ndarray | int, reach: int) -> np.ndarray:
    """Weight of a chain ``distance`` frames from its keyframe: 1 up to reach / 2, then falling
    linearly to 0 at ``reach``."""
    half = reach / 2.0
    d = np.asarray(distance, np.float64)
    return np.clip((reach - d) / max(reach - half, 1e-9), 0.0, 1.0)


class PairFlows:
    """The flow between each pair of consecutive frames, both ways, with its forward-backward
    trust, computed once per pair on first use (several chains share them)."""

    def __init__(self, l: np.ndarray) -> None:  # noqa: E741
        self.l8 = flow.l_to_uint8(np.asarray(l)[:, 0])
        self.grid = flow.pixel_grid(*self.l8.shape[1:])
        self.estimate = flow.FlowEstimator()
        self.pairs: dict[int, tuple[np.ndarray, ...]] = {}

    def toward(self, t: int, other: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dx, dy, trust) for every pixel of frame ``t``: where it lies in frame ``other``
        (t +- 1) and whether that passes the forward-backward check."""
        first = min(t, other)
        if first not in self.pairs:
            ahead = self.estimate(self.l8[first], self.l8[first + 1])
            behind = self.estimate(self.l8[first + 1], self.l8[first])
            self.pairs[first] = (
                ahead,
                flow.trusted(ahead, behind, self.grid),
                behind,
                flow.trusted(behind, ahead, self.grid),
            )
        ahead, ahead_trust, behind, behind_trust = self.pairs[first]
        motion, trust = (ahead, ahead_trust) if t == first else (behind, behind_trust)
        return motion[..., 0], motion[..., 1], trust


def carry(
    l: np.ndarray,  # noqa: E741
    key: int,
    guide_ab: np.ndarray,
    guide_conf: np.ndarray,
    shot: np.ndarray,
    reach: int,
    flows: PairFlows | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Carry ``guide_ab`` (2, h, w) with ``guide_conf`` (h, w), the colours at frame ``key`` of
    ``l`` (N, 1, h, w), through the frames of its shot (``shot``: (N,) shot number per frame) up
    to ``reach`` frames each way. Returns ab (N, 2, h, w) and confidence (N, h, w), 0 outside."""
    n, _, h, w = l.shape
    flows = flows or PairFlows(l)
    out_ab = np.zeros((n, 2, h, w), np.float32)
    out_conf = np.zeros((n, h, w), np.float32)
    out_ab[key], out_conf[key] = guide_ab, guide_conf
    colours = cv2.merge([guide_ab[0], guide_ab[1]])
    for step in (1, -1):
        positions = cv2.merge(list(flows.grid))  # where each pixel lies in the keyframe
        conf = np.asarray(guide_conf, np.float32)
        t = key
        while 0 <= t + step < n and abs(t + step - key) <= reach and shot[t + step] == shot[key]:
            t += step
            dx, dy, trust = flows.toward(t, t - step)
            before = cv2.merge([positions, conf, l[t - step, 0]])
            x, y = flows.grid[0] + dx, flows.grid[1] + dy
            seen = flow.sample(before, x, y, edge="replicate")
            same = np.abs(seen[..., 3] - l[t, 0]) < LUMA_TOLERANCE
            positions = np.ascontiguousarray(seen[..., :2])
            conf = seen[..., 2] * trust * same
            taken = flow.sample(colours, positions[..., 0], positions[..., 1], edge="replicate")
            out_ab[t] = np.moveaxis(taken, -1, 0)
            out_conf[t] = conf * fade(abs(t - key), reach)
    return out_ab, out_conf
