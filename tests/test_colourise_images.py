"""Still-image colourisation: same size/format, L kept, paths mirrored, bad files reported."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color as skcolor

from vidcolor import cie
from vidcolor.checkpoint import save_generator
from vidcolor.models import ModelConfig, build_generator, model_resolution


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
    lab = np.array([[60.0, 120.0, -90.0]], np.float32)  # far outside sRGB
    fitted, lin = cie.fit_to_gamut(lab)
    assert fitted[0, 0] == lab[0, 0]
    assert np.array_equal(lin, cie.lab_to_linear_rgb(fitted))
    assert lin.min() >= -1e-3 and lin.max() <= 1 + 1e-3
    ratio = fitted[0, 1:] / lab[0, 1:]
    assert 0 < ratio[0] < 1 and np.isclose(ratio[0], ratio[1])  # same scale on a and b
    inside = np.array([[50.0, 10.0, -10.0]], np.float32)
    assert np.array_equal(cie.fit_to_gamut(inside)[0], inside)


@pytest.mark.parametrize("shape", [(300, 451), (397, 533), (512, 512), (720, 1280)])
def test_model_input_is_torch_s_area_resize_without_torch(real_photos, shape):
    """The photo path's model input (numpy) is what torch's "area" resize gives, which the demo
    model was scored with; odd sizes use overlapping windows, not OpenCV's fractional ones."""
    import torch.nn.functional as F

    from vidcolor.image import model_input

    rgb = np.asarray(Image.fromarray(real_photos["astronaut"]).resize(shape[::-1]))
    L, small = model_input(rgb)
    ref = F.interpolate(
        torch.from_numpy(cie.normalize_l(L))[None, None], small.shape[2:], mode="area"
    )
    assert small.shape[2:] == model_resolution(*shape) and small.dtype == np.float32
    assert np.abs(small - ref.numpy()).max() < 1e-5


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
