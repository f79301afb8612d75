"""The Ray Train worker: accelerate-wrapped GAN training over a Ray Data shard.

Runs in every TorchTrainer worker process. Ray Train has already set up the process group (gloo on
CPU, NCCL on GPU) and the RANK/WORLD_SIZE variables that ``accelerate`` reads, so the Accelerator is
created here and not by ``accelerate launch``. DDP pitfall for GANs: the discriminator runs twice
per step (real, fake) plus once in the generator update, and the generator's BatchNorm buffers change
in place on every forward; DDP's default buffer broadcast at each forward then trips autograd's
in-place check, hence ``broadcast_buffers=False`` (each rank keeps its own BN running statistics;
rank 0's are the ones checkpointed and used for held-out metrics).

Read top to bottom: set-up (process, models, resume, accelerate), the reporter, then the loop.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import torch

from vidcolor.train.config import TrainConfig
from vidcolor.train.state import Position

REPORT_HELDOUT_MAX = 32  # held-out crops scored per report (rank 0)
SHUFFLE_BUFFER_BATCHES = 8  # local shuffle buffer, in batches (a 256 px row is ~0.8 MB)

# Called after every optimiser step with (step, rank, world): a seam for the caller (the
# fault-tolerance test kills a worker through it); the run itself passes none.
StepHook = Callable[[int, int, int], None]


# --- set-up -------------------------------------------------------------------------------------


def _quiet_report_echo() -> None:
    """Ray Train 2.60 logs every report's whole metrics dict per rank at INFO, to a logger named
    after its source file (so RunConfig's LoggingConfig misses it); our one line per report says
    it shorter. Only that logger is raised to WARNING."""
    try:
        from ray.train.v2._internal.execution import context
    except ImportError:  # another Ray Train layout: keep its lines
        return
    logging.getLogger(context.__file__).setLevel(logging.WARNING)


def _set_up_process(cfg: TrainConfig):
    """Quiet logs, the CPU thread count and this worker's ``Accelerator``."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    from vidcolor.train.data import quiet_ray_data

    quiet_ray_data()
    # accelerate passes broadcast_buffers (needed, see the module docstring); torch's notice that
    # it is deprecated would otherwise open every worker's log.
    warnings.filterwarnings("ignore", message="`broadcast_buffers` is deprecated")
    _quiet_report_echo()
    if not cfg.gpu:
        torch.set_num_threads(max(1, int(cfg.cpus_per_worker)))
    return Accelerator(
        mixed_precision=cfg.precision if cfg.gpu else "no",
        cpu=not cfg.gpu,
        kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=False)],
    )


@dataclass
class GAN:
    """The models and optimisers as the loop trains them (accelerate-prepared: DDP, AMP) and the
    plain modules that are saved, scored and used as the generator step's discriminator."""

    generator: Any
    discriminator: Any
    opt_g: Any
    opt_d: Any
    g_plain: torch.nn.Module
    d_plain: torch.nn.Module
    ema: Any  # GeneratorEMA, or None without --ema-decay
    model_config: Any  # vidcolor.models.ModelConfig


def _build_models(cfg: TrainConfig) -> tuple:
    """(generator, discriminator, opt_g, opt_d, model_config), freshly initialised."""
    from vidcolor.models import ModelConfig, ViTDiscriminator, build_generator
    from vidcolor.train.step import GANConfig, make_optimizers

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model_config = ModelConfig(variant=cfg.variant, width=cfg.width, image_size=cfg.image_size)
    generator = build_generator(model_config, inception_weights=cfg.inception_weights)
    discriminator = ViTDiscriminator(**cfg.disc_kwargs())
    opt_g, opt_d = make_optimizers(
        generator, discriminator, GANConfig(lr=cfg.lr, betas=cfg.betas, l1_weight=cfg.l1_weight)
    )
    return generator, discriminator, opt_g, opt_d, model_config


def _resume(cfg: TrainConfig, generator, discriminator, opt_g, opt_d) -> tuple:
    """(position, state, where): Ray Train's checkpoint restored into the models and optimisers,
    or a fresh start (``Position()``, None, "")."""
    import ray.train

    from vidcolor.train.state import load_training_state, restore_training_state

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return Position(), None, ""
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
    torch.manual_seed(cfg.seed + state.position.step)  # fresh dropout/noise stream after resume
    return state.position, state, checkpoint.path


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


def _set_up_gan(cfg: TrainConfig, accelerator) -> tuple[GAN, Position]:
    """The GAN, restored from Ray Train's checkpoint when there is one, and where training is."""
    generator, discriminator, opt_g, opt_d, model_config = _build_models(cfg)
    position, state, where = _resume(cfg, generator, discriminator, opt_g, opt_d)
    ema = _averaged_generator(cfg, generator, state, where)
    # One prepare call for both models and both optimisers (accelerate pairs them for DDP/AMP).
    generator, discriminator, opt_g, opt_d = accelerator.prepare(
        generator, discriminator, opt_g, opt_d
    )
    if ema is not None:
        ema.module.to(accelerator.device)
    gan = GAN(
        generator=generator,
        discriminator=discriminator,
        opt_g=opt_g,
        opt_d=opt_d,
        g_plain=accelerator.unwrap_model(generator),
        d_plain=accelerator.unwrap_model(discriminator),  # the G step's D: no DDP all-reduce
        ema=ema,
        model_config=model_config,
    )
    return gan, position


def _heldout_shard():
    """The held-out data set, or None when the run has none (``--heldout-fraction 0``)."""
    import ray.train

    try:
        return ray.train.get_dataset_shard("heldout")
    except KeyError:  # build_datasets adds "heldout" only when the split gave it sources
        return None


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


# --- the reporter -------------------------------------------------------------------------------


class Reporter:
    """Sums the losses between reports; each report gives their means, the job's throughput and
    the lr, and calls ``ray.train.report`` on every rank (Ray Train needs the same number of
    calls everywhere). Rank 0 also scores the held-out crops, writes the sample grid, logs
    TensorBoard scalars, prints one line and saves the checkpoint it reports."""

    def __init__(self, cfg: TrainConfig, gan: GAN, rank: int, world: int, resumed_from: int):
        from vidcolor import storage
        from vidcolor.train import report as rep

        self.cfg, self.gan, self.rank, self.world = cfg, gan, rank, world
        self.resumed_from = resumed_from  # 0 for a fresh start; shows a restore in the metrics
        self.heldout = _load_heldout(_heldout_shard()) if rank == 0 else None
        local = rank == 0 and not storage.is_s3(cfg.output)
        self.log = rep.ScalarLog(os.path.join(cfg.output, "tensorboard") if local else None)
        self._new_window()

    def _new_window(self) -> None:
        self.window: dict[str, float] = {}
        self.window_steps, self.window_start = 0, time.perf_counter()

    def add(self, losses: dict[str, float]) -> None:
        """One step's losses."""
        self.window_steps += 1
        for k, v in losses.items():
            self.window[k] = self.window.get(k, 0.0) + v

    def report(self, position: Position) -> None:
        import ray.train

        metrics = self._metrics(position)
        if self.rank == 0:
            self._report_rank0(metrics, position)
        else:
            ray.train.report(metrics)
        self._new_window()

    def _metrics(self, position: Position) -> dict:
        cfg, steps = self.cfg, self.window_steps
        metrics: dict = {
            "step": position.step,
            "epoch": position.epoch,
            "resumed_from": self.resumed_from,
        }
        metrics.update({k: v / max(1, steps) for k, v in self.window.items()})
        # End-to-end throughput of the whole job since the last report (data waits included,
        # report time excluded); every worker ran the same number of steps.
        elapsed = time.perf_counter() - self.window_start
        metrics["samples_per_s"] = steps * cfg.batch_size * self.world / max(elapsed, 1e-9)
        metrics["lr"] = cfg.lr_at(position.step, self.world)
        return metrics

    def _report_rank0(self, metrics: dict, position: Position) -> None:
        import ray.train

        from vidcolor.train import report as rep

        grid = self._score(metrics, position.step)
        self.log.log(metrics, position.step)
        # Not print(): Ray Train patches it to log and echo, which shows every line twice.
        sys.stdout.write(rep.report_line(metrics) + "\n")
        sys.stdout.flush()
        ray.train.report(
            metrics,
            checkpoint=ray.train.Checkpoint.from_directory(self._save(position, grid)),
            checkpoint_dir_name=f"checkpoint_step_{position.step:07d}",
            checkpoint_upload_mode=ray.train.CheckpointUploadMode.ASYNC,
            delete_local_checkpoint_after_upload=True,
        )

    def _score(self, metrics: dict, step: int) -> bytes | None:
        """Held-out metrics into ``metrics`` and the sample grid written to OUTPUT/samples/ (PNG
        bytes), scored on the generator that is exported; None without held-out crops."""
        from vidcolor import storage
        from vidcolor.train import report as rep

        if self.heldout is None:
            return None
        gan = self.gan
        g_scored = gan.ema.module if gan.ema is not None else gan.g_plain
        l_norm, ab_true = self.heldout
        ab_pred = rep.predict(g_scored, l_norm)
        metrics.update(rep.heldout_metrics(l_norm, ab_true, ab_pred))
        grid = rep.sample_grid_png(l_norm, ab_true, ab_pred)
        storage.write_bytes_atomic(
            storage.safe_join(self.cfg.output, f"samples/step_{step:07d}.png"), grid
        )
        return grid

    def _save(self, position: Position, grid: bytes | None) -> str:
        """The checkpoint in a fresh local directory. Ray Train uploads it in the background and
        deletes it after: the workers go on training instead of waiting for the copy to S3."""
        from vidcolor.train.state import save_training_state

        gan = self.gan
        tmp = tempfile.mkdtemp(prefix="vidcolor-ckpt-")
        save_training_state(
            tmp,
            generator=gan.g_plain,
            model_config=gan.model_config,
            discriminator=gan.d_plain,
            disc_kwargs=self.cfg.disc_kwargs(),
            opt_g=getattr(gan.opt_g, "optimizer", gan.opt_g),  # accelerate's wrapper, unwrapped
            opt_d=getattr(gan.opt_d, "optimizer", gan.opt_d),
            position=position,
            averaged_generator=gan.ema.module if gan.ema is not None else None,
        )
        if grid is not None:
            with open(os.path.join(tmp, "samples.png"), "wb") as f:
                f.write(grid)
        return tmp

    def close(self) -> None:
        self.log.close()


# --- the loop -----------------------------------------------------------------------------------


def _set_lr(optimizers, lr: float) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr


def _epoch_batches(shard, cfg: TrainConfig, already_trained: int):
    """This epoch's batches, after the ``already_trained`` ones a resumed run has seen. Rows are
    mixed in a buffer of 8 batches, in a new order every epoch (a partial shuffle: sources still
    arrive in listing order; crops of one picture no longer sit together)."""
    batches = shard.iter_torch_batches(
        batch_size=cfg.batch_size,
        drop_last=True,
        local_shuffle_buffer_size=SHUFFLE_BUFFER_BATCHES * cfg.batch_size,
    )
    return islice(batches, already_trained, None)


def train_loop_per_worker(config: dict, after_step: StepHook | None = None) -> None:
    """Train ``TrainConfig(**config)`` on this worker's shard until --epochs or --max-steps."""
    import ray.train

    from vidcolor.train.step import gan_step

    cfg = TrainConfig(**config)
    accelerator = _set_up_process(cfg)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    gan, position = _set_up_gan(cfg, accelerator)
    shard = ray.train.get_dataset_shard("train")
    reporter = Reporter(cfg, gan, rank, world, resumed_from=position.step)

    last_reported = position.step
    while position.epoch < cfg.epochs and position.step < cfg.step_limit:
        for batch in _epoch_batches(shard, cfg, already_trained=position.batch):
            _set_lr((gan.opt_g, gan.opt_d), cfg.lr_at(position.step, world))
            losses = gan_step(
                gan.generator,
                gan.discriminator,
                gan.opt_g,
                gan.opt_d,
                batch["l"].to(accelerator.device),
                batch["ab"].to(accelerator.device),
                l1_weight=cfg.l1_weight,
                colour_rebalance=cfg.colour_rebalance,
                backward=accelerator.backward,
                discriminator_for_g=gan.d_plain,
            )
            if gan.ema is not None:
                gan.ema.update(gan.g_plain)
            reporter.add(losses)
            position.step += 1
            position.batch += 1
            if after_step is not None:
                after_step(position.step, rank, world)
            if position.step % cfg.report_every == 0:
                reporter.report(position)
                last_reported = position.step
            if position.step >= cfg.step_limit:
                break
        if position.step < cfg.step_limit:  # the data ran out, not the steps: the epoch is done
            position.epoch += 1
            position.batch = 0
    if position.step != last_reported:
        reporter.report(position)
    reporter.close()
