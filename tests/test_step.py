"""The paper's GAN step: a few hundred updates on one batch of real photos overfit it."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidcolor.color import AB_SCALE, rgb_to_model_input
from vidcolor.models import ModelConfig, ViTDiscriminator, build_generator
from vidcolor.train.step import GANConfig, gan_step, make_optimizers, rebalance_weights

# The last 50 steps at a tenth of the rate (the drop --lr-drop-step makes): the weights settle, so
# BatchNorm's running statistics, which eval mode uses, describe the final weights. At a constant
# 2e-3 they lag weights that still move fast: on AMD EPYC the eval error was 0.33-0.77x grey's over
# seeds 0-3 (seed 0: 0.66, under 0.6 on Intel) while the train-mode error was 0.29-0.42x. With the
# drop, AMD EPYC, seeds 0-3, 1 and 2 torch threads: 0.20-0.23x grey's, last/first L1 0.05-0.07.
SETTLE_FROM = 200


def test_gan_step_overfits_one_batch(real_photos):
    torch.manual_seed(0)
    size = 64
    imgs = [torch.from_numpy(real_photos[k]).permute(2, 0, 1).float() / 255 for k in real_photos]
    batch = torch.stack([F.interpolate(x[None], size=(size, size), mode="area")[0] for x in imgs])
    l_norm, ab_real = rgb_to_model_input(batch)

    g = build_generator(ModelConfig(width=8, image_size=size))
    d = ViTDiscriminator(image_size=size, patch_size=16, dim=32, depth=2, heads=2, mlp_dim=64)
    cfg = GANConfig(lr=2e-3)
    opt_g, opt_d = make_optimizers(g, d, cfg)
    assert opt_g.defaults["betas"] == (0.5, 0.9)

    losses = []
    for step in range(250):
        if step == SETTLE_FROM:
            for group in (*opt_g.param_groups, *opt_d.param_groups):
                group["lr"] = cfg.lr * 0.1
        losses.append(gan_step(g, d, opt_g, opt_d, l_norm, ab_real, l1_weight=cfg.l1_weight))
    first = sum(x["loss_l1"] for x in losses[:5]) / 5
    last = sum(x["loss_l1"] for x in losses[-5:]) / 5
    assert set(losses[0]) == {"loss_d", "loss_g", "loss_adv", "loss_l1"}
    assert all(torch.isfinite(torch.tensor(list(x.values()))).all() for x in losses)
    assert last < 0.5 * first, (first, last)
    # the trained generator really reproduces the batch's colours better than grey (ab = 0)
    g.eval()
    with torch.no_grad():
        err = F.l1_loss(g(l_norm), ab_real).item()
    assert err < F.l1_loss(torch.zeros_like(ab_real), ab_real).item() * 0.6


def _ab_batch(
    chroma_ab: tuple[float, float], coloured_share: float, size: int = 32
) -> torch.Tensor:
    """Normalised ab: grey everywhere except the first ``coloured_share`` of rows in one colour."""
    ab = torch.zeros(2, 2, size, size)
    rows = int(size * coloured_share)
    ab[:, 0, :rows] = chroma_ab[0] / AB_SCALE
    ab[:, 1, :rows] = chroma_ab[1] / AB_SCALE
    return ab


def test_rebalance_weights_lift_rare_colours_and_keep_mean_one():
    ab = _ab_batch((60.0, 50.0), coloured_share=0.125)  # an eighth of the pixels orange
    w = rebalance_weights(ab, 0.5)
    assert w.shape == (2, 1, 32, 32)
    assert torch.isclose(w.mean(), torch.tensor(1.0))
    rare, common = w[:, :, :4].mean(), w[:, :, 4:].mean()
    # two bins, shares 1/8 and 7/8: weights 1/(0.5 p + 0.25) -> 1/0.3125 and 1/0.6875
    assert torch.isclose(rare / common, torch.tensor(0.6875 / 0.3125), rtol=1e-4)
    # stronger rebalancing, larger lift; none at all is plain L1
    assert rebalance_weights(ab, 1.0)[:, :, :4].mean() > rare
    assert torch.allclose(rebalance_weights(ab, 0.0), torch.ones_like(w))
    # one colour everywhere: nothing is rarer than anything else
    assert torch.allclose(rebalance_weights(_ab_batch((60.0, 50.0), 1.0), 0.5), torch.ones_like(w))


def test_rebalanced_step_weighs_the_rare_colour_more():
    """A generator that paints grey errs only on the rare orange rows: the rebalanced L1 is the
    plain one times the orange pixels' weight (3.2 / mean 1.6727, from the shares 1/8 and 7/8)."""
    ab = _ab_batch((60.0, 50.0), coloured_share=0.125)
    l_norm = torch.zeros(2, 1, 32, 32)
    losses = {}
    for rebalance in (0.0, 0.5):
        grey = nn.Conv2d(1, 2, kernel_size=1)
        nn.init.zeros_(grey.weight)
        nn.init.zeros_(grey.bias)
        d = ViTDiscriminator(image_size=32, patch_size=16, dim=32, depth=1, heads=2, mlp_dim=64)
        opt_g, opt_d = make_optimizers(grey, d, GANConfig())
        step = gan_step(grey, d, opt_g, opt_d, l_norm, ab, colour_rebalance=rebalance)
        losses[rebalance] = step["loss_l1"]
    assert losses[0.0] == pytest.approx(0.125 * (60 + 50) / 2 / AB_SCALE, rel=1e-5)
    assert losses[0.5] == pytest.approx(losses[0.0] * 3.2 / 1.67272727, rel=1e-4)
