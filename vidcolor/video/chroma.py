"""Cb/Cr of a colourised frame: the source's L* (from its luma codes) with the predicted ab.

The per-frame maths is one compiled pass over the chroma plane (``chroma_kernel.merge_plane``,
numba): per sample it reads its block of luma codes and four ab taps and writes Cb, Cr, with no
working planes in between (the OpenCV version before it made ~20 passes over multi-MB float
planes: 4.6 CPU ms per 720p frame). Tables are built here once per format: f(Y) per luma sum by
:mod:`vidcolor.cie`'s exact maths, the gamut limit per luma sum and hue by bisection (OpenCV,
on whole tables), the sRGB curve at 65,536 points.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from vidcolor.cie import (
    AB_SCALE,
    CIE_DELTA,
    RGB_FROM_XYZN,
    YCbCrFormat,
    linear_to_srgb,
    luma_f,
)
from vidcolor.video.chroma_kernel import HUE_BINS, merge_plane
from vidcolor.video.planes import chroma_subsampling

_XYZ_OFFSETS = (1 / 500.0, 0.0, -1 / 200.0)  # f(X) = f(Y) + a*/500, f(Z) = f(Y) - b*/200
_MAX_CHROMA = AB_SCALE * 2**0.5  # |a|, |b| <= 128
_GAMMA_SIZE = 1 << 16
# Offsets to f(X), f(Z) and a*, b* per unit of normalised a, b (the kernel's ``gains``).
_AB_GAINS = np.array([AB_SCALE * _XYZ_OFFSETS[0], AB_SCALE * _XYZ_OFFSETS[2], AB_SCALE])


@functools.lru_cache(maxsize=16)
def _luma_f_table(fmt: YCbCrFormat, n: int) -> np.ndarray:
    """f(Y) of the grey for every sum of ``n`` luma codes (a chroma sample's block), float32."""
    f = luma_f(fmt.luma_unit(np.arange(n * fmt.max_code + 1, dtype=np.float64) / n))
    return f.astype(np.float32)


@functools.lru_cache(maxsize=16)
def _chroma_limits(fmt: YCbCrFormat, n: int, steps: int = 14) -> np.ndarray:
    """Largest in-gamut chroma (sRGB, no clipping) for every luma sum at HUE_BINS + 1 hues (both
    ends 0 and 2 pi), flat (sums * (HUE_BINS + 1)), float32, found once per format by bisection
    along each hue ray with ``_linear_rgb`` (the kernel's maths on whole tables through OpenCV,
    the same float32 steps the limits were first tuned with): ~0.2 CPU s for 8-bit 4:2:0
    (it was 2.4 s as torch ops on broadcast tensors, 18 ms per frame of a 132-frame clip)."""
    f = _luma_f_table(fmt, n)[:, None]
    hue = np.arange(HUE_BINS + 1) * (2 * np.pi / HUE_BINS)
    step_x = (np.cos(hue) * _XYZ_OFFSETS[0]).astype(np.float32)
    step_z = (np.sin(hue) * _XYZ_OFFSETS[2]).astype(np.float32)
    lo = np.zeros((len(f), len(hue)), np.float32)
    hi = np.full_like(lo, _MAX_CHROMA)
    f_xyz, cube, rgb = (np.empty((*lo.shape, 3), np.float32) for _ in range(3))
    eps = 1e-4
    for _ in range(steps):
        mid = (lo + hi) * np.float32(0.5)
        np.add(f, mid * step_x, out=f_xyz[..., 0])
        f_xyz[..., 1] = f
        np.maximum(f + mid * step_z, 0.0, out=f_xyz[..., 2])
        ok = cv2.inRange(_linear_rgb(f_xyz, cube, rgb), (-eps,) * 3, (1 + eps,) * 3) > 0
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return lo.reshape(-1)


@functools.cache
def _gamma_table() -> np.ndarray:
    """Linear -> sRGB-encoded at _GAMMA_SIZE points (within 1e-4 of the curve, 0.03 of an 8-bit
    code): a rounded index and a lookup are cheaper than the pow."""
    x = np.linspace(0.0, 1.0, _GAMMA_SIZE, dtype=np.float64)
    return linear_to_srgb(x).astype(np.float32)


def _rgb_from_f() -> np.ndarray:
    """3x4: linear sRGB from max(f, d)^3 + 3 d^2 min(f, d) of (X/Xn, Y, Z/Zn). That is CIE
    f^-1 (the cube above d = 6/29, its tangent below: the standard's linear part to 5e-6) plus
    3 d^3, which the offset column takes back off."""
    m = np.zeros((3, 4))
    m[:, :3] = RGB_FROM_XYZN
    m[:, 3] = -3 * CIE_DELTA**3 * m[:, :3].sum(axis=1)
    return m


_RGB_FROM_F = _rgb_from_f()


def _code_matrix(fmt: YCbCrFormat) -> np.ndarray:
    """3x4: R'G'B' -> (Cb, Cr, 0) code values, offset included (the kernel reads rows 0, 1)."""
    kr, kb = fmt.kr, fmt.kb
    kg = 1.0 - kr - kb
    gain = fmt.max_code if fmt.full_range else 224 << (fmt.bits - 8)
    m = np.zeros((3, 4))
    m[0, :3] = np.array([-kr, -kg, 1.0 - kb]) / (2 - 2 * kb) * gain
    m[1, :3] = np.array([1.0 - kr, -kg, -kb]) / (2 - 2 * kr) * gain
    m[:2, 3] = 1 << (fmt.bits - 1)
    return m


def _linear_rgb(f_xyz: np.ndarray, cube: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """CIE f of (X/Xn, Y, Z/Zn), (..., 3) -> linear sRGB into ``rgb`` (same shape); ``cube``
    (the same size) is scratch and ``f_xyz`` is overwritten. All float32."""
    flat = f_xyz.reshape(1, -1)  # one channel: OpenCV applies a plain float to channel 0 only
    cube = cv2.pow(cv2.max(flat, CIE_DELTA, dst=cube.reshape(1, -1)), 3, dst=cube.reshape(1, -1))
    cv2.min(flat, CIE_DELTA, dst=flat)
    cv2.scaleAdd(flat, 3 * CIE_DELTA * CIE_DELTA, cube, dst=flat)
    out = cv2.transform(f_xyz.reshape(-1, 1, 3), _RGB_FROM_F, dst=rgb.reshape(-1, 1, 3))
    return out.reshape(rgb.shape)


class ChromaMerger:
    """Cb, Cr codes of ``fmt`` for frames of one size: luma codes + normalised ab -> (2, h, w).

    Cb/Cr are the target colour's own colour differences (its R'G'B' minus its own luma); the
    frame keeps the source's Y', so a decoded pixel is the target colour shifted along grey by
    (source Y' - target Y'), the residue of non-constant luminance (measured as Delta E against
    the full-RGB merge: benchmarks/RESULTS.md). Out-of-gamut colours lose chroma, not lightness
    (``cie.fit_to_gamut``). The result is a buffer the next call overwrites.
    """

    def __init__(self, fmt: YCbCrFormat, pix_fmt: str, luma_size: tuple[int, int]) -> None:
        self.fmt = fmt
        self.sub = chroma_subsampling(pix_fmt)
        n = self.sub[0] * self.sub[1]
        h, w = luma_size[0] // self.sub[0], luma_size[1] // self.sub[1]
        self._tables = (_luma_f_table(fmt, n), _chroma_limits(fmt, n), _gamma_table())
        self._matrices = (_RGB_FROM_F, _code_matrix(fmt), _AB_GAINS)
        scale = 1 << (fmt.bits - 8)
        self._code_range = (0, fmt.max_code) if fmt.full_range else (16 * scale, 240 * scale)
        self._out = np.empty((2, h, w), np.uint8 if fmt.bits <= 8 else np.uint16)

    def __call__(self, y: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
        """Cb, Cr (2, h, w) for luma codes ``y`` (H, W) and normalised ab (2, h', w') at model
        resolution. L* comes from the mean luma code of each chroma sample's block (chroma sited
        at the block centre: README, "Output format"); ab is upsampled bilinearly straight to
        chroma resolution (bicubic cost 2 ms more per 720p frame for +0.02 Delta E)."""
        return self._merge(y, *self.sub, ab_small)

    def from_sums(self, sums: np.ndarray, ab_norm: np.ndarray) -> np.ndarray:
        """As ``__call__`` from each chroma sample's sum of luma codes (h, w)."""
        return self._merge(sums, 1, 1, ab_norm)

    def _merge(self, luma: np.ndarray, sub_h: int, sub_w: int, ab_norm: np.ndarray) -> np.ndarray:
        out = self._out
        if luma.shape != (out.shape[1] * sub_h, out.shape[2] * sub_w):
            raise ValueError(
                f"luma {luma.shape} does not fit chroma {out.shape[1:]} x {sub_h, sub_w}"
            )
        ab = np.asarray(ab_norm, np.float32)
        merge_plane(luma, sub_h, sub_w, ab, *self._tables, *self._matrices, *self._code_range, out)
        return out


def merge_chroma(y: np.ndarray, ab_small: np.ndarray, fmt: YCbCrFormat, pix_fmt: str) -> np.ndarray:
    """Cb, Cr codes (2, h, w) of ``pix_fmt`` for luma codes ``y`` (H, W) and normalised ab: one
    frame (a video's frames share a :class:`ChromaMerger`)."""
    return ChromaMerger(fmt, pix_fmt, y.shape)(y, ab_small).copy()


def chroma_from_luma(sums: np.ndarray, n: int, ab: np.ndarray, fmt: YCbCrFormat) -> np.ndarray:
    """Cb, Cr codes (2, h, w) of the colours with a*, b* = ``ab`` (2, h, w) and the L* of the
    luma: ``sums`` (h, w) are each chroma sample's sum of ``n`` luma codes (4 for 4:2:0)."""
    pix_fmt = {1: "yuv444p", 2: "yuv422p", 4: "yuv420p"}[n]
    sub_h, sub_w = chroma_subsampling(pix_fmt)
    merger = ChromaMerger(fmt, pix_fmt, (sums.shape[0] * sub_h, sums.shape[1] * sub_w))
    ab_norm = np.asarray(ab, np.float32) / AB_SCALE
    return merger.from_sums(np.asarray(sums), ab_norm).copy()
