"""Inference: a loaded generator that turns L into ab, and the still-image path built on it.

The output of vidcolor keeps the input's L at full resolution; only ab comes from the model, which
runs at model resolution (short side 256 by default, long side a multiple of 32) and is upsampled
bicubically. Video uses the same :class:`Colouriser` per batch of frames.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from vidcolor.checkpoint import load_generator
from vidcolor.image import merge_l_ab, model_input


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from vidcolor.errors import UsageError

        raise UsageError("--device cuda: no CUDA device is available on this machine")
    return torch.device(device)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm that follows a conv (in an ``nn.Sequential``) into the conv,
    in place: one op instead of two per encoder layer, same output to ~1e-6."""
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(conv, bn)
                seq[i + 1] = nn.Identity()
    return model


def prepare_for_inference(generator: nn.Module, device: torch.device) -> nn.Module:
    """Eval mode, BatchNorm folded, channels_last (oneDNN and cuDNN's fast layout for convs); on
    CUDA also half weights and cuDNN autotuning. CPU stays fp32: bf16 was 3.4x faster here but
    moved ab by up to 1e-2 (measured in benchmarks/RESULTS.md)."""
    generator = fold_batchnorm(generator.eval()).to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # frames of one video share a shape
        generator = generator.half()
    return generator


class Colouriser:
    """Loads a checkpoint once and prepares it for inference; ``predict_ab`` runs batches."""

    def __init__(
        self,
        checkpoint: str | None = None,
        *,
        device: str = "auto",
        inception_weights: str | None = None,
    ):
        self.device = resolve_device(device)
        generator, self.config = load_generator(
            checkpoint, device=self.device, inception_weights=inception_weights
        )
        self.generator = prepare_for_inference(generator, self.device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32

    @torch.inference_mode()
    def predict_ab(self, l_norm: np.ndarray | torch.Tensor) -> np.ndarray:
        """Normalised L (N, 1, h, w), h and w multiples of 32, float32 or float16 -> normalised ab
        (N, 2, h, w) float32. On CUDA the input crosses in its own dtype from pinned memory and
        the result comes back as fp16 (half the bytes), widened on the CPU."""
        x = torch.as_tensor(l_norm)
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = x.to(self.dtype).contiguous(memory_format=torch.channels_last)
        ab = self.generator(x)
        return ab.cpu().float().contiguous().numpy()  # channels_last -> plain NCHW

    def colourise_rgb(self, rgb: np.ndarray, model_size: int = 256) -> np.ndarray:
        """uint8 (H, W, 3) or grey (H, W) -> colourised uint8 (H, W, 3) with the input's L."""
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        L, l_small = model_input(rgb, model_size)
        return merge_l_ab(L, self.predict_ab(l_small)[0])
