"""What the report says of an input's references: each one's name, kind, frame and time, the shots
it reached (and how many of their frames), and a thumbnail beside the result.

Segments note which owned frames each reference changed (as ranges, in the segment's notes); the
join, on a worker, turns them into shots with the video's scene cuts."""

from __future__ import annotations

import bisect

import numpy as np

from vidcolor.guide.sidecars import RefSpec
from vidcolor.pipeline.thumbnails import reference_thumbnail


def reached_ranges(pairs: np.ndarray) -> list[list[int]]:
    """(reference, frame) pairs -> [[reference, first frame, last frame + 1], ...] runs."""
    runs: list[list[int]] = []
    for ref, frame in sorted(map(tuple, np.asarray(pairs, np.int64).reshape(-1, 2).tolist())):
        if runs and runs[-1][0] == ref and runs[-1][2] == frame:
            runs[-1][2] += 1
        else:
            runs.append([ref, frame, frame + 1])
    return runs


def entries(
    specs: list[RefSpec],
    runs: list[list[int]],
    cuts: list[dict],
    *,
    output_root: str,
    relpath: str,
) -> list[dict]:
    """The report's list for one input: ``runs`` from every segment's notes, ``cuts`` the video's
    scene cuts ({"frame", "time"}; none for a photo)."""
    starts = [c["frame"] for c in cuts]
    out = []
    for i, spec in enumerate(specs):
        shots: dict[int, int] = {}
        for ref, lo, hi in runs:
            if ref != i:
                continue
            for frame in range(lo, hi):
                shot = bisect.bisect_right(starts, frame)
                shots[shot] = shots.get(shot, 0) + 1
        out.append(
            {
                **spec.to_dict(),
                "shots": [
                    {"shot": s, "start": 0.0 if s == 0 else cuts[s - 1]["time"], "frames": n}
                    for s, n in sorted(shots.items())
                ],
                "thumbnail": reference_thumbnail(spec.uri, output_root, relpath, i),
            }
        )
    return out
