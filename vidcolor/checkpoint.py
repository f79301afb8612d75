"""Checkpoints: safetensors weights with the JSON model config in the file's metadata.

One file holds everything needed to rebuild the generator (``ModelConfig`` as JSON under the
``vidcolor`` metadata key), so a checkpoint can be copied to S3 or handed to ``--checkpoint`` alone.
Loading never unpickles: safetensors parses a JSON header and raw tensors, and anything else (a
pickle renamed ``.safetensors``, a truncated file) is refused with a one-line :class:`CheckpointError`.
Works with local paths and ``s3://`` URIs through :mod:`vidcolor.storage`.
"""

from __future__ import annotations

import json
import struct
from importlib import resources
from typing import TYPE_CHECKING

from vidcolor import storage
from vidcolor.errors import CheckpointError
from vidcolor.models import ModelConfig

if TYPE_CHECKING:
    import torch

    from vidcolor.models import Generator

METADATA_KEY = "vidcolor"
DEMO_CHECKPOINT = "demo-vit-gan.safetensors"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit


def default_checkpoint() -> str:
    """The shipped demo checkpoint (vidcolor/assets/)."""
    return str(resources.files("vidcolor.assets") / DEMO_CHECKPOINT)


def save_tensors(uri: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write tensors + string metadata as one safetensors file, atomically."""
    from safetensors.torch import save as st_save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    storage.write_bytes_atomic(uri, st_save(tensors, metadata=metadata))


def _header(uri: str, data: bytes) -> dict:
    """The JSON header of safetensors ``data``; CheckpointError if there is none."""
    try:
        if len(data) < 8:
            raise ValueError("file too short")
        (header_len,) = struct.unpack("<Q", data[:8])
        if header_len > min(MAX_HEADER_BYTES, len(data) - 8):
            raise ValueError("no safetensors header (is it a pickle or another format?)")
        return json.loads(data[8 : 8 + header_len])
    except Exception as err:
        raise CheckpointError(f"{uri}: not a safetensors checkpoint ({err})") from err


def _read(uri: str, parse):
    """(``parse`` of the file's bytes, its metadata); CheckpointError if it is not safetensors."""
    data = storage.read_bytes(uri)
    header = _header(uri, data)
    try:
        parsed = parse(data)
    except Exception as err:
        raise CheckpointError(f"{uri}: not a safetensors checkpoint ({err})") from err
    return parsed, dict(header.get("__metadata__") or {})


def load_tensors(uri: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file -> (tensors on CPU, metadata). CheckpointError if it is not one."""
    from safetensors.torch import load as st_load

    return _read(uri, st_load)


def read_metadata(uri: str) -> dict[str, str]:
    """A safetensors file's metadata, the whole file checked as :func:`load_tensors` checks it
    (every tensor's bytes in place), without torch: what the driver reads before workers load
    the weights."""
    from safetensors import deserialize

    return _read(uri, deserialize)[1]


def save_generator(uri: str, generator: Generator, config: ModelConfig, **extra: str) -> None:
    """Save the generator's trainable weights (never the frozen Inception) and its config."""
    metadata = {METADATA_KEY: json.dumps(config.to_dict()), **extra}
    save_tensors(uri, generator.trainable_state_dict(), metadata)


def read_config(metadata: dict[str, str], uri: str) -> ModelConfig:
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{uri}: safetensors file has no vidcolor model config")
    try:
        return ModelConfig.from_dict(json.loads(metadata[METADATA_KEY]))
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{uri}: bad vidcolor model config ({err})") from err


def load_generator(
    uri: str | None = None,
    *,
    device: str | torch.device = "cpu",
    inception_weights: str | None = None,
) -> tuple[Generator, ModelConfig]:
    """Rebuild a generator from a checkpoint (default: the shipped demo), in eval mode on ``device``."""
    from vidcolor.models import build_generator

    uri = uri or default_checkpoint()
    tensors, metadata = load_tensors(uri)
    config = read_config(metadata, uri)
    generator = build_generator(config, inception_weights=inception_weights)
    load_exact(
        generator,
        tensors,
        generator.trainable_state_dict(),
        f"{uri}: weights do not match a {config.variant} width {config.width} generator",
    )
    return generator.to(device).eval(), config


def load_exact(
    module: torch.nn.Module,
    tensors: dict[str, torch.Tensor],
    expected: dict[str, torch.Tensor],
    what: str,
) -> None:
    """Load ``tensors`` into ``module`` when their names and shapes are exactly ``expected``'s
    (the module's state dict, or a part of it such as the generator without its frozen Inception);
    else raise one CheckpointError line starting with ``what``. Nothing is loaded on a mismatch."""
    missing = sorted(set(expected) - tensors.keys())
    unexpected = sorted(tensors.keys() - set(expected))
    mismatched = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{what} (missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"wrong shape {mismatched[:3]})"
        )
    # strict=False only because ``expected`` may leave out frozen parts; every key was checked.
    module.load_state_dict(tensors, strict=False)
