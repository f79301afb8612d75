"""Temporal consistency of a colourised sequence: CDC, a flicker index and the warping error (no
reference needed).

CDC (Color Distribution Consistency, Liu et al., "Temporally consistent video colorization with deep
feature propagation and self-regularization learning", and the NTIRE 2023 video colourisation
challenge): per-channel 256-bin RGB histograms of every frame; Jensen-Shannon divergence (natural
log) between frames t and t+d, averaged over t and channels, for d in (1, 2, 4); CDC is the mean
over d. Lower is more consistent.

Flicker index: mean absolute change of a*, b* (Lab units) between consecutive frames, over pixels
and over the consecutive pairs inside a shot (cuts from :func:`vidcolor.smooth.detect_cuts` on L).
It includes real motion, so compare it between versions of the same clip, not across clips.

Warping error (Lai et al., "Learning blind video temporal consistency", ECCV 2018): frame t's ab
warped into frame t+1 by the optical flow between them, compared with frame t+1's ab where the flow
is trusted (forward-backward check, so occluded pixels are masked), averaged over pixels and over
the consecutive pairs inside a shot. Flow is DIS on the frames' own L (:mod:`vidcolor.flow`; a
colourised video keeps its input's L, so every version of a clip is warped alike). Unlike flicker it
does not count colour that moves with the content. Two choices differ from Lai et al.: mean
absolute a*, b* difference in Lab units (same unit as flicker) instead of squared RGB, and DIS
instead of FlowNet2 (no weights to download).

All three are accumulators (``update(frame)`` then ``compute()``) so a long video streams through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from vidcolor import flow
from vidcolor.color import normalize_l, rgb_uint8_to_lab
from vidcolor.smooth import DEFAULT_CUT_THRESHOLD, detect_cuts

CDC_DISTANCES = (1, 2, 4)


def channel_histograms(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> (3, 256) float64 histograms, each summing to 1."""
    x = np.asarray(rgb).reshape(-1, 3)
    return np.stack([np.bincount(x[:, c], minlength=256) for c in range(3)]) / x.shape[0]


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log) over the last axis of histograms p and q."""
    from scipy.special import rel_entr

    m = 0.5 * (p + q)
    return 0.5 * rel_entr(p, m).sum(-1) + 0.5 * rel_entr(q, m).sum(-1)


def cdc_from_histograms(hists: np.ndarray, distances: Sequence[int] = CDC_DISTANCES) -> float:
    """CDC of (N, 3, 256) histograms; distances with no frame pair are left out (nan if none)."""
    per_distance = [
        js_divergence(hists[:-d], hists[d:]).mean() for d in distances if len(hists) > d
    ]
    return float(np.mean(per_distance)) if per_distance else float("nan")


class CDC:
    """Streaming CDC: keeps only the (3, 256) histograms of each frame."""

    def __init__(self, distances: Sequence[int] = CDC_DISTANCES):
        self.distances = tuple(distances)
        self.hists: list[np.ndarray] = []

    def update(self, rgb: np.ndarray) -> None:
        self.hists.append(channel_histograms(rgb))

    def compute(self) -> float:
        if not self.hists:
            return float("nan")
        return cdc_from_histograms(np.stack(self.hists), self.distances)


class _ShotPairs:
    """Streams uint8 RGB frames as (normalised L, Lab ab) and hands every consecutive pair inside a
    shot to ``pair``; keeps only the previous frame. ``cuts``: frame indices that start a shot."""

    def __init__(self, cut_threshold: float = DEFAULT_CUT_THRESHOLD):
        self.cut_threshold = cut_threshold
        self.prev: tuple[np.ndarray, np.ndarray] | None = None
        self.values: list[float] = []  # one per in-shot pair
        self.cuts: list[int] = []
        self.frames = 0

    def update(self, rgb: np.ndarray) -> None:
        self.update_lab(rgb_uint8_to_lab(torch.from_numpy(np.ascontiguousarray(rgb))))

    def update_lab(self, lab: torch.Tensor) -> None:
        """The same from a frame already in Lab (3, H, W), as :func:`rgb_uint8_to_lab` gives it:
        several metrics of one frame then share one conversion (the costly part)."""
        lab = lab.double().numpy()
        lum, ab = normalize_l(lab[:1]), lab[1:]
        if self.prev is not None:
            prev_l, prev_ab = self.prev
            # A frame of another size (images in a folder) cannot continue the shot.
            if prev_l.shape != lum.shape or detect_cuts(
                np.stack([prev_l, lum]), threshold=self.cut_threshold
            ):
                self.cuts.append(self.frames)
            else:
                value = self.pair(prev_l[0], prev_ab, lum[0], ab)
                if not np.isnan(value):
                    self.values.append(value)
        self.prev = (lum, ab)
        self.frames += 1

    def pair(self, prev_l, prev_ab, cur_l, cur_ab) -> float:
        raise NotImplementedError

    def compute(self) -> float:
        return float(np.mean(self.values)) if self.values else float("nan")


class Flicker(_ShotPairs):
    """Streaming flicker index: mean |delta a*b*| at the same pixel."""

    def pair(self, prev_l, prev_ab, cur_l, cur_ab) -> float:
        return float(np.abs(cur_ab - prev_ab).mean())


def warping_error_pair(
    prev_ab: np.ndarray, cur_ab: np.ndarray, cur_to_prev: np.ndarray, mask: np.ndarray
) -> float:
    """Mean |cur_ab - prev_ab warped into cur| over pixels where ``mask`` is set (nan if none).

    ab: (2, h, w) in any unit (the metric uses Lab); ``cur_to_prev``: (h, w, 2) flow, pixel (x, y)
    of the current frame is at (x, y) + flow in the previous one; ``mask``: (h, w), nonzero = use.
    """
    x, y = flow.pixel_grid(*cur_ab.shape[1:])
    x, y = x + cur_to_prev[..., 0], y + cur_to_prev[..., 1]
    keep = np.asarray(mask) > 0
    if not keep.any():
        return float("nan")
    warped = [flow.sample(np.ascontiguousarray(c, dtype=np.float32), x, y) for c in prev_ab]
    return float(np.mean([np.abs(cur_ab[c] - warped[c])[keep].mean() for c in range(2)]))


class WarpingError(_ShotPairs):
    """Streaming warping error (module docstring): DIS flow both ways between consecutive frames'
    L, forward-backward check as the occlusion mask."""

    def __init__(self, cut_threshold: float = DEFAULT_CUT_THRESHOLD):
        super().__init__(cut_threshold)
        self.estimate = flow.FlowEstimator()

    def pair(self, prev_l, prev_ab, cur_l, cur_ab) -> float:
        prev8, cur8 = flow.l_to_uint8(prev_l), flow.l_to_uint8(cur_l)
        back, ahead = self.estimate(cur8, prev8), self.estimate(prev8, cur8)
        mask = flow.trusted(back, ahead, flow.pixel_grid(*cur8.shape))
        return warping_error_pair(prev_ab, cur_ab, back, mask)


def _over(acc, frames: Iterable[np.ndarray]) -> float:
    for frame in frames:
        acc.update(frame)
    return acc.compute()


def cdc(frames: Iterable[np.ndarray], distances: Sequence[int] = CDC_DISTANCES) -> float:
    """CDC of a sequence of uint8 RGB frames."""
    return _over(CDC(distances), frames)


def flicker_index(
    frames: Iterable[np.ndarray], cut_threshold: float = DEFAULT_CUT_THRESHOLD
) -> float:
    """Flicker index of a sequence of uint8 RGB frames (mean |delta ab| inside shots, Lab units)."""
    return _over(Flicker(cut_threshold), frames)


def warping_error(
    frames: Iterable[np.ndarray], cut_threshold: float = DEFAULT_CUT_THRESHOLD
) -> float:
    """Warping error of a sequence of uint8 RGB frames (mean |ab(t+1) - warped ab(t)|, Lab units)."""
    return _over(WarpingError(cut_threshold), frames)
