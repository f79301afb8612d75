"""Image and temporal metrics against independent references (skimage, hand-computed values)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import color as skcolor
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vidcolor.metrics import (
    CDC,
    Flicker,
    WarpingError,
    ab_psnr,
    cdc,
    colourfulness,
    colourfulness_ratio,
    flicker_index,
    js_divergence,
    psnr,
    ssim,
    warping_error,
    warping_error_pair,
)


@pytest.fixture(scope="module")
def photo_pair(real_photos):
    """A real photo and a degraded copy (noise + a colour cast), both uint8 256x256."""
    ref = real_photos["astronaut"][:256, :256]
    rng = np.random.default_rng(0)
    noisy = ref.astype(np.int16) + rng.integers(-12, 13, ref.shape) + np.array([6, -4, 0])
    return ref, np.clip(noisy, 0, 255).astype(np.uint8)


def grey(rgb: np.ndarray) -> np.ndarray:
    g = (skcolor.rgb2gray(rgb) * 255).round().astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def test_psnr_and_ssim_match_skimage(photo_pair):
    ref, cand = photo_pair
    mse = np.mean((ref.astype(np.float64) - cand) ** 2)
    assert psnr(ref, cand) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)
    assert psnr(ref, cand) == pytest.approx(peak_signal_noise_ratio(ref, cand, data_range=255))
    expected = structural_similarity(ref, cand, channel_axis=-1, data_range=255)
    assert ssim(ref, cand) == pytest.approx(expected, abs=1e-12)
    assert ssim(ref, ref) == pytest.approx(1.0) and ssim(ref, cand) < 0.95
    with pytest.raises(ValueError, match="sizes differ"):
        psnr(ref, cand[:100])


def test_ab_psnr_matches_skimage_lab(photo_pair):
    ref, cand = photo_pair
    ab_ref = skcolor.rgb2lab(ref)[..., 1:]
    ab_cand = skcolor.rgb2lab(cand)[..., 1:]
    expected = 10 * math.log10(256**2 / np.mean((ab_ref - ab_cand) ** 2))
    assert ab_psnr(ref, cand) == pytest.approx(expected, abs=1e-2)
    # A grey version keeps L but loses all colour: far worse ab-PSNR than the noisy copy.
    assert ab_psnr(ref, grey(ref)) < ab_psnr(ref, cand) - 5


def test_colourfulness(real_photos):
    for photo in real_photos.values():
        assert colourfulness(grey(photo)) == pytest.approx(0.0, abs=1e-12)
        assert colourfulness(photo) > 10
    # Hand-computed on two pixels: red and blue. rg = (255, 0), yb = (127.5, -255).
    tiny = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    std = math.sqrt(127.5**2 + 191.25**2)
    mean = math.sqrt(127.5**2 + 63.75**2)
    assert colourfulness(tiny) == pytest.approx(std + 0.3 * mean)
    photo = real_photos["coffee"]
    washed = ((photo.astype(np.float64) + grey(photo)) / 2).round().astype(np.uint8)
    assert colourfulness_ratio(photo, photo) == pytest.approx(1.0)
    assert 0.3 < colourfulness_ratio(photo, washed) < 0.7
    assert math.isnan(colourfulness_ratio(grey(photo), photo))


def test_cdc_hand_computed():
    # Three 2x2 frames, same values in R, G, B: all black; half black half white; all white.
    f0 = np.zeros((2, 2, 3), np.uint8)
    f1 = f0.copy()
    f1[0] = 255
    f2 = np.full((2, 2, 3), 255, np.uint8)
    # JS(f0, f1): p = {0: 1}, q = {0: .5, 255: .5}, m = {0: .75, 255: .25}
    js01 = 0.5 * (1 * math.log(1 / 0.75)) + 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2))
    js02 = math.log(2)  # disjoint histograms
    # d=1 pairs (f0,f1), (f1,f2) both give js01 by symmetry; d=2 gives js02; d=4 has no pair.
    assert cdc([f0, f1, f2]) == pytest.approx((js01 + js02) / 2, abs=1e-12)
    p = np.array([1.0, 0, 0])
    q = np.array([0.5, 0, 0.5])
    assert js_divergence(p, q) == pytest.approx(js01)
    assert cdc([f0, f0, f0, f0, f0]) == 0.0
    assert math.isnan(cdc([f0]))


def test_cdc_matches_scipy_js_on_real_frames(real_photos):
    from scipy.spatial.distance import jensenshannon

    frames = [real_photos["astronaut"][i * 20 : i * 20 + 200, :200] for i in range(6)]
    acc = CDC()
    for frame in frames:
        acc.update(frame)

    def hist(frame, c):
        return np.bincount(frame[..., c].ravel(), minlength=256) / frame[..., c].size

    expected = []
    for d in (1, 2, 4):
        js = [
            jensenshannon(hist(frames[t], c), hist(frames[t + d], c)) ** 2  # scipy gives sqrt(JS)
            for t in range(len(frames) - d)
            for c in range(3)
        ]
        expected.append(np.mean(js))
    assert acc.compute() == pytest.approx(np.mean(expected), rel=1e-9)


def test_flicker_index_inside_shots(real_photos):
    a = real_photos["astronaut"][:128, :128]
    b = real_photos["coffee"][100:228, 200:328]
    shift = np.array([6, -2, 6])  # a magenta cast that leaves luminance almost unchanged

    def cast(x):
        return np.clip(x.astype(np.int16) + shift, 0, 255).astype(np.uint8)

    frames = [a, cast(a), b, cast(b)]
    acc = Flicker()
    for frame in frames:
        acc.update(frame)
    assert acc.cuts == [2]  # the a -> b change is a cut, so that pair is left out

    def ab_change(x, y):
        return np.abs(skcolor.rgb2lab(x)[..., 1:] - skcolor.rgb2lab(y)[..., 1:]).mean()

    expected = (ab_change(a, cast(a)) + ab_change(b, cast(b))) / 2
    assert acc.compute() == pytest.approx(expected, rel=1e-3)
    assert flicker_index([a, a, a]) == 0.0
    assert math.isnan(flicker_index([a]))


def test_warping_error_pair_hand_computed():
    rng = np.random.default_rng(0)
    prev = rng.normal(0, 20, (2, 16, 24))
    cur = np.zeros_like(prev)
    cur[:, :, :-2] = prev[:, :, 2:]  # content moved 2 px left: x in cur is x + 2 in prev
    cur += np.array([1.5, -0.5]).reshape(2, 1, 1)  # and a colour change the motion does not explain
    flow = np.zeros((16, 24, 2), np.float32)
    flow[..., 0] = 2
    inside = np.zeros((16, 24), bool)
    inside[:, :-2] = True
    assert warping_error_pair(prev, cur, flow, inside) == pytest.approx((1.5 + 0.5) / 2, abs=1e-4)
    # Without the motion (zero flow) the same pair looks like flicker.
    assert warping_error_pair(prev, cur, np.zeros_like(flow), inside) > 10
    assert math.isnan(warping_error_pair(prev, cur, flow, np.zeros((16, 24))))


def test_warping_error_follows_motion_flicker_does_not(real_photos):
    """A pan of a real photo (4 px/frame): colour that moves with the content is no warping error,
    but is flicker. A colour cast on every other frame is warping error, by the cast's ab change."""
    photo = real_photos["astronaut"]
    frames = [photo[100:260, 60 + 4 * t : 284 + 4 * t] for t in range(6)]
    shift = np.array([6, -2, 6])

    def cast(x):
        return np.clip(x.astype(np.int16) + shift, 0, 255).astype(np.uint8)

    assert warping_error(frames) < 0.05 < 2 < flicker_index(frames)
    flickering = [cast(f) if t % 2 else f for t, f in enumerate(frames)]
    cast_change = np.mean(
        [
            np.abs(skcolor.rgb2lab(f)[..., 1:] - skcolor.rgb2lab(cast(f))[..., 1:]).mean()
            for f in frames
        ]
    )
    assert warping_error(flickering) == pytest.approx(cast_change, rel=0.05)
    assert math.isnan(warping_error(frames[:1]))


def test_warping_error_skips_cuts(real_photos):
    a, b = real_photos["astronaut"][:160, :224], real_photos["coffee"]
    acc = WarpingError()
    for frame in (a, real_photos["astronaut"][:160, 4:228], b[:160, :224], b[:160, 4:228]):
        acc.update(frame)
    assert acc.cuts == [2] and len(acc.values) == 2  # the astronaut -> coffee pair is left out
    assert acc.compute() < 0.1
