"""One home for numba: the per-frame passes that numpy and OpenCV would make in many trips over
large planes (the chroma merge, the smoothing's carry step) are compiled once per machine."""

from __future__ import annotations

import math

import numba
import numpy as np


def jit(fn):
    """numba.njit, the compiled code cached on disk (beside the module, or in numba's user cache
    when that is read-only), no fastmath: IEEE maths, so results do not depend on the CPU's
    vector width. Where no cache directory is writable (a read-only install without a home
    directory), numba refuses ``cache=True`` at decoration: then it compiles once per process
    instead of failing the import."""
    try:
        return numba.njit(cache=True, nogil=True, fastmath=False)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, fastmath=False)(fn)


@jit
def linear_taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear source indices (lo, hi) and weight of hi for each of ``n_out`` outputs, as
    cv2.resize INTER_LINEAR places them (pixel centres aligned, clamped at the edges): the one
    home of that rule for the chroma merge (numba and torch) and the smoothing's upsampling."""
    lo = np.empty(n_out, np.int64)
    hi = np.empty(n_out, np.int64)
    weight = np.empty(n_out, np.float64)
    scale = n_in / n_out
    for i in range(n_out):
        pos = (i + 0.5) * scale - 0.5
        k = int(math.floor(pos))
        frac = pos - k
        if k < 0:
            k, frac = 0, 0.0
        if k >= n_in - 1:
            k, frac = n_in - 1, 0.0
        lo[i], hi[i], weight[i] = k, min(k + 1, n_in - 1), frac
    return lo, hi, weight
