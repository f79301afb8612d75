"""The inference path: BatchNorm folded, channels_last, same ab as the plain generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn


def _plain_and_fast():
    from vidcolor.checkpoint import default_checkpoint, load_generator
    from vidcolor.infer import Colouriser

    plain = load_generator(default_checkpoint(), device=torch.device("cpu"))[0].eval()
    return plain, Colouriser(default_checkpoint(), device="cpu")


def test_predict_ab_matches_the_plain_generator_at_448x256():
    plain, fast = _plain_and_fast()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.generator.modules())
    l_norm = (
        torch.rand(2, 1, 256, 448, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ).numpy()
    with torch.inference_mode():
        ref = plain(torch.from_numpy(l_norm)).numpy()
    ab = fast.predict_ab(l_norm)
    assert ab.dtype == np.float32 and ab.shape == (2, 2, 256, 448) and ab.flags.c_contiguous
    assert np.abs(ab - ref).max() < 1e-4
    assert np.abs(ref).max() > 0.05  # the model really colours: the comparison means something


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (GPU runs)")
def test_cuda_half_channels_last_matches_cpu():
    from vidcolor.checkpoint import default_checkpoint
    from vidcolor.infer import Colouriser

    l_norm = (torch.rand(4, 1, 256, 448) * 2 - 1).numpy()
    cpu = Colouriser(default_checkpoint(), device="cpu").predict_ab(l_norm)
    gpu = Colouriser(default_checkpoint(), device="cuda")
    assert next(gpu.generator.parameters()).dtype == torch.float16
    assert torch.backends.cudnn.benchmark
    assert np.abs(gpu.predict_ab(l_norm) - cpu).max() < 2e-2
