"""Pipeline stages and the sequential loop without Ray: rows, errors, resume state, overwrite."""

from __future__ import annotations

import json

import pytest
from pipeline_helpers import cut_clip, frame_times, tiny_checkpoint

from vidcolor.errors import UsageError
from vidcolor.pipeline import PipelineConfig, colourise_sequential, colourise_video_sequential
from vidcolor.pipeline.plan import base_row, plan_inputs
from vidcolor.pipeline.stages import decode_row, encode_row, smooth_row


def test_config_rejects_bad_values():
    for bad in ({"model_size": 100}, {"smoothing": -1}, {"codec": "vp9"}, {"crf": 99}):
        with pytest.raises(UsageError):
            PipelineConfig(**bad)
    a = PipelineConfig(checkpoint="x").output_key("ck")
    assert a == PipelineConfig(num_actors=3, batch_size=4).output_key("ck")  # scheduling only
    assert a != PipelineConfig(smoothing=0).output_key("ck")


def test_plan_paths_and_collisions(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/x.mov", "a/x.mp4", "a/p.jpg"):
        (tmp_path / name).write_bytes(b"")
    jobs = plan_inputs([str(tmp_path / "a")], "s3://b/out", PipelineConfig())
    out = {j.relpath: (j.output, j.error) for j in jobs}
    assert out["p.jpg"] == ("s3://b/out/p.jpg", None)
    assert out["x.mov"][0] == "s3://b/out/x.mp4" and out["x.mov"][1] is None
    assert "also the output of" in out["x.mp4"][1]  # two inputs, one output: refused


def test_failed_rows_pass_through_every_stage(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"junk")
    job = plan_inputs([str(tmp_path / "junk.mp4")], str(tmp_path / "o"), PipelineConfig())[0]
    row = base_row(job, PipelineConfig(), seg_index=0, n_segments=1, first_frame=0, segment="{}")
    rows = [decode_row(row)]
    rows.append(smooth_row(rows[-1], radius=3))
    rows.append(encode_row(rows[-1]))
    assert all(set(r) == set(row) for r in rows)  # same columns at every stage
    assert all(r["error"] and "\n" not in r["error"] for r in rows)


def test_sequential_video_and_overwrite(tmp_path, bikes):
    src = cut_clip(bikes, tmp_path / "bikes.mp4", seconds=1.6, width=128, gop=10, audio=False)
    config = PipelineConfig(
        checkpoint=str(tiny_checkpoint(tmp_path / "g.safetensors")),
        model_size=64,
        segment_seconds=0.4,
        progress=False,
    )
    out = tmp_path / "out"
    result = colourise_video_sequential(str(src), str(out), config)
    assert result.status == "ok" and result.segments == 4 and result.frames == 40
    assert [c["frame"] for c in result.scene_cuts] == [30]
    assert frame_times(out / "bikes.mp4") == frame_times(src)
    first = (out / "bikes.mp4").stat().st_mtime_ns

    assert colourise_sequential([str(src)], str(out), config).inputs[0].status == "skipped"
    config.overwrite = True
    again = colourise_sequential([str(src)], str(out), config).inputs[0]
    assert again.status == "ok" and again.segments_encoded == 4
    assert (out / "bikes.mp4").stat().st_mtime_ns != first
    saved = json.loads((out / "vidcolor-report.json").read_text())
    assert saved["inputs"][0]["output"] == str(out / "bikes.mp4")
