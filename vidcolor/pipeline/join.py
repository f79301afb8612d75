"""Joining the Ray cluster named by ``--address``, bounded in time and refused in one line.

``ray.init(address=...)`` never gives up on its own: to an address where nothing answers it retries
for over ten minutes (20 tries of a ~35 s C++ wait, a warning every 5 s), and to a cluster that
refuses the client's auth token it logs a warning a second for 20 s, then raises a traceback
(measured, Ray 2.60). So before ``ray.init`` the address is checked in two bounded steps: a TCP
connect (JOIN_TCP_S), then the GCS handshake ``ray.init`` starts with (cluster ID, Ray and Python
versions) in a child process killed at JOIN_GCS_S (``gcs_probe.py``). A refusal is a
:class:`ClusterJoinError` naming the address and the reason; Ray's own lines go to a log file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vidcolor.errors import VidcolorError, one_line

JOIN_TCP_S = 5.0  # a head that is just starting gets this long to listen
JOIN_GCS_S = 20.0  # the child's own connect wait (RAY_py_gcs_connect_timeout_s) fits inside
_PROBE = Path(__file__).with_name("gcs_probe.py")


class ClusterJoinError(VidcolorError):
    """The cluster at ``--address`` cannot be joined (exit code 2, as for a usage error)."""

    exit_code = 2

    def __init__(self, address: str, reason: str) -> None:
        self.address, self.reason = address, reason
        super().__init__(one_line(f"cannot join the Ray cluster at {address}: {reason}"))

    def with_log(self, text: str) -> ClusterJoinError:
        """The same error, naming a log file that keeps Ray's lines ``text`` (if any)."""
        return ClusterJoinError(self.address, self.reason + saved_log(text))


def check_joinable(address: str) -> None:
    """Return when ``ray.init(address=address)`` can join a cluster there; raise
    :class:`ClusterJoinError` within about JOIN_TCP_S + JOIN_GCS_S seconds otherwise."""
    from ray._private import services

    try:
        target = services.canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError) as err:  # "auto" with no cluster here, a bad address
        raise ClusterJoinError(address, str(err)) from None
    if target is None:  # "auto" with nothing recorded: ray.init would start a local Ray
        raise ClusterJoinError(address, "no running cluster found (RAY_ADDRESS is not set)")
    client = "://" in target  # ray://host:port (Ray Client): no GCS handshake of its own here
    host, port = target.split("://")[-1].rsplit(":", 1)
    _tcp_answers(address, host.strip("[]"), int(port))
    if not client:
        _gcs_answers(address, target)


def _tcp_answers(address: str, host: str, port: int) -> None:
    deadline = time.monotonic() + JOIN_TCP_S
    while True:
        try:
            with socket.create_connection(
                (host, port), timeout=max(0.1, deadline - time.monotonic())
            ):
                return
        except OSError as err:
            last = err
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    shown = f"{host}:{port}"
    via = "" if shown == address else f" to {shown}"
    raise ClusterJoinError(
        address, f"nothing answers there (no TCP connection{via} within {JOIN_TCP_S:g} s: {last})"
    )


def _gcs_answers(address: str, target: str) -> None:
    env = dict(os.environ)
    env.setdefault("RAY_py_gcs_connect_timeout_s", "5")  # the child stops itself in ~15 s
    try:
        res = subprocess.run(
            [sys.executable, "-P", str(_PROBE), target],
            capture_output=True,
            text=True,
            timeout=JOIN_GCS_S,
            env=env,
        )
    except subprocess.TimeoutExpired as err:
        raise ClusterJoinError(
            address,
            f"it accepts connections but no Ray GCS answers within {JOIN_GCS_S:g} s"
            + saved_log(err.stdout, err.stderr),
        ) from None
    *said, last = res.stdout.strip().splitlines() or [""]
    try:
        answer = json.loads(last)
    except ValueError:
        said, answer = [*said, last], {"ok": False, "kind": "crash", "error": res.returncode}
    if not answer.get("ok"):
        raise ClusterJoinError(address, _reason(answer) + saved_log("\n".join(said), res.stderr))


def _reason(answer: dict) -> str:
    kind, error = answer.get("kind", ""), str(answer.get("error", ""))
    if kind == "AuthenticationError":
        return (
            "it refused this client's auth token (give the cluster's token in RAY_AUTH_TOKEN, "
            "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
        )
    if kind == "version":
        import platform

        import ray

        theirs = answer.get("meta") or {}
        return (
            f"it runs Ray {theirs.get('ray_version')} on Python {theirs.get('python_version')}, "
            f"this client Ray {ray.__version__} on Python {platform.python_version()}"
        )
    if kind == "crash":
        return f"the GCS probe exited with status {error}"
    if "Timed out while waiting for GCS" in error:
        return f"it accepts connections but no Ray GCS answers ({error})"
    return f"its GCS refused this client ({kind}: {error})"


def saved_log(*texts: str | bytes | None) -> str:
    """Ray's lines from the probe into a log file; '; Ray's messages: PATH' (or '' if none)."""
    text = "".join(t.decode(errors="replace") if isinstance(t, bytes) else t or "" for t in texts)
    if not text.strip():
        return ""
    fd, path = tempfile.mkstemp(prefix="vidcolor-join-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return f"; Ray's messages: {path}"


def ray_init(**kwargs) -> None:
    """``ray.init(**kwargs)`` keeping the Python SIGTERM handler this process had (the CLI's, which
    unwinds the run): ``ray.init`` installs its own (``sys.exit``, or killing a local head's
    processes). Without one (SIG_DFL: the Python API), Ray's stays. A failure to join an address
    (after :func:`check_joinable` passed) is a :class:`ClusterJoinError` too."""
    import ray

    keep = _signal_keeper()
    address = kwargs.get("address")
    try:
        ray.init(**kwargs)
    except Exception as err:
        if address in (None, "local"):
            raise
        first = next((x for x in str(err).splitlines() if x.strip()), "")
        raise ClusterJoinError(
            address, f"ray.init failed after its GCS answered ({type(err).__name__}: {first})"
        ) from err
    finally:
        keep()


def _signal_keeper() -> Callable[[], None]:
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # only the main thread sets handlers (Ray does the same check)
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):  # SIG_DFL, SIG_IGN or set outside Python (None)
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)
