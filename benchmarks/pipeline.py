"""The in-process sequential loop (decode -> model -> smooth -> encode, one segment after another,
no Ray) against the whole Ray pipeline, same clip and settings, in one run; and both against the
model alone (the same checkpoint on the same frames, as one CPU model actor runs it).

On a CPU-only machine the sequential loop is the bound: every stage competes for the same cores, so
the Ray pipeline can at best match it; the ratio shows what Ray's scheduling and data movement cost.

Run: ``vidcolor bench pipeline`` (or ``python -m benchmarks.pipeline``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchResult,
    RaySession,
    bench_checkpoint,
    bench_clip,
    ffprobe_frames,
    main_for,
    start_result,
    timed,
)

GOAL = 0.9
MODEL_GOAL = 0.75  # pipeline fps / model-alone fps (issue 13)


def bench_config(checkpoint: str, smoke: bool, **overrides):
    from vidcolor.pipeline import PipelineConfig

    return PipelineConfig(
        checkpoint=checkpoint,
        model_size=64 if smoke else 256,
        segment_seconds=1.0,  # the 720p clip has a keyframe every second: 5-6 segments
        progress=False,
        overwrite=True,
        **overrides,
    )


def model_alone(clip: Path, config) -> tuple[int, float]:
    """(frames, seconds) of the model alone on the clip's frames (decoded first, untimed), in
    batches of ``config.batch_size`` on as many torch threads as a CPU model actor has
    (``config.cpus_per_actor``): the rate the pipeline would reach if nothing else cost."""
    import torch

    from vidcolor.infer import Colouriser
    from vidcolor.video.decode import decode_segment
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    segments = plan_segments(probe(str(clip)), segment_seconds=config.segment_seconds, overlap=0)
    size = config.model_size
    l_small = np.concatenate([decode_segment(str(clip), s, size).l_small for s in segments])
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(config.cpus_per_actor)))
    try:
        model = Colouriser(config.checkpoint, device="cpu")
        model.predict_ab(l_small[:1])  # warm-up: first-call allocations, kernel selection
        t0 = time.perf_counter()
        for s in range(0, len(l_small), config.batch_size):
            model.predict_ab(l_small[s : s + config.batch_size])
        return len(l_small), time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    from vidcolor.pipeline import colourise, colourise_sequential

    result = start_result("pipeline", "Sequential loop vs Ray pipeline", smoke)
    t_start = time.perf_counter()
    clip = bench_clip(workdir, smoke)
    config = bench_config(bench_checkpoint(workdir, smoke), smoke)
    frames = ffprobe_frames(clip)

    seq_report, seq_s = timed(colourise_sequential, [str(clip)], str(workdir / "seq"), config)
    with RaySession() as ray_session:
        ray_report, ray_s = timed(colourise, [str(clip)], str(workdir / "ray"), config)
    rows = []
    for name, report, seconds, extra in (
        ("sequential loop (1 process)", seq_report, seq_s, 0.0),
        ("Ray pipeline", ray_report, ray_s, ray_session.init_s),
    ):
        item = report.inputs[0]
        if item.status != "ok":
            raise RuntimeError(f"{name} failed: {item.error}")
        written = ffprobe_frames(Path(item.output))
        if written != frames:
            raise RuntimeError(f"{name} wrote {written} frames, the clip has {frames}")
        rows.append(
            {
                "run": name,
                "frames": frames,
                "segments": item.segments,
                "seconds": round(seconds, 2),
                "fps": round(frames / seconds, 2),
                "Ray start s": round(extra, 2) if extra else "-",
                "fps incl. Ray start": round(frames / (seconds + extra), 2) if extra else "-",
            }
        )
    n_model, model_s = model_alone(clip, config)
    rows.append(
        {
            "run": f"model alone ({int(max(1, config.cpus_per_actor))} torch thread(s), "
            f"batch {config.batch_size})",
            "frames": n_model,
            "segments": "-",
            "seconds": round(model_s, 2),
            "fps": round(n_model / model_s, 2),
        }
    )
    ratio = round(rows[1]["fps"] / rows[0]["fps"], 3)
    model_ratio = round(rows[1]["fps"] / rows[2]["fps"], 3)
    ratio_cold = round(frames / (ray_s + ray_session.init_s) / rows[0]["fps"], 3)
    result.tables[f"Clip: {clip.name}, same config for both (model_size {config.model_size}, "
                  f"segment_seconds {config.segment_seconds}, smoothing {config.smoothing}, "
                  f"{config.codec} crf {config.crf} {config.preset}, batch {config.batch_size})"] = rows  # fmt: skip
    result.headline = {
        "metric": "Ray pipeline fps / sequential loop fps",
        "value": ratio,
        "goal": f">= {GOAL}",
        "met": ratio >= GOAL,
    }
    verdict = "goal met" if model_ratio >= MODEL_GOAL else "GOAL MISSED"
    result.notes.append(
        f"**Ray pipeline fps / model-alone fps = {model_ratio}** (goal >= {MODEL_GOAL}: "
        f"{verdict}); sequential loop / model alone: {rows[0]['fps'] / rows[2]['fps']:.3f}. "
        "The model alone runs in this process after both pipelines, on the frames of the clip "
        "(no context frames), as many torch threads as a CPU model actor has."
    )
    result.notes.append(
        f"Including Ray start-up ({ray_session.init_s:.1f} s, paid once per run): {ratio_cold}."
        if ray_session.started_here
        else "Ray was already running (test session): start-up not measured."
    )
    result.wall_s = time.perf_counter() - t_start
    return result


if __name__ == "__main__":
    main_for(run)
