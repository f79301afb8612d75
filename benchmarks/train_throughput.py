"""Training throughput (samples/s, end to end) of `vidcolor train` with 1 and 2 Ray Train workers.

    python -m vidcolor.demo_data /tmp/demo-data
    .venv/bin/python benchmarks/train_throughput.py /tmp/demo-data/train [--gpu]

Same model, data and per-worker batch for each worker count, in one process and one Ray session;
the number is the job's samples/s over the last report window (steady state: the first window
includes Ray Data start-up).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

import ray

from vidcolor.train.config import TrainConfig
from vidcolor.train.trainer import run_training

DEMO_DISC = dict(disc_patch=16, disc_dim=128, disc_depth=2, disc_heads=4, disc_dim_head=32,
                 disc_mlp_dim=256)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--gpu", action="store_true")
    args = p.parse_args()
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    rows = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = run_training(
                TrainConfig(
                    data=[args.data], output=out, workers=workers, gpu=args.gpu,
                    cpus_per_worker=None, max_steps=args.steps,  # default sizing
                    epochs=1000, report_every=args.window, batch_size=args.batch_size,
                    image_size=128, width=16, **DEMO_DISC, crops_per_image=16,
                    heldout_fraction=0.05,
                )
            )  # fmt: skip
        rows.append(
            {
                "workers": workers,
                "samples_per_s": round(result.metrics["samples_per_s"], 2),
                "steps": result.metrics["step"],
                "wall_s": round(time.perf_counter() - start, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"machine": platform.node(), "cpus": ray.cluster_resources().get("CPU")}))


if __name__ == "__main__":
    main()
