"""The frame-extraction workflow users run today against our pipeline, same model, same clip:

    ffmpeg -i clip frames/%06d.png  ->  Python: read PNG, colourise, write PNG  ->
    ffmpeg -framerate FPS -i out/%06d.png -i clip (audio) -c:v libx264 ... result.mp4

Measures wall time and disk used (both PNG folders plus the result, all present at the end) for
the workflow, and wall time and peak bytes under the output folder for ``vidcolor colourise``.

Run: ``vidcolor bench frames`` (or ``python -m benchmarks.frames``).
"""

from __future__ import annotations

import shutil
import time
from fractions import Fraction
from pathlib import Path

from benchmarks.common import (
    BenchResult,
    RaySession,
    Sampler,
    bench_checkpoint,
    bench_clip,
    dir_bytes,
    ffmpeg,
    ffprobe_frames,
    main_for,
    mib,
    start_result,
    timed,
)
from benchmarks.pipeline import bench_config

GOAL = 2.0


def png_workflow(clip: Path, work: Path, checkpoint: str, model_size: int, frame_rate: Fraction):
    """The users' workflow, step by step; returns ({step: seconds}, output path)."""
    import numpy as np
    from PIL import Image

    from vidcolor.infer import Colouriser

    frames, coloured = work / "frames", work / "coloured"
    frames.mkdir(parents=True)
    coloured.mkdir()
    steps = {}
    _, steps["ffmpeg -> PNG"] = timed(ffmpeg, "-i", str(clip), str(frames / "%06d.png"))

    def colourise_pngs():
        model = Colouriser(checkpoint, device="cpu")
        for png in sorted(frames.glob("*.png")):
            rgb = np.asarray(Image.open(png).convert("RGB"))
            Image.fromarray(model.colourise_rgb(rgb, model_size=model_size)).save(
                coloured / png.name
            )

    _, steps["Python: PNG -> model -> PNG"] = timed(colourise_pngs)
    out = work / "result.mp4"
    _, steps["ffmpeg PNG -> H.264 + audio"] = timed(
        ffmpeg,
        *("-framerate", str(frame_rate), "-i", str(coloured / "%06d.png"), "-i", str(clip)),
        *("-map", "0:v", "-map", "1:a?", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18"),
        *("-pix_fmt", "yuv420p", "-c:a", "copy", "-shortest", str(out)),
    )
    return steps, out


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    from vidcolor.pipeline import colourise
    from vidcolor.video.probe import probe

    result = start_result("frames", "Frame-extraction workflow vs vidcolor", smoke)
    t_start = time.perf_counter()
    clip = bench_clip(workdir, smoke)
    checkpoint = bench_checkpoint(workdir, smoke)
    config = bench_config(checkpoint, smoke)
    n = ffprobe_frames(clip)

    work = workdir / "png-workflow"
    shutil.rmtree(work, ignore_errors=True)  # a run before in the same --workdir
    (steps, png_out), png_s = timed(
        png_workflow, clip, work, checkpoint, config.model_size, probe(str(clip)).frame_rate
    )
    png_disk = dir_bytes(work)
    if ffprobe_frames(png_out) != n:
        raise RuntimeError(f"PNG workflow wrote {ffprobe_frames(png_out)} frames, expected {n}")

    out_dir = workdir / "vidcolor-out"
    with RaySession() as ray_session, Sampler(interval=0.2, watch_dir=out_dir) as sampler:
        report, ours_s = timed(colourise, [str(clip)], str(out_dir), config)
    item = report.inputs[0]
    if item.status != "ok" or ffprobe_frames(Path(item.output)) != n:
        raise RuntimeError(f"vidcolor colourise failed: {item.error}")
    ours_total = ours_s + ray_session.init_s
    rows = [
        {"run": f"workflow: {k}", "seconds": round(v, 2), "fps": round(n / v, 2), "disk MiB": ""}
        for k, v in steps.items()
    ]
    rows.append(
        {"run": "workflow total", "seconds": round(png_s, 2), "fps": round(n / png_s, 2),
         "disk MiB": mib(png_disk)}
    )  # fmt: skip
    ours_disk = max(sampler.peak_disk, dir_bytes(out_dir))  # walk the output tree once
    rows.append(
        {"run": "vidcolor colourise (Ray, incl. start)", "seconds": round(ours_total, 2),
         "fps": round(n / ours_total, 2), "disk MiB": mib(ours_disk)}
    )  # fmt: skip
    speed = round(png_s / ours_total, 2)
    speed_warm = round(png_s / ours_s, 2)
    disk = round(png_disk / ours_disk, 1)
    result.tables[f"Clip: {clip.name}, {n} frames; same checkpoint, model_size "
                  f"{config.model_size}, x264 veryfast crf 18 both ways"] = rows  # fmt: skip
    result.headline = {
        "metric": "speed-up over the PNG workflow (wall time, Ray start included)",
        "value": speed,
        "goal": f">= {GOAL}",
        "met": speed >= GOAL,
    }
    result.notes += [
        f"Without Ray start-up ({ray_session.init_s:.1f} s): {speed_warm}x."
        if ray_session.started_here
        else f"Ray was already running: {speed_warm}x without start-up.",
        f"Disk: the workflow needs {disk}x the bytes of ours (its two PNG folders plus result; "
        "ours: peak bytes under the output folder, i.e. encoded segments plus the result).",
        "The workflow runs the model one frame at a time (what such scripts do); vidcolor batches "
        f"{config.batch_size} frames, decodes at model resolution and never writes frames.",
    ]
    result.wall_s = time.perf_counter() - t_start
    return result


if __name__ == "__main__":
    main_for(run)
