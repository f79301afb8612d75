"""`vidcolor bench` in smoke mode: every benchmark runs end to end on tiny real clips with a width-4
model and returns its result structure; RESULTS.md sections are replaced, never anything else."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vidcolor.cli import main as cli_main
from vidcolor.commands import bench

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a bench script's smoke run (make test-full): see README
def test_cli_runs_stages_and_smoothing_and_keeps_other_sections(run_cli, tmp_path):
    results_md = tmp_path / "RESULTS.md"
    training_rows = "## Training runs\n\n| run | samples/s |\n|---|---|\n| demo | 3.1 |\n"
    results_md.write_text(f"# Benchmark results\n\n{training_rows}")
    proc = run_cli(
        "bench", "stages", "smoothing", "--smoke", "--json",
        "--out", results_md, "--workdir", tmp_path / "work",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["errors"] == {}
    stages, smoothing = out["results"]
    assert (stages["name"], smoothing["name"]) == ("stages", "smoothing")
    assert stages["smoke"] and stages["machine"]["nproc"] >= 1

    rows, colour_error = stages["tables"].values()
    assert [r["frames"] for r in colour_error] == [4, 4]
    assert all(0 <= r["mean dE2000"] < 5 for r in colour_error)  # smoke clip: grey, ab ~ 0
    names = [r["stage"] for r in rows]
    assert names[0].startswith("decode") and names[-1].startswith("join")
    assert "model vit-i-gan w4" in names
    assert "model vit-gan w4 (tiny-w4.safetensors)" in names  # the checkpoint whose ab is encoded
    assert any(n.startswith("smooth") for n in names) and any(n.startswith("encode") for n in names)
    # x264 alone is timed on the frames the stage hands its encoder (and on its decoded output).
    assert any("x264" in n and "the stage's input frames" in n for n in names)
    parts = [r for r in rows if r["stage"].endswith("alone, same frames")]
    assert len(parts) == 2 and all(r["CPU ms/frame"] > 0 for r in parts)
    assert all(r["fps"] > 0 and r["frames"] > 0 for r in rows)
    assert rows[0]["frames"] == 25  # 1 s of the 25 fps clip, every frame decoded once

    (rows,) = smoothing["tables"].values()
    assert [r["version"] for r in rows[:-1]] == [
        "true colours (reference)",
        "smoothing off (per frame)",
        "old: in-place window, radius 3",
        "new: recursive along flow, --smoothing 3",
        "  the same at full size (flow and sums), --smoothing 3",
        "new: recursive along flow, --smoothing 6",
    ]
    assert rows[-1]["version"].startswith("true colours at the model's chroma")
    rows = rows[:-1]
    assert all(r["frames"] == 25 and math.isfinite(r["CDC"]) for r in rows)
    assert all(math.isfinite(r["warping error"]) for r in rows)
    assert all(r["ab-PSNR dB"] > 10 for r in rows[1:])
    # Smoothing along motion averages colour along the flow it then measures: it cannot add to it.
    assert rows[3]["warping error"] <= rows[1]["warping error"]
    cost = next(k for k in rows[3] if k.startswith("smoothing CPU ms/frame"))
    assert rows[1][cost] == 0 and rows[3][cost] > 0

    text = results_md.read_text()
    assert training_rows in text
    for name in ("stages", "smoothing"):
        assert text.count(f"<!-- bench:{name} -->") == 1
        assert text.count(f"<!-- /bench:{name} -->") == 1
    assert "`vidcolor bench stages --smoke`" in text and "SMOKE run" in text


def test_update_markdown_replaces_only_its_section(tmp_path):
    BenchResult = bench.benchmark_module("common").BenchResult

    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\nhand-written intro\n")
    first = BenchResult(name="pipeline", title="T", command="c", smoke=True)
    first.headline = {"metric": "ratio", "value": 0.5, "goal": ">= 0.9", "met": False}
    bench.update_markdown(path, [first])
    with path.open("a") as f:
        f.write("\n## Training rows appended by someone else\n")
    second = BenchResult(name="pipeline", title="T", command="c", smoke=True)
    second.headline = {"metric": "ratio", "value": 0.95, "goal": ">= 0.9", "met": True}
    bench.update_markdown(path, [second])
    text = path.read_text()
    assert "hand-written intro" in text and "Training rows appended by someone else" in text
    assert "**ratio = 0.95** (goal >= 0.9: goal met)" in text
    assert "0.5**" not in text and text.count("<!-- bench:pipeline -->") == 1


@pytest.mark.slow  # a bench script's smoke run (make test-full): see README
def test_ray_benchmarks_smoke(ray_local, tmp_path):
    results, errors = bench.run_benchmarks(["pipeline", "frames", "memory"], tmp_path, smoke=True)
    assert errors == {}
    pipeline, frames, memory = results

    (rows,) = pipeline.tables.values()
    assert [r["run"] for r in rows[:2]] == ["sequential loop (1 process)", "Ray pipeline"]
    # The model alone on the CPU its actor reserves and on the threads the actor runs.
    assert [r["run"].split(":")[0] for r in rows[2:]] == [
        "model alone (1 torch thread(s)",
        "model alone (2 torch thread(s)",
    ]
    assert all(r["frames"] == 25 and r["fps"] > 0 for r in rows)
    # Every frame decoded is counted (context included: never fewer than written), the model's
    # from the report (each frame once here), and the Ray run's CPU seconds come from the sampled
    # processes of the run.
    assert all(r["decoded (incl. context)"] >= r["frames"] == r["model frames"] for r in rows)
    assert rows[1]["CPU s"] > 0 and any(
        n.startswith("Where the Ray run's time went") for n in pipeline.notes
    )
    assert pipeline.headline["value"] == round(rows[1]["fps"] / rows[0]["fps"], 3)
    model_ratio = round(rows[1]["fps"] / rows[2]["fps"], 3)
    assert any(f"model-alone fps = {model_ratio}**" in n for n in pipeline.notes)

    (rows,) = frames.tables.values()
    total = next(r for r in rows if r["run"] == "workflow total")
    ours = next(r for r in rows if r["run"].startswith("vidcolor"))
    assert total["disk MiB"] > 0 and ours["disk MiB"] > 0
    # Three PNG-sized copies of every frame cost more disk than one H.264 file.
    assert total["disk MiB"] > ours["disk MiB"]
    assert frames.headline["value"] > 0

    (rows,) = memory.tables.values()
    assert [r["frames"] for r in rows] == [rows[0]["frames"] * n for n in (1, 2, 4)]
    assert all(r["peak RSS MiB (sum)"] > 100 and r["processes"] > 1 for r in rows)
    assert memory.headline["value"] > 0
    assert any(n.startswith("Length alone, 4x / 2x clip") for n in memory.notes)
    # Again in the same work directory (it failed on the PNG workflow's folder from the run before).
    again, errors = bench.run_benchmarks(["frames"], tmp_path, smoke=True)
    assert errors == {} and again[0].headline["value"] > 0


def test_train_bench_passes_flags_the_script_accepts():
    helptext = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    train = bench.benchmark_module("train")

    for flag in [a for a in train.FULL_ARGS + train.SMOKE_ARGS if a.startswith("--")]:
        assert flag in helptext


@pytest.mark.slow
def test_train_bench_smoke(tmp_path):
    results, errors = bench.run_benchmarks(["train"], tmp_path, smoke=True)
    assert errors == {}
    (rows,) = results[0].tables.values()
    assert rows[0]["workers"] == 1 and rows[0]["samples_per_s"] > 0


def test_unknown_benchmark_is_a_usage_error(capsys):
    assert cli_main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def test_scale_bench_measures_the_child_s_own_peak_not_its_parent_s():
    """The driver runs in a child of the bench process, which has torch loaded: ru_maxrss would
    report the parent's RSS at the fork (hundreds of MiB), a bare Python child's own peak is
    a few tens of MiB."""
    import torch  # noqa: F401 - the parent holds what `vidcolor bench` holds

    from benchmarks.scale import _peak_rss

    parent_mib = _peak_rss() / 2**20
    code = "from benchmarks.scale import _peak_rss; print(_peak_rss())"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    child_mib = int(run.stdout) / 2**20
    assert parent_mib > 300 and child_mib < 100, (parent_mib, child_mib)


@pytest.mark.slow  # a bench script's smoke run (make test-full): see README
def test_scale_bench_smoke(tmp_path):
    """Fresh processes, each with its own local Ray, and a moto_server of its own."""
    results, errors = bench.run_benchmarks(["scale"], tmp_path, smoke=True)
    assert errors == {}
    [result] = results
    rows = result.tables["Local clips, one fresh process and local Ray per N"]
    assert [r["clips"] for r in rows] == [3, 6]
    # tiny clips: the share itself means nothing here, only that it was measured
    assert all(r["driver write share"] > 0 and r["driver peak RSS MiB"] > 0 for r in rows), rows
    [s3] = result.tables["S3 -> S3 on moto_server"]
    assert s3["GET (objects)"] > 0 and s3["LIST"] > 0 and s3["GETs per MB"] > 0


@pytest.mark.slow  # a bench script's smoke run (make test-full): see README
def test_references_bench_smoke(tmp_path):
    """The references bench's tables, with the width-4 model: on the pan the keyframe row beats
    the model alone (its keyframe is the truth), every method row is there."""
    from benchmarks import references

    result = references.run(tmp_path, smoke=True)
    clips = [rows for caption, rows in result.tables.items() if caption.startswith("Clip:")]
    assert len(clips) == 2 and all(len(rows) == 4 for rows in clips)
    alone, keyframe = clips[1][0], clips[1][1]
    assert keyframe["hue agreement, all"] > alone["hue agreement, all"] + 0.3
    methods = result.tables[next(c for c in result.tables if c.startswith("Reference photo"))]
    assert methods[-1]["method"].startswith("vidcolor") and methods[-1]["photos"] == 2
    hints = result.tables[next(c for c in result.tables if c.startswith("Hint"))]
    assert [r["confidence from"].split()[0] for r in hints] == ["geodesic", "the"]


def test_sequences_benchmark_smoke(tmp_path):
    """`vidcolor bench sequences --smoke`: both tables, the headline the median of the rounds."""
    [result], errors = bench.run_benchmarks(["sequences"], tmp_path, smoke=True)
    assert errors == {}
    io, e2e = result.tables.values()
    assert {r["reader/writer"] for r in io} == {"ffmpeg", "vidcolor"}
    assert all(r["seconds"] > 0 for r in io)
    assert [r["input"] for r in e2e] == ["DPX sequence -> DPX", "FFV1 video -> FFV1"]
    assert all(r["frames"] == 4 and r["frames/s"] > 0 for r in e2e)
    assert 0 < result.headline["value"] and result.headline["goal"] == "<= 1.5"


@pytest.mark.slow  # a bench script's smoke run (make test-full): see README
def test_sizing_bench_smoke(tmp_path):
    """`vidcolor bench sizing --smoke`: every stage costs something, the ratio is the stages'
    sum over the unavoidable pair's, and the cores per GPU follow from the frames/s."""
    [result], errors = bench.run_benchmarks(["sizing"], tmp_path, smoke=True)
    assert errors == {}
    stages, cores = result.tables.values()
    size = next(k for k in stages[0] if k != "CPU ms/frame")
    cost = {r["CPU ms/frame"]: r[size] for r in stages}
    assert all(v > 0 for v in cost.values())
    assert cost["ratio (goal <= 1.5)"] == pytest.approx(
        cost["all but the model"] / cost["H.264 decode + x264 alone"], rel=0.02
    )
    for row in cores:
        assert row[f"cores at {size}"] == pytest.approx(
            row["GPU frames/s"] * cost["all but the model"] / 1000, rel=0.02, abs=0.1
        )


def test_gpu_busy_shares_are_of_the_run_and_of_the_model_s_part():
    from benchmarks.gpu_path import SAMPLE_MS, GpuBusy

    gpu = GpuBusy()
    assert gpu.shares() is None  # no samples (no nvidia-smi): no share, not 0 %
    gpu.samples = [0, 0, 0.5, 1.0, 0, 1.0, 0.5, 0, 0, 0]  # start-up, the model's part, the end
    whole, model_part, span = gpu.shares()
    assert whole == pytest.approx(0.3)
    assert model_part == pytest.approx(3.0 / 5)  # from the first to the last busy sample
    assert span == pytest.approx(5 * SAMPLE_MS / 1000)


@pytest.mark.slow  # a bench script's smoke run (make test-full): see README
def test_gpu_path_bench_smoke(tmp_path):
    """`vidcolor bench gpu_path --smoke` (on CPU): both models colour the clip through the real
    command, every frame is written, and a machine without nvidia-smi says so."""
    [result], errors = bench.run_benchmarks(["gpu_path"], tmp_path, smoke=True)
    assert errors == {}
    [rows] = result.tables.values()
    assert len(rows) == 2 and all(r["frames"] == 25 for r in rows), rows
    assert all(r["frames/s"] > 0 for r in rows)
    if not shutil.which("nvidia-smi"):
        assert all(r["GPU busy, whole run"] == "no GPU" for r in rows)
