"""Hue agreement: exact expectations on constructed images, and the grey-baseline ab-PSNR."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from skimage import color as skcolor

from vidcolor.metrics.hue import ab_psnr_grey, hue_agreement, hue_agreement_counts

# Saturated colours whose Lab hue and chroma are checked below with skimage (independent of us).
ORANGE, RED, BLUE, GREEN = (220, 120, 40), (200, 40, 40), (40, 70, 200), (50, 160, 60)
SEPIA = (112, 80, 50)


def lab_of(rgb) -> tuple[float, float]:
    """(chroma, hue degrees) of one uint8 RGB colour by skimage."""
    _, a, b = skcolor.rgb2lab(np.array([[rgb]], dtype=np.uint8))[0, 0]
    return math.hypot(a, b), math.degrees(math.atan2(b, a)) % 360


def hue_gap(x: float, y: float) -> float:
    return abs((x - y + 180) % 360 - 180)


@pytest.fixture(scope="module")
def mix() -> tuple[np.ndarray, float]:
    """A 40x40 image: 600 warm pixels (orange, red), 1000 cool/green ones (blue, green); and the
    share of warm pixels."""
    img = np.zeros((40, 40, 3), np.uint8)
    img[:10] = ORANGE  # 400
    img[10:15] = RED  # 200
    img[15:30] = BLUE  # 600
    img[30:] = GREEN  # 400
    return img, 600 / 1600


def test_the_constructed_colours_have_the_hues_the_test_assumes():
    sepia_chroma, sepia_hue = lab_of(SEPIA)
    assert sepia_chroma > 5
    for warm in (ORANGE, RED):
        chroma, hue = lab_of(warm)
        assert chroma > 15 and hue_gap(hue, sepia_hue) < 40
    for cool in (BLUE, GREEN):
        chroma, hue = lab_of(cool)
        assert chroma > 15 and hue_gap(hue, sepia_hue) > 50


def test_truth_scores_one_and_grey_scores_zero(mix, real_photos):
    img, _ = mix
    assert hue_agreement(img, img) == 1.0
    grey = np.repeat(img.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert hue_agreement(img, grey) == 0.0
    photo = real_photos["astronaut"]
    assert hue_agreement(photo, photo) == 1.0
    photo_grey = (skcolor.rgb2gray(photo) * 255).round().astype(np.uint8)
    assert hue_agreement(photo, np.repeat(photo_grey[..., None], 3, axis=2)) == 0.0


def test_a_single_sepia_tint_scores_only_on_the_warm_pixels(mix):
    img, warm_share = mix
    sepia = np.broadcast_to(np.array(SEPIA, np.uint8), img.shape).copy()
    assert hue_agreement(img, sepia) == warm_share
    assert hue_agreement_counts(img, sepia) == (600, 1600)


def test_wrong_hues_score_zero_and_near_grey_truth_is_not_judged(mix):
    img, _ = mix
    # Swap the colours: orange->blue, blue->orange, red->green, green->red: every hue > 45 deg off.
    swapped = img.copy()
    for old, new in ((ORANGE, BLUE), (BLUE, ORANGE), (RED, GREEN), (GREEN, RED)):
        swapped[(img == old).all(axis=2)] = new
    assert hue_agreement(img, swapped) == 0.0
    pale = np.full((8, 8, 3), 128, np.uint8)
    pale[..., 0] = 135  # C*ab ~ 5: below the 15 bar everywhere
    assert math.isnan(hue_agreement(pale, pale))
    with pytest.raises(ValueError, match="sizes differ"):
        hue_agreement(img, img[:10])


def test_ab_psnr_grey_is_the_psnr_of_zero_ab(real_photos):
    photo = real_photos["chelsea"]
    lab = skcolor.rgb2lab(photo)
    mse = np.mean(lab[..., 1:] ** 2)
    assert ab_psnr_grey(photo) == pytest.approx(10 * math.log10(256**2 / mse), abs=0.05)
    assert ab_psnr_grey(np.full((4, 4, 3), 90, np.uint8)) > 60  # grey already: near perfect


def test_evaluate_reports_hue_agreement_beside_the_grey_baseline(mix, tmp_path, capsys):
    from skimage import io

    from vidcolor.cli import main
    from vidcolor.metrics import ab_psnr, colourfulness

    img, warm_share = mix
    sepia = np.broadcast_to(np.array(SEPIA, np.uint8), img.shape).copy()
    io.imsave(tmp_path / "ref.png", img, check_contrast=False)
    io.imsave(tmp_path / "sepia.png", sepia, check_contrast=False)
    args = ["evaluate", "-r", str(tmp_path / "ref.png"), "-c", str(tmp_path / "sepia.png")]
    assert main([*args, "--json"]) == 0  # default metrics: no --metrics given
    m = json.loads(capsys.readouterr().out)["metrics"]
    assert m["hue_agreement"] == warm_share
    assert m["ab_psnr_grey"] == pytest.approx(ab_psnr_grey(img), abs=1e-9)
    assert m["ab_psnr"] == pytest.approx(ab_psnr(img, sepia), abs=1e-9)
    assert m["colourfulness_ratio"] == pytest.approx(colourfulness(sepia) / colourfulness(img))
    assert main(args) == 0
    table = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert float(table["hue_agreement"]) == pytest.approx(warm_share, abs=1e-4)
    assert {"ab_psnr", "ab_psnr_grey", "colourfulness_ratio"} <= set(table)
