"""CIE L*a*b* colour science in torch, and the paper's normalisation.

Conventions used everywhere in vidcolor:
- RGB tensors are sRGB in [0, 1], channel-first: shape (..., 3, H, W).
- Lab tensors are CIE L*a*b* (D65, 2 degree observer): L in [0, 100], a/b roughly [-128, 128].
- The model sees L and ab normalised to [-1, 1] (paper section 4.1): ``normalize_l``/``normalize_ab``
  and their inverses are the only place that scaling lives.

The maths follows ``skimage.color.rgb2lab``/``lab2rgb`` (same matrices and white point) so the two
agree to ~1e-4 Lab units; tests check that on real photos. Half-precision input is computed in
float32 (Lab needs the precision) and returned in the input dtype.

Video is merged in Y'CbCr (``YCbCrFormat`` here, the per-frame maths in ``vidcolor.video.chroma``):
the source's luma codes stay, Cb/Cr are computed from L* of those codes and the predicted ab.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# sRGB (linear) -> XYZ, the matrix skimage uses.
_XYZ_FROM_RGB = torch.tensor(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=torch.float64,
)
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB)
# D65 reference white, 2 degree observer.
_WHITE_D65 = (0.95047, 1.0, 1.08883)

L_MAX = 100.0
AB_SCALE = 128.0  # a*, b* span about [-128, 128] (paper 4.1)


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
    xyz = xyz / torch.tensor(_WHITE_D65, device=linear.device, dtype=dtype)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f.unbind(-1)
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-1)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)


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


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0.0031308, 1.055 * x.clamp_min(1e-12) ** (1.0 / 2.4) - 0.055, 12.92 * x)


def _lab_to_linear_rgb(lab_last: torch.Tensor) -> torch.Tensor:
    """Channel-last Lab -> unclipped linear sRGB (lab_to_rgb before gamma and clip). Negative z is
    clipped to 0 as skimage does."""
    dtype = lab_last.dtype
    L, a, b = lab_last.unbind(-1)
    fy = (L + 16.0) / 116.0
    f = torch.stack((a / 500.0 + fy, fy, (fy - b / 200.0).clamp_min(0.0)), dim=-1)
    xyz = torch.where(f > 0.2068966, f**3, (f - 16.0 / 116.0) / 7.787)
    xyz = xyz * torch.tensor(_WHITE_D65, device=lab_last.device, dtype=dtype)
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


def normalize_l(L: torch.Tensor) -> torch.Tensor:
    """L* in [0, 100] -> [-1, 1]."""
    return L / (L_MAX / 2.0) - 1.0


def denormalize_l(l_norm: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> L* in [0, 100]."""
    return (l_norm + 1.0) * (L_MAX / 2.0)


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


# uint8 sRGB -> linear: 256 exact values, so decoding frames skips the pow of the sRGB curve.
_LINEAR_FROM_UINT8 = srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255.0).float()


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


# ---- Y'CbCr: the video merge keeps the source's Y' codes and computes only Cb/Cr --------------

# Kr, Kb of each AVColorSpace matrix (ITU-T H.273 MatrixCoefficients) the merge can write.
MATRIX_COEFFS = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG (BT.601 625 lines)
    6: (0.299, 0.114),  # SMPTE 170M (BT.601 525 lines)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
}


@dataclass(frozen=True)
class YCbCrFormat:
    """How Y'CbCr code values relate to R'G'B' in [0, 1]: matrix (Kr, Kb), bit depth, range.

    Limited range: Y' = 16..235, Cb/Cr = 16..240 (times 2^(bits-8)); full range: 0..2^bits-1,
    chroma centred on 2^(bits-1) (JPEG). R'G'B' is read with the sRGB curve, as elsewhere here.
    """

    kr: float
    kb: float
    bits: int = 8
    full_range: bool = False

    @property
    def max_code(self) -> int:
        return (1 << self.bits) - 1

    def luma_unit(self, code: torch.Tensor) -> torch.Tensor:
        """Y' code values (any real number, e.g. a block mean) -> Y' in [0, 1], clipped."""
        if self.full_range:
            unit = code / self.max_code
        else:
            scale = 1 << (self.bits - 8)
            unit = (code - 16 * scale) / (219 * scale)
        return unit.clamp(0.0, 1.0)

    def chroma_code(self, c: torch.Tensor) -> torch.Tensor:
        """Pb/Pr in [-0.5, 0.5] -> rounded code values (float), clipped to the legal range."""
        mid = 1 << (self.bits - 1)
        if self.full_range:
            return c.mul(self.max_code).add_(mid).round_().clamp_(0, self.max_code)
        scale = 1 << (self.bits - 8)
        return c.mul(224 * scale).add_(mid).round_().clamp_(16 * scale, 240 * scale)


def lstar_from_luma(y_unit: torch.Tensor) -> torch.Tensor:
    """L* of the grey whose R' = G' = B' = Y' (sRGB curve): the lightness a B&W frame shows."""
    return 116.0 * luma_f(y_unit) - 16.0


def luma_f(y_unit: torch.Tensor) -> torch.Tensor:
    """CIE f(Y) of the grey with luma Y' in [0, 1] (f = (L* + 16) / 116)."""
    lin = srgb_to_linear(y_unit.double())
    return torch.where(lin > 0.008856, lin.clamp_min(1e-12) ** (1.0 / 3.0), 7.787 * lin + 16 / 116)


CIE_DELTA = 6.0 / 29.0  # CIE: f is a cube above delta, its tangent line below


def f_inverse(f: torch.Tensor) -> torch.Tensor:
    """CIE f^-1 without a branch: max(f, d)^3 + 3 d^2 min(f - d, 0) (d = 6/29), the cube above d
    and its tangent below, which is the standard's linear part (skimage's 7.787 to 5e-6)."""
    cube = f.clamp_min(CIE_DELTA)
    cube = cube * cube * cube
    return cube.add_((f - CIE_DELTA).clamp_max_(0.0), alpha=3 * CIE_DELTA * CIE_DELTA)


# Linear sRGB from (X/Xn, Y, Z/Zn): the white point folded into skimage's matrix.
RGB_FROM_XYZN = (_RGB_FROM_XYZ * torch.tensor(_WHITE_D65, dtype=torch.float64)).tolist()
