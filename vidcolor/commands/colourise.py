"""``vidcolor colourise INPUT... -o OUT``: colourise films and photos, locally or on a Ray cluster."""

from __future__ import annotations

import argparse
import logging
import sys

from vidcolor import options
from vidcolor.options import add_options
from vidcolor.pipeline.config import PipelineConfig

DESCRIPTION = """\
Colourise black-and-white videos and photos. Each INPUT is a file, a directory (searched
recursively), a glob or an s3:// prefix. Results go under OUT (a directory or s3:// prefix) with the
inputs' relative paths and names: videos as .mp4 (.mov for prores, .mkv for ffv1 or when an
audio/subtitle stream cannot go in mp4), photos in their own format and bit depth. A folder's
numbered frame files (reel1_0086400.dpx ..., DPX/TIFF/PNG/JPEG) are one film, written back as the
same files (or as one video: --sequence-output video). The output keeps the input's lightness
exactly; only colour is added. Audio and subtitles are copied untouched.

Videos are cut into segments that run in parallel on Ray: decode -> model (a pool of actors, one
GPU each when the cluster has GPUs) -> temporal smoothing -> encode, then each video is joined.
A stopped run resumes where it left off when started again with the same command (finished videos
and segments are kept under OUT/.vidcolor-state). OUT/vidcolor-report.json lists every input.

Exit status: 0 all inputs done or skipped, 1 some input failed (the others still finish), 2 usage.
"""

EXAMPLES = """\
examples:
  vidcolor colourise film.mp4 -o coloured/
  vidcolor colourise archive/ 'reels/*.mkv' -o s3://bucket/coloured/ --codec ffv1
  vidcolor colourise scans/ -o graded/ --sequence-output video --codec prores
  vidcolor colourise s3://bucket/bw/ -o s3://bucket/colour/ --address auto --preview
  vidcolor colourise reels/ -o coloured/ --references refs/ --reference street.jpg

references (steer the colours; README, "Steering the colours"): beside reel.mp4, a folder
reel.refs/ of images named
  frame-NNNNNN.EXT or HH-MM-SS.mmm.EXT  a coloured copy of that frame (any size, same aspect;
                                        with transparency: hint strokes)
  shot-<frame or time>[-name].EXT       a reference photo for that frame's shot
  any other name                        a reference photo for the whole film
beside photo.jpg: photo.hints.png (hint strokes) and photo.refs/ (reference photos).
"""


def add_pipeline_arguments(p: argparse.ArgumentParser, *, default_address: str | None) -> None:
    """The options shared by this command and jobs/colourise.py: the inputs, the output and
    every option of :class:`PipelineConfig` (declared on its fields)."""
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="file, directory, glob or s3:// prefix"
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="directory or s3:// prefix")
    add_options(p, PipelineConfig, defaults={"address": default_address})


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "colourise",
        aliases=["colorize"],
        help="colourise videos and images (files, directories, globs, s3:// prefixes)",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pipeline_arguments(p, default_address=None)
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    return options.config_from_args(PipelineConfig, args)


def console_logging(*, quiet: bool, verbose: bool) -> None:
    """vidcolor's own log lines: none with --quiet (failed inputs are listed once at the end), all
    from INFO up with --verbose, else warnings and errors as they happen."""
    logger = logging.getLogger("vidcolor")
    if quiet:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    elif verbose:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        logger.setLevel(logging.INFO)


def run(args: argparse.Namespace) -> int:
    from vidcolor.pipeline import colourise
    from vidcolor.pipeline.plan import REPORT_NAME
    from vidcolor.storage import safe_join

    config = config_from_args(args)
    console_logging(quiet=not config.progress, verbose=config.verbose)
    report = colourise(args.inputs, args.output, config)
    for failed in report.failed:
        print(f"vidcolor: error: {failed.error}", file=sys.stderr)
    print(f"{report.summary()}; report: {safe_join(args.output, REPORT_NAME)}")
    return report.exit_code
