"""Per-image metrics on uint8 RGB (H, W, 3): PSNR, SSIM, ab-PSNR and colourfulness.

PSNR and SSIM are skimage's, on RGB with data_range 255. ab-PSNR is PSNR on the a*, b* channels of
CIE Lab (L dropped: a colouriser is given L), with data_range 256 (a*, b* span [-128, 128]).
Colourfulness is Hasler & Suesstrunk (2003), "Measuring colourfulness in natural images", eq. (3) on
RGB in [0, 255]: grey images score 0, and ~109 is "extremely colourful".
"""

from __future__ import annotations

import numpy as np
import torch

from vidcolor.color import AB_SCALE, rgb_uint8_to_lab


def _check_pair(reference: np.ndarray, candidate: np.ndarray) -> None:
    if reference.shape != candidate.shape:
        raise ValueError(f"image sizes differ: {reference.shape} vs {candidate.shape}")


def psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """PSNR in dB of uint8 RGB images (inf when identical)."""
    from skimage.metrics import peak_signal_noise_ratio

    _check_pair(reference, candidate)
    with np.errstate(divide="ignore"):  # identical images: inf dB, not a warning
        return float(peak_signal_noise_ratio(reference, candidate, data_range=255))


def ssim(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean SSIM of uint8 RGB images (skimage defaults: 7x7 window, per channel, averaged)."""
    from skimage.metrics import structural_similarity

    _check_pair(reference, candidate)
    return float(structural_similarity(reference, candidate, channel_axis=-1, data_range=255))


def ab_channels(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> a*, b* as float64 (2, H, W)."""
    lab = rgb_uint8_to_lab(torch.from_numpy(np.ascontiguousarray(rgb)))
    return lab[1:].double().numpy()


def ab_psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """PSNR in dB on the a*, b* channels (data_range 256 Lab units)."""
    _check_pair(reference, candidate)
    return psnr_of_ab(ab_channels(reference), ab_channels(candidate))


def psnr_of_ab(reference_ab: np.ndarray, candidate_ab: np.ndarray) -> float:
    """:func:`ab_psnr` from a*, b* already converted (2, H, W), Lab units: a caller scoring many
    versions against one reference converts the reference once."""
    from skimage.metrics import peak_signal_noise_ratio

    with np.errstate(divide="ignore"):
        return float(peak_signal_noise_ratio(reference_ab, candidate_ab, data_range=2 * AB_SCALE))


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk colourfulness M of a uint8 (or [0, 255] float) RGB image."""
    x = np.asarray(rgb, dtype=np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    std = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    mean = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(std + 0.3 * mean)


def colourfulness_ratio(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Candidate colourfulness over the reference's: < 1 means washed-out colour (nan if the
    reference is grey)."""
    ref = colourfulness(reference)
    return colourfulness(candidate) / ref if ref > 0 else float("nan")
