"""The paper's generator: conv encoder -> (Inception-v3 fusion) -> transposed-conv decoder -> ab.

Paper section 4.2-4.6, figures 1 (ViT-I-GAN) and 2 (ViT-GAN):
- Encoder: 10 conv layers, 5x5 kernels, padding 2, BatchNorm, average-pool downsampling; H x W x 1 ->
  H/32 x W/32 x 512 (at width 64). We group them as 5 stages of 2 convs, each stage followed by a 2x2
  average pool; the pre-pool activations are the U-Net skips.
- Fusion (vit-i-gan only): the 1000-d Inception vector tiled over the H/32 x W/32 grid, concatenated
  (512 + 1000 = 1512 channels) and mixed by 512 1x1 kernels.
- Decoder: 5 steps of nearest 2x upsample -> concat skip -> 3x3 ConvTranspose; LeakyReLU(0.2) after
  the first four, tanh after the last, which ends in 2 channels (ab in [-1, 1]).

Fully convolutional: any H, W divisible by 32 works (256x448 for 16:9 frames).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidcolor.models.config import ModelConfig
from vidcolor.models.resolution import DOWNSAMPLE


def conv_block(c_in: int, c_out: int, kernel_size: int = 5) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


def stage_channels(width: int) -> list[int]:
    """Channels of the 5 encoder stages; width 64 gives the paper's 512 at the bottleneck."""
    return [width, width * 2, width * 4, width * 8, width * 8]


class Encoder(nn.Module):
    """L (N, 1, H, W) -> bottleneck (N, 8*width, H/32, W/32) and 5 skips (pre-pool, full to H/16)."""

    def __init__(self, *, width: int = 64, in_channels: int = 1, convs_per_stage: int = 2):
        super().__init__()
        stages, c_in = [], in_channels
        for c_out in stage_channels(width):
            layers = [conv_block(c_in if i == 0 else c_out, c_out) for i in range(convs_per_stage)]
            stages.append(nn.Sequential(*layers))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
            x = self.pool(x)
        return x, skips


class Fusion(nn.Module):
    """Tile a global embedding over the grid, concatenate, 1x1 conv back to the bottleneck width."""

    def __init__(self, *, channels: int = 512, embed_dim: int = 1000):
        super().__init__()
        self.mix = nn.Sequential(
            nn.Conv2d(channels + embed_dim, channels, kernel_size=1),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        tiled = embedding[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.mix(torch.cat((x, tiled.to(x.dtype)), dim=1))


class Decoder(nn.Module):
    """Bottleneck + skips -> ab (N, 2, H, W) in [-1, 1]."""

    def __init__(self, *, width: int = 64, out_channels: int = 2):
        super().__init__()
        skip_ch = stage_channels(width)[::-1]  # deepest first: 8w, 8w, 4w, 2w, w
        out_ch = [width * 8, width * 4, width * 2, width, out_channels]
        layers, c_in = [], skip_ch[0]
        for skip, c_out in zip(skip_ch, out_ch, strict=True):
            layers.append(nn.ConvTranspose2d(c_in + skip, c_out, kernel_size=3, padding=1))
            c_in = c_out
        self.layers = nn.ModuleList(layers)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for i, (layer, skip) in enumerate(zip(self.layers, reversed(skips), strict=True)):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = layer(torch.cat((x, skip), dim=1))
            x = self.act(x) if i < len(self.layers) - 1 else torch.tanh(x)
        return x


class Generator(nn.Module):
    """ViT-I-GAN / ViT-GAN generator: normalised L (N, 1, H, W) -> normalised ab (N, 2, H, W).

    ``embedder`` maps L to a global vector (the frozen Inception-v3 for vit-i-gan); ``None`` gives the
    vit-gan variant with no fusion layer.
    """

    def __init__(
        self, *, width: int = 64, embedder: nn.Module | None = None, embed_dim: int = 1000
    ):
        super().__init__()
        self.encoder = Encoder(width=width)
        self.embedder = embedder
        self.fusion = Fusion(channels=width * 8, embed_dim=embed_dim) if embedder else None
        self.decoder = Decoder(width=width)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        h, w = l_norm.shape[-2:]
        if h % DOWNSAMPLE or w % DOWNSAMPLE:
            raise ValueError(f"generator input must be a multiple of {DOWNSAMPLE}, got {h}x{w}")
        x, skips = self.encoder(l_norm)
        if self.fusion is not None:
            x = self.fusion(x, self.embedder(l_norm))
        return self.decoder(x, skips)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights to checkpoint: everything but the frozen Inception (loaded from its own file)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("embedder.")}


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
