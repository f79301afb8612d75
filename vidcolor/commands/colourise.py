"""``vidcolor colourise INPUT... -o OUT``: colourise films and photos, locally or on a Ray cluster."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from vidcolor.pipeline.config import MAX_GPU_ACTORS, PipelineConfig

# CLI defaults come from the dataclass (cheap to import: no torch, no av).
DEFAULTS = {f.name: f.default for f in dataclasses.fields(PipelineConfig)}

CODEC_CHOICES = [
    "h264",
    "h265",
    "ffv1",
    "prores",
]  # vidcolor.video.encode.CODECS (kept import-free)

DESCRIPTION = """\
Colourise black-and-white videos and photos. Each INPUT is a file, a directory (searched
recursively), a glob or an s3:// prefix. Results go under OUT (a directory or s3:// prefix) with the
inputs' relative paths and names: videos as .mp4 (.mov for prores, .mkv for ffv1 or when an
audio/subtitle stream cannot go in mp4), photos in their own format. The output keeps the input's
lightness exactly; only colour is added. Audio and subtitles are copied untouched.

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
  vidcolor colourise s3://bucket/bw/ -o s3://bucket/colour/ --address auto --preview
"""


def add_pipeline_arguments(p: argparse.ArgumentParser, *, default_address: str | None) -> None:
    """The options shared by this command and jobs/colourise.py."""
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="file, directory, glob or s3:// prefix"
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="directory or s3:// prefix")
    m = p.add_argument_group("model")
    m.add_argument(
        "--checkpoint", metavar="FILE", help="generator .safetensors (default: the shipped demo)"
    )
    m.add_argument(
        "--model-size",
        type=int,
        default=DEFAULTS["model_size"],
        metavar="N",
        help="short side of the frames the model sees, a multiple of 32 (default: %(default)s)",
    )
    m.add_argument("--inception-weights", metavar="FILE", help="Inception-v3 weights (vit-i-gan)")
    m.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULTS["batch_size"],
        metavar="N",
        help="frames per model pass (default: %(default)s)",
    )
    m.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=DEFAULTS["device"],
        help="cuda: a GPU per model actor, asked for even before a GPU node is up (an "
        "autoscaler starts them); auto: cuda when the cluster has GPUs or its autoscaler can add "
        "them, else cpu. The choice is the first line printed and is in the report "
        "(default: %(default)s)",
    )
    v = p.add_argument_group("video")
    v.add_argument(
        "--codec", choices=CODEC_CHOICES, default=DEFAULTS["codec"], help="default: %(default)s"
    )
    v.add_argument(
        "--crf",
        type=int,
        default=DEFAULTS["crf"],
        help="h264/h265 quality, lower is better (default: %(default)s)",
    )
    v.add_argument(
        "--deinterlace",
        action="store_true",
        help="deinterlace with bwdif first (one frame out per frame in; the output is progressive "
        "and its luma no longer the source's code for code)",
    )
    v.add_argument(
        "--smoothing",
        type=int,
        default=DEFAULTS["smoothing"],
        metavar="N",
        help="temporal smoothing of colour along motion, reset at scene cuts: strength N (the "
        "frames on each side weigh N times the frame itself); 0 = off (default: %(default)s)",
    )
    v.add_argument(
        "--segment-seconds",
        type=float,
        default=DEFAULTS["segment_seconds"],
        metavar="S",
        help="videos are split into keyframe-aligned segments of about S seconds "
        "(default: %(default)s)",
    )
    r = p.add_argument_group(
        "references (steer the colours: README, Steering the colours)",
        "beside reel.mp4, a folder reel.refs/ of images named\n"
        "  frame-NNNNNN.EXT or HH-MM-SS.mmm.EXT  a coloured copy of that frame (with\n"
        "                                        transparency: hint strokes)\n"
        "  shot-<frame or time>[-name].EXT       a reference photo for that frame's shot\n"
        "  any other name                        a reference photo for the whole film\n"
        "beside photo.jpg: photo.hints.png (strokes) and photo.refs/ (reference photos)",
    )
    r.add_argument(
        "--references",
        metavar="DIR",
        help="the same layout under DIR (local or s3://), mirroring the input tree",
    )
    r.add_argument(
        "--reference",
        metavar="IMG",
        help="a reference photo for every input that has no references of its own",
    )
    r.add_argument(
        "--reference-reach",
        type=float,
        default=DEFAULTS["reference_reach"],
        metavar="S",
        help="seconds a keyframe's colours are carried along the motion each way; further out "
        "they reach frames by correspondence (default: %(default)s)",
    )
    c = p.add_argument_group("cluster")
    c.add_argument(
        "--address",
        default=default_address,
        metavar="ADDR",
        help="Ray cluster to join: 'auto' (the one this machine is part of) or ray://host:10001; "
        + ("default: auto" if default_address else "default: start a local Ray"),
    )
    c.add_argument("--num-actors", type=int, metavar="N", help="fixed number of model actors")
    c.add_argument(
        "--min-actors",
        type=int,
        default=DEFAULTS["min_actors"],
        metavar="N",
        help="autoscaling lower bound (default: %(default)s)",
    )
    c.add_argument(
        "--max-actors",
        type=int,
        metavar="N",
        help=f"autoscaling upper bound (default: {MAX_GPU_ACTORS} for GPU actors, "
        "--min-actors for CPU actors)",
    )
    c.add_argument(
        "--model-threads",
        type=int,
        metavar="N",
        help="torch threads of each CPU model actor (default: 2 per CPU it reserves, at most "
        "the machine's cores: the model is the slowest stage on CPU and takes the time decode "
        "and encode leave idle)",
    )
    o = p.add_argument_group("output")
    o.add_argument(
        "--overwrite", action="store_true", help="redo everything, even finished outputs"
    )
    o.add_argument(
        "--preview",
        action="store_true",
        help="also write NAME.preview.png (before/after contact sheet) and NAME.preview.mp4 "
        "(side-by-side clip) per video",
    )
    talk = o.add_mutually_exclusive_group()
    talk.add_argument(
        "--quiet",
        action="store_true",
        help="print nothing but errors and the final summary line (no progress bar)",
    )
    talk.add_argument(
        "--verbose",
        action="store_true",
        help="also show Ray's own log lines and the workers' output (by default they go to "
        "vidcolor-driver.log and the other logs in the Ray session's log directory)",
    )


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


def config_from_args(args: argparse.Namespace):
    from vidcolor.pipeline import PipelineConfig

    return PipelineConfig(
        checkpoint=args.checkpoint,
        inception_weights=args.inception_weights,
        model_size=args.model_size,
        codec=args.codec,
        crf=args.crf,
        deinterlace=args.deinterlace,
        smoothing=args.smoothing,
        segment_seconds=args.segment_seconds,
        references=args.references,
        reference=args.reference,
        reference_reach=args.reference_reach,
        batch_size=args.batch_size,
        num_actors=args.num_actors,
        min_actors=args.min_actors,
        max_actors=args.max_actors,
        model_threads=args.model_threads,
        device=args.device,
        address=args.address,
        overwrite=args.overwrite,
        preview=args.preview,
        progress=not args.quiet,
        verbose=args.verbose,
    )


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
    console_logging(quiet=args.quiet, verbose=args.verbose)
    report = colourise(args.inputs, args.output, config)
    for failed in report.failed:
        print(f"vidcolor: error: {failed.error}", file=sys.stderr)
    print(f"{report.summary()}; report: {safe_join(args.output, REPORT_NAME)}")
    return report.exit_code
