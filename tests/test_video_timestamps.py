"""Timestamp jumps repaired as ffmpeg's command line repairs them: two MPEG-TS recordings joined
byte-wise (the second one later on the clock, or across the 33-bit PTS wrap) come out with the
duration, frame times and audio of ffmpeg's own transcode of the same file, judged by ffprobe."""

from __future__ import annotations

import json
import subprocess

import pytest
from pipeline_helpers import tiny_checkpoint
from test_video_support import ffmpeg, ffprobe_json, round_trip

PTS_WRAP_SECONDS = 2**33 / 90000  # 95,443.7 s


def _recording(src, path, start: float, ts_offset: float):
    ffmpeg(
        "-ss", start, "-i", src, "-t", 1.2, "-vf", "scale=96:-2", "-c:v", "libx264",
        "-preset", "veryfast", "-g", 12, "-c:a", "aac", "-b:a", "48k",
        "-output_ts_offset", ts_offset, path,
    )  # fmt: skip
    return path


_MADE: dict[str, dict] = {}


def _joined(kind: str, tmp_path_factory, bigbuckbunny) -> dict:
    """Two recordings joined end to end; the second one's clock 5,000 s later, or 0.6 s before
    the 33-bit PTS wrap, which it crosses (libavformat unwraps a wrap only against the file's
    first clock: here it is a second jump). Made once per kind."""
    if kind in _MADE:
        return _MADE[kind]
    root = tmp_path_factory.mktemp("ts")
    offset = 5000 if kind == "later" else PTS_WRAP_SECONDS - 0.6 - 1.48
    a = _recording(bigbuckbunny, root / "a.ts", 0, 0)
    b = _recording(bigbuckbunny, root / "b.ts", 1.2, offset)
    path = root / "joined.ts"
    path.write_bytes(a.read_bytes() + b.read_bytes())
    reference = root / "ffmpeg.mp4"  # ffmpeg's own transcode, frame times passed through
    ffmpeg("-i", path, "-c:v", "libx264", "-fps_mode", "passthrough", "-c:a", "copy", reference)
    _MADE[kind] = {"kind": kind, "path": path, "ffmpeg": reference, "parts": (a, b)}
    return _MADE[kind]


@pytest.fixture(params=["later", "wrapped"])
def joined(request, tmp_path_factory, bigbuckbunny):
    return _joined(request.param, tmp_path_factory, bigbuckbunny)


def _times(path, select: str) -> list[float]:
    packets = ffprobe_json(path, "-select_streams", select, "-show_entries", "packet=pts_time")
    return sorted(float(p["pts_time"]) for p in packets["packets"])


def _duration(path) -> float:
    return float(ffprobe_json(path, "-show_entries", "format=duration")["format"]["duration"])


def assert_like_ffmpeg(out, reference) -> None:
    """Same frames at the same times (from the first frame on), the same audio packets at the
    same times, the same duration to within a frame: ffmpeg rounds its encoder's frame times to
    the frame rate (here the first frame from 0.021 s to 0.040 s), we keep the source's."""
    v_out, v_ref = _times(out, "v"), _times(reference, "v")
    assert len(v_out) == len(v_ref)
    assert (
        max(abs((x - v_out[0]) - (y - v_ref[0])) for x, y in zip(v_out, v_ref, strict=True)) < 1e-3
    )
    a_out, a_ref = _times(out, "a"), _times(reference, "a")
    assert (
        len(a_out) == len(a_ref)
        and max(abs(x - y) for x, y in zip(a_out, a_ref, strict=True)) < 1e-3
    )
    frame = v_ref[1] - v_ref[0]
    assert abs((v_out[0] - a_out[0]) - (v_ref[0] - a_ref[0])) < frame  # in sync, as ffmpeg's
    assert abs(_duration(out) - _duration(reference)) < frame


def test_joined_recordings_come_out_as_ffmpeg_transcodes_them(joined, tmp_path):
    from vidcolor.video.probe import probe

    if joined["kind"] == "later":  # the input really lasts 5,000 s (the output used to, too)
        assert _duration(joined["path"]) > 5000
    info = probe(str(joined["path"]))
    frames = sum(probe(str(p)).frame_count for p in joined["parts"])
    by = [j["by"] for j in info.jumps]
    assert info.frame_count == frames
    if joined["kind"] == "later":
        assert len(by) == 1 and 4990 < by[0] < 5000, info.jumps
    else:  # onto the other clock, then back across the wrap
        assert len(by) == 2 and by[0] > 95000 and abs(by[1] + PTS_WRAP_SECONDS) < 1, info.jumps
    assert abs(info.duration - _duration(joined["ffmpeg"])) < 0.05
    out, plan = round_trip(joined["path"], tmp_path / "out.mp4", segment_seconds=0.5)
    assert len(plan) >= 3  # segments on both sides of the join, found by byte position
    assert_like_ffmpeg(out, joined["ffmpeg"])


def test_report_says_where_the_timestamps_jumped(tmp_path_factory, bigbuckbunny, tmp_path):
    """The pipeline (in-process) on the 'later' join: the output as ffmpeg's, the jump in the
    report (JSON and page)."""
    from vidcolor.pipeline import PipelineConfig, colourise_sequential

    joined = _joined("later", tmp_path_factory, bigbuckbunny)
    config = PipelineConfig(
        checkpoint=str(tiny_checkpoint(tmp_path / "g.safetensors")),
        model_size=32,
        segment_seconds=0.5,
        progress=False,
    )
    report = colourise_sequential([str(joined["path"])], str(tmp_path / "out"), config)
    [entry] = report.inputs
    assert entry.status == "ok", entry.error
    [jump] = entry.jumps
    assert 1.0 < jump["time"] < 1.5 and 4990 < jump["by"] < 5000
    assert_like_ffmpeg(entry.output, joined["ffmpeg"])
    saved = json.loads((tmp_path / "out" / "vidcolor-report.json").read_text())
    assert saved["inputs"][0]["jumps"] == entry.jumps
    page = (tmp_path / "out" / "vidcolor-report.html").read_text()
    assert "timestamps jumped at 0:01." in page


def test_ffprobe_sees_the_jump_in_the_input(joined):
    """The inputs are what the tests say: ffprobe's own packet times jump at the join."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time"]
        + ["-of", "csv=p=0", str(joined["path"])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    times = [float(x.strip(",")) for x in out if x.strip(",")]
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(abs(s) for s in steps) > 4000
