"""Peak Python memory (tracemalloc) of a test's code, measured in a fresh interpreter.

Why not in the test process: ``tracemalloc.start()`` and ``stop()`` swap the raw allocator while
other threads may be inside it. Python 3.11 has no fix for that race (CPython gh-128679, fixed
in 3.12.9 / 3.13.2), and once a test has started the session's Ray, the process has Ray's C++
threads, which take the GIL and allocate at any moment: CI segfaulted in ``tracemalloc.stop()``'s
wake. The child here imports the test's module, starts tracing before any thread that enters
Python exists, and never stops; ``peak`` measures one call from a reset peak.

Use: ``in_child("test_module:function", *json_args)`` runs that function in the child and
returns what it returned (JSON); inside it, ``peak(fn)`` gives (fn's result, peak bytes).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent


def peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """(fn(), the most bytes it held at once above what was allocated before it)."""
    if not tracemalloc.is_tracing():
        raise RuntimeError("peak() runs inside in_child(): this interpreter is not traced")
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = fn()
    return result, tracemalloc.get_traced_memory()[1] - before


def in_child(target: str, *args: Any, timeout: float = 300) -> Any:
    """``module:function`` (a module in tests/) called with ``args`` in a traced interpreter."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "traced", target, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{target} failed in the traced child:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _python_threads_running() -> bool:
    ray = sys.modules.get("ray")
    return threading.active_count() > 1 or bool(ray and ray.is_initialized())


if __name__ == "__main__":
    module, name = sys.argv[1].split(":")
    fn = getattr(importlib.import_module(module), name)
    # Threads that enter Python would race with start(): none may run yet (Ray's start with
    # ray.init). Importing numpy and pyarrow starts native threads (OpenBLAS's pool, jemalloc's
    # background thread) that never call Python's allocators.
    if _python_threads_running():
        raise SystemExit(f"{module} started threads on import: cannot start tracing safely")
    tracemalloc.start()
    print(json.dumps(fn(*json.loads(sys.argv[2]))))
