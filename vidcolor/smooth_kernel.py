"""The smoothing's per-frame step as one compiled pass (numba; see :mod:`vidcolor.compiled`).

Per pixel of frame t: the previous frame's running sums and L, sampled where the flow says the
pixel came from (by OpenCV's remap), weighted by alpha, the flow's trust and how well the sampled L matches the pixel's, plus the frame's own ab with weight
1; and each frame's result from its two passes. The numpy passes they replaced (split, exp and
arithmetic over separate planes, each a trip through memory) cost several times more.
"""

from __future__ import annotations

import numpy as np

from vidcolor.compiled import jit

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
