"""``python -P gcs_probe.py HOST:PORT``: ask the Ray GCS at HOST:PORT what ``ray.init`` would ask
first (its cluster ID, then its Ray and Python versions) and print the answer as one JSON line.

Run by :mod:`vidcolor.pipeline.join` in a process of its own: Ray's C++ client blocks for its own
timeouts (and retries forever inside ``ray.init``), writes its warnings straight to fd 2 and caches
the auth token per process; a child process can be killed at a deadline and its output kept for the
log. It imports only Ray and the standard library (``-P``: this folder is not put on sys.path).
"""

from __future__ import annotations

import json
import sys


def probe(address: str) -> dict:
    """``{"ok": True, "meta": ...}`` or ``{"ok": False, "kind": ..., "error": ...}``."""
    from ray._common.usage import usage_lib
    from ray._private.utils import check_version_info
    from ray._raylet import GcsClient

    try:
        meta = usage_lib.get_cluster_metadata(GcsClient(address=address))
    except Exception as err:  # noqa: BLE001 - the parent classifies Ray's exception by name
        return {"ok": False, "kind": type(err).__name__, "error": str(err)}
    try:
        check_version_info(meta or {}, "vidcolor", raise_on_mismatch=True)
    except Exception as err:  # noqa: BLE001 - Ray raises a bare RuntimeError for a mismatch
        return {"ok": False, "kind": "version", "error": str(err), "meta": meta}
    return {"ok": True, "meta": meta}


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1])), flush=True)
