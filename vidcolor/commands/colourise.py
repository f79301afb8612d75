"""``vidcolor colourise INPUT... -o OUT``: colourise films and photos, locally or on a Ray cluster."""

from __future__ import annotations

import argparse
import sys

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
        default=256,
        metavar="N",
        help="short side of the frames the model sees, a multiple of 32 (default: %(default)s)",
    )
    m.add_argument("--inception-weights", metavar="FILE", help="Inception-v3 weights (vit-i-gan)")
    m.add_argument(
        "--batch-size",
        type=int,
        default=16,
        metavar="N",
        help="frames per model pass (default: 16)",
    )
    m.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: a GPU per model actor when the cluster has GPUs, else CPU (default: auto)",
    )
    v = p.add_argument_group("video")
    v.add_argument("--codec", choices=CODEC_CHOICES, default="h264", help="default: h264")
    v.add_argument(
        "--crf", type=int, default=18, help="h264/h265 quality, lower is better (default: 18)"
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
        default=3,
        metavar="RADIUS",
        help="temporal smoothing of colour over +-RADIUS frames, reset at scene cuts; 0 = off "
        "(default: 3)",
    )
    v.add_argument(
        "--segment-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="videos are split into keyframe-aligned segments of about S seconds (default: 10)",
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
        default=1,
        metavar="N",
        help="autoscaling lower bound (default: 1)",
    )
    c.add_argument(
        "--max-actors",
        type=int,
        metavar="N",
        help="autoscaling upper bound (default: one per GPU, or 1 on CPU)",
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
    o.add_argument("--quiet", action="store_true", help="no progress bar")


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
        batch_size=args.batch_size,
        num_actors=args.num_actors,
        min_actors=args.min_actors,
        max_actors=args.max_actors,
        device=args.device,
        address=args.address,
        overwrite=args.overwrite,
        preview=args.preview,
        progress=not args.quiet,
    )


def run(args: argparse.Namespace) -> int:
    from vidcolor.pipeline import colourise
    from vidcolor.pipeline.plan import REPORT_NAME
    from vidcolor.storage import safe_join

    report = colourise(args.inputs, args.output, config_from_args(args))
    for failed in report.failed:
        print(f"vidcolor: error: {failed.error}", file=sys.stderr)
    print(f"{report.summary()}; report: {safe_join(args.output, REPORT_NAME)}")
    return report.exit_code
