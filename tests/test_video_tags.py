"""Colour tags, sample aspect ratio and field order of the output, judged with ffprobe."""

from __future__ import annotations

import numpy as np
import pytest
from test_video_support import (
    X264,
    assert_streams_intact,
    make_testsrc,
    round_trip,
    streams,
    y_planes,
)

BT709 = {"color_space": "bt709", "color_primaries": "bt709", "color_transfer": "bt709"}
NTSC = {"color_space": "smpte170m", "color_primaries": "smpte170m", "color_transfer": "smpte170m"}
PAL = {"color_space": "bt470bg", "color_primaries": "bt470bg", "color_transfer": "smpte170m"}
TAG_BT709 = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]


def _tags(path) -> dict:
    v = streams(path)[0]
    keys = ("color_space", "color_primaries", "color_transfer", "color_range")
    return {k: v.get(k, "unknown") for k in keys}


@pytest.mark.parametrize(
    ("size", "extra", "expect"),
    [
        ("1280x720", [], {**BT709, "color_range": "tv"}),  # untagged HD
        ("720x480", [], {**NTSC, "color_range": "tv"}),  # untagged SD, 525 lines
        ("720x576", [], {**PAL, "color_range": "tv"}),  # untagged SD, 625 lines
        ("640x360", TAG_BT709, {**BT709, "color_range": "tv"}),  # tagged BT.709 below 720 lines
        ("1280x720", ["-color_range", "pc"], {**BT709, "color_range": "pc"}),  # full range
    ],
)
def test_output_colour_tags(size, extra, expect, tmp_path):
    src = make_testsrc(tmp_path / "src.mp4", size=size, seconds=1, extra=[*X264, *extra])
    before = _tags(src)
    tagged = bool(extra) and extra != ["-color_range", "pc"]
    assert (before["color_space"] != "unknown") == tagged  # the untagged sources really are
    out, _ = round_trip(src, tmp_path / "out.mp4", segment_seconds=1.0)
    assert _tags(out) == expect


@pytest.fixture(scope="module")
def dv_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("dv") / "dv.mp4"
    src = make_testsrc(path, size="720x480", seconds=1, vf="setsar=8/9", extra=X264)
    assert streams(src)[0]["sample_aspect_ratio"] == "8:9"
    return src


@pytest.mark.parametrize(
    ("codec", "suffix"), [("h264", ".mp4"), ("ffv1", ".mkv"), ("prores", ".mov")]
)
def test_sample_aspect_ratio_kept(dv_clip, codec, suffix, tmp_path):
    """H.264 codes the SAR in the bitstream; FFV1/Matroska (DisplayWidth/Height, from the stream's
    own SAR, which PyAV cannot set: vidcolor.video.aspect) and ProRes/MOV ('pasp') only in the
    container: all three keep 8:9, as ffprobe reads it."""
    out, _ = round_trip(dv_clip, tmp_path / f"out{suffix}", codec=codec)
    assert out.endswith(suffix)
    v = streams(out)[0]
    assert v["sample_aspect_ratio"] == "8:9" and v["display_aspect_ratio"] == "4:3", (codec, v)


def test_field_order_kept(tmp_path):
    """FFV1/Matroska stores it; H.264 flags the woven frames as interlaced (x264 pic_struct);
    H.265 has it from the container only (Matroska FieldOrder, MP4 'fiel'): HEVC can signal it
    only by coding fields (x265 --interlace), which FFmpeg decodes as half-height frames."""
    src = make_testsrc(
        tmp_path / "tff.mp4",
        size="720x576",
        seconds=1,
        vf="tinterlace=4",  # interleave fields: top field first
        extra=[*X264, "-flags", "+ildct+ilme", "-x264-params", "tff=1"],
    )
    assert streams(src)[0]["field_order"] == "tt"
    for codec, suffix in (("ffv1", ".mkv"), ("h264", ".mkv"), ("h265", ".mkv"), ("h265", ".mp4")):
        out, _ = round_trip(src, tmp_path / f"out-{codec}{suffix}", codec=codec)
        assert streams(out)[0]["field_order"] == "tt", (codec, suffix)


def _combing(frames) -> float:
    """Mean |row - next row| over |row - the row after next|: > 1 where fields disagree."""
    ys = [y.astype(np.float64) for y in frames]
    near = np.mean([np.abs(y[:-2:2] - y[1:-1:2]).mean() for y in ys])
    far = np.mean([np.abs(y[:-2:2] - y[2::2]).mean() for y in ys])
    return near / far


def test_deinterlace_gives_progressive_frames_at_the_same_times(tmp_path):
    src = make_testsrc(
        tmp_path / "tff.mp4",
        size="320x240",
        seconds=2,
        vf="tinterlace=4",
        extra=[*X264, "-flags", "+ildct+ilme", "-x264-params", "tff=1"],
    )
    out, _ = round_trip(src, tmp_path / "out.mkv", codec="ffv1", deinterlace=True)
    assert streams(out)[0]["field_order"] == "progressive"
    assert_streams_intact(src, out)
    before, after = _combing(y_planes(src)), _combing(y_planes(out))
    assert after < 0.7 * before, (before, after)  # without --deinterlace the luma is the same


def test_output_tags_rules():
    from vidcolor.video.probe import StreamInfo
    from vidcolor.video.tags import output_tags

    def info(**kw):
        return StreamInfo(index=0, kind="video", codec="h264", time_base="1/25", **kw)

    hd = output_tags(info(height=1080, colorspace=2, color_primaries=2, color_trc=2))
    assert (hd.matrix, hd.primaries, hd.transfer, hd.full_range) == (1, 1, 1, False)
    bt2020 = output_tags(info(height=2160, colorspace=9, color_primaries=9, color_trc=16))
    assert (bt2020.matrix, bt2020.primaries, bt2020.transfer) == (9, 9, 16)
    assert bt2020.ycbcr(10).kr == 0.2627  # the maths uses the matrix it tags
    jpeg = output_tags(info(height=288, pix_fmt="yuvj420p"))
    assert (jpeg.matrix, jpeg.full_range) == (5, True)
    rgb_source = output_tags(info(height=480, colorspace=0))  # RGB: no matrix to keep
    assert rgb_source.matrix == 6


def test_deinterlace_flag_reaches_the_encoder_settings_and_output_key():
    import argparse

    from vidcolor.commands.colourise import add_pipeline_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, default_address=None)
    plain = config_from_args(parser.parse_args(["in.mp4", "-o", "out"]))
    deint = config_from_args(parser.parse_args(["in.mp4", "-o", "out", "--deinterlace"]))
    assert not plain.deinterlace and deint.deinterlace and deint.encode_settings().deinterlace
    assert plain.output_key("ck") != deint.output_key("ck")  # different pixels, different state
