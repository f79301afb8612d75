"""``ray job submit --working-dir . -- python jobs/train.py --data s3://... --output s3://...``

The same options as ``vidcolor train``; joins the cluster the job runs on (``--address auto``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# `ray job submit --working-dir .` runs this file from the uploaded checkout: make it importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.commands.train import add_arguments, run
from vidcolor.errors import VidcolorError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/train.py", description=__doc__)
    add_arguments(parser, default_address="auto")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except VidcolorError as err:
        print(f"vidcolor: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
