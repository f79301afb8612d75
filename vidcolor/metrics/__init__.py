"""Colourisation metrics: image fidelity (PSNR, SSIM, ab-PSNR), colourfulness, hue agreement, FID,
and temporal consistency (CDC, flicker, warping error). Inputs are uint8 RGB (H, W, 3) numpy arrays,
as decoders give them.

Names are loaded on first use (PEP 562) so that importing ``vidcolor.metrics.suite`` for the CLI
parser does not pull in torch.
"""

from __future__ import annotations

from vidcolor.lazy import lazy_getattr

_WHERE = {
    "FID": "fid",
    "fid_score": "fid",
    "fid_from_features": "fid",
    "frechet_distance": "fid",
    "ab_psnr": "image",
    "ab_psnr_grey": "hue",
    "hue_agreement": "hue",
    "colourfulness": "image",
    "colourfulness_ratio": "image",
    "psnr": "image",
    "ssim": "image",
    "CDC": "temporal",
    "Flicker": "temporal",
    "cdc": "temporal",
    "flicker_index": "temporal",
    "js_divergence": "temporal",
    "WarpingError": "temporal",
    "warping_error": "temporal",
    "warping_error_pair": "temporal",
}
__all__ = sorted(_WHERE)

__getattr__ = lazy_getattr(__name__, _WHERE)
