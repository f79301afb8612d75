"""Training throughput, samples/s for 1 and 2 Ray Train workers: runs the training code's own
``benchmarks/train_throughput.py`` (same model, data and per-worker batch for each worker count,
in one Ray session) in a subprocess and records its numbers.

Run: ``vidcolor bench train`` (or ``python -m benchmarks.train``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import BenchResult, main_for, start_result

SCRIPT = Path(__file__).with_name("train_throughput.py")
FULL_ARGS = ["--workers", "1", "2", "--steps", "30", "--window", "10", "--batch-size", "8"]
SMOKE_ARGS = ["--workers", "1", "--steps", "2", "--window", "1", "--batch-size", "2"]


def demo_data(workdir: Path, smoke: bool) -> Path:
    """The demo checkpoint's training data, or two small photos for a smoke run."""
    root = workdir / ("train-data-smoke" if smoke else "train-data")
    if root.exists():
        return root if smoke else root / "train"
    if smoke:
        from PIL import Image
        from skimage import data

        root.mkdir(parents=True)
        for name in ("astronaut", "coffee"):
            Image.fromarray(getattr(data, name)()).resize((160, 160)).save(root / f"{name}.png")
    else:
        from vidcolor.demo_data.build import build_photo_set

        build_photo_set(root)
        root = root / "train"
    return root


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    result = start_result("train", "Training samples/s, 1 and 2 workers", smoke)
    t_start = time.perf_counter()
    data = demo_data(workdir, smoke)
    args = SMOKE_ARGS if smoke else FULL_ARGS
    cmd = [sys.executable, str(SCRIPT), str(data), *args]
    # RAY_ADDRESS=local: the script's ray.init() would otherwise join any cluster it finds on this
    # machine (/tmp/ray/ray_current_cluster), even a dead one left by someone else.
    env = {**os.environ, "RAY_ADDRESS": "local"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=SCRIPT.parent.parent, env=env)
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.split()[-60:])
        raise RuntimeError(f"{SCRIPT.name} exited {proc.returncode}: {tail}")
    rows = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and '"workers"' in line:
            rows.append(json.loads(line))
    if not rows:
        raise RuntimeError(f"{SCRIPT.name} printed no results: {proc.stdout[-500:]}")
    result.tables[f"`{SCRIPT.name} {' '.join(args)}` on {data.name} (vit-gan width 16, "
                  "128x128 crops, small ViT discriminator, CPU)"] = rows  # fmt: skip
    if len(rows) >= 2:
        scaling = round(rows[1]["samples_per_s"] / rows[0]["samples_per_s"], 3)
        result.headline = {
            "metric": f"samples/s {rows[1]['workers']} workers / {rows[0]['workers']} worker",
            "value": scaling,
            "goal": None,
            "met": None,
        }
    result.notes.append(
        "samples/s is the job's rate over the last report window (steady state), per "
        f"{SCRIPT.name}; on a 2-core machine two workers share the same cores."
    )
    result.wall_s = time.perf_counter() - t_start
    return result


if __name__ == "__main__":
    main_for(run)
