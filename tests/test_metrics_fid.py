"""FID: the Frechet distance against known answers and scipy, and the Inception loading path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from vidcolor.errors import InceptionWeightsMissing, VidcolorError
from vidcolor.metrics import FID, fid_from_features, fid_score, frechet_distance
from vidcolor.models.inception import build_inception_v3


def symmetric_frechet(mu1, s1, mu2, s2) -> float:
    """Independent form: tr sqrtm(S1 S2) = tr sqrtm(S1^1/2 S2 S1^1/2), a symmetric PSD matrix."""
    r1 = scipy.linalg.sqrtm(s1).real
    middle = scipy.linalg.sqrtm(r1 @ s2 @ r1).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(middle))


def random_cov(rng, d, rank=None):
    x = rng.normal(size=(d, rank or d))
    return x @ x.T / d + (0 if rank else 0.1 * np.eye(d))


def test_frechet_known_answers():
    # 1-d: N(0, 1) vs N(3, 4): 9 + 1 + 4 - 2 * sqrt(1 * 4) = 10.
    assert frechet_distance(
        np.array([0.0]), np.array([[1.0]]), np.array([3.0]), np.array([[4.0]])
    ) == (pytest.approx(10.0))
    # Diagonal covariances: sum of per-axis (sqrt(a) - sqrt(b))^2 plus the mean term.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 16.0])
    mu = np.array([1.0, 2.0, 3.0])
    expected = 1.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu, np.diag(a), mu + [1, 0, 0], np.diag(b)) == pytest.approx(expected)
    # Non-commuting full covariances: matches the symmetric formula.
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = random_cov(rng, 8), random_cov(rng, 8)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(symmetric_frechet(mu1, s1, mu2, s2))
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_fid_from_samples_approaches_the_gaussians_distance():
    rng = np.random.default_rng(1)
    mu1, mu2 = np.zeros(4), np.array([1.0, -1.0, 0.5, 0.0])
    s1, s2 = random_cov(rng, 4), random_cov(rng, 4)
    x1 = rng.multivariate_normal(mu1, s1, size=40000)
    x2 = rng.multivariate_normal(mu2, s2, size=40000)
    truth = symmetric_frechet(mu1, s1, mu2, s2)
    assert fid_from_features(x1, x2) == pytest.approx(truth, rel=0.03)


def test_low_rank_path_equals_full_covariances():
    # Fewer samples than dimensions (as for any clip under 2048 frames): the n x n shortcut.
    rng = np.random.default_rng(2)
    f1 = rng.normal(size=(20, 64)) @ rng.normal(size=(64, 64))
    f2 = rng.normal(size=(30, 64)) @ rng.normal(size=(64, 64)) + 0.5
    full = symmetric_frechet(
        f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
    )
    assert fid_from_features(f1, f2) == pytest.approx(full, rel=1e-6)
    assert fid_from_features(f2, f1) == pytest.approx(full, rel=1e-6)
    with pytest.raises(VidcolorError, match="at least 2"):
        fid_from_features(f1[:1], f2)


@pytest.fixture(scope="module")
def random_inception_file(tmp_path_factory):
    """A real Inception-v3 state dict file (random init: no ImageNet weights exist offline)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("inception") / "inception_v3_random.pth"
    torch.save(build_inception_v3().state_dict(), path)
    return path


def test_fid_runs_with_weights_from_a_file(random_inception_file, real_photos):
    astronaut = [real_photos["astronaut"][i * 60 : i * 60 + 128, :128] for i in range(2)]
    coffee = [real_photos["coffee"][i * 60 : i * 60 + 128, 200:328] for i in range(2)]
    acc = FID(weights=random_inception_file, batch_size=2)
    for ref, cand in zip(astronaut, coffee, strict=True):
        acc.update(cand, ref)
    different = acc.compute()
    ref_features = np.concatenate(acc.features["ref"])
    assert ref_features.shape == (2, 2048) and ref_features.dtype == np.float64
    assert np.isfinite(different) and different > 0
    assert abs(fid_from_features(ref_features, ref_features)) < 1e-6 * different
    # The one-shot function goes through the same extractor and agrees with the accumulator.
    assert fid_score(astronaut, coffee, acc.extract.model, batch_size=2) == pytest.approx(different)


def test_fid_without_weights_says_so(tmp_path, real_photos):
    missing = tmp_path / "nowhere" / "inception.pth"
    with pytest.raises(InceptionWeightsMissing, match="nowhere/inception.pth"):
        FID(weights=missing)
