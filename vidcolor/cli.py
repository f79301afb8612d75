"""The one command-line entry point: ``vidcolor <command> ...``.

Each command lives in ``vidcolor/commands/<name>.py`` with ``register(subparsers)`` (adds its parser
and ``set_defaults(run=...)``) and a ``run(args) -> int``. Command modules are imported here only to
build the parser; heavy imports (torch, ray, av) happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable

from vidcolor import __version__
from vidcolor.errors import VidcolorError

COMMANDS = ["models", "colourise", "report", "probe", "train", "evaluate", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidcolor",
        description="Colourise black-and-white film and photos with ViT-Inception-GAN, on Ray.",
    )
    parser.add_argument("--version", action="version", version=f"vidcolor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"vidcolor.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"vidcolor.commands.{name}":
                continue  # command not built yet in this checkout
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_parsed(build_parser().parse_args(argv))


def job_main(
    prog: str,
    description: str,
    add_arguments: Callable[..., None],
    run: Callable[[argparse.Namespace], int],
    argv: list[str] | None = None,
) -> int:
    """A ``jobs/*.py`` entry point: the command's own options, joining the cluster it runs on."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser, default_address="auto")
    args = parser.parse_args(argv)
    args.run = run
    return run_parsed(args)


class StopOnSigterm:
    """While entered, SIGTERM raises KeyboardInterrupt in the main thread as Ctrl-C does: the run
    unwinds through its ``finally`` blocks (Ray shut down; a started run's state stays resumable
    under OUT). ``received`` tells the two apart afterwards (Ray Train re-raises its own
    KeyboardInterrupt). A second SIGTERM during the unwinding kills at once (the default action).
    The previous handler is back on exit."""

    def __init__(self) -> None:
        self.received = False
        self._installed = False
        self._previous: object = None

    def _stop(self, signum: int, frame: object) -> None:
        self.received = True
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    def __enter__(self) -> StopOnSigterm:
        import threading

        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            self._previous = signal.signal(signal.SIGTERM, self._stop)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:  # None: the old handler was not set from Python; the default then
            signal.signal(
                signal.SIGTERM, signal.SIG_DFL if self._previous is None else self._previous
            )


def run_parsed(args: argparse.Namespace) -> int:
    """Run a parsed command; user-facing errors become one line and their exit code; SIGTERM and
    Ctrl-C stop it with one line and 128 + the signal's number."""
    stop = StopOnSigterm()
    try:
        with stop:
            return int(args.run(args) or 0)
    except VidcolorError as err:
        print(f"vidcolor: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        if stop.received:
            print("vidcolor: stopped (SIGTERM)", file=sys.stderr)
            return 128 + signal.SIGTERM
        print("vidcolor: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
