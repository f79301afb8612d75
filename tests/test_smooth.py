"""Temporal ab smoothing: segment seams, cut reset, motion, identity at radius 0, less flicker."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from vidcolor.color import normalize_l, rgb_uint8_to_lab
from vidcolor.errors import UsageError
from vidcolor.smooth import SmoothingConfig, cut_scores, detect_cuts, smooth_ab


def decode_l(path, n: int, width: int = 64, height: int = 48, start: int = 0) -> np.ndarray:
    """Normalised L* (n, 1, h, w) of frames [start, start + n) of a real clip, decoded small."""
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start:
                frames.append(frame.to_ndarray(format="rgb24", width=width, height=height))
            if len(frames) == n:
                break
    lab = rgb_uint8_to_lab(torch.from_numpy(np.stack(frames)))
    return normalize_l(lab[:, :1]).numpy()


@pytest.fixture(scope="module")
def bikes_l(bikes):
    # Frames 0-89 of bikes.mp4 hold two hard cuts (30 and 76) and fast camera motion.
    return decode_l(bikes, 90)


@pytest.fixture(scope="module")
def carphone_l(carphone):
    return decode_l(carphone, 40)


def flickering_ab(lum: np.ndarray, seed: int = 0, noise: float = 0.15) -> np.ndarray:
    """A plausible ab field tied to the image content, plus per-frame global and per-pixel flicker."""
    rng = np.random.default_rng(seed)
    n = lum.shape[0]
    base = np.concatenate([0.4 * lum, -0.3 * lum + 0.1], axis=1)
    global_jitter = rng.normal(0, noise, size=(n, 2, 1, 1))
    pixel_noise = rng.normal(0, noise / 2, size=base.shape)
    return (base + global_jitter + pixel_noise).astype(np.float32)


def run_in_segments(ab, lum, config, owned: int, overlap: int) -> np.ndarray:
    """What the pipeline does: segments own `owned` frames and carry `overlap` context each side."""
    n = ab.shape[0]
    out = np.empty_like(ab)
    for start in range(0, n, owned):
        stop = min(start + owned, n)
        lo, hi = max(0, start - overlap), min(n, stop + overlap)
        part = smooth_ab(ab[lo:hi], lum[lo:hi], config)
        out[start:stop] = part[start - lo : stop - lo]
    return out


def test_cuts_found_on_real_footage(bikes_l, carphone_l):
    assert detect_cuts(bikes_l) == [30, 76]
    assert detect_cuts(carphone_l) == []
    scores = cut_scores(bikes_l)
    assert scores[0] == 0 and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize("radius,owned,overlap", [(3, 10, 3), (3, 7, 5), (2, 16, 2)])
def test_segments_match_one_shot(bikes_l, radius, owned, overlap):
    ab = flickering_ab(bikes_l)
    config = SmoothingConfig(radius=radius)
    whole = smooth_ab(ab, bikes_l, config)
    split = run_in_segments(ab, bikes_l, config, owned=owned, overlap=overlap)
    assert np.abs(whole - split).max() < 1e-3
    # The seam test could fail: with too little overlap, owned frames next to a seam do differ.
    short = run_in_segments(ab, bikes_l, config, owned=owned, overlap=radius - 1)
    assert np.abs(whole - short).max() > 1e-3


def test_no_colour_crosses_a_cut(carphone_l, bikes_l):
    lum = np.concatenate([carphone_l[:12], bikes_l[40:52]])
    assert detect_cuts(lum) == [12]
    ab = np.zeros((24, 2, *lum.shape[2:]), dtype=np.float32)
    ab[:12] = np.array([0.5, -0.4], np.float32).reshape(1, 2, 1, 1)  # shot A coloured, B grey
    out = smooth_ab(ab, lum, SmoothingConfig(radius=3, luma_sigma=10.0))  # luma term off on purpose
    assert np.abs(out[12:]).max() == 0.0
    np.testing.assert_allclose(out[:12], ab[:12], atol=1e-6)
    # Without the cut the same settings bleed shot A into shot B: the reset is what prevents it.
    bleed = smooth_ab(ab, lum, SmoothingConfig(radius=3, luma_sigma=10.0), cuts=[])
    assert np.abs(bleed[12]).max() > 0.1


def test_moving_object_leaves_no_ghost():
    n, h, w, size, step = 9, 24, 48, 6, 4
    lum = np.full((n, 1, h, w), -0.8, np.float32)  # dark background
    ab = np.zeros((n, 2, h, w), np.float32)  # grey background
    for i in range(n):
        x = 2 + step * i
        lum[i, :, 9 : 9 + size, x : x + size] = 0.8  # bright square moving right
        ab[i, :, 9 : 9 + size, x : x + size] = np.array([0.6, -0.4]).reshape(2, 1, 1)
    out = smooth_ab(ab, lum, SmoothingConfig(radius=3))
    background = ab == 0
    assert np.abs(out[background]).max() < 0.01  # no ghost trail where the square has been
    np.testing.assert_allclose(out[~background], ab[~background], atol=0.01)  # square keeps colour
    # With the luma falloff disabled the trail appears: the falloff is what stops it.
    ghost = smooth_ab(ab, lum, SmoothingConfig(radius=3, luma_sigma=100.0))
    assert np.abs(ghost[background]).max() > 0.05


def test_radius_zero_is_identity(carphone_l):
    ab = flickering_ab(carphone_l)
    out = smooth_ab(ab, carphone_l, SmoothingConfig(radius=0))
    assert out.dtype == np.float32 and out is not ab
    np.testing.assert_array_equal(out, ab)


def test_flicker_goes_down(carphone_l):
    clean = flickering_ab(carphone_l, noise=0.0)
    noisy = flickering_ab(carphone_l, noise=0.15)
    out = smooth_ab(noisy, carphone_l, SmoothingConfig(radius=3))

    def flicker(x):
        return np.abs(np.diff(x, axis=0)).mean()

    assert flicker(out) < 0.4 * flicker(noisy)
    assert np.abs(out - clean).mean() < 0.6 * np.abs(noisy - clean).mean()


def test_bad_config_and_shapes(carphone_l):
    with pytest.raises(UsageError, match="radius"):
        SmoothingConfig(radius=-1)
    with pytest.raises(ValueError, match="same frames"):
        smooth_ab(np.zeros((3, 2, 4, 4)), np.zeros((4, 1, 4, 4)), SmoothingConfig())
    with pytest.raises(ValueError, match="cut index"):
        smooth_ab(np.zeros((3, 2, 4, 4)), np.zeros((3, 1, 4, 4)), SmoothingConfig(), cuts=[5])
