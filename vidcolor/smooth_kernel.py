"""The smoothing's per-frame step as one compiled pass (numba; see :mod:`vidcolor.compiled`).

Per pixel of frame t: the previous frame's running sums and L, sampled where the flow says the
pixel came from (by OpenCV's remap), weighted by alpha, the flow's trust and how well the sampled L matches the pixel's, plus the frame's own ab with weight
1; and each frame's result from its two passes. The numpy passes they replaced (split, exp and
arithmetic over separate planes, each a trip through memory) cost several times more.
"""

from __future__ import annotations

import numpy as np

from vidcolor.compiled import jit, linear_taps

# exp(-u) for u in [0, _EXP_SPAN] at _EXP_STEPS points, linear in between; 0 beyond (exp(-16)
# is 1e-7 of the estimate: nothing). Within 1e-4 of math.exp, ~3x cheaper in the gathered loop.
_EXP_SPAN, _EXP_STEPS = 16.0, 4096
_EXP_TABLE = np.exp(-np.linspace(0.0, _EXP_SPAN, _EXP_STEPS + 1)).astype(np.float32)


@jit
def _gauss(v: float) -> float:
    """exp(v) for v <= 0, from the table."""
    u = -v * (_EXP_STEPS / _EXP_SPAN)
    if u >= _EXP_STEPS:
        return 0.0
    i = int(u)
    f = u - i
    return _EXP_TABLE[i] * (1.0 - f) + _EXP_TABLE[i + 1] * f


@jit
def carry_step(
    seen: np.ndarray,
    trust: np.ndarray,
    l_t: np.ndarray,
    ab_t: np.ndarray,
    alpha: float,
    minus_inv_2var: float,
    out: np.ndarray,
) -> None:
    """``seen`` (h, w, 4: sum a, sum b, sum of weights, L): the previous frame's sums sampled
    where the flow says each pixel of frame t came from (OpenCV's remap does the gather, its
    fastest case: four channels); ``trust`` (h, w) uint8; ``l_t`` (h, w),
    ``ab_t`` (2, h, w) of frame t. Writes frame t's sums and L into ``out`` (h, w, 4)."""
    h, w = l_t.shape
    for y in range(h):
        for x in range(w):
            d = seen[y, x, 3] - l_t[y, x]
            weight = alpha * trust[y, x] * _gauss(d * d * minus_inv_2var)
            out[y, x, 0] = ab_t[0, y, x] + weight * seen[y, x, 0]
            out[y, x, 1] = ab_t[1, y, x] + weight * seen[y, x, 1]
            out[y, x, 2] = 1.0 + weight * seen[y, x, 2]
            out[y, x, 3] = l_t[y, x]


@jit
def first_step(l_t: np.ndarray, ab_t: np.ndarray, out: np.ndarray) -> None:
    """A pass's first frame, or the first after a cut: the frame alone, weight 1."""
    h, w = l_t.shape
    for y in range(h):
        for x in range(w):
            out[y, x, 0] = ab_t[0, y, x]
            out[y, x, 1] = ab_t[1, y, x]
            out[y, x, 2] = 1.0
            out[y, x, 3] = l_t[y, x]


@jit
def combine(now: np.ndarray, back: np.ndarray, ab_t: np.ndarray, out: np.ndarray) -> None:
    """Frame t's result from its forward and backward sums (h, w, 4 each): frame t is in both
    with weight 1, so it is counted once. Writes ab (2, h, w) into ``out``."""
    h, w = ab_t.shape[1:]
    for y in range(h):
        for x in range(w):
            inv = np.float32(1.0) / (now[y, x, 2] + back[y, x, 2] - np.float32(1.0))
            out[0, y, x] = (now[y, x, 0] + back[y, x, 0] - ab_t[0, y, x]) * inv
            out[1, y, x] = (now[y, x, 1] + back[y, x, 1] - ab_t[1, y, x]) * inv


@jit
def _likeness(d: float, inv_width2: float) -> float:
    """How well two L match: Tukey's biweight (1 - d^2 / width^2)^2, 0 beyond ``width``; no
    table look-up or division, so the loop below stays cheap. 1e-6 keeps a sum of four from
    vanishing (then the four are weighed bilinearly)."""
    u = max(np.float32(1.0) - d * d * inv_width2, np.float32(0.0))
    return u * u + np.float32(1e-6)


@jit
def upsample_guided(
    small_ab: np.ndarray,
    small_l: np.ndarray,
    l_t: np.ndarray,
    inv_width2: float,
    out: np.ndarray,
) -> None:
    """Joint bilateral upsampling (Kopf et al. 2007) of ab smoothed at reduced size: each pixel
    of ``out`` (2, h, w) takes the four samples of ``small_ab`` (2, hs, ws) around it (where
    OpenCV's INTER_LINEAR would), weighted bilinearly and by how well their L (``small_l``,
    the area average the smoothing saw) matches its own (``l_t``, (h, w); ``inv_width2``: 1 /
    the L difference squared at which a sample stops counting), so colour does not spread across
    an edge in L. Where no sample matches (a thin line) it is plain bilinear."""
    h, w = l_t.shape
    top, bottom, row_w = linear_taps(h, small_l.shape[0])
    left, right, col_w = linear_taps(w, small_l.shape[1])
    tx = col_w.astype(np.float32)  # weight of the right sample: float32 arithmetic below
    one = np.float32(1.0)
    for y in range(h):
        ya, yb, ty = top[y], bottom[y], np.float32(row_w[y])
        la, lb, row = small_l[ya], small_l[yb], l_t[y]
        a0, a1, b0, b1 = small_ab[0, ya], small_ab[0, yb], small_ab[1, ya], small_ab[1, yb]
        for x in range(w):
            i, j, wx, v = left[x], right[x], one - tx[x], row[x]
            w0 = (one - ty) * wx * _likeness(la[i] - v, inv_width2)
            w1 = (one - ty) * (one - wx) * _likeness(la[j] - v, inv_width2)
            w2 = ty * wx * _likeness(lb[i] - v, inv_width2)
            w3 = ty * (one - wx) * _likeness(lb[j] - v, inv_width2)
            inv = one / (w0 + w1 + w2 + w3)
            out[0, y, x] = (w0 * a0[i] + w1 * a0[j] + w2 * a1[i] + w3 * a1[j]) * inv
            out[1, y, x] = (w0 * b0[i] + w1 * b0[j] + w2 * b1[i] + w3 * b1[j]) * inv


@jit
def histograms(l: np.ndarray, bins: int) -> np.ndarray:  # noqa: E741 (L, as everywhere)
    """(N, bins) counts of float32 L (N, h, w) in [-1, 1] (clipped), ``bins`` equal bins: one pass
    per frame, where numpy's clip, scale, offset and bincount made five over the float planes."""
    n, h, w = l.shape
    out = np.zeros((n, bins), np.int64)
    half = np.float32(bins / 2.0)
    one = np.float32(1.0)
    for i in range(n):
        for y in range(h):
            for x in range(w):
                v = min(max(l[i, y, x], -one), one)
                out[i, min(int((v + one) * half), bins - 1)] += 1
    return out
