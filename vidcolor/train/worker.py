"""The Ray Train worker: accelerate-wrapped GAN training over a Ray Data shard.

Runs in every TorchTrainer worker process. Ray Train has already set up the process group (gloo on
CPU, NCCL on GPU) and the RANK/WORLD_SIZE variables that ``accelerate`` reads, so the Accelerator is
created here and not by ``accelerate launch``. DDP pitfall for GANs: the discriminator runs twice
per step (real, fake) plus once in the generator update, and the generator's BatchNorm buffers change
in place on every forward; DDP's default buffer broadcast at each forward then trips autograd's
in-place check, hence ``broadcast_buffers=False`` (each rank keeps its own BN running statistics;
rank 0's are the ones checkpointed and used for held-out metrics).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import warnings

import torch

from vidcolor.train.config import TrainConfig
from vidcolor.train.state import Position

REPORT_HELDOUT_MAX = 32  # held-out crops scored per report (rank 0)
SHUFFLE_BUFFER_BATCHES = 8  # local shuffle buffer, in batches (a 256 px row is ~0.8 MB)


def _set_lr(optimizers, lr: float) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr


def _load_heldout(ds) -> tuple[torch.Tensor, torch.Tensor] | None:
    if ds is None:
        return None
    ls, abs_ = [], []
    for batch in ds.iter_torch_batches(batch_size=REPORT_HELDOUT_MAX):
        ls.append(batch["l"])
        abs_.append(batch["ab"])
        if sum(len(x) for x in ls) >= REPORT_HELDOUT_MAX:
            break
    if not ls:
        return None
    return torch.cat(ls)[:REPORT_HELDOUT_MAX], torch.cat(abs_)[:REPORT_HELDOUT_MAX]


def _quiet_report_echo() -> None:
    """Ray Train 2.60 logs every report's whole metrics dict per rank at INFO, to a logger named
    after its source file (so RunConfig's LoggingConfig misses it); our one line per report says
    it shorter. Only that logger is raised to WARNING."""
    try:
        from ray.train.v2._internal.execution import context
    except ImportError:  # another Ray Train layout: keep its lines
        return
    logging.getLogger(context.__file__).setLevel(logging.WARNING)


def _heldout_shard():
    """The held-out data set, or None when the run has none (``--heldout-fraction 0``)."""
    import ray.train

    try:
        return ray.train.get_dataset_shard("heldout")
    except KeyError:  # build_datasets adds "heldout" only when the split gave it sources
        return None


def _maybe_fail(cfg: TrainConfig, step: int, rank: int, world: int) -> None:
    if cfg.fail_once_at_step and step == cfg.fail_once_at_step and rank == world - 1:
        if cfg.fail_marker and not os.path.exists(cfg.fail_marker):
            with open(cfg.fail_marker, "w") as f:
                f.write(f"rank {rank} exited at step {step}\n")
            # Let the controller poll the last report first (health check every 2 s): a crash
            # right after a report can lose it, and Ray would then restore the one before.
            time.sleep(3)
            os._exit(1)


def _averaged_generator(cfg: TrainConfig, generator, state, where: str):
    """The run's moving average of the generator (``--ema-decay``), or None: from the
    checkpoint's average when it has one, else starting at the (restored) generator."""
    if cfg.ema_decay <= 0:
        return None
    from vidcolor.checkpoint import load_exact
    from vidcolor.train.ema import GeneratorEMA

    ema = GeneratorEMA(generator, cfg.ema_decay)
    if state is not None and state.averaged_generator is not None:
        load_exact(
            ema.module,
            state.averaged_generator,
            ema.module.trainable_state_dict(),
            f"{where}: averaged generator weights do not match this run's generator",
        )
    return ema


def train_loop_per_worker(config: dict) -> None:
    import ray.train
    from accelerate import Accelerator, DistributedDataParallelKwargs

    from vidcolor import storage
    from vidcolor.models import ModelConfig, ViTDiscriminator, build_generator
    from vidcolor.train import report as rep
    from vidcolor.train.data import quiet_ray_data
    from vidcolor.train.state import (
        load_training_state,
        restore_training_state,
        save_training_state,
    )
    from vidcolor.train.step import GANConfig, gan_step, make_optimizers

    cfg = TrainConfig(**config)
    quiet_ray_data()
    # accelerate passes broadcast_buffers (needed, see the module docstring); torch's notice that
    # it is deprecated would otherwise open every worker's log.
    warnings.filterwarnings("ignore", message="`broadcast_buffers` is deprecated")
    _quiet_report_echo()
    if not cfg.gpu:
        torch.set_num_threads(max(1, int(cfg.cpus_per_worker)))
    accelerator = Accelerator(
        mixed_precision=cfg.precision if cfg.gpu else "no",
        cpu=not cfg.gpu,
        kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=False)],
    )
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model_config = ModelConfig(variant=cfg.variant, width=cfg.width, image_size=cfg.image_size)
    generator = build_generator(model_config, inception_weights=cfg.inception_weights)
    discriminator = ViTDiscriminator(**cfg.disc_kwargs())
    opt_g, opt_d = make_optimizers(
        generator, discriminator, GANConfig(lr=cfg.lr, betas=cfg.betas, l1_weight=cfg.l1_weight)
    )

    position, state = Position(), None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = load_training_state(directory)
        restore_training_state(
            state,
            generator=generator,
            discriminator=discriminator,
            opt_g=opt_g,
            opt_d=opt_d,
            where=checkpoint.path,
        )
        position = state.position
        torch.manual_seed(cfg.seed + position.step)  # fresh dropout/noise stream after resume

    resumed_from = position.step  # 0 for a fresh start; shows a restore in the metrics
    ema = _averaged_generator(cfg, generator, state, checkpoint.path if checkpoint else "")
    # One prepare call for both models and both optimisers (accelerate pairs them for DDP/AMP).
    generator, discriminator, opt_g, opt_d = accelerator.prepare(
        generator, discriminator, opt_g, opt_d
    )
    d_plain = accelerator.unwrap_model(discriminator)  # the G step's D: no DDP all-reduce
    g_plain = accelerator.unwrap_model(generator)
    if ema is not None:
        ema.module.to(accelerator.device)
    shard = ray.train.get_dataset_shard("train")
    heldout = _load_heldout(_heldout_shard()) if rank == 0 else None
    log = rep.ScalarLog(
        os.path.join(cfg.output, "tensorboard")
        if rank == 0 and not storage.is_s3(cfg.output)
        else None
    )

    window: dict[str, float] = {}
    window_steps, window_start = 0, time.perf_counter()

    def report() -> None:
        nonlocal window, window_steps, window_start
        metrics: dict = {
            "step": position.step,
            "epoch": position.epoch,
            "resumed_from": resumed_from,
        }
        metrics.update({k: v / max(1, window_steps) for k, v in window.items()})
        # End-to-end throughput of the whole job since the last report (data waits included,
        # report time excluded); every worker ran the same number of steps.
        elapsed = time.perf_counter() - window_start
        metrics["samples_per_s"] = window_steps * cfg.batch_size * world / max(elapsed, 1e-9)
        metrics["lr"] = cfg.lr_at(position.step, world)
        if rank != 0:
            ray.train.report(metrics)
        else:
            g_scored = ema.module if ema is not None else g_plain  # the generator exported
            grid = None
            if heldout is not None:
                l_norm, ab_true = heldout
                ab_pred = rep.predict(g_scored, l_norm)
                metrics.update(rep.heldout_metrics(l_norm, ab_true, ab_pred))
                grid = rep.sample_grid_png(l_norm, ab_true, ab_pred)
                storage.write_bytes_atomic(
                    storage.safe_join(cfg.output, f"samples/step_{position.step:07d}.png"), grid
                )
            log.log(metrics, position.step)
            # Not print(): Ray Train patches it to log and echo, which shows every line twice.
            sys.stdout.write(rep.report_line(metrics) + "\n")
            sys.stdout.flush()
            # Ray Train uploads the directory in the background and deletes it after: the
            # workers go on training instead of waiting at this barrier for the copy to S3.
            tmp = tempfile.mkdtemp(prefix="vidcolor-ckpt-")
            save_training_state(
                tmp,
                generator=g_plain,
                model_config=model_config,
                discriminator=d_plain,
                disc_kwargs=cfg.disc_kwargs(),
                opt_g=opt_g.optimizer if hasattr(opt_g, "optimizer") else opt_g,
                opt_d=opt_d.optimizer if hasattr(opt_d, "optimizer") else opt_d,
                position=position,
                averaged_generator=ema.module if ema is not None else None,
            )
            if grid is not None:
                with open(os.path.join(tmp, "samples.png"), "wb") as f:
                    f.write(grid)
            ray.train.report(
                metrics,
                checkpoint=ray.train.Checkpoint.from_directory(tmp),
                checkpoint_dir_name=f"checkpoint_step_{position.step:07d}",
                checkpoint_upload_mode=ray.train.CheckpointUploadMode.ASYNC,
                delete_local_checkpoint_after_upload=True,
            )
        window, window_steps, window_start = {}, 0, time.perf_counter()

    last_reported = position.step
    while position.epoch < cfg.epochs and position.step < cfg.step_limit:
        to_skip = position.batch  # data position after a resume: batches already trained on
        finished_epoch = True
        # Rows are mixed in a buffer of 8 batches, in a new order every epoch (a partial shuffle:
        # sources still arrive in listing order; crops of one picture no longer sit together).
        batches = shard.iter_torch_batches(
            batch_size=cfg.batch_size,
            drop_last=True,
            local_shuffle_buffer_size=SHUFFLE_BUFFER_BATCHES * cfg.batch_size,
        )
        for batch in batches:
            if to_skip:
                to_skip -= 1
                continue
            _set_lr((opt_g, opt_d), cfg.lr_at(position.step, world))
            losses = gan_step(
                generator,
                discriminator,
                opt_g,
                opt_d,
                batch["l"].to(accelerator.device),
                batch["ab"].to(accelerator.device),
                l1_weight=cfg.l1_weight,
                colour_rebalance=cfg.colour_rebalance,
                backward=accelerator.backward,
                discriminator_for_g=d_plain,
            )
            if ema is not None:
                ema.update(g_plain)
            window_steps += 1
            for k, v in losses.items():
                window[k] = window.get(k, 0.0) + v
            position.step += 1
            position.batch += 1
            _maybe_fail(cfg, position.step, rank, world)
            if position.step % cfg.report_every == 0:
                report()
                last_reported = position.step
            if position.step >= cfg.step_limit:
                finished_epoch = False
                break
        if finished_epoch:
            position.epoch += 1
            position.batch = 0
    if position.step != last_reported:
        report()
    log.close()
