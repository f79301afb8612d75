"""One home for numba: the per-frame passes that numpy and OpenCV would make in many trips over
large planes (the chroma merge, the smoothing's carry step) are compiled once per machine."""

from __future__ import annotations

import numba


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
