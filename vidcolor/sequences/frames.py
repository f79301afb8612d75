"""A segment's frames of a sequence: read only its range's files, gaps filled by a neighbour.

Frame ``i`` of the film is file number ``first + i``. A number without a file (missing) or a
file that cannot be read as a frame of the film (unreadable, or another size) is a gap: for the
model, the smoothing and a video output it is filled by the frame before (the one after at the
start of a range), so the timing stays exact, as for a video's concealed frames; among the frames
written back it has no file of its own (see :mod:`vidcolor.pipeline.sequences`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from vidcolor.errors import VidcolorError, one_line
from vidcolor.image import Picture, model_l, read_picture
from vidcolor.sequences.names import FrameSequence
from vidcolor.video.decode import DecodedSegment, LumaFrame, luma_of
from vidcolor.video.segments import Segment

log = logging.getLogger(__name__)


@dataclass
class Frame:
    index: int  # in the film
    picture: Picture  # its own, or the neighbour's where ``gap``
    gap: str = ""  # '' | 'missing' | 'unreadable'


def read_frame(seq: FrameSequence, index: int, size: tuple[int, int] | None) -> Picture | str:
    """Frame ``index``'s picture, or why it is a gap ('missing' | 'unreadable')."""
    number = seq.first + index
    if not seq.present(number):
        return "missing"
    try:
        picture = read_picture(seq.uri(number))
    except VidcolorError as err:
        log.warning("%s", one_line(f"{err}: frame {number} is a gap", 300))
        return "unreadable"
    if size is not None and picture.rgb.shape[:2] != size:
        shape = picture.rgb.shape
        log.warning("%s: %dx%d, not the film's size: a gap", seq.uri(number), shape[1], shape[0])
        return "unreadable"
    return picture


def frames_in(seq: FrameSequence, lo: int, hi: int, size: tuple[int, int]) -> Iterator[Frame]:
    """Frames ``lo`` to ``hi - 1``, every gap filled by its neighbour."""
    waiting: list[tuple[int, str]] = []  # gaps before the range's first readable frame
    previous: Picture | None = None
    for index in range(lo, hi):
        got = read_frame(seq, index, size)
        if isinstance(got, str):
            if previous is None:
                waiting.append((index, got))
            else:
                yield Frame(index, previous, got)
            continue
        for gap_index, why in waiting:
            yield Frame(gap_index, got, why)
        waiting.clear()
        yield Frame(index, got)
        previous = got
    if waiting:  # nothing readable in the whole range: the nearest frame outside it
        nearest = _nearest_readable(seq, lo, hi, size)
        for gap_index, why in waiting:
            yield Frame(gap_index, nearest, why)


def _nearest_readable(seq: FrameSequence, lo: int, hi: int, size) -> Picture:
    for index in sorted(range(seq.length), key=lambda i: min(abs(i - lo), abs(i - hi + 1))):
        if not lo <= index < hi and isinstance(got := read_frame(seq, index, size), Picture):
            return got
    raise VidcolorError(f"{seq.pattern}: no readable frame")


def decode_sequence_segment(
    seq: FrameSequence, seg: Segment, size: tuple[int, int], model_size: int = 256
) -> DecodedSegment:
    """The model's input for ``seg`` (context included), like ``video.decode.decode_segment``'s:
    normalised L at model resolution; ``concealed`` lists the owned gaps."""
    lo, hi = seg.context_start_pts, seg.context_end_pts or seq.length
    l_small, concealed = [], []
    last: tuple[Picture | None, np.ndarray | None] = (None, None)
    for frame in frames_in(seq, lo, hi, size):
        if frame.picture is not last[0]:  # a filled gap reuses its neighbour's L (next to it)
            last = (frame.picture, model_l(frame.picture.lstar(), model_size)[0])
        l_small.append(last[1])
        if frame.gap and seg.start_pts <= frame.index < (seg.end_pts or seq.length):
            concealed.append(frame.index)
    return DecodedSegment(
        pts=np.arange(lo, hi, dtype=np.int64),
        l_small=np.stack(l_small).astype(np.float32, copy=False),
        own=slice(seg.start_pts - lo, (seg.end_pts or seq.length) - lo),
        full_size=size,
        concealed=concealed,
    )


def iter_sequence_luma(
    seq: FrameSequence, seg: Segment, size: tuple[int, int], matrix: int, full_range: bool
) -> Iterator[LumaFrame]:
    """The owned frames of ``seg`` as Y' codes (``matrix``, ``full_range``: the output's), for
    ``video.encode.encode_segment``; gaps are their neighbour's, flagged concealed."""
    for frame in frames_in(seq, seg.start_pts, seg.end_pts or seq.length, size):
        y, bits = luma_of(_video_frame(frame.picture), matrix=matrix, full_range=full_range)
        yield LumaFrame(frame.index, 1, y, bits, bool(frame.gap))


def _video_frame(picture: Picture) -> av.VideoFrame:
    """The picture as an RGB frame for swscale (deeper codes scaled to 16 bits)."""
    if picture.bits <= 8:
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(picture.rgb), format="rgb24")
    top = (1 << picture.bits) - 1
    wide = (picture.rgb.astype(np.uint32) * 65535 + top // 2) // top
    return av.VideoFrame.from_ndarray(wide.astype(np.uint16), format="rgb48le")
