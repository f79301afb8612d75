"""The paper's models: generator (vit-i-gan / vit-gan), ViT discriminator, and their config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from torch import nn

from vidcolor import __version__
from vidcolor.models.discriminator import ViTDiscriminator
from vidcolor.models.generator import VARIANTS, Generator
from vidcolor.resolution import DOWNSAMPLE, model_resolution

__all__ = [
    "DOWNSAMPLE",
    "VARIANTS",
    "Generator",
    "ModelConfig",
    "ViTDiscriminator",
    "build_generator",
    "model_resolution",
]

CHECKPOINT_FORMAT = 1


@dataclass
class ModelConfig:
    """What a checkpoint must say to rebuild its generator (stored as JSON inside the file)."""

    variant: str = "vit-gan"
    width: int = 64  # paper: 64 -> 512 channels at the bottleneck
    image_size: int = 256  # training resolution
    l_norm: str = "L/50-1"  # see vidcolor.color
    ab_scale: float = 128.0
    format: int = CHECKPOINT_FORMAT
    vidcolor_version: str = __version__

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(
                f"unknown variant {self.variant!r}; choose one of {', '.join(VARIANTS)}"
            )
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def build_generator(
    config: ModelConfig, *, inception_weights: str | None = None, random_inception: bool = False
) -> Generator:
    """A generator for ``config``. vit-i-gan loads ImageNet Inception-v3 weights from local disk
    (raising InceptionWeightsMissing when absent); ``random_inception=True`` builds the untrained
    architecture instead, only for counting parameters/FLOPs and for shape tests."""
    embedder: nn.Module | None = None
    if config.variant == "vit-i-gan":
        from vidcolor.models.inception import (
            InceptionEmbedding,
            build_inception_v3,
            load_inception_v3,
        )

        net = build_inception_v3() if random_inception else load_inception_v3(inception_weights)
        embedder = InceptionEmbedding(net)
    return Generator(width=config.width, embedder=embedder)
