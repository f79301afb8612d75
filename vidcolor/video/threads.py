"""How many threads a codec (or OpenCV) may run in this process: the one home for that policy.

Ray gives each task a number of CPUs and sets ``OMP_NUM_THREADS`` to it; FFmpeg's and OpenCV's
defaults are one thread per core of the machine, which in a 1-CPU task means every core fights
over one CPU's share. Decoders, encoders and the smoothing stage all ask here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_SET: list[int] = []  # codec_threads_set's, innermost last


def codec_threads() -> int:
    """Threads for one decoder or encoder: the CPUs this task was given (Ray sets OMP_NUM_THREADS
    to a task's num_cpus), not every core of the machine, which is FFmpeg's default; or what
    :func:`codec_threads_set` says for this process."""
    if _SET:
        return _SET[-1]
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def codec_threads_set(n: int) -> Iterator[None]:
    """While entered, every thread of this process gives its codecs ``n`` threads (the local
    run's stages run on threads of one process, each as a 1-CPU task would)."""
    _SET.append(max(1, n))
    try:
        yield
    finally:
        _SET.pop()
