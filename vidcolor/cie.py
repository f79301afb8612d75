"""CIE colour maths that needs no torch: the constants, the sRGB and CIE curves, Lab -> linear
sRGB and the gamut fit, L* of frames and of luma codes, and the Y'CbCr formats the video merge
writes.

Only the model actors import torch, which costs every process that loads it ~280 MiB of its own
memory and seconds of start-up: the driver and the decode, finish and photo tasks use this module
instead. :mod:`vidcolor.color` builds its torch Lab conversions on the same constants and curves.

The curves and :func:`lab_to_linear_rgb` take numpy arrays or torch tensors (only operators both
have, with :func:`_where` and :func:`_stack_last` choosing the module), and compute in the
input's dtype: pass float64 where a table is built once.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import numpy as np

# sRGB (linear) -> XYZ, the matrix skimage uses; D65 reference white, 2 degree observer.
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
WHITE_D65 = (0.95047, 1.0, 1.08883)
# Linear sRGB from (X/Xn, Y, Z/Zn): the white point folded into the inverse matrix.
RGB_FROM_XYZN = (np.linalg.inv(XYZ_FROM_RGB) * np.array(WHITE_D65)).tolist()

L_MAX = 100.0
AB_SCALE = 128.0  # a*, b* span about [-128, 128] (paper 4.1)
CIE_DELTA = 6.0 / 29.0  # CIE: f is a cube above delta, its tangent line below


def _torch_for(x):
    """The torch module when ``x`` is a tensor, else None (torch is only looked up, never
    imported: a tensor's caller has already loaded it)."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(x, torch.Tensor) else None


def _where(cond, a, b):
    torch = _torch_for(cond)
    return torch.where(cond, a, b) if torch else np.where(cond, a, b)


def _stack_last(parts: list):
    torch = _torch_for(parts[0])
    return torch.stack(parts, dim=-1) if torch else np.stack(parts, axis=-1)


def srgb_to_linear(x):
    return _where(x > 0.04045, ((x.clip(min=0.04045) + 0.055) / 1.055) ** 2.4, x / 12.92)


def linear_to_srgb(x):
    return _where(x > 0.0031308, 1.055 * x.clip(min=1e-12) ** (1.0 / 2.4) - 0.055, 12.92 * x)


def cie_f(t):
    """CIE f of a tristimulus ratio (X/Xn, Y/Yn or Z/Zn), as skimage computes it."""
    return _where(t > 0.008856, t.clip(min=1e-12) ** (1.0 / 3.0), 7.787 * t + 16.0 / 116.0)


def lab_to_linear_rgb(lab):
    """Channel-last Lab (..., 3) -> unclipped linear sRGB (..., 3), as skimage's lab2rgb before
    its gamma and clip (negative Z clipped to 0, as skimage does)."""
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    fy = (L + 16.0) / 116.0
    xyz_n = [
        _where(f > 0.2068966, f**3, (f - 16.0 / 116.0) / 7.787)
        for f in (fy + a / 500.0, fy, (fy - b / 200.0).clip(min=0.0))
    ]  # X/Xn, Y/Yn, Z/Zn
    return _stack_last([m[0] * xyz_n[0] + m[1] * xyz_n[1] + m[2] * xyz_n[2] for m in RGB_FROM_XYZN])


def normalize_l(L):
    """L* in [0, 100] -> [-1, 1] (the model's input, paper 4.1)."""
    return L / (L_MAX / 2.0) - 1.0


def denormalize_l(l_norm):
    """[-1, 1] -> L* in [0, 100]."""
    return (l_norm + 1.0) * (L_MAX / 2.0)


# sRGB code -> linear, every code of 8 and 16 bits: decoding frames skips the pow of the curve.
LINEAR_FROM_UINT8 = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
_LINEAR_FROM_CODES: dict[int, np.ndarray] = {8: LINEAR_FROM_UINT8}


def linear_table(bits: int) -> np.ndarray:
    """Linear light of every ``bits``-bit sRGB code (float32, 2^bits entries)."""
    if bits not in _LINEAR_FROM_CODES:
        top = (1 << bits) - 1
        _LINEAR_FROM_CODES[bits] = srgb_to_linear(np.arange(top + 1) / top).astype(np.float32)
    return _LINEAR_FROM_CODES[bits]


def lstar_of_rgb(rgb: np.ndarray, bits: int | None = None) -> np.ndarray:
    """L* (float32, (..., H, W)) of RGB frames, channel-last (..., H, W, 3), uint8 or uint16;
    ``bits``: of the codes a uint16 array holds (a 10-bit scan: 0..1023), 16 by default."""
    if rgb.dtype == np.uint8:
        table = LINEAR_FROM_UINT8
    elif rgb.dtype == np.uint16:
        table = linear_table(bits or 16)  # a code above the depth: IndexError, never wrapped
    else:
        raise ValueError(f"lstar_of_rgb takes uint8 or uint16 RGB, got {rgb.dtype}")
    y = table[rgb] @ XYZ_FROM_RGB[1].astype(np.float32)  # Y / Yn, Yn = 1
    return (116.0 * cie_f(y) - 16.0).astype(np.float32, copy=False)


@functools.cache
def lstar_of_grey_luma(full_range: bool) -> np.ndarray:
    """L* (float32, 256 entries) of every 8-bit luma code of a grey Y'CbCr pixel (Cb = Cr = 128,
    so R' = G' = B'): the exact value, with no 8-bit RGB step in between."""
    codes = np.arange(256, dtype=np.float64)
    rgb = codes / 255.0 if full_range else ((codes - 16.0) / 219.0).clip(0.0, 1.0)
    y = srgb_to_linear(rgb) * XYZ_FROM_RGB[1].sum()  # Y / Yn of R = G = B
    return (116.0 * cie_f(y) - 16.0).astype(np.float32)


def lab_of_rgb(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (float32, channel-last (..., 3)) of uint8 sRGB (..., 3): :mod:`vidcolor.color`'s
    ``rgb_uint8_to_lab`` without torch, for the workers that read reference images."""
    lin = LINEAR_FROM_UINT8[rgb]
    xyz = lin @ (XYZ_FROM_RGB / np.array(WHITE_D65)[:, None]).T.astype(np.float32)
    f = cie_f(xyz)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    lab = np.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), axis=-1)
    return lab.astype(np.float32, copy=False)


def fit_to_gamut(
    lab: np.ndarray, steps: int = 8, eps: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Channel-last Lab (..., 3) float32 -> (the same with out-of-gamut pixels' ab scaled towards
    grey just enough that sRGB needs no clipping, its linear sRGB).

    Clipping RGB changes lightness; the colouriser promises to keep the input's L, so colours the
    model over-saturates lose chroma instead (hue and L kept). Only out-of-gamut pixels are
    searched (bisection on the chroma scale), so typical frames cost little extra. ``eps``: how
    far outside [0, 1] linear RGB may stay (then clipped): 1e-4 is a third of an 8-bit code in
    the darks, but 85 codes at 16 bits, where the merge asks for 1e-7."""
    flat = lab.reshape(-1, 3).copy()
    lin = lab_to_linear_rgb(flat)
    out = ((lin < -eps) | (lin > 1 + eps)).any(-1)
    if out.any():
        sub = flat[out]
        lo = np.zeros((len(sub), 1), sub.dtype)
        hi = np.ones_like(lo)
        for _ in range(steps):
            mid = (lo + hi) / 2
            trial = lab_to_linear_rgb(np.concatenate((sub[:, :1], sub[:, 1:] * mid), axis=1))
            ok = ((trial >= -eps) & (trial <= 1 + eps)).all(-1, keepdims=True)
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        flat[out] = np.concatenate((sub[:, :1], sub[:, 1:] * lo), axis=1)
        lin[out] = lab_to_linear_rgb(flat[out])
    return flat.reshape(lab.shape), lin.reshape(lab.shape)


_SRGB_STEPS = 1 << 16
_SRGB_UINT8 = None  # _SRGB_STEPS linear steps -> sRGB code


def linear_to_srgb_uint8(lin: np.ndarray) -> np.ndarray:
    """Gamma-encode linear RGB in [0, 1] straight to uint8 through a 65,536-entry table: the pow
    of the sRGB curve is the costliest step of writing a large photo, and the table is within 0.03
    of a code value of the exact curve."""
    global _SRGB_UINT8
    if _SRGB_UINT8 is None:
        x = np.linspace(0.0, 1.0, _SRGB_STEPS)
        _SRGB_UINT8 = (linear_to_srgb(x) * 255.0).round().astype(np.uint8)
    idx = (lin.clip(0.0, 1.0) * (_SRGB_STEPS - 1) + 0.5).astype(np.int64)
    return _SRGB_UINT8[idx]


def luma_f(y_unit):
    """CIE f(Y) of the grey with luma Y' in [0, 1] (f = (L* + 16) / 116)."""
    return cie_f(srgb_to_linear(y_unit))


def lstar_from_luma(y_unit):
    """L* of the grey whose R' = G' = B' = Y' (sRGB curve): the lightness a B&W frame shows."""
    return 116.0 * luma_f(y_unit) - 16.0


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

    def luma_unit(self, code):
        """Y' code values (any real number, e.g. a block mean) -> Y' in [0, 1], clipped."""
        if self.full_range:
            unit = code / self.max_code
        else:
            scale = 1 << (self.bits - 8)
            unit = (code - 16 * scale) / (219 * scale)
        return unit.clip(0.0, 1.0)

    def chroma_code(self, c):
        """Pb/Pr in [-0.5, 0.5] -> rounded code values (float), clipped to the legal range."""
        mid = 1 << (self.bits - 1)
        if self.full_range:
            return (c * self.max_code + mid).round().clip(0, self.max_code)
        scale = 1 << (self.bits - 8)
        return (c * (224 * scale) + mid).round().clip(16 * scale, 240 * scale)
