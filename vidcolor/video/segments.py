"""Split a video into keyframe-aligned segments that decode independently, with context frames.

A segment owns the frames with ``start_pts <= pts < end_pts`` (display order). It also carries up to
``overlap`` frames of context on each side (for temporal smoothing across the cut); the decoder
seeks to ``seek_pts``, the keyframe at or before the first context frame.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass

from vidcolor.video.probe import VideoInfo


@dataclass(frozen=True)
class Segment:
    index: int
    start_pts: int
    end_pts: int | None  # exclusive; None = to the end of the video
    context_start_pts: int
    context_end_pts: int | None  # exclusive; None = to the end of the video
    seek_pts: int
    n_frames: int  # owned
    n_before: int  # context frames actually present before start_pts
    n_after: int  # context frames actually present from end_pts on

    @property
    def n_decoded(self) -> int:
        return self.n_before + self.n_frames + self.n_after

    def owns(self, pts: int) -> bool:
        """Whether the frame at ``pts`` is this segment's own (not its context)."""
        return self.start_pts <= pts and (self.end_pts is None or pts < self.end_pts)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Segment:
        return cls(**d)


def plan_segments(
    info: VideoInfo,
    segment_seconds: float = 10.0,
    overlap: int = 8,
    anchors: tuple[int, ...] | list[int] = (),
    reach: int = 0,
) -> list[Segment]:
    """Cut at the first keyframe at least ``segment_seconds`` after the previous cut.

    ``anchors`` (frame indices of references tied to a frame, ``vidcolor.guide``) reach ``reach``
    frames each way: a segment whose frames (context included) lie within reach of one decodes
    as context every frame up to it, so that what a reference does to a frame never depends on
    where the segments were cut."""
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be positive, got {segment_seconds}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    pts = info.frame_pts
    n = len(pts)
    keyframes = set(info.keyframe_pts)
    sorted_keys = sorted(keyframes)
    min_span = segment_seconds / float(info.time_base)  # in pts units

    starts = [0]
    for i in range(1, n):
        if pts[i] in keyframes and pts[i] - pts[starts[-1]] >= min_span:
            starts.append(i)

    segments = []
    for k, i0 in enumerate(starts):
        i1 = starts[k + 1] if k + 1 < len(starts) else n
        lo = max(0, i0 - overlap)
        hi = min(n, i1 + overlap)
        for a in anchors:
            if a < lo and i0 - a <= reach + overlap:
                lo = a
            if a >= hi and a - (i1 - 1) <= reach + overlap:
                hi = min(n, a + 1)
        context_start = pts[lo]
        key_at = bisect.bisect_right(sorted_keys, context_start) - 1
        seek = sorted_keys[key_at] if key_at >= 0 else pts[0]
        segments.append(
            Segment(
                index=k,
                start_pts=pts[i0],
                end_pts=pts[i1] if i1 < n else None,
                context_start_pts=context_start,
                context_end_pts=pts[hi] if hi < n else None,
                seek_pts=seek,
                n_frames=i1 - i0,
                n_before=i0 - lo,
                n_after=hi - i1,
            )
        )
    return segments
