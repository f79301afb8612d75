"""``vidcolor colourise INPUT... -o OUT``: colourise photos (video comes with the pipeline)."""

from __future__ import annotations

import argparse
import sys
from pathlib import PurePosixPath


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "colourise",
        aliases=["colorize"],
        help="colourise images (files, directories, globs, s3:// prefixes)",
        description="Colourise black-and-white photos. Outputs keep the input's L channel at full "
        "resolution and the inputs' relative paths and formats under OUT.",
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="file, directory, glob or s3:// prefix"
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output dir or s3:// prefix"
    )
    p.add_argument(
        "--checkpoint", default=None, help="generator .safetensors (default: shipped demo)"
    )
    p.add_argument("--model-size", type=int, default=256, help="model short side (multiple of 32)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--inception-weights", default=None, help="Inception-v3 weights (vit-i-gan)")
    p.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vidcolor import storage
    from vidcolor.errors import UsageError, VidcolorError
    from vidcolor.image import colourise_image
    from vidcolor.infer import Colouriser

    if args.model_size % 32 or args.model_size <= 0:
        raise UsageError(f"--model-size must be a positive multiple of 32, got {args.model_size}")
    files = storage.list_inputs(args.inputs)
    images = [f for f in files if PurePosixPath(f.uri).suffix.lower() in storage.IMAGE_EXTS]
    colouriser = Colouriser(
        args.checkpoint, device=args.device, inception_weights=args.inception_weights
    )
    failed = 0
    for item in tqdm(images, desc="colourise", unit="image", disable=None):
        try:
            dst = storage.safe_join(args.output, item.relpath)
            if storage.exists(dst) and not args.overwrite:
                continue
            colourise_image(item.uri, dst, colouriser, model_size=args.model_size)
        except VidcolorError as err:
            failed += 1
            print(f"vidcolor: error: {err}", file=sys.stderr)
    print(f"wrote {len(images) - failed} of {len(images)} image(s) under {args.output}")
    return 1 if failed else 0
