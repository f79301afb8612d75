"""decode -> merge (ab = 0) -> encode -> mux round trips, judged with ffprobe/ffmpeg."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from test_video_support import (
    assert_streams_intact,
    ffmpeg,
    make_testsrc,
    packets,
    psnr,
    round_trip,
    streams,
    synthetic_clip,
    video_pts_seconds,
    y_planes,
)
from test_video_support import grey_clip as make_grey_clip


@pytest.fixture(scope="module")
def grey_clip(bigbuckbunny):
    return make_grey_clip(bigbuckbunny)


def test_grey_clip_plans_three_segments(grey_clip):
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    plan = plan_segments(probe(grey_clip), segment_seconds=1.0, overlap=2)
    assert len(plan) == 3
    assert [s.n_frames for s in plan] == [25, 25, 25]


def test_ffv1_round_trip_is_lossless_on_luma(grey_clip, tmp_path):
    out, plan = round_trip(grey_clip, tmp_path / "out.mkv", codec="ffv1")
    assert len(plan) == 3 and out.endswith(".mkv")
    assert streams(out)[0]["codec_name"] == "ffv1"
    assert_streams_intact(grey_clip, out)
    src_y, out_y = y_planes(grey_clip), y_planes(out)
    assert len(src_y) == len(out_y) == 75
    worst = max(int(np.abs(a - b).max()) for a, b in zip(src_y, out_y, strict=True))
    assert worst == 0, f"luma differs by up to {worst} code values"  # the merge keeps Y' codes


def test_h264_round_trip_psnr_and_audio_identical(grey_clip, bigbuckbunny, tmp_path):
    out, plan = round_trip(grey_clip, tmp_path / "out.mp4", codec="h264")
    assert len(plan) == 3 and out.endswith(".mp4")
    info = streams(out)
    assert [s["codec_name"] for s in info] == ["h264", "aac"]
    assert info[0]["pix_fmt"] == "yuv420p"
    assert_streams_intact(grey_clip, out)
    # The audio is the real clip's AAC, stream-copied twice: payloads still bit-identical.
    real = packets(bigbuckbunny, "a:0")
    ours = packets(out, "a:0")
    assert [p["data_hash"] for p in ours] == [p["data_hash"] for p in real[: len(ours)]]
    assert psnr(y_planes(grey_clip), y_planes(out)) > 40.0


@pytest.mark.parametrize("name", ["vfr", "10bit", "odd_grey", "rotated", "two_audio", "no_audio"])
def test_awkward_clips_round_trip(name, tmp_path):
    src = synthetic_clip(name)
    out, plan = round_trip(src, tmp_path / "out.mp4")
    assert len(plan) >= 2
    assert_streams_intact(src, out, size=(174, 98) if name == "odd_grey" else None)
    info = streams(out)
    if name == "vfr":
        gaps = np.diff(video_pts_seconds(out))  # exact fractions, equal to the source's
        assert np.all(gaps[:24] == gaps[0]) and len(set(gaps)) > 1  # really variable
    if name == "10bit":
        assert info[0]["pix_fmt"] == "yuv420p10le"
    if name == "odd_grey":  # playable 4:2:0: one repeated column and row, source luma kept
        assert info[0]["pix_fmt"] in ("yuv420p", "yuvj420p")  # the FFV1 grey source is full range
        src_y, out_y = y_planes(src), y_planes(out)
        assert psnr(src_y, [b[:97, :173] for b in out_y]) > 40.0  # H.264: lossy, source at top left
        assert psnr([b[96] for b in out_y], [b[97] for b in out_y]) > 35.0  # the repeated row
    if name == "two_audio":
        assert [s.get("tags", {}).get("language") for s in info[1:]] == ["eng", "fra"]
        assert [s["sample_rate"] for s in info[1:]] == ["44100", "22050"]
    if name == "no_audio":
        assert len(info) == 1


def test_rotated_clip_matches_ffmpeg_autorotate(tmp_path):
    """Our output is stored upright; ffmpeg's own autorotation of the source must agree."""
    src = synthetic_clip("rotated")
    out, _ = round_trip(src, tmp_path / "out.mp4")
    upright = tmp_path / "upright.mkv"  # ffmpeg applies the display matrix when transcoding
    ffmpeg("-i", src, "-c:v", "ffv1", "-pix_fmt", "yuv420p", upright)
    ours, ffmpegs = y_planes(out), y_planes(upright)
    assert ours[0].shape == ffmpegs[0].shape == (160, 96)
    assert psnr(ffmpegs, ours) > 35.0
    # And the wrong way round would be far off: the test can fail.
    assert psnr([np.rot90(y, 2) for y in ffmpegs], ours) < 20.0


def test_subtitles_force_mkv(tmp_path, caplog):
    src = synthetic_clip("subtitled")
    out, _ = round_trip(src, tmp_path / "out.mp4")
    assert out.endswith(".mkv")
    assert "cannot go in .mp4" in caplog.text
    assert not (tmp_path / "out.mp4").exists()
    assert [s["codec_name"] for s in streams(out)] == ["h264", "aac", "subrip"]
    assert_streams_intact(src, out)


def test_container_choice():
    from vidcolor.video.encode import EncodeSettings
    from vidcolor.video.mux import container_for
    from vidcolor.video.probe import probe

    two = probe(synthetic_clip("two_audio"))
    subs = probe(synthetic_clip("subtitled"))
    assert container_for(two, EncodeSettings("h264")) == ".mp4"
    assert container_for(two, EncodeSettings("prores")) == ".mov"
    assert container_for(two, EncodeSettings("ffv1")) == ".mkv"
    assert container_for(subs, EncodeSettings("h264")) == ".mkv"


def test_segment_decode_matches_direct_decode():
    """Seeking into a segment yields exactly the frames a straight decode gives at those pts."""
    import av

    from vidcolor.video.decode import decode_segment
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    src = synthetic_clip("vfr")
    info = probe(src)
    plan = plan_segments(info, segment_seconds=1.0, overlap=3)
    seg = plan[1]
    dec = decode_segment(str(src), seg, model_size=32)
    assert seg.n_before == 3 and seg.n_after == 3
    assert seg.seek_pts < seg.start_pts  # context reaches back past the keyframe: earlier seek
    expect = [p for p in info.frame_pts if seg.context_start_pts <= p < seg.context_end_pts]
    assert dec.pts.tolist() == expect
    assert dec.own == slice(3, 3 + seg.n_frames)
    assert dec.l_small.shape[1:] == (1, 32, 64) and dec.l_small.dtype == np.float32
    assert -1.0 <= dec.l_small.min() and dec.l_small.max() <= 1.0
    with av.open(str(src)) as c:
        frames = {f.pts: f for f in c.decode(video=0)}
    import torch

    from vidcolor import color

    for row, pts in enumerate(dec.pts):
        rgb = frames[int(pts)].to_ndarray(format="rgb24", width=64, height=32, interpolation="AREA")
        ref = color.normalize_l(color.rgb_uint8_to_lab(torch.from_numpy(rgb))[0]).numpy()
        assert np.abs(ref - dec.l_small[row, 0]).max() < 1e-4


def test_grey_frames_take_l_from_their_luma(grey_clip):
    """A black-and-white clip (every Cb, Cr at 128) gets L* from its resized luma plane and an
    exact table: within 0.4 L* units on average of the exact L* of the area-averaged luma, and
    nearer it than the RGB path (swscale's 8-bit RGB, then L*) on the same frames."""
    import av
    import cv2

    from vidcolor import cie
    from vidcolor.video.decode import decode_segment
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    seg = plan_segments(probe(str(grey_clip)), segment_seconds=1.0, overlap=0)[0]
    dec = decode_segment(str(grey_clip), seg, model_size=96)  # 96x160 from 180x320: shrunk
    h, w = dec.l_small.shape[2:]
    ours, rgb_path = [], []
    with av.open(str(grey_clip)) as c:
        for frame, got in zip(c.decode(video=0), dec.l_small[:, 0], strict=False):
            luma = np.frombuffer(frame.planes[0], np.uint8).reshape(frame.height, -1)
            small = cv2.resize(luma[:, : frame.width].astype(np.float64), (w, h),
                               interpolation=cv2.INTER_AREA)  # fmt: skip
            linear = cie.srgb_to_linear(((small - 16) / 219).clip(0, 1))
            exact = 116 * cie.cie_f(linear) - 16
            rgb = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")
            ours.append(np.abs(cie.denormalize_l(got) - exact).mean())
            rgb_path.append(np.abs(cie.lstar_of_rgb(rgb) - exact).mean())
    assert len(ours) == len(dec.pts) > 10
    assert np.mean(ours) < 0.4  # measured 0.12; the RGB path 0.72
    assert np.mean(ours) < np.mean(rgb_path)


def decode_peaks(short: str, long: str) -> dict[str, list[int]]:
    """Run by traced.in_child: the frames decoded for the second 1 s segment of each video, and
    the peak bytes of decoding it."""
    from traced import peak

    from vidcolor.video.decode import decode_segment
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    segs = [plan_segments(probe(p), segment_seconds=1.0)[1] for p in (short, long)]
    decode_segment(short, segs[0], model_size=32)  # warm-up: first calls allocate once
    peaks = []
    for path, seg in zip((short, long), segs, strict=True):
        peaks.append(peak(functools.partial(decode_segment, path, seg, model_size=32))[1])
    return {"decoded": [s.n_decoded for s in segs], "peaks": peaks}


def test_decode_memory_does_not_grow_with_video_length(tmp_path):
    from traced import in_child

    x264 = ["-c:v", "libx264", "-preset", "ultrafast"]
    short = make_testsrc(tmp_path / "short.mp4", size="320x192", seconds=3, extra=x264)
    long = make_testsrc(tmp_path / "long.mp4", size="320x192", seconds=30, extra=x264)
    found = in_child("test_video_roundtrip:decode_peaks", str(short), str(long))
    decoded_short, decoded_long = found["decoded"]
    assert decoded_short == decoded_long
    peak_short, peak_long = found["peaks"]
    assert peak_short > 100_000  # the frames really went through traced numpy buffers
    assert peak_long < 1.25 * peak_short, (peak_short, peak_long)


def test_model_resolution():
    from vidcolor.models import model_resolution

    assert model_resolution(720, 1280) == (256, 448)
    assert model_resolution(1280, 720) == (448, 256)
    assert model_resolution(97, 173) == (256, 448)
    assert model_resolution(144, 176) == (256, 320)
    assert model_resolution(100, 100, short_side=64) == (64, 64)
    with pytest.raises(ValueError):
        model_resolution(720, 1280, short_side=250)


def test_merge_l_ab_grey_and_colour():
    from vidcolor.image import merge_l_ab

    l_full = np.full((9, 11), 50.0, np.float32)
    grey = merge_l_ab(l_full, np.zeros((2, 4, 4), np.float32))
    assert grey.shape == (9, 11, 3) and grey.dtype == np.uint8
    assert np.all(grey == grey[..., :1]) and abs(int(grey[0, 0, 0]) - 119) <= 1  # L*=50 -> 119
    red = merge_l_ab(l_full, np.stack([np.full((4, 4), 0.5), np.zeros((4, 4))]).astype(np.float32))
    assert red[..., 0].mean() > red[..., 1].mean() + 40
    deep = merge_l_ab(l_full, np.zeros((2, 4, 4), np.float32), bits=16)
    assert deep.dtype == np.uint16 and abs(int(deep[0, 0, 0]) - 119 * 257) < 300


def test_encode_rejects_wrong_ab_count(tmp_path):
    from vidcolor.errors import VidcolorError
    from vidcolor.video.encode import EncodeSettings, encode_segment
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    src = synthetic_clip("no_audio")
    info = probe(src)
    seg = plan_segments(info, segment_seconds=1.0)[0]
    with pytest.raises(VidcolorError, match="owns 25 frames"):
        encode_segment(str(src), seg, np.zeros((3, 2, 32, 32), np.float32), tmp_path / "s.mov",
                       EncodeSettings(), info)  # fmt: skip


@pytest.mark.parametrize(
    ("codec", "name", "suffix", "pix_fmt"),
    [("h265", "10bit", ".mp4", "yuv420p10le"), ("prores", "two_audio", ".mov", "yuv422p10le")],
)
def test_h265_and_prores_round_trip(codec, name, suffix, pix_fmt, tmp_path):
    src = synthetic_clip(name)
    out, _ = round_trip(src, tmp_path / "out.mp4", codec=codec)
    assert out.endswith(suffix)
    assert streams(out)[0]["pix_fmt"] == pix_fmt
    assert_streams_intact(src, out)
