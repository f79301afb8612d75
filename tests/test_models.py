"""Shapes of both variants, the discriminator, and the Inception-v3 weight-loading path."""

import pytest
import torch

from vidcolor.errors import InceptionWeightsMissing
from vidcolor.models import ModelConfig, ViTDiscriminator, build_generator
from vidcolor.models.inception import ENV_VAR, build_inception_v3, load_inception_v3


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """A torchvision-format Inception-v3 weights file made here (no ImageNet weights exist offline).
    Saved like torchvision's own file: a .pth with AuxLogits keys included."""
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
    path = tmp_path_factory.mktemp("weights") / "inception_v3_google-0cc3c7bd.pth"
    torch.save(net.state_dict(), path)
    return path, net


@pytest.mark.parametrize("variant", ["vit-gan", "vit-i-gan"])
@pytest.mark.parametrize("hw", [(256, 256), (256, 448)])
def test_generator_shapes(variant, hw):
    g = build_generator(ModelConfig(variant=variant, width=8), random_inception=True).eval()
    with torch.no_grad():
        ab = g(torch.rand(2, 1, *hw) * 2 - 1)
    assert ab.shape == (2, 2, *hw)
    assert ab.abs().max() <= 1.0  # tanh


def test_paper_width_bottleneck_and_fusion_channels():
    g = build_generator(ModelConfig(variant="vit-i-gan", width=64), random_inception=True)
    x, skips = g.encoder(torch.zeros(1, 1, 64, 96))
    assert x.shape == (1, 512, 2, 3)  # H/32 x W/32 x 512
    assert len(skips) == 5
    assert g.fusion.mix[0].in_channels == 1512 and g.fusion.mix[0].out_channels == 512
    convs = [m for m in g.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 10 and all(c.kernel_size == (5, 5) for c in convs)
    tconvs = [m for m in g.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(tconvs) == 5 and tconvs[-1].out_channels == 2


def test_generator_rejects_sizes_not_multiple_of_32():
    g = build_generator(ModelConfig(width=4)).eval()
    with pytest.raises(ValueError, match="multiple of 32"):
        g(torch.zeros(1, 1, 250, 256))


def test_discriminator_paper_defaults():
    d = ViTDiscriminator()
    assert d.image_size == 256 and d.patch_size == 32
    assert len(d.transformer.layers) == 6
    assert d.transformer.layers[0][0].heads == 16
    assert d.transformer.layers[0][1].net[1].out_features == 2048
    small = ViTDiscriminator(image_size=64, dim=32, depth=2, heads=2, mlp_dim=64).eval()
    assert small(torch.zeros(3, 3, 64, 64)).shape == (3,)


def test_inception_missing_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(InceptionWeightsMissing, match="never downloads"):
        build_generator(ModelConfig(variant="vit-i-gan", width=4))
    with pytest.raises(InceptionWeightsMissing, match=str(tmp_path / "nope.pth")):
        load_inception_v3(tmp_path / "nope.pth")


def test_inception_loads_from_path_env_and_hub_cache(inception_file, tmp_path, monkeypatch):
    path, reference = inception_file
    reference.eval()
    x = torch.rand(1, 3, 299, 299)
    with torch.no_grad():
        expected = reference(x)
    for source in ("path", "env", "hub"):
        monkeypatch.delenv(ENV_VAR, raising=False)
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
        if source == "path":
            net = load_inception_v3(path)
        elif source == "env":
            monkeypatch.setenv(ENV_VAR, str(path))
            net = load_inception_v3()
        else:
            hub = tmp_path / "th" / "hub" / "checkpoints"
            hub.mkdir(parents=True, exist_ok=True)
            (hub / path.name).write_bytes(path.read_bytes())
            monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
            net = load_inception_v3()
        assert not net.training and not any(p.requires_grad for p in net.parameters())
        assert net.transform_input  # as torchvision builds it for its ImageNet weights
        with torch.no_grad():
            assert torch.allclose(net(x), expected, atol=1e-5), source


def test_vit_i_gan_uses_inception_and_keeps_it_frozen(inception_file):
    path, _ = inception_file
    g = build_generator(ModelConfig(variant="vit-i-gan", width=4), inception_weights=str(path))
    g.train()
    assert not g.embedder.training  # BatchNorm stats of the frozen extractor never update
    before = {k: v.clone() for k, v in g.embedder.state_dict().items()}
    g(torch.rand(2, 1, 64, 64) * 2 - 1).sum().backward()
    assert all(torch.equal(v, g.embedder.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in g.embedder.parameters())


def test_inception_rejects_wrong_file(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(InceptionWeightsMissing, match="does not match"):
        load_inception_v3(bad)
    build_inception_v3()  # the architecture alone needs no weights


def test_vit_i_gan_runs_in_the_dtype_of_its_weights():
    """Bug found on an H100: with half weights (CUDA inference) Inception's input came back as
    float32 ("Input type FloatTensor and weight type HalfTensor"). bfloat16 shows it on CPU."""
    import torch

    from vidcolor.models import ModelConfig, build_generator

    torch.manual_seed(0)
    g = build_generator(ModelConfig(variant="vit-i-gan", width=4), random_inception=True).eval()
    g = g.to(torch.bfloat16)
    with torch.no_grad():
        ab = g(torch.zeros(1, 1, 64, 64, dtype=torch.bfloat16))
    assert ab.dtype == torch.bfloat16 and ab.shape == (1, 2, 64, 64)
