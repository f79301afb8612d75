"""``vidcolor evaluate``: metrics of a colourised image, folder or video against a reference.

--reference and --candidate are two images, two image folders (matched by relative path) or two
videos (matched frame by frame). Without --reference only the no-reference metrics run
(colourfulness, CDC, flicker, warping error). Prints a table, or JSON with --json (nan -> null, inf -> "inf").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

from vidcolor.errors import UsageError, VidcolorError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def register(subparsers) -> None:
    from vidcolor.metrics.suite import DEFAULT_CANDIDATE_ONLY, DEFAULT_WITH_REFERENCE, METRICS

    p = subparsers.add_parser(
        "evaluate",
        help="measure colour quality and temporal stability",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="metrics: "
        + "; ".join(f"{name}: {info.description}" for name, info in METRICS.items()),
    )
    p.add_argument("--reference", "-r", type=Path, help="true colours: image, folder or video")
    p.add_argument("--candidate", "-c", type=Path, required=True, help="colourised result")
    p.add_argument(
        "--metrics",
        nargs="+",
        metavar="NAME",
        help=f"metrics to compute, space or comma separated (default: {','.join(DEFAULT_WITH_REFERENCE)}"
        f" with a reference, {','.join(DEFAULT_CANDIDATE_ONLY)} without)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--inception-weights", type=Path, help="Inception-v3 weights file (for fid)")
    p.add_argument("--max-frames", type=int, help="evaluate only the first N frames or images")
    p.set_defaults(run=run)


def _kind(path: Path, flag: str) -> str:
    if path.is_dir():
        return "folder"
    if not path.is_file():
        raise VidcolorError(f"{path}: no such file or folder ({flag})")
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"


def _folder_images(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _video_frames(path: Path) -> Iterator:
    from vidcolor.video.frames import iter_display_frames

    return iter_display_frames(str(path))


def _frames(path: Path, kind: str, names: list[str] | None) -> Iterator[tuple[str, object]]:
    """(label, uint8 RGB frame) in order."""
    from vidcolor.image import read_image

    if kind == "image":
        yield path.name, read_image(str(path))
    elif kind == "folder":
        for name in names:
            yield name, read_image(str(path / name))
    else:
        for i, frame in enumerate(_video_frames(path)):
            yield f"frame {i}", frame


def _pairs(reference: Path | None, candidate: Path) -> tuple[str, Iterator]:
    """The input kind and an iterator of (label, candidate frame, reference frame or None)."""
    kind = _kind(candidate, "--candidate")
    names = None
    if kind == "folder":
        names = _folder_images(candidate)
        if not names:
            raise VidcolorError(
                f"{candidate}: no images in folder ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
    if reference is None:
        return kind, ((label, frame, None) for label, frame in _frames(candidate, kind, names))
    ref_kind = _kind(reference, "--reference")
    if ref_kind != kind:
        raise UsageError(
            f"--reference {reference} is {'a ' + ref_kind if ref_kind != 'image' else 'an image'} "
            f"but --candidate {candidate} is {'a ' + kind if kind != 'image' else 'an image'}"
        )
    if kind == "folder":
        ref_names = _folder_images(reference)
        for missing_in, have, lacking in (
            (candidate, ref_names, names),
            (reference, names, ref_names),
        ):
            absent = sorted(set(have) - set(lacking))
            if absent:
                raise VidcolorError(
                    f"{missing_in}: lacks {len(absent)} image(s) the other folder has "
                    f"(first: {absent[0]}); folders are matched by relative path"
                )

    def zipped():
        cand_iter = _frames(candidate, kind, names)
        ref_iter = _frames(reference, kind, names)
        for (label, cand), (_, ref) in _zip_exact(cand_iter, ref_iter, candidate, reference):
            if cand.shape != ref.shape:
                raise VidcolorError(
                    f"{candidate}: {label} is {cand.shape[1]}x{cand.shape[0]} but the reference "
                    f"{reference} has {ref.shape[1]}x{ref.shape[0]}"
                )
            yield label, cand, ref

    return kind, zipped()


def _zip_exact(cand_iter, ref_iter, candidate: Path, reference: Path):
    """zip() that fails with a clear message when one side runs out first."""
    count = 0
    while True:
        cand = next(cand_iter, None)
        ref = next(ref_iter, None)
        if cand is None and ref is None:
            return
        if cand is None or ref is None:
            longer, shorter = (reference, candidate) if cand is None else (candidate, reference)
            raise VidcolorError(
                f"{shorter}: ends after {count} frames but {longer} has more; "
                f"videos are matched frame by frame"
            )
        count += 1
        yield cand, ref


def _metric_names(args) -> list[str]:
    from vidcolor.metrics.suite import DEFAULT_CANDIDATE_ONLY, DEFAULT_WITH_REFERENCE, METRICS

    if not args.metrics:
        return list(DEFAULT_WITH_REFERENCE if args.reference else DEFAULT_CANDIDATE_ONLY)
    names = [n.strip().lower().replace("-", "_") for item in args.metrics for n in item.split(",")]
    names = list(dict.fromkeys(n for n in names if n))
    for name in names:
        if name not in METRICS:
            raise UsageError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
        if METRICS[name].needs_reference and args.reference is None:
            raise UsageError(f"metric {name!r} needs --reference")
    return names


def _json_value(x: float):
    if math.isnan(x):
        return None
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def run(args) -> int:
    from vidcolor.metrics.suite import METRICS, MetricSuite

    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames must be >= 1, got {args.max_frames}")
    names = _metric_names(args)
    kind, pairs = _pairs(args.reference, args.candidate)
    suite = MetricSuite(names, inception_weights=args.inception_weights)
    for label, cand, ref in pairs:
        if args.max_frames is not None and suite.frames >= args.max_frames:
            break
        try:
            suite.update(cand, ref)
        except ValueError as err:
            raise VidcolorError(f"{args.candidate}: {label}: {err}") from err
    results = suite.results()
    if args.json:
        report = {
            "reference": str(args.reference) if args.reference else None,
            "candidate": str(args.candidate),
            "kind": kind,
            "frames": suite.frames,
            "metrics": {name: _json_value(v) for name, v in results.items()},
        }
        if suite.cuts is not None:
            report["cuts"] = suite.cuts
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    source = f"{args.candidate}" + (f" vs {args.reference}" if args.reference else "")
    print(f"{source}: {suite.frames} {'frame(s)' if kind == 'video' else 'image(s)'}")
    width = max(len(n) for n in names)
    for name, value in results.items():
        shown = "n/a" if math.isnan(value) else f"{value:.4f}"
        unit = METRICS[name].unit
        print(f"  {name:<{width}}  {shown:>10} {unit:<3}  {METRICS[name].description}")
    if suite.cuts:
        print(f"  shot cuts at frames: {', '.join(map(str, suite.cuts))}")
    return 0
