"""Still-image colourisation: same size/format, L kept, paths mirrored, bad files reported."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color as skcolor

from vidcolor import color
from vidcolor.checkpoint import save_generator
from vidcolor.models import ModelConfig, build_generator


@pytest.fixture(scope="module")
def colourful_checkpoint(tmp_path_factory):
    """A tiny generator whose last layer is biased to predict strong colour, so out-of-gamut
    handling and 'chroma present' are exercised without training."""
    torch.manual_seed(0)
    g = build_generator(ModelConfig(width=4))
    with torch.no_grad():
        g.decoder.layers[-1].bias.copy_(torch.tensor([0.3, 0.4]))
    path = tmp_path_factory.mktemp("ckpt") / "g.safetensors"
    save_generator(str(path), g.eval(), ModelConfig(width=4))
    return path


def test_fit_to_gamut_keeps_lightness_and_hue():
    lab = torch.tensor([[[[60.0]], [[120.0]], [[-90.0]]]])  # far outside sRGB
    fitted = color.fit_to_gamut(lab)
    assert fitted[0, 0] == lab[0, 0]
    rgb = color._lab_to_linear_rgb(fitted[0, :, 0, 0])
    assert rgb.min() >= -1e-3 and rgb.max() <= 1 + 1e-3
    ratio = fitted[0, 1:, 0, 0] / lab[0, 1:, 0, 0]
    assert 0 < ratio[0] < 1 and torch.isclose(ratio[0], ratio[1])  # same scale on a and b
    inside = torch.tensor([[[[50.0]], [[10.0]], [[-10.0]]]])
    assert torch.equal(color.fit_to_gamut(inside), inside)


def test_colourise_dir_of_photos(tmp_path, real_photos, colourful_checkpoint, run_cli):
    src = tmp_path / "in"
    (src / "nested").mkdir(parents=True)
    grey = (skcolor.rgb2gray(real_photos["coffee"]) * 255).astype(np.uint8)[:397, :533]  # odd size
    Image.fromarray(grey).save(src / "nested" / "coffee.png")
    Image.fromarray(real_photos["chelsea"]).save(src / "cat.jpg", quality=98)
    (src / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    res = run_cli("colourise", src, "-o", out, "--checkpoint", colourful_checkpoint)
    assert res.returncode == 1, res.stderr  # one input failed, the rest finished
    assert "broken.png: not an image file" in res.stderr
    assert not (out / "broken.png").exists()

    coffee = np.asarray(Image.open(out / "nested" / "coffee.png"))
    assert coffee.shape == (397, 533, 3)
    lab_out = skcolor.rgb2lab(coffee)
    lab_in = skcolor.rgb2lab(np.repeat(grey[..., None], 3, axis=2))
    assert np.abs(lab_out[..., 0] - lab_in[..., 0]).max() < 0.6  # L kept (8-bit rounding only)
    assert np.hypot(lab_out[..., 1], lab_out[..., 2]).mean() > 5  # chroma present

    cat = Image.open(out / "cat.jpg")
    assert cat.format == "JPEG" and cat.size == (451, 300)
    cat_l = skcolor.rgb2lab(np.asarray(cat))[..., 0]
    assert np.abs(cat_l - skcolor.rgb2lab(real_photos["chelsea"])[..., 0]).mean() < 1.0

    # second run skips existing outputs unless --overwrite
    before = (out / "cat.jpg").stat().st_mtime_ns
    run_cli("colourise", src / "cat.jpg", "-o", out, "--checkpoint", colourful_checkpoint)
    assert (out / "cat.jpg").stat().st_mtime_ns == before


def test_bad_checkpoint_is_one_line_error(tmp_path, real_photos, run_cli):
    Image.fromarray(real_photos["rocket"]).save(tmp_path / "r.png")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04junk")
    res = run_cli("colourise", tmp_path / "r.png", "-o", tmp_path / "o", "--checkpoint", bad)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].startswith("vidcolor: error: ")
    assert "bad.safetensors" in res.stderr and "Traceback" not in res.stderr


def test_models_command_lists_variants(run_cli):
    res = run_cli("models", "--widths", "8")
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line.split() for line in res.stdout.splitlines()[1:3]}
    assert set(rows) == {"vit-i-gan", "vit-gan"}
    assert float(rows["vit-i-gan"][-1]) > float(rows["vit-gan"][-1]) > 0  # Inception adds FLOPs
