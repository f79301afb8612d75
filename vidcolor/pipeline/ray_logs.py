"""Where Ray's own log lines go when vidcolor starts or joins Ray: the Ray session's log directory
(``<session>/logs/vidcolor-driver.log``), or the terminal with ``--verbose``.

Three kinds reach a driver's terminal otherwise: the Python ``ray`` loggers (token-auth warning,
"Started a local Ray instance"), Ray Data's console handler ("Progress bars disabled") and lines the
core worker (C++) writes straight to file descriptor 2 (e.g. the actor-constructor error of
ray-project/ray#53727). The first two are re-routed with Python logging; for the third, fd 2 itself
points at the log file while Ray runs and ``sys.stderr`` keeps the terminal, so vidcolor's own
errors, progress bar and Python tracebacks still show.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable

LOG_NAME = "vidcolor-driver.log"
FORMAT = "%(asctime)s\t%(levelname)s %(name)s -- %(message)s"


class _SessionLog(logging.Handler):
    """Holds records until the log file is known (Ray's session exists only after ray.init)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(FORMAT))
        self.held: list[logging.LogRecord] = []
        self.file: logging.Handler | None = None

    def open(self, path: str) -> None:
        self.file = logging.FileHandler(path, encoding="utf-8")
        self.file.setFormatter(self.formatter)
        for record in self.held:
            self.file.handle(record)
        self.held.clear()

    def emit(self, record: logging.LogRecord) -> None:
        if self.file is not None:
            self.file.handle(record)
        elif len(self.held) < 1000:
            self.held.append(record)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        super().close()


def _log_path() -> str:
    import ray

    node = ray._private.worker._global_node  # None when connected through ray:// (Ray Client)
    logs = node.get_logs_dir_path() if node is not None else tempfile.gettempdir()
    return os.path.join(logs, LOG_NAME)


def init_ray(address: str, *, verbose: bool = False) -> Callable[[], None]:
    """``ray.init(address)`` with Ray's own logging routed to the session's log directory (left on
    the terminal when ``verbose``); returns the function that shuts Ray down and restores it all.
    An address other than "local" is checked first: one that cannot be joined is refused within
    about 30 s (:func:`vidcolor.pipeline.join.check_joinable`)."""
    import ray
    import ray.data  # noqa: F401 - configures the "ray.data" logger, re-routed below

    from vidcolor.pipeline.join import ClusterJoinError, check_joinable, ray_init

    if address != "local":
        check_joinable(address)
    if verbose:
        ray_init(address=address, include_dashboard=False, log_to_driver=True)
        return ray.shutdown
    handler = _SessionLog()
    saved = {}
    for name in ("ray", "ray.data"):
        logger = logging.getLogger(name)
        saved[name] = logger.handlers[:]
        for h in logger.handlers[:]:  # terminal handlers go; ray.data's ray-data.log stays
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                logger.removeHandler(h)
        logger.addHandler(handler)

    def restore_loggers() -> None:
        for name, handlers in saved.items():
            logging.getLogger(name).handlers[:] = handlers
        handler.close()

    try:
        ray_init(address=address, include_dashboard=False, log_to_driver=False)
    except ClusterJoinError as err:  # one line; what Ray logged goes to a file it names
        restore_loggers()
        raise err.with_log("\n".join(handler.format(r) for r in handler.held)) from err.__cause__
    except BaseException:
        restore_loggers()  # Ray could not start: what it logged explains why, so show it
        for record in handler.held:
            logging.getLogger(record.name).handle(record)
        raise
    path = _log_path()
    handler.open(path)
    terminal = _native_stderr_to(path)

    def shutdown() -> None:
        try:
            ray.shutdown()
        finally:
            terminal()
            restore_loggers()

    return shutdown


def _native_stderr_to(path: str) -> Callable[[], None]:
    """Point fd 2 at ``path`` and ``sys.stderr`` at a copy of the old fd 2; returns the undo."""
    try:
        sys.stderr.flush()
        terminal_fd = os.dup(2)
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except (OSError, AttributeError, ValueError):  # no real fd 2 (e.g. embedded): leave it
        return lambda: None
    old_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(terminal_fd), "w", buffering=1, errors="backslashreplace")
    os.dup2(log_fd, 2)
    os.close(log_fd)

    def undo() -> None:
        sys.stderr.flush()
        os.dup2(terminal_fd, 2)
        os.close(terminal_fd)
        sys.stderr.close()
        sys.stderr = old_stderr

    return undo
