"""``vidcolor train``: GAN training with Ray Train + accelerate on 1..N workers (CPU or GPU)."""

from __future__ import annotations

import argparse

from vidcolor.errors import UsageError
from vidcolor.train.config import TrainConfig


def add_arguments(p: argparse.ArgumentParser, *, default_address: str | None = None) -> None:
    """The train options; shared with jobs/train.py (which defaults to ``--address auto``).
    Defaults are :class:`TrainConfig`'s."""
    d = TrainConfig()
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="SRC",
        help="images/videos: dir, glob, file or s3:// prefix (repeatable)",
    )
    p.add_argument(
        "--validation",
        action="append",
        default=d.validation,
        metavar="SRC",
        help="validation images/videos the reports score (repeatable; default: "
        "--heldout-fraction of --data)",
    )
    p.add_argument("--output", required=True, help="output dir or s3:// prefix")
    p.add_argument("--name", default=d.name, help="run name: checkpoints go to OUTPUT/NAME/")
    p.add_argument(
        "--workers", type=int, default=d.workers, help="Ray Train workers (default %(default)s)"
    )
    p.add_argument("--gpu", action="store_true", help="one GPU per worker, mixed precision")
    p.add_argument(
        "--precision", choices=["fp16", "bf16", "no"], default=d.precision, help="on GPU"
    )
    p.add_argument(
        "--cpus-per-worker",
        type=float,
        help="CPUs each worker reserves (default: 1, less when that would leave under 0.5 CPU "
        "for data loading; a request that does not fit the cluster is refused)",
    )
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument(
        "--max-steps", type=int, default=d.max_steps, help="stop after this many steps (0: off)"
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per worker (paper: 16)")
    p.add_argument(
        "--image-size", type=int, default=d.image_size, help="training crop size (paper: 256)"
    )
    p.add_argument("--variant", choices=["vit-i-gan", "vit-gan"], default=d.variant)
    p.add_argument("--width", type=int, default=d.width, help="generator width (paper: 64)")
    p.add_argument("--inception-weights", help="local Inception-v3 weights (vit-i-gan)")
    p.add_argument("--lr", type=float, default=d.lr, help="for one worker's batch")
    p.add_argument(
        "--lr-scaling",
        choices=["sqrt", "linear", "none"],
        default=d.lr_scaling,
        help="with N workers the global batch is N x --batch-size and the lr is --lr x sqrt(N) "
        "(default), x N, or unchanged",
    )
    p.add_argument("--beta1", type=float, default=d.betas[0])
    p.add_argument("--beta2", type=float, default=d.betas[1])
    p.add_argument("--l1-weight", type=float, default=d.l1_weight)
    p.add_argument(
        "--colour-rebalance",
        type=float,
        default=d.colour_rebalance,
        help="weight the L1 term by how rare each true colour is in the batch: 0 plain L1 "
        "(paper, default), 0.5 Zhang et al. 2016's setting, 1 pure inverse frequency",
    )
    p.add_argument(
        "--lr-drop-step", type=int, default=d.lr_drop_step, help="multiply lr by --lr-drop-factor"
    )
    p.add_argument("--lr-drop-factor", type=float, default=d.lr_drop_factor)
    p.add_argument(
        "--ema-decay",
        type=float,
        default=d.ema_decay,
        help="keep an exponential moving average of the generator (e.g. 0.999); reports score "
        "it and checkpoints export it (default %(default)s: off)",
    )
    p.add_argument("--report-every", type=int, default=d.report_every, help="steps between reports")
    p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints)
    p.add_argument(
        "--max-failures", type=int, default=d.max_failures, help="worker restarts Ray Train may do"
    )
    p.add_argument("--resume", action="store_true", help="continue OUTPUT/NAME from its latest")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--heldout-fraction", type=float, default=d.heldout_fraction)
    p.add_argument(
        "--min-chroma-std", type=float, default=d.min_chroma_std, help="drop greyer sources"
    )
    p.add_argument("--frames-per-video", type=int, default=d.frames_per_video)
    p.add_argument(
        "--crops-per-image", type=int, default=d.crops_per_image, help="random crops per epoch"
    )
    p.add_argument(
        "--dark-fraction",
        type=float,
        default=d.dark_fraction,
        help="share of training crops darkened 2-10x in linear light (dusk, shade; hues kept)",
    )
    # Discriminator size (paper table 1 values are ViTDiscriminator's defaults).
    p.add_argument("--disc-dim", type=int)
    p.add_argument("--disc-depth", type=int)
    p.add_argument("--disc-heads", type=int)
    p.add_argument("--disc-dim-head", type=int)
    p.add_argument("--disc-mlp-dim", type=int)
    p.add_argument("--disc-patch", type=int)
    p.add_argument("--address", default=default_address, help="Ray cluster (default: local)")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the colouriser GAN with Ray Train",
        description="Train ViT-(I-)GAN on images and video frames with Ray Train + accelerate.",
    )
    add_arguments(p)
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    disc_keys = {
        "disc_dim": "dim",
        "disc_depth": "depth",
        "disc_heads": "heads",
        "disc_dim_head": "dim_head",
        "disc_mlp_dim": "mlp_dim",
        "disc_patch": "patch_size",
    }
    disc = {key: getattr(args, arg) for arg, key in disc_keys.items() if getattr(args, arg)}
    for name in ("workers", "epochs", "batch_size", "width", "report_every"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1")
    if not 0.0 <= args.ema_decay < 1.0:
        raise UsageError(f"--ema-decay must be in [0, 1), got {args.ema_decay}")
    for name in ("dark_fraction", "colour_rebalance"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            flag = f"--{name.replace('_', '-')}"
            raise UsageError(f"{flag} must be in [0, 1], got {getattr(args, name)}")
    return TrainConfig(
        data=list(args.data),
        validation=list(args.validation),
        output=args.output,
        name=args.name,
        workers=args.workers,
        gpu=args.gpu,
        cpus_per_worker=args.cpus_per_worker,
        precision=args.precision,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        image_size=args.image_size,
        variant=args.variant,
        width=args.width,
        inception_weights=args.inception_weights,
        disc=disc,
        lr=args.lr,
        lr_scaling=args.lr_scaling,
        betas=(args.beta1, args.beta2),
        l1_weight=args.l1_weight,
        colour_rebalance=args.colour_rebalance,
        lr_drop_step=args.lr_drop_step,
        lr_drop_factor=args.lr_drop_factor,
        ema_decay=args.ema_decay,
        report_every=args.report_every,
        keep_checkpoints=args.keep_checkpoints,
        max_failures=args.max_failures,
        resume=args.resume,
        seed=args.seed,
        heldout_fraction=args.heldout_fraction,
        min_chroma_std=args.min_chroma_std,
        frames_per_video=args.frames_per_video,
        crops_per_image=args.crops_per_image,
        dark_fraction=args.dark_fraction,
    )


def run(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    import ray

    from vidcolor.train.trainer import run_training

    cfg = config_from_args(args)
    if cfg.variant == "vit-i-gan":
        from vidcolor.models.inception import load_inception_v3

        load_inception_v3(cfg.inception_weights)  # fail now, not in every worker
    if not ray.is_initialized():
        if not args.address:
            # A local Ray's processes inherit this environment: Ray Data's coordinators too.
            from vidcolor.train.data import QUIET_RAY_DATA_ENV

            for key, value in QUIET_RAY_DATA_ENV.items():
                os.environ.setdefault(key, value)
        # "local": start a fresh Ray rather than join whatever /tmp/ray last recorded
        ray.init(address=args.address or "local", log_to_driver=True)
    start = time.perf_counter()
    result = run_training(cfg)
    wall = time.perf_counter() - start
    summary = {k: v for k, v in result.metrics.items() if isinstance(v, int | float)}
    print(json.dumps({"generator": result.generator_uri, "wall_s": round(wall, 1), **summary}))
    return 0
