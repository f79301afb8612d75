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


def test_sample_aspect_ratio_kept(tmp_path):
    src = make_testsrc(tmp_path / "dv.mp4", size="720x480", seconds=1, vf="setsar=8/9", extra=X264)
    assert streams(src)[0]["sample_aspect_ratio"] == "8:9"
    out, _ = round_trip(src, tmp_path / "out.mp4")
    v = streams(out)[0]
    assert v["sample_aspect_ratio"] == "8:9" and v["display_aspect_ratio"] == "4:3"


def test_field_order_kept(tmp_path):
    src = make_testsrc(
        tmp_path / "tff.mp4",
        size="720x576",
        seconds=1,
        vf="tinterlace=4",  # interleave fields: top field first
        extra=[*X264, "-flags", "+ildct+ilme", "-x264-params", "tff=1"],
    )
    assert streams(src)[0]["field_order"] == "tt"
    out, _ = round_trip(src, tmp_path / "out.mkv", codec="ffv1")
    assert streams(out)[0]["field_order"] == "tt"


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
