"""Distributed colourisation: list and plan inputs, decode -> model -> smooth -> encode on Ray Data,
join each video on a worker, resume from state under the output.

Names are imported lazily, so the CLI can read ``PipelineConfig``'s defaults without importing the
pipeline (pyarrow, numpy).
"""

from __future__ import annotations

from vidcolor.lazy import lazy_getattr

_EXPORTS = {
    "InputResult": "report",
    "PipelineConfig": "config",
    "Report": "report",
    "colourise": "run",
    "colourise_sequential": "sequential",
    "colourise_video_sequential": "sequential",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
