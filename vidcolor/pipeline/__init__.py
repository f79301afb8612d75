"""Distributed colourisation: list and plan inputs, decode -> model -> smooth -> encode on Ray Data,
join each video on a worker, resume from state under the output.

Names are imported lazily, so the CLI can read ``PipelineConfig``'s defaults without importing the
pipeline (pyarrow, numpy).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "InputResult": "report",
    "PipelineConfig": "config",
    "Report": "report",
    "colourise": "run",
    "colourise_sequential": "sequential",
    "colourise_video_sequential": "sequential",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"vidcolor.pipeline.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vidcolor.pipeline' has no attribute {name!r}")
