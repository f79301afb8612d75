"""The one command-line entry point: ``vidcolor <command> ...``.

Each command lives in ``vidcolor/commands/<name>.py`` with ``register(subparsers)`` (adds its parser
and ``set_defaults(run=...)``) and a ``run(args) -> int``. Command modules are imported here only to
build the parser; heavy imports (torch, ray, av) happen inside ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
from collections.abc import Callable, Iterator

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


class Stopped(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt: the run unwinds through
    its ``finally`` blocks (Ray shut down; a started run's state stays resumable under OUT)."""

    signum = signal.SIGTERM


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM stops the command as Ctrl-C does; a second one during the unwinding kills at once
    (the default action). The previous handler is back afterwards."""

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Stopped

    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def run_parsed(args: argparse.Namespace) -> int:
    """Run a parsed command; user-facing errors become one line and their exit code; SIGTERM and
    Ctrl-C stop it with one line and 128 + the signal's number."""
    try:
        with stop_on_sigterm():
            return int(args.run(args) or 0)
    except VidcolorError as err:
        print(f"vidcolor: error: {err}", file=sys.stderr)
        return err.exit_code
    except Stopped:
        print("vidcolor: stopped (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("vidcolor: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
