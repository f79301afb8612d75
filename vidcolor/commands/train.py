"""``vidcolor train``: GAN training with Ray Train + accelerate on 1..N workers (CPU or GPU)."""

from __future__ import annotations

import argparse

from vidcolor import options
from vidcolor.options import add_options
from vidcolor.train.config import TrainConfig


def add_arguments(p: argparse.ArgumentParser, *, default_address: str | None = None) -> None:
    """The train options, declared on :class:`TrainConfig`'s fields; shared with jobs/train.py
    (which defaults to ``--address auto``)."""
    add_options(p, TrainConfig, defaults={"address": default_address})


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the colouriser GAN with Ray Train",
        description="Train ViT-(I-)GAN on images and video frames with Ray Train + accelerate.",
    )
    add_arguments(p)
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return options.config_from_args(TrainConfig, args)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    import ray

    from vidcolor.pipeline.join import check_joinable, ray_init
    from vidcolor.train.trainer import run_training

    cfg = config_from_args(args)
    if cfg.variant == "vit-i-gan":
        from vidcolor.models.inception import load_inception_v3

        load_inception_v3(cfg.inception_weights)  # fail now, not in every worker
    if not ray.is_initialized():
        if not cfg.address:
            # A local Ray's processes inherit this environment: Ray Data's coordinators too.
            from vidcolor.train.data import QUIET_RAY_DATA_ENV

            for key, value in QUIET_RAY_DATA_ENV.items():
                os.environ.setdefault(key, value)
        else:
            check_joinable(cfg.address)  # one line within ~30 s, not ray.init's endless retries
        # "local": start a fresh Ray rather than join whatever /tmp/ray last recorded
        ray_init(address=cfg.address or "local", log_to_driver=True)
    start = time.perf_counter()
    result = run_training(cfg)
    wall = time.perf_counter() - start
    summary = {k: v for k, v in result.metrics.items() if isinstance(v, int | float)}
    print(json.dumps({"generator": result.generator_uri, "wall_s": round(wall, 1), **summary}))
    return 0
