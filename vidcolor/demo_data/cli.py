"""``python -m vidcolor.demo_data DIR``: build the demo photo set (see the package's docstring)."""

from __future__ import annotations

import argparse

import vidcolor.demo_data
from vidcolor.demo_data.build import build_photo_set
from vidcolor.demo_data.catalogue import HELDOUT, TRAIN, VALIDATION


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=vidcolor.demo_data.__doc__.splitlines()[0])
    parser.add_argument("root", help="output directory")
    parser.add_argument("--max-side", type=int, default=768, help="longest side of stored photos")
    args = parser.parse_args(argv)
    record = build_photo_set(args.root, max_side=args.max_side)
    splits = [p["split"] for p in record["photos"]]
    print(
        f"{args.root}: {splits.count(TRAIN)} training, {splits.count(VALIDATION)} validation and "
        f"{splits.count(HELDOUT)} held-out photos; {len(record['skipped'])} skipped "
        "(see SOURCES.json)"
    )
