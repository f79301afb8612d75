"""``vidcolor probe FILE``: container, streams, frames, keyframes and the segment plan."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "probe",
        help="describe a video (streams, frame rate, keyframes) and its segment plan",
        description="Print a video's container, streams, frame count, keyframes and segment plan. "
        "Reads packets only (fast). FILE may be a local path or s3://bucket/key.",
    )
    p.add_argument("file", metavar="FILE", help="video file (local path or s3://bucket/key)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument(
        "--segment-seconds", type=float, default=10.0, help="target segment length (default 10)"
    )
    p.add_argument("--overlap", type=int, default=8, help="context frames each side (default 8)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vidcolor.errors import UsageError
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    if args.segment_seconds <= 0:
        raise UsageError("--segment-seconds must be positive")
    if args.overlap < 0:
        raise UsageError("--overlap must be >= 0")
    info = probe(args.file)
    segments = plan_segments(info, segment_seconds=args.segment_seconds, overlap=args.overlap)
    if args.json:
        out = info.to_dict()
        out["segments"] = [s.to_dict() for s in segments]
        print(json.dumps(out, indent=2))
        return 0
    print(_describe(info, segments))
    return 0


def _seconds(pts: int | None, info) -> str:
    return "end" if pts is None else f"{float(pts * info.time_base):.3f}s"


def _describe(info, segments) -> str:
    lines = [
        f"{info.uri}",
        f"  container: {info.container}   duration: {info.duration:.3f}s   "
        f"display size: {info.width}x{info.height}",
    ]
    for s in info.streams:
        base = f"  stream #{s.index} {s.kind}: {s.codec}, time base {s.time_base}"
        if s.language:
            base += f", language {s.language}"
        if s.kind == "video":
            base += (
                f", {s.width}x{s.height}, {s.frame_rate} fps, {s.pix_fmt} ({s.bit_depth} bit), "
                f"rotation {s.rotation or 0}, {s.frame_count} frames, {len(s.keyframes)} keyframes"
            )
        elif s.kind == "audio":
            base += f", {s.channels} ch, {s.sample_rate} Hz"
        lines.append(base)
    keys = ", ".join(_seconds(k, info) for k in info.keyframe_pts[:20])
    more = f" ... (+{len(info.keyframe_pts) - 20})" if len(info.keyframe_pts) > 20 else ""
    lines.append(f"  keyframes: {keys}{more}")
    lines.append(f"  segments: {len(segments)}")
    for seg in segments:
        lines.append(
            f"    #{seg.index}: [{_seconds(seg.start_pts, info)}, {_seconds(seg.end_pts, info)}) "
            f"{seg.n_frames} frames, context {seg.n_before} before / {seg.n_after} after, "
            f"seek {_seconds(seg.seek_pts, info)}"
        )
    return "\n".join(lines)
