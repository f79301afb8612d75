"""CIE L*a*b* colour science in torch, and the paper's normalisation.

Conventions used everywhere in vidcolor:
- RGB tensors are sRGB in [0, 1], channel-first: shape (..., 3, H, W).
- Lab tensors are CIE L*a*b* (D65, 2 degree observer): L in [0, 100], a/b roughly [-128, 128].
- The model sees L and ab normalised to [-1, 1] (paper section 4.1): ``normalize_l``/``normalize_ab``
  and their inverses are the only place that scaling lives.

The maths follows ``skimage.color.rgb2lab``/``lab2rgb`` (same matrices and white point) so the two
agree to ~1e-4 Lab units; tests check that on real photos. Half-precision input is computed in
float32 (Lab needs the precision) and returned in the input dtype.

The constants, the curves (sRGB, CIE f, Lab -> linear RGB, the L normalisation), the gamut fit
and the Y'CbCr formats live in :mod:`vidcolor.cie`, which needs no torch: the pipeline's CPU
workers use it directly, the still-image merge (:mod:`vidcolor.image`) and the video merge
(``vidcolor.video.chroma``) are built on it, and this module builds the tensor conversions that
training and the metrics need on the same maths.
"""

from __future__ import annotations

import torch

from vidcolor.cie import (
    AB_SCALE,
    LINEAR_FROM_UINT8,
    WHITE_D65,
    XYZ_FROM_RGB,
    cie_f,
    denormalize_l,
    lab_to_linear_rgb,
    linear_to_srgb,
    normalize_l,
    srgb_to_linear,
)

_XYZ_FROM_RGB = torch.tensor(XYZ_FROM_RGB, dtype=torch.float64)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(-3, -1)


def _channels_first(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(-1, -3)


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _linear_to_lab(linear: torch.Tensor) -> torch.Tensor:
    """Channel-last linear sRGB -> channel-last Lab."""
    dtype = linear.dtype
    xyz = linear @ _XYZ_FROM_RGB.to(device=linear.device, dtype=dtype).T
    xyz = xyz / torch.tensor(WHITE_D65, device=linear.device, dtype=dtype)
    fx, fy, fz = cie_f(xyz).unbind(-1)
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-1)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], shape (..., 3, H, W) -> CIE Lab, same shape and dtype."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"rgb_to_lab expects 3 channels at dim -3, got shape {tuple(rgb.shape)}")
    linear = srgb_to_linear(_channels_last(rgb.to(_work_dtype(rgb))))
    return _channels_first(_linear_to_lab(linear)).to(rgb.dtype)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab, shape (..., 3, H, W) -> sRGB clipped to [0, 1], same shape and dtype."""
    if lab.shape[-3] != 3:
        raise ValueError(f"lab_to_rgb expects 3 channels at dim -3, got shape {tuple(lab.shape)}")
    linear = lab_to_linear_rgb(_channels_last(lab.to(_work_dtype(lab))))
    return _channels_first(linear_to_srgb(linear).clamp(0.0, 1.0)).to(lab.dtype)


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """a*, b* in about [-128, 128] -> [-1, 1] (clamped: the generator ends in tanh)."""
    return (ab / AB_SCALE).clamp(-1.0, 1.0)


def denormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> a*, b*."""
    return ab_norm * AB_SCALE


def rgb_to_model_input(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sRGB (..., 3, H, W) -> (L normalised (..., 1, H, W), ab normalised (..., 2, H, W))."""
    lab = rgb_to_lab(rgb)
    return normalize_l(lab[..., :1, :, :]), normalize_ab(lab[..., 1:, :, :])


def model_output_to_rgb(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """Normalised L (..., 1, H, W) and ab (..., 2, H, W) -> sRGB in [0, 1]."""
    lab = torch.cat((denormalize_l(l_norm), denormalize_ab(ab_norm)), dim=-3)
    return lab_to_rgb(lab)


_LINEAR_FROM_UINT8 = torch.from_numpy(LINEAR_FROM_UINT8)


def rgb_uint8_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 RGB frames, channel-last (..., H, W, 3) as decoders give them -> Lab (..., 3, H, W)."""
    linear = _LINEAR_FROM_UINT8.to(rgb.device)[rgb.to(torch.int64)]
    return _channels_first(_linear_to_lab(linear))
