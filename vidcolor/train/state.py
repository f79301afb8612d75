"""Training checkpoints as safetensors only: generator, discriminator, optimiser state, position.

A Ray Train checkpoint directory holds:
- ``generator.safetensors``: the foundation format (``save_generator``), loadable on its own: the
  moving average of the generator when the run keeps one (``--ema-decay``), else the generator;
- ``generator_train.safetensors``: with an average only, the generator the optimiser trains;
- ``discriminator.safetensors``: D weights + its constructor keywords as JSON metadata;
- ``optimizer.safetensors``: both Adam states flattened to tensors (``opt_g.state.3.exp_avg``),
  with the param groups and the training position (step, epoch, batch in epoch) as JSON metadata.
Nothing is pickled: safetensors holds tensors, everything else is JSON.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass

import torch
from torch import nn

from vidcolor.checkpoint import (
    load_exact,
    load_tensors,
    read_config,
    save_generator,
    save_tensors,
)
from vidcolor.errors import CheckpointError
from vidcolor.models import ModelConfig

GENERATOR_FILE = "generator.safetensors"
TRAINED_GENERATOR_FILE = "generator_train.safetensors"  # only beside an averaged generator
DISCRIMINATOR_FILE = "discriminator.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
log = logging.getLogger(__name__)


@dataclass
class Position:
    """Where training stands: ``step`` optimiser updates done; ``batch`` batches into ``epoch``."""

    step: int = 0
    epoch: int = 0
    batch: int = 0


def flatten_optimizer(
    optimizer: torch.optim.Optimizer, prefix: str
) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state dict -> (tensors keyed ``prefix.state.<param>.<name>``, JSON-able rest)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for param_id, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{param_id}.{name}"] = value
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict, prefix: str) -> dict:
    """Inverse of :func:`flatten_optimizer`: a state dict for ``optimizer.load_state_dict``."""
    state: dict[int, dict] = {}
    head = f"{prefix}.state."
    for key, value in tensors.items():
        if key.startswith(head):
            param_id, name = key[len(head) :].split(".", 1)
            state.setdefault(int(param_id), {})[name] = value
    for param_id, entries in meta.get("scalars", {}).items():
        state.setdefault(int(param_id), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_state(
    directory: str,
    *,
    generator: nn.Module,
    model_config: ModelConfig,
    discriminator: nn.Module,
    disc_kwargs: dict,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    position: Position,
    averaged_generator: nn.Module | None = None,
) -> None:
    """Write the files into a local ``directory`` (the one handed to ``ray.train.report``)."""
    os.makedirs(directory, exist_ok=True)
    step = str(position.step)
    exported = generator if averaged_generator is None else averaged_generator
    save_generator(os.path.join(directory, GENERATOR_FILE), exported, model_config, step=step)
    if averaged_generator is not None:  # the optimiser's weights, for --resume
        save_generator(
            os.path.join(directory, TRAINED_GENERATOR_FILE), generator, model_config, step=step
        )
    save_tensors(
        os.path.join(directory, DISCRIMINATOR_FILE),
        discriminator.state_dict(),
        {"discriminator": json.dumps(disc_kwargs), "step": step},
    )
    g_tensors, g_meta = flatten_optimizer(opt_g, "opt_g")
    d_tensors, d_meta = flatten_optimizer(opt_d, "opt_d")
    save_tensors(
        os.path.join(directory, OPTIMIZER_FILE),
        {**g_tensors, **d_tensors},
        {
            "opt_g": json.dumps(g_meta),
            "opt_d": json.dumps(d_meta),
            "position": json.dumps(asdict(position)),
        },
    )


@dataclass
class TrainingState:
    generator: dict[str, torch.Tensor]
    model_config: ModelConfig
    discriminator: dict[str, torch.Tensor]
    disc_kwargs: dict
    opt_g: dict
    opt_d: dict
    position: Position
    averaged_generator: dict[str, torch.Tensor] | None = None


def load_training_state(directory: str) -> TrainingState:
    """Read a checkpoint directory written by :func:`save_training_state`."""
    g_path = os.path.join(directory, GENERATOR_FILE)
    averaged = None
    if os.path.exists(os.path.join(directory, TRAINED_GENERATOR_FILE)):
        averaged, _ = load_tensors(g_path)
        g_path = os.path.join(directory, TRAINED_GENERATOR_FILE)
    g_tensors, g_meta = load_tensors(g_path)
    d_tensors, d_meta = load_tensors(os.path.join(directory, DISCRIMINATOR_FILE))
    o_path = os.path.join(directory, OPTIMIZER_FILE)
    o_tensors, o_meta = load_tensors(o_path)
    try:
        opt_g_meta, opt_d_meta = json.loads(o_meta["opt_g"]), json.loads(o_meta["opt_d"])
        position = Position(**json.loads(o_meta["position"]))
        disc_kwargs = json.loads(d_meta["discriminator"])
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{directory}: incomplete training checkpoint ({err})") from err
    return TrainingState(
        generator=g_tensors,
        model_config=read_config(g_meta, g_path),
        discriminator=d_tensors,
        disc_kwargs=disc_kwargs,
        opt_g=unflatten_optimizer(o_tensors, opt_g_meta, "opt_g"),
        opt_d=unflatten_optimizer(o_tensors, opt_d_meta, "opt_d"),
        position=position,
        averaged_generator=averaged,
    )


def restore_training_state(
    state: TrainingState,
    *,
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    where: str,
) -> None:
    """Load a checkpoint into fresh models and optimisers, strictly: a missing, unexpected or
    misshapen tensor (another width, a truncated file) is one CheckpointError line naming ``where``,
    never a silent partial resume. Only a new ``--image-size`` is adapted (``fit_patch_grid``)."""
    fit_patch_grid(state, discriminator, where)
    load_exact(
        generator,
        state.generator,
        generator.trainable_state_dict(),  # the frozen Inception comes from its own file
        f"{where}: generator weights do not match this run's generator",
    )
    load_exact(
        discriminator,
        state.discriminator,
        discriminator.state_dict(),
        f"{where}: discriminator weights do not match this run's discriminator",
    )
    for name, opt, saved in (("opt_g", opt_g, state.opt_g), ("opt_d", opt_d, state.opt_d)):
        try:
            opt.load_state_dict(saved)
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(f"{where}: optimiser state {name} does not fit ({err})") from err


def fit_patch_grid(state: TrainingState, discriminator: nn.Module, where: str) -> None:
    """Resuming at another ``--image-size`` (e.g. 128 px warm-up, then 256): the discriminator's
    position embedding, and Adam's moments for it, are resized to the new patch grid in ``state``
    (``resize_positions``). Anything else that differs is left for ``load_exact`` to refuse."""
    from vidcolor.models.discriminator import resize_positions

    saved, wanted = state.discriminator.get("pos_embedding"), discriminator.pos_embedding
    if saved is None or saved.shape == wanted.shape or saved.shape[-1] != wanted.shape[-1]:
        return
    num_patches = wanted.shape[1] - 1
    state.discriminator["pos_embedding"] = resize_positions(saved, num_patches)
    index = [name for name, _ in discriminator.named_parameters()].index("pos_embedding")
    moments = state.opt_d.get("state", {}).get(index, {})
    for key in ("exp_avg", "exp_avg_sq"):
        if key in moments:
            moments[key] = resize_positions(moments[key], num_patches)
    log.info(
        "%s: discriminator position embedding resized from %d to %d patches (new --image-size)",
        where, saved.shape[1] - 1, num_patches,
    )  # fmt: skip
