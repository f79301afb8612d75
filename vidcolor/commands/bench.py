"""``vidcolor bench [NAME ...] [--smoke] [--out RESULTS.md]``: run the benchmarks under benchmarks/.

Each benchmark returns a ``BenchResult``; its Markdown is printed, and with ``--out`` written into
that file between ``<!-- bench:NAME -->`` markers (replacing the previous result of the same
benchmark, leaving everything else in the file as it was). ``--smoke`` runs each on tiny inputs
with a width-4 model, which only proves the scripts work (`make test-full`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BENCHMARKS = {
    "stages": "stage rates alone: decode, model per variant/width, smooth, encode",
    "pipeline": "in-process sequential loop vs the Ray pipeline (ratio)",
    "frames": "ffmpeg -> PNG -> model -> ffmpeg workflow vs vidcolor (speed, disk)",
    "memory": "peak RSS of all Ray processes, clip vs the clip 10x",
    "smoothing": "flicker, warping error, CDC, ab-PSNR: smoothing off / old / new (3 clips)",
    "references": "hue agreement, ab-PSNR, ms/frame: model alone / keyframe / reference photo",
    "train": "training samples/s with 1 and 2 workers (benchmarks/train_throughput.py)",
    "scale": "driver memory and writes for 30/300/1,000 clips, first output, S3 GETs per MB",
    "sequences": "2K 10-bit DPX read+write vs ffmpeg (one core); a sequence end to end vs video",
    "sizing": "CPU ms per stage at 720p/1080p, cores one GPU needs; the whole run vs ffmpeg",
    "gpu": "the model stage on a CUDA GPU: frames/s of the demo and paper-size models",
    "gpu_path": "the whole colourise command on one GPU at 720p/1080p: frames/s, GPU busy share",
}
NAMED_ONLY = {"gpu", "gpu_path"}  # need hardware most machines lack: run when named, not in "all"


def register(sub: argparse._SubParsersAction) -> None:
    listing = "; ".join(f"{k}: {v}" for k, v in BENCHMARKS.items())
    p = sub.add_parser(
        "bench",
        help="run benchmarks (stage rates, pipeline ratio, PNG workflow, memory, smoothing, train)",
        description=f"Run benchmarks and print their results as Markdown. {listing}.",
    )
    p.add_argument(
        "names", nargs="*", metavar="NAME", help="benchmarks to run (default: all but gpu)"
    )
    p.add_argument("--smoke", action="store_true", help="tiny inputs: check the scripts run")
    p.add_argument(
        "--out", type=Path, help="update this Markdown file (e.g. benchmarks/RESULTS.md)"
    )
    p.add_argument("--workdir", type=Path, help="keep clips and outputs here (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.set_defaults(run=run)


def benchmark_module(name: str):
    """Import ``benchmarks.<name>`` from the source checkout this vidcolor runs from."""
    import importlib

    from vidcolor.errors import VidcolorError

    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "__init__.py").is_file():
        raise VidcolorError(f"{root / 'benchmarks'}: not found (benchmarks run from a checkout)")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"benchmarks.{name}")


def run_benchmarks(names: list[str], workdir: Path, *, smoke: bool = False) -> tuple[list, dict]:
    """Run ``names`` in order; returns (results, {name: one-line error}) - one failure does not
    stop the others."""
    results, errors = [], {}
    for name in names:
        try:
            results.append(benchmark_module(name).run(workdir, smoke=smoke))
        except Exception as err:  # noqa: BLE001 - report it, go on with the next benchmark
            errors[name] = f"{type(err).__name__}: {' '.join(str(err).split())[:400]}"
    return results, errors


def section(result) -> str:
    return (
        f"<!-- bench:{result.name} -->\n### {result.title} (`{result.name}`)\n\n"
        f"{result.markdown()}<!-- /bench:{result.name} -->\n"
    )


def update_markdown(path: Path, results: list) -> None:
    """Replace each result's marked section in ``path`` (or append it), atomically."""
    from vidcolor import storage

    text = path.read_text() if path.exists() else "# Benchmark results\n"
    for result in results:
        block = section(result)
        pattern = re.compile(
            rf"<!-- bench:{re.escape(result.name)} -->.*?<!-- /bench:{re.escape(result.name)} -->\n?",
            re.S,
        )
        if match := pattern.search(text):
            text = text[: match.start()] + block + text[match.end() :]
        else:
            text = text.rstrip("\n") + "\n\n" + block
    storage.write_bytes_atomic(str(path), text.encode())


def run(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from vidcolor.errors import UsageError

    names = args.names or [n for n in BENCHMARKS if n not in NAMED_ONLY]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise UsageError(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    if args.smoke:
        import torch

        # Shared CI cores: one thread avoids OpenMP barrier stalls; smoke numbers mean nothing.
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="vidcolor-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results, errors = run_benchmarks(names, workdir, smoke=args.smoke)
    if args.json:
        print(json.dumps({"results": [r.to_dict() for r in results], "errors": errors}, indent=2))
    else:
        for result in results:
            print(section(result))
    if args.out and results:
        update_markdown(args.out, results)
    for name, error in errors.items():
        print(f"vidcolor: error: bench {name}: {error}", file=sys.stderr)
    return 1 if errors else 0
