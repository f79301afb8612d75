"""Issue 9.1: every bad input of the corpus in ONE `vidcolor colourise` run with a good clip and a
good photo. Each input is either a valid output (ffprobe judges) or one line in the report naming
the file and the reason; the others finish; exit 1; nothing partial at any final path."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from pathlib import Path

import pytest
from badinputs import EXPECTED, build_corpus
from PIL import Image
from pipeline_helpers import check_video, decoded_frames, ffprobe, tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]
MISSING_S3 = "s3://archive/reels/missing.mp4"
PR_CAPBSET_DROP = 24

# A reason each failure must give (beyond naming the file): the user can act on it.
REASONS = {
    "random.mp4": "not a readable video file",
    "text.mp4": "not a readable video file",
    "empty.mp4": "not a readable video file",
    "truncated99.mp4": "not a readable video file",
    "zero_frames.mkv": "not a readable video file",
    "audio_only.mp4": "no video stream",
    "huge.y4m": "not a readable video file",
    "huge.png": "exceeds limit",
    "dangling.mp4": "no such file",
    "fifo.mp4": "cannot list",
    "locked.mp4": "ermission denied",
    "truncated30.mp4": "frames",
    MISSING_S3: "no such file",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, bigbuckbunny, bikes, real_photos):
    root = tmp_path_factory.mktemp("corpus")
    files = build_corpus(root / "in", bigbuckbunny, bikes, real_photos["chelsea"])
    return {"files": files, "ckpt": tiny_checkpoint(root / "g.safetensors")}


def without_root_file_access() -> None:
    """preexec_fn: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so the
    child (still uid 0, which owns the venv and tmp dirs) obeys file permissions like any user and
    a chmod 000 file really is unreadable. Plain root ignores chmod 000."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH (linux/capability.h)
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_every_bad_input_in_one_run(corpus, s3_env, tmp_path):
    s3_env.create_bucket(Bucket="archive")  # the bucket exists, the key does not
    files, out = corpus["files"], tmp_path / "out"
    inputs = [str(p) for p in files.values()] + [MISSING_S3]
    res = subprocess.run(
        [sys.executable, "-m", "vidcolor", "colourise", *inputs, "-o", str(out)]
        + ["--checkpoint", str(corpus["ckpt"]), "--model-size", "64", "--segment-seconds", "1"]
        + ["--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, preexec_fn=without_root_file_access,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr

    report = json.loads((out / "vidcolor-report.json").read_text())
    entries = {Path(r["input"]).name if r["input"] != MISSING_S3 else MISSING_S3: r
               for r in report["inputs"]}  # fmt: skip
    expected = {**EXPECTED, MISSING_S3: "failed"}
    assert {n: e["status"] for n, e in entries.items()} == expected
    assert report["totals"]["inputs"] == len(expected)
    assert report["totals"]["failed"] == sum(s == "failed" for s in expected.values())

    for name, entry in entries.items():
        uri = entry["input"]
        if entry["status"] == "failed":
            error = entry["error"]
            assert "\n" not in error and error.startswith(f"{uri}: "), error
            assert REASONS[name] in error, (name, error)
            assert f"vidcolor: error: {error}" in res.stderr
            planned = Path(entry["output"]) if entry["output"] else None
            # nothing at the final path (nor at the .mkv a video may fall back to)
            assert planned is None or not planned.exists(), planned
            assert planned is None or not planned.with_suffix(".mkv").exists()

    # Valid outputs, judged by ffprobe: every frame, the display size, one video stream.
    for name in ("odd.mkv", "10bit.mp4", "vfr.mp4", "rotated.mp4"):
        src, dst = files[name], Path(entries[name]["output"])
        assert decoded_frames(dst) == decoded_frames(src) == entries[name]["frames"], name
        v = next(s for s in ffprobe(dst)["streams"] if s["codec_type"] == "video")
        w, h = (174, 98) if name == "odd.mkv" else (160, 96)  # 4:2:0: odd sizes padded by one
        assert {v["width"], v["height"]} == {w, h}, (name, v["width"], v["height"])
    check_video(files["good.mp4"], out / "good.mp4", audio=False)  # L kept, colour added
    # The corrupt film finishes with every frame of its index (ffmpeg's decode drops the lost ones).
    damaged = entries["corrupt_packet.mp4"]
    assert (
        decoded_frames(Path(damaged["output"]))
        == damaged["frames"]
        > decoded_frames(files["corrupt_packet.mp4"])
    )
    # ... and the report says which frames were concealed (ffmpeg drops 7 of them).
    lost = decoded_frames(Path(damaged["output"])) - decoded_frames(files["corrupt_packet.mp4"])
    assert len(damaged["concealed"]) >= lost, damaged["concealed"]
    assert all(0 <= c["frame"] < damaged["frames"] and c["time"] >= 0 for c in damaged["concealed"])
    assert all(not e["concealed"] for n, e in entries.items() if n != "corrupt_packet.mp4")
    assert Image.open(out / "good.png").size == Image.open(files["good.png"]).size

    # Under OUT: the report (JSON, HTML, thumbnails dir), the ok outputs and the resume state dir;
    # no temp or partial files.
    ok_outputs = {Path(e["output"]).name for e in entries.values() if e["status"] == "ok"}
    names = {p.name for p in out.iterdir()}
    report_files = {"vidcolor-report.json", "vidcolor-report.html", "vidcolor-report"}
    assert ok_outputs | report_files <= names
    assert names <= ok_outputs | report_files | {".vidcolor-state"}
    state_files = [p for p in (out / ".vidcolor-state").rglob("*") if p.is_file()]
    # finished segments and the plans of the videos that failed (for the next run to resume)
    assert all(p.name.startswith("seg-") or p.name == "plan.json" for p in state_files), state_files
