"""Inception-v3 with torchvision's ImageNet weights, loaded from local disk only.

vit-i-gan fuses Inception-v3's 1000-d pre-softmax vector into the generator (paper 4.4); FID uses its
2048-d pool features. Nothing here downloads: the weights come from
1. an explicit path (``--inception-weights``),
2. ``$VIDCOLOR_INCEPTION_WEIGHTS``,
3. torchvision's file in the torch hub cache (``$TORCH_HOME/hub/checkpoints/inception_v3_google-*.pth``).
When none exists, :class:`InceptionWeightsMissing` says where to put them. Random features are never
used silently.

``.pth`` files are read with ``torch.load(weights_only=True)`` (tensors only, no arbitrary pickle);
``.safetensors`` files are read with safetensors.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vidcolor.errors import InceptionWeightsMissing

ENV_VAR = "VIDCOLOR_INCEPTION_WEIGHTS"
TORCHVISION_FILE_GLOB = "inception_v3_google-*.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_inception_v3() -> nn.Module:
    """The torchvision architecture with no weights (and no download).

    ``transform_input=True`` as torchvision sets it for its ImageNet weights: those weights expect
    [-1, 1] input, and the transform maps ImageNet-normalised input (what we feed) onto it."""
    from torchvision.models import inception_v3

    return inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=True)


def find_inception_weights(path: str | os.PathLike | None = None) -> Path:
    """Where the ImageNet weights are, or :class:`InceptionWeightsMissing`."""
    candidates: list[Path] = []
    if path:
        candidates.append(Path(path))
    elif os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    else:
        hub = Path(torch.hub.get_dir()) / "checkpoints"
        candidates.extend(sorted(hub.glob(TORCHVISION_FILE_GLOB)))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = (
        str(candidates[0])
        if candidates
        else f"{Path(torch.hub.get_dir()) / 'checkpoints' / 'inception_v3_google-0cc3c7bd.pth'}"
    )
    raise InceptionWeightsMissing(
        f"{where}: ImageNet Inception-v3 weights not found; vit-i-gan and FID need them. "
        f"Put torchvision's inception_v3_google-*.pth there, or pass --inception-weights / set "
        f"{ENV_VAR} (vidcolor never downloads weights)"
    )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # any parse failure is the same user-facing problem
        raise InceptionWeightsMissing(
            f"{path}: not a readable Inception-v3 weights file ({err})"
        ) from err
    if not isinstance(state, dict):
        raise InceptionWeightsMissing(f"{path}: not a state dict of Inception-v3 weights")
    return state


def load_inception_v3(path: str | os.PathLike | None = None) -> nn.Module:
    """Inception-v3 with ImageNet weights, frozen, in eval mode."""
    weights = find_inception_weights(path)
    state = {k: v for k, v in _read_state_dict(weights).items() if not k.startswith("AuxLogits.")}
    model = build_inception_v3()
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # tensor shape mismatches
        raise InceptionWeightsMissing(
            f"{weights}: does not match torchvision's Inception-v3 (wrong tensor shapes)"
        ) from err
    if missing or unexpected:
        raise InceptionWeightsMissing(
            f"{weights}: does not match torchvision's Inception-v3 "
            f"(missing {len(missing)} keys, unexpected {len(unexpected)})"
        )
    model.eval().requires_grad_(False)
    return model


def inception_input(l_norm: torch.Tensor) -> torch.Tensor:
    """Generator L in [-1, 1], (N, 1, H, W) -> Inception input: L in [0, 1] triplicated, 299x299,
    ImageNet-normalised (paper 4.4)."""
    x = (l_norm.float() + 1.0) / 2.0
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    x = x.expand(-1, 3, -1, -1)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    # Back to the caller's dtype: a half-precision model (CUDA inference) has half weights.
    return ((x - mean) / std).to(l_norm.dtype)


class InceptionEmbedding(nn.Module):
    """Frozen Inception-v3: L in [-1, 1] -> the 1000-d pre-softmax vector. Always in eval mode."""

    def __init__(self, inception: nn.Module):
        super().__init__()
        self.inception = inception.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> InceptionEmbedding:
        # Frozen feature extractor: BatchNorm statistics must never update, whatever the parent does.
        return super().train(False)

    @torch.no_grad()
    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self.inception(inception_input(l_norm))
