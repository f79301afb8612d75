"""Package attributes imported on first use (PEP 562), so that importing a package for one light
name (the CLI parser, a dataclass default) does not import torch, PyAV or pyarrow."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_getattr(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that finds ``name`` in ``package.<where[name]>``."""

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return __getattr__
