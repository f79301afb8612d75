"""The Y'CbCr merge: source luma kept code for code, chroma from exact colour maths, tags."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch
from skimage import color as skcolor
from test_video_support import X264, make_testsrc, round_trip, streams
from test_video_support import grey_clip as make_grey_clip

from vidcolor import cie, color
from vidcolor.video.chroma import chroma_from_luma


def ffmpeg_luma(path, pix_fmt: str, width: int, height: int) -> np.ndarray:
    """Every frame's luma (N, H, W) as ffmpeg itself decodes it: raw frames in their own pixel
    format (no conversion), plane 0 cut out."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
        capture_output=True,
        check=True,
    ).stdout
    import av

    fmt = av.VideoFormat(pix_fmt, width, height)
    frame_bytes = sum(c.width * c.height for c in fmt.components) * (2 if "10" in pix_fmt else 1)
    dtype = np.uint16 if "10" in pix_fmt else np.uint8
    frames = np.frombuffer(raw, np.uint8).reshape(-1, frame_bytes)
    luma_bytes = width * height * np.dtype(dtype).itemsize
    return frames[:, :luma_bytes].copy().view(dtype).reshape(-1, height, width)


def _full_range_clip(tmp_path):
    return make_testsrc(
        tmp_path / "full.mp4",
        pix_fmt="yuvj420p",
        extra=[*X264, "-color_range", "pc"],
    )


@pytest.mark.parametrize("case", ["grey_8bit", "full_range_8bit", "10bit"])
def test_ffv1_output_keeps_source_luma_bit_exact(case, bigbuckbunny, tmp_path):
    if case == "grey_8bit":
        src, pix_in = make_grey_clip(bigbuckbunny), "yuv420p"
    elif case == "full_range_8bit":
        src, pix_in = _full_range_clip(tmp_path), "yuvj420p"
    else:
        src = make_testsrc(tmp_path / "10.mp4", pix_fmt="yuv422p10le", extra=X264)
        pix_in = "yuv422p10le"
    out, _ = round_trip(src, tmp_path / "out.mkv", codec="ffv1", colour=True)
    v_in, v_out = streams(src)[0], streams(out)[0]
    w, h = v_in["width"], v_in["height"]
    pix_out = "yuv444p10le" if case == "10bit" else "yuv444p"
    assert v_out["pix_fmt"] == pix_out
    ours, ffmpegs = ffmpeg_luma(out, pix_out, w, h), ffmpeg_luma(src, pix_in, w, h)
    assert ours.shape == ffmpegs.shape and len(ours) >= 50
    assert np.array_equal(ours, ffmpegs)
    # The colour really went in: the chroma planes are far from neutral.
    chroma = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", out, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
         "yuv444p", "-"], capture_output=True, check=True,
    ).stdout  # fmt: skip
    cb = np.frombuffer(chroma, np.uint8)[w * h : 2 * w * h]
    assert np.abs(cb.astype(int) - 128).max() > 20


def _reference_chroma(l_star, a, b, fmt: cie.YCbCrFormat) -> np.ndarray:
    """Cb, Cr codes through skimage's lab2rgb and the textbook colour-difference formulas."""
    rgb = skcolor.lab2rgb(np.stack([l_star, a, b], -1).astype(np.float64))
    r, g, bl = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = fmt.kr * r + (1 - fmt.kr - fmt.kb) * g + fmt.kb * bl
    pb, pr = (bl - y) / (2 * (1 - fmt.kb)), (r - y) / (2 * (1 - fmt.kr))
    return np.stack([fmt.chroma_code(torch.from_numpy(c)).numpy() for c in (pb, pr)])


@pytest.mark.parametrize(
    "fmt",
    [
        cie.YCbCrFormat(0.2126, 0.0722),
        cie.YCbCrFormat(0.299, 0.114, bits=10),
        cie.YCbCrFormat(0.2126, 0.0722, full_range=True),
    ],
)
def test_chroma_matches_skimage_reference(fmt):
    rng = np.random.default_rng(1)
    scale = 1 << (fmt.bits - 8)
    lo, hi = (0, fmt.max_code) if fmt.full_range else (16 * scale, 235 * scale)
    y = torch.from_numpy(rng.integers(lo, hi + 1, (40, 50)).astype(np.int32))
    ab = torch.from_numpy(rng.uniform(-25, 25, (2, 40, 50)).astype(np.float32))
    l_star = cie.lstar_from_luma(fmt.luma_unit(y.double())).numpy()
    # L* of a grey equals skimage's for the same R'=G'=B'
    grey = fmt.luma_unit(y.double()).numpy()
    assert np.abs(skcolor.rgb2lab(np.repeat(grey[..., None], 3, -1))[..., 0] - l_star).max() < 1e-3
    ours = chroma_from_luma(y.numpy(), 1, ab.numpy(), fmt)
    ref = _reference_chroma(l_star, ab[0].numpy(), ab[1].numpy(), fmt)
    in_gamut = np.all(
        (skcolor.lab2rgb(np.stack([l_star, *ab.numpy()], -1)) > 1e-3)
        & (skcolor.lab2rgb(np.stack([l_star, *ab.numpy()], -1)) < 1 - 1e-3),
        -1,
    )
    assert in_gamut.mean() > 0.5
    assert np.abs(ours - ref)[:, in_gamut].max() <= 1
    # grey in, neutral chroma out, exactly
    neutral = chroma_from_luma(y.numpy(), 1, np.zeros_like(ab.numpy()), fmt)
    assert np.all(neutral == (1 << (fmt.bits - 1)))


def test_out_of_gamut_loses_chroma_not_hue():
    fmt = cie.YCbCrFormat(0.2126, 0.0722)
    y = torch.full((1, 1), 120, dtype=torch.int32)
    wild = torch.tensor([[[120.0]], [[-120.0]]])
    cb, cr = chroma_from_luma(y.numpy(), 1, wild.numpy(), fmt).flatten().tolist()
    l_star = cie.lstar_from_luma(fmt.luma_unit(y.double())).item()
    half = _reference_chroma(np.array([l_star]), np.array([60.0]), np.array([-60.0]), fmt)[:, 0]
    # Same direction as half the chroma (magenta-blue), and inside the legal range.
    assert (cb - 128) * (half[0] - 128) > 0 and (cr - 128) * (half[1] - 128) > 0
    assert 16 <= cb <= 240 and 16 <= cr <= 240


def test_colour_error_against_old_exact_merge_is_small(bigbuckbunny):
    """Real 720p frames, their own colours as the prediction: the Y'CbCr merge (source Y' kept,
    chroma at 4:2:0) stays within the error the old exact RGB merge had after its own 4:2:0."""
    from benchmarks.stage_encode import merge_colour_error

    error = merge_colour_error(bigbuckbunny, 3, (256, 448))
    assert error["frames"] == 3
    assert 0 < error["new"] < 1.0, error
    assert error["new"] <= error["old420"] + 0.1, error


def test_gamut_fit_by_table_matches_the_per_pixel_search():
    """Saturated colours (mostly out of gamut): the looked-up chroma limit gives the chroma the
    bisection of cie.fit_to_gamut finds. Near a channel's zero the sRGB curve is steep (12.92),
    so a hair of chroma can move Cb/Cr by a few codes there: judged by the share within 1."""
    fmt = cie.YCbCrFormat(0.2126, 0.0722)
    rng = np.random.default_rng(2)
    y = torch.from_numpy(rng.integers(30, 230, (30, 40)).astype(np.int32))
    ab = torch.from_numpy(rng.uniform(-110, 110, (2, 30, 40)).astype(np.float32))
    ours = chroma_from_luma(y.numpy(), 1, ab.numpy(), fmt)
    l_star = cie.lstar_from_luma(fmt.luma_unit(y.double())).float()
    lab = torch.cat((l_star[None], ab)).permute(1, 2, 0).numpy()
    fitted = cie.fit_to_gamut(lab, steps=16)[0].transpose(2, 0, 1)
    assert np.abs(fitted[1:] - ab.numpy()).max() > 20  # the fit really had work to do
    ref = _reference_chroma(fitted[0], fitted[1], fitted[2], fmt)
    diff = np.abs(ours - ref)
    assert (diff <= 1).mean() > 0.99 and diff.max() <= 4, np.histogram(diff)


@pytest.mark.parametrize(
    ("fmt", "pix_fmt"),
    [
        (cie.YCbCrFormat(0.2126, 0.0722), "yuv420p"),
        (cie.YCbCrFormat(0.299, 0.114, bits=10), "yuv422p10le"),
    ],
)
def test_frame_merge_matches_reference_with_block_luma_and_bilinear_ab(fmt, pix_fmt):
    """A whole frame through ChromaMerger (the compiled kernel): each chroma sample's L* from
    the mean of its block of luma codes, ab at model resolution upsampled bilinearly (half-pixel
    centres: torch's align_corners=False), against skimage within 1 code where in gamut."""
    from vidcolor.video.chroma import ChromaMerger
    from vidcolor.video.planes import chroma_subsampling

    rng = np.random.default_rng(3)
    sub_h, sub_w = chroma_subsampling(pix_fmt)
    scale = 1 << (fmt.bits - 8)
    y = rng.integers(16 * scale, 235 * scale + 1, (48, 80)).astype(
        np.uint16 if scale > 1 else np.uint8
    )
    ab_small = rng.uniform(-0.3, 0.3, (2, 17, 29)).astype(np.float32)
    ab_small[0, 0, 0] = 3.0  # outside [-1, 1]: clamped before upsampling
    ours = ChromaMerger(fmt, pix_fmt, y.shape)(y, ab_small).copy()
    blocks = y.reshape(48 // sub_h, sub_h, 80 // sub_w, sub_w).astype(np.float64).mean((1, 3))
    l_star = cie.lstar_from_luma(fmt.luma_unit(torch.from_numpy(blocks))).numpy()
    clamped = torch.from_numpy(ab_small).clamp(-1, 1)[None]
    ab = torch.nn.functional.interpolate(clamped, size=blocks.shape, mode="bilinear")[0]
    ab = (ab * color.AB_SCALE).double().numpy()
    ref = _reference_chroma(l_star, ab[0], ab[1], fmt)
    rgb = skcolor.lab2rgb(np.stack([l_star, *ab], -1))
    in_gamut = np.all((rgb > 1e-3) & (rgb < 1 - 1e-3), -1)
    assert ours.shape == (2, *blocks.shape) and in_gamut.mean() > 0.8
    assert np.abs(ours.astype(int) - ref)[:, in_gamut].max() <= 1
    # The clamped corner is out of gamut (a* = 128) and pulled in: legal codes, same hue side.
    assert 16 * scale <= ours[:, 0, 0].min() and ours[:, 0, 0].max() <= 240 * scale
    assert ours[1, 0, 0] > 128 * scale  # +a*: red-magenta, Cr above neutral


def test_kernel_compiles_when_no_cache_directory_is_writable(monkeypatch):
    """A read-only install without a home directory: numba refuses cache=True at decoration
    (no cache locator). The kernel module must still import and give the same codes."""
    import importlib.util

    import numba.core.caching

    from vidcolor.video import chroma_kernel
    from vidcolor.video.chroma import ChromaMerger

    monkeypatch.setattr(numba.core.caching.CacheImpl, "_locator_classes", [])
    spec = importlib.util.spec_from_file_location("kernel_no_cache", chroma_kernel.__file__)
    uncached = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(uncached)  # raised RuntimeError before the fallback
    fmt = cie.YCbCrFormat(0.2126, 0.0722)
    rng = np.random.default_rng(4)
    y = rng.integers(16, 236, (16, 24)).astype(np.uint8)
    ab = rng.uniform(-0.5, 0.5, (2, 5, 7)).astype(np.float32)
    merger = ChromaMerger(fmt, "yuv420p", y.shape)
    expected = merger(y, ab).copy()
    out = np.empty_like(expected)
    args = (*merger._tables, *merger._matrices, *merger._code_range, out)
    uncached.merge_plane(y, 2, 2, ab, *args)
    assert np.array_equal(out, expected)


@pytest.mark.parametrize(
    ("fmt", "pix_fmt"),
    [
        (cie.YCbCrFormat(0.2126, 0.0722), "yuv420p"),
        (cie.YCbCrFormat(0.299, 0.114, bits=10), "yuv422p10le"),
        (cie.YCbCrFormat(0.2126, 0.0722, full_range=True), "yuv444p"),
    ],
)
def test_torch_merge_equals_the_compiled_kernel(fmt, pix_fmt):
    """The GPU merge's maths (video/chroma_torch.py) on CPU tensors: a batch of real frames
    (skimage photos' luma, their own ab at model resolution, saturated 1.6x so that many samples
    need the gamut fit) gives the kernel's Cb/Cr codes: float64 on all but a rounding edge's
    samples, float32 (the GPU default) within one code."""
    from skimage import data, transform

    from vidcolor.video.chroma import ChromaMerger
    from vidcolor.video.chroma_torch import TorchChromaMerger

    scale = 1 << (fmt.bits - 8)
    lo, hi = (0, fmt.max_code) if fmt.full_range else (16 * scale, 235 * scale)
    frames, abs_ = [], []
    for photo in (data.astronaut(), data.coffee(), data.chelsea()):
        rgb = transform.resize(photo, (96, 160), anti_aliasing=True)
        lab = skcolor.rgb2lab(rgb)
        y = lo + (hi - lo) * skcolor.rgb2gray(rgb)
        frames.append(np.round(y).astype(np.uint16 if scale > 1 else np.uint8))
        small = transform.resize(lab[..., 1:], (24, 40), anti_aliasing=True)
        abs_.append((1.6 * small / color.AB_SCALE).transpose(2, 0, 1).astype(np.float32))
    y, ab = np.stack(frames), np.stack(abs_)
    kernel = ChromaMerger(fmt, pix_fmt, y.shape[1:])
    expected = np.stack([kernel(f, a).astype(np.int32) for f, a in zip(y, ab, strict=True)])
    rgb = skcolor.lab2rgb(np.stack([np.full(ab.shape[2:], 60.0), *(ab[0] * color.AB_SCALE)], -1))
    assert np.mean(np.any((rgb <= 0) | (rgb >= 1), -1)) > 0.05  # the gamut fit is exercised
    for dtype, identical in ((torch.float64, 0.999), (torch.float32, 0.99)):
        merger = TorchChromaMerger(fmt, pix_fmt, y.shape[1:], dtype=dtype)
        ours = merger(torch.from_numpy(y.astype(np.int32)), torch.from_numpy(ab)).numpy()
        assert ours.shape == expected.shape
        diff = np.abs(ours - expected)
        assert diff.max() <= 1 and (diff == 0).mean() >= identical, (dtype, (diff == 0).mean())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (GPU runs)")
def test_torch_merge_on_cuda_equals_the_compiled_kernel():
    """The same merge on the GPU (float32, the default there): within one code of the kernel."""
    from vidcolor.video.chroma import ChromaMerger
    from vidcolor.video.chroma_torch import TorchChromaMerger

    fmt = cie.YCbCrFormat(0.2126, 0.0722)
    rng = np.random.default_rng(5)
    y = rng.integers(16, 236, (4, 720, 1280)).astype(np.uint8)
    ab = rng.uniform(-0.6, 0.6, (4, 2, 256, 448)).astype(np.float32)
    kernel = ChromaMerger(fmt, "yuv420p", y.shape[1:])
    expected = np.stack([kernel(f, a).astype(np.int32) for f, a in zip(y, ab, strict=True)])
    merger = TorchChromaMerger(fmt, "yuv420p", y.shape[1:], device="cuda")
    assert merger.dtype == torch.float32
    ours = merger(torch.from_numpy(y).cuda(), torch.from_numpy(ab).cuda()).cpu().numpy()
    assert np.abs(ours - expected).max() <= 1
