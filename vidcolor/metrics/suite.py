"""Named metrics that stream over (candidate, reference) frame pairs: what `vidcolor evaluate` runs.

Per-frame metrics are averaged over frames (hue_agreement over the frames whose reference has
coloured pixels); ``colourfulness_ratio`` is mean candidate over mean reference colourfulness;
FID, CDC, flicker and warping error look at the whole sequence.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI parser reads METRICS; keep numpy/torch out of `vidcolor --help`
    import numpy as np


@dataclass(frozen=True)
class MetricInfo:
    needs_reference: bool
    unit: str
    description: str


METRICS: dict[str, MetricInfo] = {
    "psnr": MetricInfo(True, "dB", "PSNR of RGB (higher is better)"),
    "ssim": MetricInfo(True, "", "SSIM of RGB (1 = identical)"),
    "ab_psnr": MetricInfo(True, "dB", "PSNR of Lab a*b* (higher is better)"),
    "ab_psnr_grey": MetricInfo(True, "dB", "ab_psnr of leaving the reference grey (baseline)"),
    "hue_agreement": MetricInfo(
        True, "", "share of coloured reference pixels given a hue within 45 deg (1 = all)"
    ),
    "colourfulness": MetricInfo(False, "", "Hasler-Suesstrunk colourfulness of the candidate"),
    "colourfulness_ratio": MetricInfo(True, "", "candidate / reference colourfulness (1 = same)"),
    "fid": MetricInfo(True, "", "Frechet Inception Distance (lower is better)"),
    "cdc": MetricInfo(False, "", "colour distribution consistency, JS d=1,2,4 (lower is steadier)"),
    "flicker": MetricInfo(
        False, "ab", "mean |delta a*b*| between frames in a shot (lower is steadier)"
    ),
    "warping_error": MetricInfo(
        False, "ab", "mean |a*b*(t+1) - a*b*(t) warped by optical flow|, occlusions masked"
    ),
}
DEFAULT_WITH_REFERENCE = (
    "psnr",
    "ssim",
    "ab_psnr",
    "ab_psnr_grey",
    "hue_agreement",
    "colourfulness",
    "colourfulness_ratio",
    "cdc",
    "flicker",
    "warping_error",
)
DEFAULT_CANDIDATE_ONLY = ("colourfulness", "cdc", "flicker", "warping_error")


class _Mean:
    def __init__(self, fn: Callable[..., float], with_reference: bool):
        # fn is a function of vidcolor.metrics.image, imported by the caller (keeps torch lazy)
        self.fn, self.with_reference = fn, with_reference
        self.total, self.count = 0.0, 0

    def update(self, candidate: np.ndarray, reference: np.ndarray | None) -> None:
        args = (reference, candidate) if self.with_reference else (candidate,)
        value = self.fn(*args)
        if math.isnan(value):  # no verdict for this frame (hue_agreement of a grey reference)
            return
        self.total += value
        self.count += 1

    def compute(self) -> float:
        return self.total / self.count if self.count else math.nan


class _ColourfulnessRatio:
    def __init__(self):
        from vidcolor.metrics import image

        self.candidate, self.reference = (
            _Mean(image.colourfulness, False),
            _Mean(image.colourfulness, False),
        )

    def update(self, candidate: np.ndarray, reference: np.ndarray | None) -> None:
        self.candidate.update(candidate, None)
        self.reference.update(reference, None)

    def compute(self) -> float:
        ref = self.reference.compute()
        return self.candidate.compute() / ref if ref > 0 else math.nan


class _CandidateOnly:
    def __init__(self, acc):
        self.acc = acc

    def update(self, candidate: np.ndarray, reference: np.ndarray | None) -> None:
        self.acc.update(candidate)

    def compute(self) -> float:
        return self.acc.compute()


class MetricSuite:
    """``update(candidate, reference)`` per frame pair (reference None when there is none), then
    ``results()`` -> {name: value}. FID loads Inception-v3 here, so missing weights fail first."""

    def __init__(self, names: list[str], *, inception_weights: str | os.PathLike | None = None):
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}; known: {', '.join(METRICS)}")
        self.names = list(names)
        self.accumulators = {name: self._make(name, inception_weights) for name in self.names}
        self.frames = 0

    @staticmethod
    def _make(name: str, inception_weights):
        from vidcolor.metrics import image
        from vidcolor.metrics.temporal import CDC, Flicker, WarpingError

        if name in ("psnr", "ssim", "ab_psnr"):
            return _Mean(getattr(image, name), True)
        if name == "colourfulness":
            return _Mean(image.colourfulness, False)
        if name in ("hue_agreement", "ab_psnr_grey"):
            from vidcolor.metrics import hue

            if name == "hue_agreement":
                return _Mean(hue.hue_agreement, True)
            return _Mean(lambda reference, candidate: hue.ab_psnr_grey(reference), True)
        if name == "colourfulness_ratio":
            return _ColourfulnessRatio()
        if name == "fid":
            from vidcolor.metrics.fid import FID

            return FID(weights=inception_weights)
        if name == "cdc":
            return _CandidateOnly(CDC())
        if name == "warping_error":
            return _CandidateOnly(WarpingError())
        return _CandidateOnly(Flicker())

    def update(self, candidate: np.ndarray, reference: np.ndarray | None = None) -> None:
        for acc in self.accumulators.values():
            acc.update(candidate, reference)
        self.frames += 1

    def results(self) -> dict[str, float]:
        return {name: float(acc.compute()) for name, acc in self.accumulators.items()}

    @property
    def cuts(self) -> list[int] | None:
        """Shot starts the flicker or warping-error metric found (None when neither was asked for)."""
        shots = self.accumulators.get("flicker") or self.accumulators.get("warping_error")
        return list(shots.acc.cuts) if shots is not None else None
