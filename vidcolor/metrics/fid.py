"""FID: Frechet distance between Gaussians fitted to Inception-v3 2048-d pool features.

Weights come from :func:`vidcolor.models.inception.load_inception_v3` (local file only; it raises
:class:`~vidcolor.errors.InceptionWeightsMissing` with where to put them). Images are resized to
299x299 bilinearly and scaled the way torchvision's ImageNet Inception-v3 expects. Statistics and
the distance are computed in float64.

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrtm(S1 S2)

With fewer images than feature dimensions (the usual case for a clip: n < 2048) the covariances
have rank < n, and tr sqrtm(S1 S2) equals tr sqrtm(C C^T) for the n1 x n2 matrix C = A B^T of
centred features (same non-zero eigenvalues), so sqrtm runs on an n x n matrix instead of
2048 x 2048 (seconds -> milliseconds). Both paths give the same number; a test checks it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidcolor.errors import VidcolorError
from vidcolor.models.inception import IMAGENET_MEAN, IMAGENET_STD

FEATURE_DIM = 2048


def _trace_sqrtm(m: np.ndarray) -> float:
    from scipy.linalg import sqrtm

    root = sqrtm(m)
    if not np.isfinite(root).all():
        raise FloatingPointError("sqrtm produced non-finite values")
    # Rounding makes tiny imaginary parts; the trace of a PSD product's root is real.
    return float(np.real(np.trace(root)))


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    s1, s2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, sigma {s1.shape}/{s2.shape}")
    try:
        tr_covmean = _trace_sqrtm(s1 @ s2)
    except FloatingPointError:
        # Singular product: regularise both covariances slightly (as pytorch-fid does).
        offset = np.eye(s1.shape[0]) * eps
        tr_covmean = _trace_sqrtm((s1 + offset) @ (s2 + offset))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two feature sets (n1, d) and (n2, d); each needs at least 2 rows."""
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature shapes differ: {f1.shape} vs {f2.shape}")
    if len(f1) < 2 or len(f2) < 2:
        raise VidcolorError(
            f"FID needs at least 2 images on each side, got {len(f1)} and {len(f2)}"
        )
    n1, n2, dim = len(f1), len(f2), f1.shape[1]
    if min(n1, n2) >= dim:
        return frechet_distance(
            f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
        )
    a = (f1 - f1.mean(0)) / np.sqrt(n1 - 1)  # S1 = a^T a
    b = (f2 - f2.mean(0)) / np.sqrt(n2 - 1)  # S2 = b^T b
    c = a @ b.T  # eig(S1 S2) \ {0} = eig(c c^T) \ {0}
    small = c @ c.T if n1 <= n2 else c.T @ c
    diff = f1.mean(0) - f2.mean(0)
    tr_covmean = _trace_sqrtm(small)
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2.0 * tr_covmean)


class InceptionFeatures:
    """Frozen Inception-v3 -> 2048-d pool features (float64) of uint8 RGB (H, W, 3) images."""

    def __init__(
        self, model: nn.Module, *, batch_size: int = 16, device: str | torch.device = "cpu"
    ):
        self.model = model.eval().requires_grad_(False).to(device)
        self.batch_size = batch_size
        self.device = torch.device(device)

    def _prepare(self, rgb: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1)[None]
        x = F.interpolate(x.float() / 255.0, size=(299, 299), mode="bilinear", align_corners=False)
        if getattr(self.model, "transform_input", False):
            mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
            return (x - mean) / std
        # Without transform_input the ImageNet weights expect [-1, 1], which is exactly what
        # torchvision's transform_input would have made of ImageNet-normalised input.
        return x * 2.0 - 1.0

    @torch.no_grad()
    def __call__(self, images: Iterable[np.ndarray]) -> np.ndarray:
        out, batch = [], []
        for image in images:
            batch.append(self._prepare(image))
            if len(batch) == self.batch_size:
                out.append(self._run(batch))
                batch = []
        if batch:
            out.append(self._run(batch))
        return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))

    def _run(self, batch: list[torch.Tensor]) -> np.ndarray:
        pooled = []
        # The pool output is what the fc layer reads; a hook only for this call leaves the
        # caller's model as it was.
        handle = self.model.avgpool.register_forward_hook(
            lambda module, inputs, output: pooled.append(output.flatten(1))
        )
        try:
            self.model(torch.cat(batch))
        finally:
            handle.remove()
        return pooled[0].double().cpu().numpy()


class FID:
    """Streaming FID: ``update(candidate, reference)`` per frame, ``compute()`` at the end."""

    def __init__(
        self,
        model: nn.Module | None = None,
        *,
        weights: str | os.PathLike | None = None,
        batch_size: int = 16,
    ):
        if model is None:
            from vidcolor.models.inception import load_inception_v3

            model = load_inception_v3(weights)  # InceptionWeightsMissing says what to do
        self.extract = InceptionFeatures(model, batch_size=batch_size)
        self.pending: dict[str, list[np.ndarray]] = {"ref": [], "cand": []}
        self.features: dict[str, list[np.ndarray]] = {"ref": [], "cand": []}

    def update(self, candidate: np.ndarray, reference: np.ndarray) -> None:
        for side, image in (("cand", candidate), ("ref", reference)):
            self.pending[side].append(image)
            if len(self.pending[side]) == self.extract.batch_size:
                self._flush(side)

    def _flush(self, side: str) -> None:
        if self.pending[side]:
            self.features[side].append(self.extract(self.pending[side]))
            self.pending[side] = []

    def compute(self) -> float:
        for side in self.pending:
            self._flush(side)
        ref = np.concatenate(self.features["ref"]) if self.features["ref"] else np.zeros((0, 1))
        cand = np.concatenate(self.features["cand"]) if self.features["cand"] else np.zeros((0, 1))
        return fid_from_features(ref, cand)


def fid_score(
    reference: Iterable[np.ndarray],
    candidate: Iterable[np.ndarray],
    model: nn.Module | None = None,
    *,
    weights: str | os.PathLike | None = None,
    batch_size: int = 16,
) -> float:
    """FID between two sets of uint8 RGB images (sizes may differ; all go to 299x299)."""
    if model is None:
        from vidcolor.models.inception import load_inception_v3

        model = load_inception_v3(weights)
    extract = InceptionFeatures(model, batch_size=batch_size)
    return fid_from_features(extract(reference), extract(candidate))
