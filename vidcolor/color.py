"""CIE L*a*b* colour science in torch, and the paper's normalisation.

Conventions used everywhere in vidcolor:
- RGB tensors are sRGB in [0, 1], channel-first: shape (..., 3, H, W).
- Lab tensors are CIE L*a*b* (D65, 2 degree observer): L in [0, 100], a/b roughly [-128, 128].
- The model sees L and ab normalised to [-1, 1] (paper section 4.1): ``normalize_l``/``normalize_ab``
  and their inverses are the only place that scaling lives.

The maths follows ``skimage.color.rgb2lab``/``lab2rgb`` (same matrices and white point) so the two
agree to ~1e-4 Lab units; tests check that on real photos. Half-precision input is computed in
float32 (Lab needs the precision) and returned in the input dtype.

The constants, the curves (sRGB, CIE f, the L normalisation) and the Y'CbCr formats live in
:mod:`vidcolor.cie`, which needs no torch, so the video workers never load it. Video is merged in
Y'CbCr (``vidcolor.video.chroma``): the source's luma codes stay, Cb/Cr are computed from L* of
those codes and the predicted ab.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.cie import (
    AB_SCALE,
    LINEAR_FROM_UINT8,
    WHITE_D65,
    XYZ_FROM_RGB,
    cie_f,
    denormalize_l,
    linear_to_srgb,
    normalize_l,
    srgb_to_linear,
)

_XYZ_FROM_RGB = torch.tensor(XYZ_FROM_RGB, dtype=torch.float64)
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB)


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
    linear = _lab_to_linear_rgb(_channels_last(lab.to(_work_dtype(lab))))
    return _channels_first(linear_to_srgb(linear).clamp(0.0, 1.0)).to(lab.dtype)


def _lab_to_linear_rgb(lab_last: torch.Tensor) -> torch.Tensor:
    """Channel-last Lab -> unclipped linear sRGB (lab_to_rgb before gamma and clip). Negative z is
    clipped to 0 as skimage does."""
    dtype = lab_last.dtype
    L, a, b = lab_last.unbind(-1)
    fy = (L + 16.0) / 116.0
    f = torch.stack((a / 500.0 + fy, fy, (fy - b / 200.0).clamp_min(0.0)), dim=-1)
    xyz = torch.where(f > 0.2068966, f**3, (f - 16.0 / 116.0) / 7.787)
    xyz = xyz * torch.tensor(WHITE_D65, device=lab_last.device, dtype=dtype)
    return xyz @ _RGB_FROM_XYZ.to(device=lab_last.device, dtype=dtype).T


def _fit_flat(flat: torch.Tensor, steps: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, 3) Lab -> (Lab with out-of-gamut chroma scaled down, its linear sRGB), in place."""
    eps = 1e-4
    lin = _lab_to_linear_rgb(flat)
    out = ((lin < -eps) | (lin > 1 + eps)).any(-1)
    if out.any():
        sub = flat[out]
        lo = torch.zeros(sub.shape[0], 1, device=sub.device, dtype=sub.dtype)
        hi = torch.ones_like(lo)
        for _ in range(steps):
            mid = (lo + hi) / 2
            trial = _lab_to_linear_rgb(torch.cat((sub[:, :1], sub[:, 1:] * mid), dim=1))
            ok = ((trial >= -eps) & (trial <= 1 + eps)).all(-1, keepdim=True)
            lo = torch.where(ok, mid, lo)
            hi = torch.where(ok, hi, mid)
        fitted = torch.cat((sub[:, :1], sub[:, 1:] * lo), dim=1)
        flat[out] = fitted
        lin[out] = _lab_to_linear_rgb(fitted)
    return flat, lin


def fit_to_gamut(lab: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """Scale ab of out-of-gamut pixels towards grey just enough that sRGB needs no clipping.

    Clipping RGB changes lightness; the colouriser promises to keep the input's L, so colours the
    model over-saturates lose chroma instead (hue and L kept). Only out-of-gamut pixels are searched
    (bisection on the chroma scale), so typical frames cost little extra.
    """
    x = _channels_last(lab.to(_work_dtype(lab))).clone()
    _fit_flat(x.view(-1, 3), steps)
    return _channels_first(x).to(lab.dtype)


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


_LUT_SIZE = 1 << 16
_srgb_lut: torch.Tensor | None = None


def _linear_to_srgb_uint8(lin: torch.Tensor) -> torch.Tensor:
    """Gamma-encode linear RGB in [0, 1] straight to uint8 through a 65536-entry table: the pow of
    the sRGB curve is the costliest step of writing a 1080p frame, and the table is within 0.03 of
    a code value of the exact curve."""
    global _srgb_lut
    if _srgb_lut is None:
        x = torch.linspace(0.0, 1.0, _LUT_SIZE, dtype=torch.float64)
        _srgb_lut = (linear_to_srgb(x) * 255.0).round().to(torch.uint8)
    idx = (lin.clamp(0.0, 1.0) * (_LUT_SIZE - 1) + 0.5).to(torch.int64)
    return _srgb_lut.to(lin.device)[idx]


def lab_to_rgb_uint8(lab: torch.Tensor, keep_lightness: bool = True) -> torch.Tensor:
    """Lab (..., 3, H, W) -> uint8 RGB channel-last (..., H, W, 3), rounded, ready to encode.
    ``keep_lightness`` first pulls out-of-gamut colours into gamut (see :func:`fit_to_gamut`)."""
    x = _channels_last(lab.float())
    if keep_lightness:
        _, lin = _fit_flat(x.reshape(-1, 3).clone())
        lin = lin.view(x.shape)
    else:
        lin = _lab_to_linear_rgb(x)
    return _linear_to_srgb_uint8(lin)


def merge_l_ab(l_full, ab_small_norm, *, dtype: type = np.uint8) -> np.ndarray:
    """The colouriser's output: full-res L* (H, W) + normalised ab (2, h, w) at model resolution
    -> RGB (H, W, 3), uint8 (or uint16 for 10-bit video). ab is upsampled bicubically; colours out
    of gamut lose chroma rather than lightness (:func:`fit_to_gamut`), so L stays the input's."""
    L = torch.as_tensor(np.asarray(l_full, dtype=np.float32))
    ab = torch.as_tensor(np.asarray(ab_small_norm, dtype=np.float32))[None]
    if ab.shape[-2:] != L.shape:
        ab = F.interpolate(ab, size=tuple(L.shape), mode="bicubic", align_corners=False)
    lab = torch.cat((L[None], denormalize_ab(ab[0].clamp(-1.0, 1.0))), dim=0)
    if dtype == np.uint8:
        return lab_to_rgb_uint8(lab).numpy()
    rgb = _channels_last(lab_to_rgb(fit_to_gamut(lab)))
    return (rgb * 65535.0).round().to(torch.int32).numpy().astype(np.uint16)
