"""`vidcolor colourise` as a user runs it: kill and resume, and S3 in -> S3 out (moto_server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import check_video, cut_clip, frame_times, kill_when, tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "g.safetensors")


def _args(src, out, ckpt, *extra):
    return ["colourise", str(src), "-o", str(out), "--checkpoint", str(ckpt), "--model-size", "64"]


def test_killed_run_resumes_without_redoing_segments(tmp_path, bikes, ckpt, run_cli):
    src = cut_clip(bikes, tmp_path / "in" / "bikes.mp4", seconds=2, width=160, gop=5, audio=False)
    out = tmp_path / "out"
    args = [*_args(src, out, ckpt), "--segment-seconds", "0.2", "--quiet"]
    kill_when(
        [sys.executable, "-m", "vidcolor", *args],
        lambda: len(list(out.glob(".vidcolor-state/*/seg-*.mov"))) >= 2,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    finished = {p.name for p in out.glob(".vidcolor-state/*/seg-*.mov")}
    assert finished and not (out / "bikes.mp4").exists()  # no half-written output visible
    assert not [p for p in out.iterdir() if p.suffix == ".mp4"]

    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    entry = json.loads((out / "vidcolor-report.json").read_text())["inputs"][0]
    assert entry["status"] == "ok" and entry["segments"] == 10
    assert entry["segments_resumed"] >= len(finished)  # none of the finished ones again
    assert entry["segments_resumed"] + entry["segments_encoded"] == entry["segments"]
    assert frame_times(out / "bikes.mp4") == frame_times(src)
    assert not list(out.glob(".vidcolor-state/*/seg-*"))  # state cleaned once written


def test_s3_in_s3_out_with_a_broken_input(tmp_path, bigbuckbunny, ckpt, s3_env, run_cli):
    clip = cut_clip(bigbuckbunny, tmp_path / "bbb.mp4", seconds=1.2, width=192, gop=10, audio=True)
    s3_env.create_bucket(Bucket="films")
    s3_env.create_bucket(Bucket="coloured")
    s3_env.upload_file(str(clip), "films", "bw/reel1/bbb.mp4")
    s3_env.put_object(Bucket="films", Key="bw/broken.mp4", Body=b"not a video at all" * 100)

    res = run_cli(*_args("s3://films/bw/", "s3://coloured/run1", ckpt), "--preview")
    assert res.returncode == 1, res.stderr  # broken.mp4 failed, the other finished
    assert "vidcolor: error: s3://films/bw/broken.mp4: not a readable video file" in res.stderr
    assert "Traceback" not in res.stderr

    keys = {o["Key"] for o in s3_env.list_objects_v2(Bucket="coloured")["Contents"]}
    assert {"run1/reel1/bbb.mp4", "run1/vidcolor-report.json"} <= keys
    assert {"run1/reel1/bbb.preview.png", "run1/reel1/bbb.preview.mp4"} <= keys
    assert {"run1/vidcolor-report.html", "run1/vidcolor-report/thumbs/reel1/bbb.mp4.jpg"} <= keys
    assert not any("broken" in k or ".vidcolor-state/" in k and "seg-" in k for k in keys)
    report = json.loads(
        s3_env.get_object(Bucket="coloured", Key="run1/vidcolor-report.json")["Body"].read()
    )
    status = {r["input"]: r["status"] for r in report["inputs"]}
    assert status == {"s3://films/bw/broken.mp4": "failed", "s3://films/bw/reel1/bbb.mp4": "ok"}
    film = next(r for r in report["inputs"] if r["status"] == "ok")
    assert (film["preview_png"], film["preview_mp4"]) == (
        "reel1/bbb.preview.png",
        "reel1/bbb.preview.mp4",
    )
    local = tmp_path / "out.mp4"
    s3_env.download_file("coloured", "run1/reel1/bbb.mp4", str(local))
    check_video(clip, local, audio=True)
