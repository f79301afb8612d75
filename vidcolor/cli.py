"""The one command-line entry point: ``vidcolor <command> ...``.

Each command lives in ``vidcolor/commands/<name>.py`` with ``register(subparsers)`` (adds its parser
and ``set_defaults(run=...)``) and a ``run(args) -> int``. Command modules are imported here only to
build the parser; heavy imports (torch, ray, av) happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vidcolor import __version__
from vidcolor.errors import VidcolorError

COMMANDS = ["models", "colourise", "probe", "train", "evaluate", "bench"]


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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except VidcolorError as err:
        print(f"vidcolor: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("vidcolor: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
