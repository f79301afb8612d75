"""Inference: a loaded generator that turns L into ab, and the still-image path built on it.

The output of vidcolor keeps the input's L at full resolution; only ab comes from the model, which
runs at model resolution (short side 256 by default, long side a multiple of 32) and is upsampled
bicubically. Video uses the same :class:`Colouriser` per batch of frames.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vidcolor import color
from vidcolor.checkpoint import load_generator
from vidcolor.models import model_resolution


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from vidcolor.errors import UsageError

        raise UsageError("--device cuda: no CUDA device is available on this machine")
    return torch.device(device)


class Colouriser:
    """Loads a checkpoint once; ``predict_ab`` runs batches. fp16 autocast on CUDA."""

    def __init__(
        self,
        checkpoint: str | None = None,
        *,
        device: str = "auto",
        inception_weights: str | None = None,
    ):
        self.device = resolve_device(device)
        self.generator, self.config = load_generator(
            checkpoint, device=self.device, inception_weights=inception_weights
        )

    @torch.inference_mode()
    def predict_ab(self, l_norm: np.ndarray | torch.Tensor) -> np.ndarray:
        """Normalised L (N, 1, h, w), h and w multiples of 32 -> normalised ab (N, 2, h, w) float32."""
        x = torch.as_tensor(l_norm, dtype=torch.float32).to(self.device, non_blocking=True)
        with torch.autocast(
            self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"
        ):
            ab = self.generator(x)
        return ab.float().cpu().numpy()

    def colourise_rgb(self, rgb: np.ndarray, model_size: int = 256) -> np.ndarray:
        """uint8 (H, W, 3) or grey (H, W) -> colourised uint8 (H, W, 3) with the input's L."""
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        L = color.rgb_uint8_to_lab(torch.tensor(rgb[..., :3]))[
            :1
        ]  # copies: inputs may be read-only
        h, w = model_resolution(*L.shape[-2:], short_side=model_size)
        l_small = F.interpolate(color.normalize_l(L)[None], size=(h, w), mode="area")
        return color.merge_l_ab(L[0], self.predict_ab(l_small)[0])
