"""One GAN update per the paper (section 5.2): L1 on ab + BCE adversarial loss, Adam.

Pure torch and no Ray: the Ray Train worker wraps this with accelerate (``backward`` is then
``accelerator.backward``). The discriminator sees L + ab (3 channels), real = ground-truth ab.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidcolor.color import AB_SCALE


@dataclass
class GANConfig:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)  # paper: beta1 0.5, beta2 0.9 (0.999 in the COCO run)
    l1_weight: float = 100.0  # lambda of the L1 term; the paper does not give it, pix2pix uses 100


def make_optimizers(
    generator: nn.Module, discriminator: nn.Module, config: GANConfig
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    params_g = [p for p in generator.parameters() if p.requires_grad]  # frozen Inception excluded
    opt_g = torch.optim.Adam(params_g, lr=config.lr, betas=config.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=config.betas)
    return opt_g, opt_d


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """``requires_grad`` off for ``module``'s parameters inside the block, restored after."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


AB_BIN = 10.0 / AB_SCALE  # Zhang et al.'s ab grid: 10 a*b* units a bin, in normalised ab
AB_BINS = int(2.0 / AB_BIN) + 1


def rebalance_weights(ab_real: torch.Tensor, rebalance: float) -> torch.Tensor:
    """Per-pixel weights for the L1 term that lift rare colours, mean 1 over the batch.

    Plain L1 on mostly grey-brown crops pulls every uncertain pixel towards grey: the CPU demo
    model came out pale before this. Zhang et al. 2016 (section 2.2) weight each pixel by the
    rarity of its true colour: ``1 / ((1 - lam) p + lam / Q)``, p the share of pixels in its ab bin
    and Q the number of bins. Here p is counted over this batch (Q: its occupied bins) and
    ``rebalance = 1 - lam``: 0 gives plain L1, 0.5 is Zhang's setting, 1 pure inverse frequency.
    """
    cells = ((ab_real.detach() + 1.0) / AB_BIN).floor().long().clamp(0, AB_BINS - 1)
    bins = cells[:, 0] * AB_BINS + cells[:, 1]  # (n, h, w)
    counts = torch.bincount(bins.flatten(), minlength=AB_BINS * AB_BINS).to(ab_real.dtype)
    share = counts / counts.sum()
    occupied = (counts > 0).sum()
    weights = 1.0 / (rebalance * share + (1.0 - rebalance) / occupied)
    per_pixel = weights[bins]
    return (per_pixel / per_pixel.mean()).unsqueeze(1)


def gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    l_norm: torch.Tensor,
    ab_real: torch.Tensor,
    *,
    l1_weight: float = 100.0,
    colour_rebalance: float = 0.0,
    backward: Callable[[torch.Tensor], None] | None = None,
    discriminator_for_g: nn.Module | None = None,
) -> dict[str, float]:
    """One discriminator update then one generator update; returns the losses as floats.

    ``discriminator_for_g``: the plain module behind a DDP-wrapped ``discriminator`` (accelerate's
    ``unwrap_model``). The generator's adversarial loss runs through it with D's parameters frozen,
    so the G update computes no D gradients and DDP all-reduces D's gradients once per step (in
    the D update), not twice. The G gradients still flow through D's activations to the generator.
    ``colour_rebalance`` > 0 weights the L1 term per pixel (``rebalance_weights``).
    """
    backward = backward or torch.Tensor.backward
    d_plain = discriminator_for_g if discriminator_for_g is not None else discriminator
    ab_fake = generator(l_norm)

    # Discriminator: real (L, ab) pairs -> 1, generated -> 0. Two D passes this step (plus one in
    # the G update): the reason DDP needs broadcast_buffers=False, see vidcolor/train/worker.py.
    opt_d.zero_grad(set_to_none=True)
    d_real = discriminator(torch.cat((l_norm, ab_real), dim=1))
    d_fake = discriminator(torch.cat((l_norm, ab_fake.detach()), dim=1))
    loss_d = 0.5 * (_bce(d_real, True) + _bce(d_fake, False))
    backward(loss_d)
    opt_d.step()

    # Generator: fool D and stay close to the true colours. D is frozen here: its gradients are
    # the D update's, untouched (and, under DDP, not all-reduced again) by this one.
    opt_g.zero_grad(set_to_none=True)
    with frozen(d_plain):
        loss_adv = _bce(d_plain(torch.cat((l_norm, ab_fake), dim=1)), True)
        if colour_rebalance > 0:
            weights = rebalance_weights(ab_real, colour_rebalance)
            loss_l1 = (weights * (ab_fake - ab_real).abs()).mean()
        else:
            loss_l1 = F.l1_loss(ab_fake, ab_real)
        loss_g = loss_adv + l1_weight * loss_l1
        backward(loss_g)
    opt_g.step()
    return {
        "loss_d": loss_d.item(),
        "loss_g": loss_g.item(),
        "loss_adv": loss_adv.item(),
        "loss_l1": loss_l1.item(),
    }
