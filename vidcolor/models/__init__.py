"""The paper's models: generator (vit-i-gan / vit-gan), ViT discriminator, and their config.

The torch modules are imported on first use (PEP 562), so that reading a checkpoint's
``ModelConfig`` or the model's input size does not import torch.
"""

from __future__ import annotations

from vidcolor.lazy import lazy_getattr
from vidcolor.models.config import VARIANTS, ModelConfig
from vidcolor.models.resolution import DOWNSAMPLE, model_resolution

_EXPORTS = {
    "Generator": "generator",
    "build_generator": "generator",
    "ViTDiscriminator": "discriminator",
}
__all__ = [
    "DOWNSAMPLE",
    "VARIANTS",
    "Generator",
    "ModelConfig",
    "ViTDiscriminator",
    "build_generator",
    "model_resolution",
]

__getattr__ = lazy_getattr(__name__, _EXPORTS)
