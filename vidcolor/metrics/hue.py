"""Hue agreement: does the colouriser pick the right hue where the truth is clearly coloured?

Over the pixels whose true chroma C*ab = sqrt(a*^2 + b*^2) exceeds ``TRUE_CHROMA`` (15), the share
whose predicted a*b* is itself coloured (C*ab > ``PRED_CHROMA``, 5) and whose hue angle
h = atan2(b*, a*) lies within ``MAX_HUE_DEGREES`` (45) of the true hue. Leaving a photo grey scores
0; a single sepia tint scores only on the warm pixels; the truth scores 1. PSNR and colourfulness
cannot tell orange grass from green grass, this can.
"""

from __future__ import annotations

import numpy as np

from vidcolor.metrics.image import _check_pair, ab_channels

TRUE_CHROMA = 15.0  # Lab units: below this the truth is near grey and any hue is fine
PRED_CHROMA = 5.0  # a prediction greyer than this has no hue to agree with
MAX_HUE_DEGREES = 45.0


def hue_agreement_counts(reference: np.ndarray, candidate: np.ndarray) -> tuple[int, int]:
    """(agreeing pixels, chromatic reference pixels) of two uint8 RGB images of one size."""
    _check_pair(reference, candidate)
    ref_a, ref_b = ab_channels(reference)
    cand_a, cand_b = ab_channels(candidate)
    chromatic = np.hypot(ref_a, ref_b) > TRUE_CHROMA
    coloured = np.hypot(cand_a, cand_b) > PRED_CHROMA
    diff = np.arctan2(cand_b, cand_a) - np.arctan2(ref_b, ref_a)
    # Wrap to [-180, 180] degrees: hues 350 and 10 are 20 apart.
    diff_deg = np.abs(np.degrees(np.angle(np.exp(1j * diff))))
    agree = chromatic & coloured & (diff_deg <= MAX_HUE_DEGREES)
    return int(agree.sum()), int(chromatic.sum())


def hue_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Share in [0, 1] of the reference's chromatic pixels whose hue the candidate gets right;
    nan when the reference has no pixel with C*ab > 15 (a grey reference has no hue to judge)."""
    agree, chromatic = hue_agreement_counts(reference, candidate)
    return agree / chromatic if chromatic else float("nan")


def ab_psnr_grey(reference: np.ndarray) -> float:
    """ab-PSNR of leaving the reference grey (a* = b* = 0): the baseline a colouriser must beat."""
    from skimage.metrics import peak_signal_noise_ratio

    from vidcolor.color import AB_SCALE

    ref_ab = ab_channels(reference)
    with np.errstate(divide="ignore"):
        return float(
            peak_signal_noise_ratio(ref_ab, np.zeros_like(ref_ab), data_range=2 * AB_SCALE)
        )
