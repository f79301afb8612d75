"""``vidcolor report OUT``: rebuild ``OUT/vidcolor-report.html`` from ``OUT/vidcolor-report.json``."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="rebuild OUT/vidcolor-report.html from OUT/vidcolor-report.json (local or s3://)",
        description="Rebuild the HTML run report of a colourisation output from its "
        "vidcolor-report.json, e.g. after copying the output or for a run written by an older "
        "vidcolor. Thumbnails written by the run (OUT/vidcolor-report/thumbs/) are linked, not "
        "remade. Prints where the page is.",
    )
    p.add_argument("output", metavar="OUT", help="output directory or s3:// prefix of a run")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidcolor import storage
    from vidcolor.errors import VidcolorError
    from vidcolor.pipeline.plan import REPORT_NAME
    from vidcolor.pipeline.report import html_uri, write_html

    src = storage.safe_join(args.output, REPORT_NAME)
    if not storage.exists(src):
        raise VidcolorError(f"{src}: no such report (run `vidcolor colourise ... -o OUT` first)")
    try:
        report = json.loads(storage.read_bytes(src))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise VidcolorError(f"{src}: not a vidcolor report ({err})") from err
    if not isinstance(report, dict) or not isinstance(report.get("inputs"), list):
        raise VidcolorError(f"{src}: not a vidcolor report (no list of inputs)")
    if not all(isinstance(r, dict) for r in report["inputs"]):
        raise VidcolorError(f"{src}: not a vidcolor report (an input entry is not an object)")
    dst = html_uri(src)
    try:
        write_html(dst, report)
    except (TypeError, ValueError, AttributeError) as err:  # a hand-edited or foreign JSON
        raise VidcolorError(f"{src}: not a vidcolor report ({err})") from err
    print(dst)
    return 0
