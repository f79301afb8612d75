"""Ray job entry point: ``ray job submit --working-dir . -- python jobs/colourise.py INPUT... -o OUT``.

Same options as ``vidcolor colourise``; joins the cluster it runs on (``--address auto``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# `ray job submit --working-dir .` runs this file from the uploaded checkout: make it importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.commands.colourise import DESCRIPTION, add_pipeline_arguments, run
from vidcolor.errors import VidcolorError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jobs/colourise.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pipeline_arguments(parser, default_address="auto")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except VidcolorError as err:
        print(f"vidcolor: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
