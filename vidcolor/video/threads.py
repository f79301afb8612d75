"""How many threads a codec (or OpenCV) may run in this process: the one home for that policy.

Ray gives each task a number of CPUs and sets ``OMP_NUM_THREADS`` to it; FFmpeg's and OpenCV's
defaults are one thread per core of the machine, which in a 1-CPU task means every core fights
over one CPU's share. Decoders, encoders and the smoothing stage all ask here.
"""

from __future__ import annotations

import os


def codec_threads() -> int:
    """Threads for one decoder or encoder: the CPUs this task was given (Ray sets OMP_NUM_THREADS
    to a task's num_cpus), not every core of the machine, which is FFmpeg's default."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return os.cpu_count() or 1
