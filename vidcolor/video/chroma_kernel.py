"""The per-frame chroma merge as one compiled pass over the chroma plane (numba).

Per chroma sample: the sum of its block of luma codes -> f(Y) (table), the ab clamped to [-1, 1]
and upsampled bilinearly (OpenCV's INTER_LINEAR: half-pixel centres, edges repeated) -> f(X),
f(Z) -> linear sRGB -> gamut fit by the chroma-limit table when outside -> sRGB curve (table) ->
Cb/Cr codes, rounded and clipped. The same maths as the OpenCV passes it replaced (~20 trips
through multi-MB working planes: 4.6 CPU ms per 720p frame; this: 1.7), one chroma row at a time
on row buffers that stay in L1: table look-ups in their own short loops, the arithmetic in loops
without branches or look-ups, which the compiler vectorises. See chroma.py for the tables.

``cache=True`` keeps the compiled code on disk beside this module (or in numba's user cache
when that is read-only; with neither, ``jit`` compiles per process), so a machine pays the
compile (~3 s) once, not every process or segment.
No fastmath: IEEE float64 maths, so results do not depend on the CPU's vector width.
"""

from __future__ import annotations

import math

import numpy as np

from vidcolor.compiled import jit, linear_taps

_EPS = 1e-4  # the gamut test's slack, as the limit table was built with
_D = 6.0 / 29.0  # CIE: f is a cube above it, its tangent below
HUE_BINS = 512  # hue steps of the chroma-limit table (chroma._chroma_limits builds it)


@jit
def _f_inverse(f: float) -> float:
    """CIE f^-1 minus 3 d^3 (the matrix's offset column adds it back): max(f, d)^3 + 3 d^2
    min(f, d), as chroma._linear_rgb builds the limit table with."""
    c = max(f, _D)
    return c * c * c + 3.0 * _D * _D * min(f, _D)


@jit
def _ab_row(ab, r0, r1, wy, col_lo, col_hi, col_w, tmp, a_out, b_out) -> None:
    """Normalised a, b of one chroma row: clamped to [-1, 1], upsampled bilinearly (vertical
    pass into ``tmp`` (2, w'), then horizontal)."""
    for k in range(tmp.shape[1]):
        a0, a1 = min(max(ab[0, r0, k], -1.0), 1.0), min(max(ab[0, r1, k], -1.0), 1.0)
        b0, b1 = min(max(ab[1, r0, k], -1.0), 1.0), min(max(ab[1, r1, k], -1.0), 1.0)
        tmp[0, k] = a0 + (a1 - a0) * wy
        tmp[1, k] = b0 + (b1 - b0) * wy
    for j in range(a_out.size):
        c0, c1, wx = col_lo[j], col_hi[j], col_w[j]
        a_out[j] = tmp[0, c0] + (tmp[0, c1] - tmp[0, c0]) * wx
        b_out[j] = tmp[1, c0] + (tmp[1, c1] - tmp[1, c0]) * wx


@jit
def _f_y_row(luma, i, sub_h, sub_w, f_table, sums, f_y) -> None:
    """Each chroma sample's sum of its block of luma codes (clamped to the table: block sums
    given with sub 1x1 may be anything) and its f(Y)."""
    sums[:] = 0
    for di in range(sub_h):
        row = luma[i * sub_h + di]
        for dj in range(sub_w):
            for j in range(sums.size):
                sums[j] += np.int64(row[j * sub_w + dj])
    top = f_table.size - 1
    for j in range(sums.size):
        sums[j] = min(max(sums[j], 0), top)
        f_y[j] = f_table[sums[j]]


@jit
def _rgb_row(f_y, a, b, gain_x, gain_z, m, rgb) -> None:
    """Linear sRGB (3, w) of f(Y) and normalised a, b: f(X) = f(Y) + a gain_x, f(Z) =
    max(f(Y) + b gain_z, 0) (skimage's z clip), f^-1, then the 3x4 matrix. No branches, no
    look-ups: vectorised."""
    for j in range(f_y.size):
        fy = f_y[j]
        x = _f_inverse(fy + a[j] * gain_x)
        y = _f_inverse(fy)
        z = _f_inverse(max(fy + b[j] * gain_z, 0.0))
        rgb[0, j] = m[0, 0] * x + m[0, 1] * y + m[0, 2] * z + m[0, 3]
        rgb[1, j] = m[1, 0] * x + m[1, 1] * y + m[1, 2] * z + m[1, 3]
        rgb[2, j] = m[2, 0] * x + m[2, 1] * y + m[2, 2] * z + m[2, 3]


@jit
def _fit_row(rgb, sums, f_y, a, b, limits, gains, m) -> None:
    """Samples outside the gamut keep L and hue and take the largest in-gamut chroma from the
    table (``fit_to_gamut``'s bisection, looked up, interpolated between hues): their RGB is
    recomputed in place."""
    lo, hi = -_EPS, 1.0 + _EPS
    for j in range(sums.size):
        r, g, bl = rgb[0, j], rgb[1, j], rgb[2, j]
        if lo <= r <= hi and lo <= g <= hi and lo <= bl <= hi:
            continue
        chroma = math.hypot(a[j] * gains[2], b[j] * gains[2])
        hue = math.atan2(b[j], a[j])
        if hue < 0.0:
            hue += 2.0 * math.pi
        pos = hue * (HUE_BINS / (2.0 * math.pi))
        edge = min(int(pos), HUE_BINS - 1)
        at = sums[j] * (HUE_BINS + 1) + edge
        limit = limits[at] + (limits[at + 1] - limits[at]) * (pos - edge)
        s = min(limit / max(chroma, 1e-6), 1.0)
        x = _f_inverse(f_y[j] + s * a[j] * gains[0])
        y = _f_inverse(f_y[j])
        z = _f_inverse(max(f_y[j] + s * b[j] * gains[1], 0.0))
        for c in range(3):
            rgb[c, j] = m[c, 0] * x + m[c, 1] * y + m[c, 2] * z + m[c, 3]


@jit
def _codes_row(rgb, gamma, index, encoded, codes_from_rgb, code_lo, code_hi, out_cb, out_cr):
    """sRGB-encode (table at rounded, saturated indices) and write Cb, Cr codes, rounded and
    clipped. Index and code arithmetic vectorised; the look-up is its own loop."""
    top = gamma.size - 1
    for c in range(3):
        for j in range(out_cb.size):
            index[c, j] = int(math.floor(min(max(rgb[c, j], 0.0), 1.0) * top + 0.5))
    for c in range(3):
        for j in range(out_cb.size):
            encoded[c, j] = gamma[index[c, j]]
    cb, cr = codes_from_rgb[0], codes_from_rgb[1]
    for j in range(out_cb.size):
        gr, gg, gb = encoded[0, j], encoded[1, j], encoded[2, j]
        code_b = cb[0] * gr + cb[1] * gg + cb[2] * gb + cb[3]
        code_r = cr[0] * gr + cr[1] * gg + cr[2] * gb + cr[3]
        out_cb[j] = min(max(math.floor(code_b + 0.5), code_lo), code_hi)
        out_cr[j] = min(max(math.floor(code_r + 0.5), code_lo), code_hi)


@jit
def merge_plane(
    luma: np.ndarray,
    sub_h: int,
    sub_w: int,
    ab: np.ndarray,
    f_table: np.ndarray,
    limits: np.ndarray,
    gamma: np.ndarray,
    rgb_from_f: np.ndarray,
    codes_from_rgb: np.ndarray,
    gains: np.ndarray,
    code_lo: int,
    code_hi: int,
    out: np.ndarray,
) -> None:
    """Cb, Cr codes into ``out`` (2, h, w) from luma codes ``luma`` (h * sub_h, w * sub_w; or
    block sums with sub 1x1) and normalised ab (2, h', w'). ``gains``: the offsets to f(X) and
    f(Z), and a*, b*, per unit of normalised a, b; ``limits``: largest in-gamut chroma per
    (luma sum, hue), HUE_BINS + 1 hues a sum."""
    h, w = out.shape[1], out.shape[2]
    row_lo, row_hi, row_w = linear_taps(h, ab.shape[1])
    col_lo, col_hi, col_w = linear_taps(w, ab.shape[2])
    tmp = np.empty((2, ab.shape[2]))
    a, b, f_y = np.empty(w), np.empty(w), np.empty(w)
    sums = np.empty(w, np.int64)
    rgb, encoded = np.empty((3, w)), np.empty((3, w))
    index = np.empty((3, w), np.int64)
    for i in range(h):
        _ab_row(ab, row_lo[i], row_hi[i], row_w[i], col_lo, col_hi, col_w, tmp, a, b)
        _f_y_row(luma, i, sub_h, sub_w, f_table, sums, f_y)
        _rgb_row(f_y, a, b, gains[0], gains[1], rgb_from_f, rgb)
        _fit_row(rgb, sums, f_y, a, b, limits, gains, rgb_from_f)
        _codes_row(
            rgb, gamma, index, encoded, codes_from_rgb, code_lo, code_hi, out[0, i], out[1, i]
        )
