"""The paper's GAN step: a few hundred updates on one batch of real photos overfit it."""

import torch
import torch.nn.functional as F

from vidcolor.color import rgb_to_model_input
from vidcolor.models import ModelConfig, ViTDiscriminator, build_generator
from vidcolor.train.step import GANConfig, gan_step, make_optimizers


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

    losses = [
        gan_step(g, d, opt_g, opt_d, l_norm, ab_real, l1_weight=cfg.l1_weight) for _ in range(250)
    ]
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
