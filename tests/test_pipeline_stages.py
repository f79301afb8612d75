"""Pipeline stages and the sequential loop without Ray: listing, planning, rows, errors, resume
state, overwrite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import cut_clip, frame_times, tiny_checkpoint, write_photo

from vidcolor.errors import UsageError
from vidcolor.pipeline import PipelineConfig, colourise_sequential, colourise_video_sequential
from vidcolor.pipeline.model import ColouriseActor
from vidcolor.pipeline.plan import input_rows, plan_input
from vidcolor.pipeline.rows import DONE, FAILED, SKIPPED, TODO
from vidcolor.pipeline.stages import finish_row, load_row
from vidcolor.pipeline.state import config_key, read_plan


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
    rows = list(input_rows([str(tmp_path / "a")], "s3://b/out", PipelineConfig()))
    out = {r["input"].rsplit("/", 1)[-1]: (r["output"], r["error"]) for r in rows}
    assert out["p.jpg"] == ("s3://b/out/p.jpg", "")
    assert out["x.mov"] == ("s3://b/out/x.mp4", "")
    assert "also the output of" in out["x.mp4"][1]  # two inputs, one output: refused


def test_failed_rows_pass_through_every_stage(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"junk")
    config = PipelineConfig(checkpoint=str(tiny_checkpoint(tmp_path / "g.safetensors")))
    listed = next(input_rows([str(tmp_path / "junk.mp4")], str(tmp_path / "o"), config))
    plan = list(plan_input(listed, output_root=str(tmp_path / "o"), config=config, config_key="k"))
    assert [r["status"] for r in plan] == [FAILED]  # the probe failed: one row, one line
    row = {**plan[0], "status": TODO, "error": "", "state": str(tmp_path / "none"), "segment": 0}
    rows = [load_row(row, config=config)]  # fails here, then passes through
    rows.append(ColouriseActor(config.checkpoint).predict_row(rows[-1]))
    rows.append(finish_row(rows[-1], config=config, output_root=str(tmp_path / "o")))
    assert all(r["status"] == FAILED and "\n" not in r["error"] for r in rows)
    assert all(r["error"].startswith(f"{tmp_path / 'junk.mp4'}: ") for r in rows)
    assert set(rows[-1]) == set(row) - {"l", "ab", "times"}  # only small columns reach the driver


def test_plan_stage_probes_writes_the_plan_and_resumes(tmp_path, bikes):
    """Planning on a worker: segment rows with no frame lists, the plan in the state directory,
    finished segments skipped, and a video whose segments are all done comes back as one row."""
    src = cut_clip(
        bikes, tmp_path / "in" / "bikes.mp4", seconds=1.6, width=128, gop=10, audio=False
    )
    config = PipelineConfig(model_size=64, segment_seconds=0.4)
    out = str(tmp_path / "out")

    def plan():
        [listed] = input_rows([str(src)], out, config)
        return list(
            plan_input(listed, output_root=out, config=config, config_key=config_key(config))
        )

    rows = plan()
    assert [r["segment"] for r in rows] == [0, 1, 2, 3]
    assert [r["first_frame"] for r in rows] == [0, 10, 20, 30]
    assert {(r["todo"], r["n_segments"], r["video_frames"], r["resumed"]) for r in rows} == {
        (4, 4, 40, 0)
    }
    assert all(isinstance(v, int | float | str) for r in rows for v in r.values())
    saved = read_plan(rows[0]["state"])
    assert [s.n_frames for s in saved.segments] == [10, 10, 10, 10]
    assert saved.source.frame_pts == [] and saved.source.width == 128  # no per-frame lists

    state = Path(rows[0]["state"])
    for i in (0, 2):
        (state / f"seg-{i:05d}.mov").write_bytes(b"done")
    rows = plan()
    assert [r["segment"] for r in rows] == [1, 3] and rows[0]["resumed"] == 2
    for i in (1, 3):
        (state / f"seg-{i:05d}.mov").write_bytes(b"done")
    assert [(r["status"], r["segment"], r["todo"]) for r in plan()] == [(DONE, -1, 0)]

    Path(out, "bikes.mp4").write_bytes(b"finished")
    assert [r["status"] for r in plan()] == [SKIPPED]


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
    assert result.frames_inferred == 40  # every segment decodes all 40 as context: inferred once
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


def test_model_pool_asks_for_gpus_an_autoscaler_can_add(monkeypatch):
    from vidcolor.pipeline.cluster import model_pool

    # --device cuda on a cluster whose GPU nodes start at 0: one GPU per actor all the same.
    cuda = model_pool(PipelineConfig(device="cuda"), gpus_now=0, gpus_possible=None)
    assert (cuda.gpus, cuda.min_size, cuda.max_size) == (1, 1, 8)
    # auto joining cluster/aws.yaml (no GPU yet, autoscaler up to 8x1 + 16x1 GPUs): GPUs.
    auto = model_pool(PipelineConfig(), gpus_now=0, gpus_possible=24)
    assert auto.gpus == 1 and "autoscaler can start up to 24 GPU" in auto.describe()
    auto = model_pool(PipelineConfig(max_actors=3), gpus_now=2, gpus_possible=None)
    assert (auto.gpus, auto.max_size) == (1, 3) and "has 2 GPU" in auto.why
    # auto with no GPU anywhere: CPU, and it says so.
    cpu = model_pool(PipelineConfig(), gpus_now=0, gpus_possible=0)
    assert cpu.gpus == 0 and cpu.describe().startswith(
        "model on CPU: 1 actor(s) of 2 torch threads, --device auto"
    )
    assert "no GPU" in cpu.why
    fixed = model_pool(PipelineConfig(device="cpu", num_actors=2), gpus_now=4, gpus_possible=4)
    assert (fixed.gpus, fixed.min_size, fixed.max_size) == (0, 2, 2)
    assert (fixed.threads, cuda.threads) == (2, None)
    one = model_pool(PipelineConfig(device="cpu", model_threads=1), gpus_now=0, gpus_possible=0)
    assert one.threads == 1 and "1 actor(s) of 1 torch threads" in one.describe()
    # CPU actors' threads wait passively unless the user set OpenMP's policy; GPU ones as Ray has.
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert (fixed.runtime_env, cuda.runtime_env) == (
        {"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}},
        None,
    )
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert fixed.runtime_env == {"env_vars": {"OMP_WAIT_POLICY": "ACTIVE"}}


def test_model_infers_each_frame_once_across_segments(tmp_path, bikes):
    """Neighbouring segments carry each other's frames as smoothing context; the actor infers
    each decoded frame once when the segments come in order, with the same ab as inferring
    every row afresh, keeps only the frames a neighbour shares, and infers a frame again when
    its input differs or it belongs to another video."""
    from vidcolor.pipeline.model import shared_frames

    # 65 frames: segments of 20, 20, 20 and 5, the last shorter than the context (its left
    # context then reaches further into segment 2 than segment 2's right context reaches).
    src = cut_clip(bikes, tmp_path / "bikes.mp4", seconds=2.6, width=128, gop=10, audio=False)
    config = PipelineConfig(
        checkpoint=str(tiny_checkpoint(tmp_path / "g.safetensors")),
        model_size=64,
        segment_seconds=0.8,
        smoothing=1,
    )
    out = str(tmp_path / "out")
    [listed] = input_rows([str(src)], out, config)
    plan = plan_input(listed, output_root=out, config=config, config_key=config_key(config))
    rows = [load_row(r, config=config) for r in plan]
    decoded = sum(len(r["l"]) for r in rows)
    assert [r["frames"] for r in rows] == [20, 20, 20, 5] and 5 < config.overlap < 20
    assert decoded == 65 + 5 * config.overlap + 5  # 3 inner cuts, context decoded twice

    fresh = ColouriseActor(config.checkpoint, reuse_context=False)
    reusing = ColouriseActor(config.checkpoint, context_frames=config.overlap)
    for row in rows:
        want, got = fresh.predict_row(row), reusing.predict_row(row)
        assert got["ab"].dtype == want["ab"].dtype == np.float16
        # the same up to float rounding (a frame's batch-mates change the kernels' blocking)
        np.testing.assert_allclose(got["ab"], want["ab"], rtol=0, atol=1e-3)
        # kept: this segment's context and as many owned frames beside it, nothing older
        assert len(reusing.recent) <= 4 * config.overlap
    assert (fresh.inferred, reusing.inferred) == (decoded, 65)
    assert [r["inferred"] for r in map(reusing.predict_row, rows[:2])] == [
        len(rows[0]["l"]),  # segment 3's frames were kept, not segment 0's
        len(rows[1]["l"]) - 2 * config.overlap,
    ]

    before = reusing.inferred
    changed = rows[2]["l"].copy()
    changed[0, 0, 0, 0] += 0.5
    assert (
        reusing.predict_row({**rows[2], "l": changed})["inferred"]
        == len(changed) - 2 * config.overlap + 1
    )
    elsewhere = reusing.predict_row({**rows[3], "input": "another.mp4"})
    assert elsewhere["inferred"] == len(rows[3]["l"]) and reusing.inferred > before

    assert shared_frames(10, 0, 7, 3).tolist() == [False] * 4 + [True] * 6  # first: right edge
    assert shared_frames(10, 3, 10, 3).tolist() == [True] * 6 + [False] * 4  # last: left edge
    # right context clipped to 2 by a short neighbour: its 3 context frames are still kept
    assert shared_frames(15, 3, 13, 3).tolist() == [True] * 6 + [False] * 4 + [True] * 5


def test_cpu_model_threads_from_cli_to_the_actor(tmp_path):
    """``--model-threads`` reaches the config; the actor sets torch's threads to it, never more
    than the cores it may run on; the default is 2 per reserved CPU and changes no pixels."""
    import argparse
    import os

    import torch

    from vidcolor.commands.colourise import add_pipeline_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, default_address=None)
    plain = config_from_args(parser.parse_args(["in.mp4", "-o", "out"]))
    three = config_from_args(parser.parse_args(["in.mp4", "-o", "out", "--model-threads", "3"]))
    assert (plain.cpu_model_threads(), three.cpu_model_threads()) == (2, 3)
    assert PipelineConfig(cpus_per_actor=1.5).cpu_model_threads() == 4
    assert plain.output_key("ck") == three.output_key("ck")  # scheduling, not pixels
    with pytest.raises(UsageError, match="--model-threads"):
        PipelineConfig(model_threads=0)

    ckpt = str(tiny_checkpoint(tmp_path / "g.safetensors"))
    before = torch.get_num_threads()
    try:
        ColouriseActor(ckpt, device="cpu", threads=1)
        assert torch.get_num_threads() == 1
        ColouriseActor(ckpt, device="cpu", threads=1000)
        assert torch.get_num_threads() == len(os.sched_getaffinity(0))
    finally:
        torch.set_num_threads(before)


# Every stage but the model, as the Ray workers run them (list, plan, decode or read, smooth,
# encode or write, join with previews), for a film and a photo, with grey ab in the model's place.
WORKER_STAGES = """
import sys

import numpy as np

from vidcolor.pipeline import PipelineConfig
from vidcolor.pipeline.plan import input_rows, plan_input
from vidcolor.pipeline.rows import TODO, with_payloads
from vidcolor.pipeline.stages import finish_row, load_row
from vidcolor.pipeline.stages import join_row

src, out = sys.argv[1:]
config = PipelineConfig(model_size=64, segment_seconds=0.4, preview=True)
done = []
for listed in input_rows([src], out, config):
    for row in plan_input(listed, output_root=out, config=config, config_key="k"):
        row = load_row(row, config=config)
        assert row["status"] == TODO, row["error"]
        ab = np.zeros((len(row["l"]), 2, *row["l"].shape[2:]), np.float16)
        row = with_payloads(row, **{k: row[k] for k in ("l", "times", "concealed")}, ab=ab)
        done.append(finish_row(row, config=config, output_root=out))
film = [row for row in done if row["kind"] == "video"]
joined = join_row(film[-1], config, out)
assert "error" not in joined and joined["preview_png"], joined
print(len(film), len(done) - len(film), sorted(m for m in sys.modules if m.startswith("torch"))[:3])
"""


def test_cpu_workers_never_import_torch(tmp_path, bikes, real_photos):
    """Only the model actor needs torch. Importing it costs a process ~280 MiB of its own
    memory (measured with three processes sharing its libraries) and seconds of start-up, and
    a cluster runs one decode, finish or photo task per core; so the other stages stay
    torch-free."""
    src = tmp_path / "in"
    film = cut_clip(bikes, src / "bikes.mp4", seconds=1.2, width=128, gop=10, audio=True)
    write_photo(real_photos["chelsea"], src / "cat.png")
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", WORKER_STAGES, str(src), str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split("\n")[-2] == "3 1 []", run.stdout  # 3 segments, 1 photo, no torch
    assert len(frame_times(out / "bikes.mp4")) == len(frame_times(film))
    assert np.asarray(Image.open(out / "cat.png")).shape == (106, 160, 3)
