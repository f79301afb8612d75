"""Colourisation metrics: image fidelity (PSNR, SSIM, ab-PSNR), colourfulness, FID, and temporal
consistency (CDC, flicker). Inputs are uint8 RGB (H, W, 3) numpy arrays, as decoders give them."""

from vidcolor.metrics.fid import FID, fid, fid_from_features, frechet_distance
from vidcolor.metrics.image import ab_psnr, colourfulness, colourfulness_ratio, psnr, ssim
from vidcolor.metrics.temporal import CDC, Flicker, cdc, flicker_index, js_divergence

__all__ = [
    "CDC",
    "FID",
    "Flicker",
    "ab_psnr",
    "cdc",
    "colourfulness",
    "colourfulness_ratio",
    "fid",
    "fid_from_features",
    "flicker_index",
    "frechet_distance",
    "js_divergence",
    "psnr",
    "ssim",
]
