"""An exponential moving average of the generator: the weights a GAN run exports.

A GAN's generator swings from report to report at a constant learning rate (the demo run's
validation hue moved by +-0.1 between reports, see DEMO_CARD.md); the average over the last
~1 / (1 - decay) steps swings far less and is the usual thing to ship (Karras et al., Progressive
GAN; Yazici et al. 2019, "The unusual effectiveness of averaging in GAN training"). BatchNorm
running statistics are averaged the same way (they track the weights they were measured with).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    """``module`` (a frozen copy of the generator, eval mode) follows the trained generator:
    after each optimiser step ``update`` moves every float tensor of its state by
    ``(1 - decay)`` of the way to the generator's; integer buffers (BatchNorm's batch count) are
    copied. Submodules that never train (vit-i-gan's Inception, ~100 MB) are shared, not
    copied: their average is themselves."""

    def __init__(self, generator: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        shared = {id(m): m for m in frozen_modules(generator)}
        self.module = copy.deepcopy(generator, memo=shared).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        averaged = self.module.state_dict()
        self.shared_names = {
            name
            for name, tensor in generator.state_dict().items()
            if tensor.numel() and tensor.data_ptr() == averaged[name].data_ptr()
        }

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        current = generator.state_dict()
        for name, average in self.module.state_dict().items():
            if name in self.shared_names:
                continue
            value = current[name]
            if average.dtype.is_floating_point:
                average.lerp_(value.to(average.dtype), 1.0 - self.decay)
            else:
                average.copy_(value)


def frozen_modules(generator: nn.Module) -> list[nn.Module]:
    """The submodules with parameters none of which train."""
    return [
        m
        for m in generator.modules()
        if m is not generator
        and any(True for _ in m.parameters())
        and not any(p.requires_grad for p in m.parameters())
    ]
