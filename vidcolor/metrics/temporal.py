"""Temporal consistency of a colourised sequence: CDC and a flicker index (no reference needed).

CDC (Color Distribution Consistency, Liu et al., "Temporally consistent video colorization with deep
feature propagation and self-regularization learning", and the NTIRE 2023 video colourisation
challenge): per-channel 256-bin RGB histograms of every frame; Jensen-Shannon divergence (natural
log) between frames t and t+d, averaged over t and channels, for d in (1, 2, 4); CDC is the mean
over d. Lower is more consistent.

Flicker index: mean absolute change of a*, b* (Lab units) between consecutive frames, over pixels
and over the consecutive pairs inside a shot (cuts from :func:`vidcolor.smooth.detect_cuts` on L).
It includes real motion, so compare it between versions of the same clip, not across clips.

Both are accumulators (``update(frame)`` then ``compute()``) so a long video streams through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

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


class Flicker:
    """Streaming flicker index: keeps only the previous frame's L and ab."""

    def __init__(self, cut_threshold: float = DEFAULT_CUT_THRESHOLD):
        self.cut_threshold = cut_threshold
        self.prev: tuple[np.ndarray, np.ndarray] | None = None
        self.total = 0.0
        self.pairs = 0
        self.cuts: list[int] = []  # frame indices where a new shot starts
        self.frames = 0

    def update(self, rgb: np.ndarray) -> None:
        lab = rgb_uint8_to_lab(torch.from_numpy(np.ascontiguousarray(rgb))).double().numpy()
        lum, ab = normalize_l(lab[:1]), lab[1:]
        if self.prev is not None:
            prev_l, prev_ab = self.prev
            # A frame of another size (images in a folder) cannot continue the shot.
            if prev_l.shape != lum.shape or detect_cuts(
                np.stack([prev_l, lum]), threshold=self.cut_threshold
            ):
                self.cuts.append(self.frames)
            else:
                self.total += float(np.abs(ab - prev_ab).mean())
                self.pairs += 1
        self.prev = (lum, ab)
        self.frames += 1

    def compute(self) -> float:
        return self.total / self.pairs if self.pairs else float("nan")


def cdc(frames: Iterable[np.ndarray], distances: Sequence[int] = CDC_DISTANCES) -> float:
    """CDC of a sequence of uint8 RGB frames."""
    acc = CDC(distances)
    for frame in frames:
        acc.update(frame)
    return acc.compute()


def flicker_index(
    frames: Iterable[np.ndarray], cut_threshold: float = DEFAULT_CUT_THRESHOLD
) -> float:
    """Flicker index of a sequence of uint8 RGB frames (mean |delta ab| inside shots, Lab units)."""
    acc = Flicker(cut_threshold)
    for frame in frames:
        acc.update(frame)
    return acc.compute()
