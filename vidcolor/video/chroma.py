"""Cb/Cr of a colourised frame: the source's L* (from its luma codes) with the predicted ab.

The per-frame maths runs on interleaved (h, w, 3) float32 planes at chroma resolution through
OpenCV (3x3 transforms, SIMD elementwise kernels, bilinear resize; 1.65x cheaper than the same
maths as planar torch ops, measured on 132 720p frames) into working arrays a ``ChromaMerger``
keeps from frame to frame: fresh multi-MB arrays per frame cost page faults (2-4 ms of system time
per 720p frame in the encode stage). Run it under ``one_opencv_thread``.
Tables are built once per format: f(Y) per luma sum by :mod:`vidcolor.color`'s exact maths, the
gamut limit per luma sum and hue by bisection with the per-frame maths.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import torch

from vidcolor.color import (
    AB_SCALE,
    CIE_DELTA,
    RGB_FROM_XYZN,
    YCbCrFormat,
    linear_to_srgb,
    luma_f,
)
from vidcolor.video.planes import block_sums, chroma_subsampling

_XYZ_OFFSETS = (1 / 500.0, 0.0, -1 / 200.0)  # f(X) = f(Y) + a*/500, f(Z) = f(Y) - b*/200
_NO_LOWER = -3.0e38
_HUE_BINS = 512
_MAX_CHROMA = AB_SCALE * 2**0.5  # |a|, |b| <= 128
_GAMMA_SIZE = 1 << 16
_GAMMA_BLOCKS = 8  # row blocks the gamma lookup's intp indices are made in


@functools.lru_cache(maxsize=16)
def _luma_f_table(fmt: YCbCrFormat, n: int) -> np.ndarray:
    """f(Y) of the grey for every sum of ``n`` luma codes (a chroma sample's block), float32."""
    f = luma_f(fmt.luma_unit(torch.arange(n * fmt.max_code + 1, dtype=torch.float64) / n))
    return f.float().numpy()


@functools.lru_cache(maxsize=16)
def _chroma_limits(fmt: YCbCrFormat, n: int, steps: int = 14) -> np.ndarray:
    """Largest in-gamut chroma (sRGB, no clipping) for every luma sum at _HUE_BINS + 1 hues (both
    ends 0 and 2 pi), flat (sums * (_HUE_BINS + 1)), float32, found once per format by bisection
    along each hue ray with the per-frame maths (``_linear_rgb``): ~0.2 CPU s for 8-bit 4:2:0
    (it was 2.4 s as torch ops on broadcast tensors, 18 ms per frame of a 132-frame clip)."""
    f = _luma_f_table(fmt, n)[:, None]
    hue = np.arange(_HUE_BINS + 1) * (2 * np.pi / _HUE_BINS)
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
    code): a rounding conversion to uint16 and a gather are 3x cheaper than the pow."""
    x = torch.linspace(0.0, 1.0, _GAMMA_SIZE, dtype=torch.float64)
    return linear_to_srgb(x).float().numpy()


def _rgb_from_f() -> np.ndarray:
    """3x4: linear sRGB from max(f, d)^3 + 3 d^2 min(f, d) of (X/Xn, Y, Z/Zn). That is CIE
    f^-1 (``color.f_inverse``: the cube above d = 6/29, its tangent below) plus 3 d^3, which the
    offset column takes back off."""
    m = np.zeros((3, 4))
    m[:, :3] = RGB_FROM_XYZN
    m[:, 3] = -3 * CIE_DELTA**3 * m[:, :3].sum(axis=1)
    return m


_RGB_FROM_F = _rgb_from_f()


def _code_matrix(fmt: YCbCrFormat) -> np.ndarray:
    """3x4: R'G'B' -> (Cb, Cr, 0) code values, offset included (OpenCV's 3x3 transform is
    several times faster than its 3x2)."""
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
    (``color.fit_to_gamut``). The result is a view of a buffer the next call overwrites.
    """

    def __init__(self, fmt: YCbCrFormat, pix_fmt: str, luma_size: tuple[int, int]) -> None:
        self.fmt = fmt
        self.sub = chroma_subsampling(pix_fmt)
        n = self.sub[0] * self.sub[1]
        h, w = luma_size[0] // self.sub[0], luma_size[1] // self.sub[1]
        self._f_table = _luma_f_table(fmt, n)
        self._limits = _chroma_limits(fmt, n)
        self._codes_from_rgb = _code_matrix(fmt)
        scale = 1 << (fmt.bits - 8)
        full = fmt.full_range
        self._code_range = (0, fmt.max_code) if full else (16 * scale, 240 * scale)
        f32 = np.float32
        self._f_y = np.empty((h, w), f32)
        self._offsets, self._f_xyz = np.empty((h, w, 3), f32), np.empty((h, w, 3), f32)
        self._cube, self._rgb = np.empty((h, w, 3), f32), np.empty((h, w, 3), f32)
        self._inside = np.empty((h, w), np.uint8)
        # np.take casts any other index type to intp in a fresh array: gather from intp buffers.
        self._sums = np.empty((h, w), np.intp)
        self._index16 = np.empty((h, w * 3), np.uint16)
        self._index = np.empty((-(-h // _GAMMA_BLOCKS), w * 3), np.intp)  # a block of rows
        self._out = np.empty((h, w, 3), np.uint8 if fmt.bits <= 8 else np.uint16)
        self._small: np.ndarray | None = None  # ab at model resolution, (a, 0, b) interleaved

    def __call__(self, y: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
        """Cb, Cr (2, h, w) for luma codes ``y`` (H, W) and normalised ab (2, h', w') at model
        resolution. L* comes from the mean luma code of each chroma sample's block (see
        ``planes.block_sums``); ab is upsampled bilinearly straight to chroma resolution
        (bicubic cost 2 ms more per 720p frame for +0.02 Delta E)."""
        return self.from_sums(block_sums(y, *self.sub, out=self._sums), ab_small)

    def from_sums(self, sums: np.ndarray, ab_norm: np.ndarray) -> np.ndarray:
        """As ``__call__`` from each chroma sample's sum of luma codes (h, w)."""
        if sums.dtype != np.intp:
            np.copyto(self._sums, sums)
            sums = self._sums
        f_y = np.take(self._f_table, sums, out=self._f_y, mode="clip")
        offsets = self._ab_offsets(ab_norm)
        f_xyz = cv2.merge([f_y, f_y, f_y], dst=self._f_xyz)
        cv2.add(f_xyz, offsets, dst=f_xyz)
        cv2.max(f_xyz, (_NO_LOWER, _NO_LOWER, 0.0, 0.0), dst=f_xyz)  # f(Z) >= 0: skimage's z clip
        rgb = _linear_rgb(f_xyz, self._cube, self._rgb)
        self._fit_out_of_gamut(rgb, sums, offsets)
        h, w = sums.shape
        gamma = self._srgb_gamma(rgb, out=self._cube)  # the cube is free again
        codes = cv2.transform(  # f_xyz is free too: fewer MB between x264's frames
            gamma.reshape(-1, 1, 3), self._codes_from_rgb, dst=self._f_xyz.reshape(-1, 1, 3)
        ).reshape(h, w, 3)
        if self.fmt.bits <= 8:
            out = cv2.convertScaleAbs(codes, dst=self._out)  # rounded, saturated to 0..255
        else:
            out = self._out
            np.copyto(out, np.rint(codes, out=codes), casting="unsafe")
        np.clip(out, *self._code_range, out=out)
        return out[..., :2].transpose(2, 0, 1)

    def _srgb_gamma(self, rgb: np.ndarray, out: np.ndarray) -> np.ndarray:
        """sRGB encoding of ``rgb`` into ``out`` (both (h, w, 3) float32) through the table:
        rounded and saturated to 0..65535 (the clip to [0, 1] included), widened to intp (what
        np.take wants) a block of rows at a time so the 8-byte indices stay in cache."""
        h = rgb.shape[0]
        scaled = float(_GAMMA_SIZE - 1)
        cv2.multiply(rgb.reshape(h, -1), scaled, dst=self._index16, dtype=cv2.CV_16U)
        table, flat, block = _gamma_table(), out.reshape(h, -1), len(self._index)
        for top in range(0, h, block):
            rows = slice(top, min(top + block, h))
            index = self._index[: rows.stop - top]
            np.copyto(index, self._index16[rows])
            np.take(table, index, out=flat[rows], mode="clip")
        return out

    def _ab_offsets(self, ab_norm: np.ndarray) -> np.ndarray:
        """(a*/500, 0, -b*/200) at chroma resolution from normalised ab (2, h', w'), clamped to
        [-1, 1] first; added to f(Y) in all three channels they give f of X, Y, Z."""
        ab = np.asarray(ab_norm)
        if self._small is None or self._small.shape[:2] != ab.shape[1:]:
            self._small = np.zeros((*ab.shape[1:], 3), np.float32)
        small = self._small
        for channel, plane in ((0, ab[0]), (2, ab[1])):
            gain = AB_SCALE * _XYZ_OFFSETS[channel]
            np.multiply(np.clip(plane, -1.0, 1.0), gain, out=small[..., channel], casting="unsafe")
        if small.shape == self._offsets.shape:
            return small
        h, w = self._offsets.shape[:2]
        return cv2.resize(small, (w, h), dst=self._offsets, interpolation=cv2.INTER_LINEAR)

    def _fit_out_of_gamut(self, rgb: np.ndarray, sums: np.ndarray, offsets: np.ndarray) -> None:
        """Out-of-gamut samples of ``rgb`` keep L and hue and take the largest in-gamut chroma
        from the table (by luma sum and hue): ``fit_to_gamut``'s bisection, looked up instead of
        searched per pixel. ``rgb`` is changed in place."""
        eps = 1e-4
        inside = cv2.inRange(rgb, (-eps, -eps, -eps), (1 + eps,) * 3, dst=self._inside)
        out = np.flatnonzero(inside.reshape(-1) == 0)
        if not out.size:
            return
        off = np.take(offsets.reshape(-1, 3), out, axis=0)
        chroma, hue = cv2.cartToPolar(off[:, 0] / _XYZ_OFFSETS[0], off[:, 2] / _XYZ_OFFSETS[2])
        pos = hue.reshape(-1) * np.float32(_HUE_BINS / (2 * np.pi))  # hue in [0, 2 pi)
        edge = np.minimum(pos.astype(np.int32), _HUE_BINS - 1)
        at = np.take(sums, out).astype(np.int32) * (_HUE_BINS + 1) + edge
        low, high = np.take(self._limits, at), np.take(self._limits, at + 1)
        limit = low + (high - low) * (pos - edge.astype(np.float32))  # float32 throughout
        scale = np.minimum(limit / np.maximum(chroma.reshape(-1), 1e-6), 1.0)
        f_sub = off * scale[:, None]
        f_sub += np.take(self._f_y, out)[:, None]
        np.maximum(f_sub[:, 2], 0.0, out=f_sub[:, 2])
        # Between table hues the limit is interpolated: at most a hair outside, clipped here.
        fitted = np.clip(_linear_rgb(f_sub, np.empty_like(f_sub), np.empty_like(f_sub)), 0, 1)
        # Whole 12-byte pixels put at once: 4x cheaper than rgb.reshape(-1, 3)[out] = fitted.
        np.put(rgb.reshape(-1, 3).view("V12"), out, fitted.view("V12"))


@contextmanager
def one_opencv_thread() -> Iterator[None]:
    """The merge's ops are small (one chroma plane): split over threads they only wait on each
    other (8x slower measured on 2 busy cores with torch ops). The encoder keeps its threads."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


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
