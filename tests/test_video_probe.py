"""Probe and segment plan on real clips; bad files give one-line errors naming the file."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
from test_video_support import ffprobe_json, synthetic_clip

from vidcolor.errors import VidcolorError
from vidcolor.video.probe import probe
from vidcolor.video.segments import plan_segments


def test_probe_bigbuckbunny(bigbuckbunny):
    info = probe(str(bigbuckbunny))
    assert info.frame_count == 132
    assert info.video.frame_rate == "25/1"
    assert (info.width, info.height) == (1280, 720)
    assert info.time_base == Fraction(1, 12800)
    audio = [s for s in info.streams if s.kind == "audio"]
    assert [(s.codec, s.sample_rate) for s in audio] == [("aac", 48000)]
    assert info.video.pix_fmt == "yuv420p" and info.video.bit_depth == 8
    # ffprobe, the judge, agrees on every frame's pts.
    pkts = ffprobe_json(bigbuckbunny, "-select_streams", "v:0", "-show_entries", "packet=pts")
    assert info.frame_pts == sorted(int(p["pts"]) for p in pkts["packets"])
    assert abs(info.duration - 5.312) < 1e-3


def test_probe_carphone_ntsc_rate(carphone):
    info = probe(str(carphone))
    assert info.video.frame_rate == "30000/1001"
    assert info.frame_count == 120
    assert [s.kind for s in info.streams] == ["video"]


def test_probe_reports_rotation_bit_depth_and_display_size():
    rot = probe(str(synthetic_clip("rotated")))
    assert rot.rotation == 90 and (rot.width, rot.height) == (96, 160)
    deep = probe(str(synthetic_clip("10bit")))
    assert deep.bit_depth == 10 and deep.video.pix_fmt == "yuv422p10le"
    two = probe(str(synthetic_clip("two_audio")))
    assert [(s.language, s.sample_rate) for s in two.streams if s.kind == "audio"] == [
        ("eng", 44100),
        ("fra", 22050),
    ]


def test_plan_segments_on_real_keyframes(bikes):
    info = probe(str(bikes))
    plan = plan_segments(info, segment_seconds=3.0, overlap=8)
    keys = set(info.keyframe_pts)
    assert len(plan) == 3
    assert all(s.start_pts in keys for s in plan)
    assert sum(s.n_frames for s in plan) == info.frame_count == 250
    # Owned ranges tile the video exactly, in order.
    for a, b in zip(plan, plan[1:], strict=False):
        assert a.end_pts == b.start_pts
    assert plan[-1].end_pts is None
    for s in plan:
        assert s.seek_pts in keys and s.seek_pts <= s.context_start_pts <= s.start_pts
        assert s.n_before == (0 if s.index == 0 else 8)
        assert s.n_after == (0 if s.index == len(plan) - 1 else 8)
    # One long segment when no keyframe is far enough.
    assert len(plan_segments(info, segment_seconds=100.0)) == 1


def test_plan_segments_rejects_bad_arguments(carphone):
    info = probe(str(carphone))
    with pytest.raises(ValueError):
        plan_segments(info, segment_seconds=0)
    with pytest.raises(ValueError):
        plan_segments(info, overlap=-1)


def test_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(VidcolorError, match="junk.mp4"):
        probe(str(junk))
    with pytest.raises(VidcolorError, match="no such file"):
        probe(str(tmp_path / "missing.mp4"))


def test_audio_only_and_zero_frame_files(tmp_path):
    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), "w") as c:
        s = c.add_stream("aac", rate=44100, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 44100
        frame.pts = 0
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)
    with pytest.raises(VidcolorError, match="tone.m4a: no video stream"):
        probe(str(audio_only))
    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()  # header only, no frames
    with pytest.raises(
        VidcolorError,
        match=r"empty.mkv: (video stream has no decodable frames|not a readable video file)",
    ):
        probe(str(empty))


def test_probe_cli_json_and_text(run_cli, bikes, tmp_path):
    r = run_cli("probe", bikes, "--json", "--segment-seconds", "3", "--overlap", "4")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["frame_count"] == 250 and out["streams"][0]["frame_rate"] == "25/1"
    assert len(out["segments"]) == 3 and out["segments"][1]["n_before"] == 4
    r = run_cli("probe", bikes)
    assert r.returncode == 0 and "25/1 fps" in r.stdout and "segments:" in r.stdout
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"not a video at all")
    r = run_cli("probe", junk)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("vidcolor: error:") and "junk.mov" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
