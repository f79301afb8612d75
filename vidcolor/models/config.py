"""What a checkpoint says about its generator: the variant, width and training size. No torch, so
the driver can read and check a checkpoint's config without loading it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from vidcolor import __version__

VARIANTS = ("vit-i-gan", "vit-gan")
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
