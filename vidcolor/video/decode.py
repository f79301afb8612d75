"""Decode one segment: small normalised L for the model; the stored luma for the final merge.

Both outputs are in display orientation (the display matrix is applied). For the model, a grey
frame (8-bit Y'CbCr with every Cb and Cr at 128: a black-and-white film) has its luma plane
resized by swscale and looked up in an exact L* table; any other frame is resized and converted
to RGB by swscale (honouring its matrix and range) and vidcolor.cie does RGB->L* (numpy: decode
workers never load torch). The grey path costs a third, and is nearer the exact L* (mean absolute
error 0.1-0.2 L* units against 0.7: swscale's 8-bit RGB runs dark). Full frames never leave this
process: on Ray the encoder re-decodes its segment with ``iter_luma``; a local run, whose stages
share one process, asks ``decode_segment`` to keep the owned frames' luma instead. A packet that fails to decode
does not fail the film: its frame is concealed by repeating a neighbour
(``DecodedSegment.concealed`` lists them).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import numpy as np

from vidcolor import cie
from vidcolor.errors import VidcolorError
from vidcolor.models.resolution import model_resolution
from vidcolor.video.frames import frame_rotation
from vidcolor.video.planes import luma_bits, luma_plane, to_display
from vidcolor.video.probe import open_media, pick_video_stream
from vidcolor.video.segments import Segment
from vidcolor.video.timeline import Timeline

log = logging.getLogger(__name__)

_CHUNK = 16  # frames normalised at once


@dataclass
class DecodedSegment:
    pts: np.ndarray  # int64 (N,), every decoded frame, context included
    l_small: np.ndarray  # float32 (N, 1, h, w), normalised L at model resolution
    own: slice  # rows of pts/l_small owned by the segment (the rest is context)
    full_size: tuple[int, int]  # (H, W) as displayed
    # pts of owned frames that were concealed: lost (a neighbour repeated) or decoded with errors
    concealed: list[int] = field(default_factory=list)
    luma: list[LumaFrame] | None = None  # the owned frames' stored luma, when asked for


@dataclass
class LumaFrame:
    pts: int
    duration: int
    y: np.ndarray  # (H, W) luma codes as stored, display orientation, uint8 or uint16
    bits: int  # of the codes in ``y``
    concealed: bool


@dataclass
class _Frame:
    pts: int
    duration: int
    frame: av.VideoFrame
    concealed: bool = False
    rotation: int = 0  # display rotation of the decoded frame (a filter graph may drop it)


def _to_display(arr: np.ndarray, rotation: int) -> np.ndarray:
    return np.ascontiguousarray(to_display(arr, rotation)) if rotation else arr


# 8-bit planar Y'CbCr formats whose grey frames take the luma path (see the module docstring).
_GREY_CAPABLE = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p")


def _grey_lstar(frame: av.VideoFrame, height: int, width: int) -> np.ndarray | None:
    """L* (height, width) of a grey frame from its resized luma plane, or None when the frame
    is not grey or not 8-bit planar Y'CbCr. The chroma is checked on the decoded planes (~0.04
    ms at 720p), so a colour frame pays nothing for the resize it does not use."""
    fmt = frame.format.name
    if fmt not in _GREY_CAPABLE:
        return None
    for plane in frame.planes[1:]:
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, -1)[:, : plane.width]
        if rows.min() != 128 or rows.max() != 128:
            return None
    small = frame.reformat(width=width, height=height, interpolation="AREA")
    full = fmt.startswith("yuvj") or int(frame.color_range) == 2
    return cie.lstar_of_grey_luma(full)[luma_plane(small)]


def _small_lstar(frame: av.VideoFrame, target: tuple[int, int]) -> np.ndarray:
    """L* of ``frame`` resized to ``target`` (height, width; coded orientation): a grey frame's
    from its luma plane, any other's through swscale's RGB."""
    l_star = _grey_lstar(frame, *target)
    if l_star is not None:
        return l_star
    rgb = frame.to_ndarray(
        format="rgb24",
        height=target[0],
        width=target[1],
        interpolation="AREA",
        src_color_range=_src_range(frame),
    )
    return cie.lstar_of_rgb(rgb)


def _src_range(frame: av.VideoFrame):
    # PyAV treats None as "unspecified" (= limited for YUV); pass full range through explicitly.
    return frame.color_range if int(frame.color_range) == 2 else None


def _decoded(
    container, stream, lo: int, hi: int | None, expected: set[int], timeline: Timeline
) -> Iterator:
    """Decoded frames, decoder output order, timestamps repaired (``timeline``). A packet the
    decoder rejects is skipped and decoding goes on, as ffmpeg does; the pts of every packet in
    [lo, hi) go into ``expected`` so frames lost that way can be filled in."""
    for packet in container.demux(stream):
        timeline.fix(packet)
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts is not None and lo <= pts and (hi is None or pts < hi):
            expected.add(pts)
        try:
            frames = stream.decode(packet)
        except av.FFmpegError as err:
            # With frame threads the error can surface a packet or two later: the frame that
            # really went missing is found (and filled) by its pts.
            log.warning("decoding failed near pts %s (%s): concealing", pts, err)
            continue
        yield from frames


def _fill(expected: set[int], after: int | None, before: float, source: _Frame) -> Iterator[_Frame]:
    """Copies of ``source`` for the expected pts in (after, before) that no frame came for."""
    lost = sorted(p for p in expected if (after is None or p > after) and p < before)
    for pts in lost:
        yield _Frame(pts=pts, duration=source.duration, frame=source.frame, concealed=True)


def _iter_frames(
    uri: str, seg: Segment, *, owned_only: bool, deinterlace: bool = False, timeline=None
) -> Iterator[_Frame]:
    """Frames of ``seg`` in pts order: context+owned, or owned only. A frame the decoder loses is
    replaced by its neighbour (the one before, or after at the start), so count and pts stay.
    ``timeline``: the source's repaired timestamps (``Timeline.of(info)``), when it has jumps."""
    timeline = timeline or Timeline([])
    lo = seg.start_pts if owned_only else seg.context_start_pts
    hi = seg.end_pts if owned_only else seg.context_end_pts
    with open_media(uri) as container:
        stream = pick_video_stream(container, uri)
        frames = _frames_in(container, stream, seg, (lo, hi), timeline)
        try:
            yield from _deinterlaced(frames, stream) if deinterlace else frames
        except av.FFmpegError as err:
            raise VidcolorError(f"{uri}: decode failed in segment {seg.index} ({err})") from err


def _deinterlaced(frames: Iterator[_Frame], stream) -> Iterator[_Frame]:
    """bwdif through PyAV's filter graph, one frame out per frame in: count and pts unchanged."""
    graph = av.filter.Graph()
    chain = [
        graph.add_buffer(template=stream),
        graph.add("bwdif", "mode=send_frame:parity=auto:deint=all"),
        graph.add("buffersink"),
    ]
    chain[0].link_to(chain[1])
    chain[1].link_to(chain[2])
    graph.configure()
    waiting: deque[_Frame] = deque()

    def pulled() -> Iterator[_Frame]:
        while True:
            try:
                frame = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            item = waiting.popleft()  # bwdif keeps order; its time base differs, our pts stay
            yield _Frame(item.pts, item.duration, frame, item.concealed, item.rotation)

    for item in frames:
        graph.push(item.frame)
        waiting.append(item)
        yield from pulled()
    graph.push(None)
    yield from pulled()


def _frames_in(
    container, stream, seg: Segment, span: tuple, timeline: Timeline
) -> Iterator[_Frame]:
    """Decode [lo, hi) after seeking for ``seg``; lost frames filled (see ``_iter_frames``)."""
    lo, hi = span
    for attempt in ("seek", "from_start"):
        if attempt == "seek" and seg.index > 0:
            timeline.seek(container, stream, seg.seek_pts)
        elif attempt == "from_start":
            # The demuxer's index put us past our first frame: decode from the start.
            timeline.rewind(container, stream)
            stream.codec_context.flush_buffers()
        expected: set[int] = set()
        landed_late = False
        prev: _Frame | None = None
        for frame in _decoded(container, stream, lo, hi, expected, timeline):
            pts = frame.pts
            if pts is None:
                continue
            if prev is None and pts > lo and attempt == "seek" and seg.index > 0:
                if lo not in expected:  # not lost: the seek really went too far
                    landed_late = True
                    break
            if pts < lo or (prev is not None and pts <= prev.pts):
                continue  # before the range, or a late frame whose place was already filled
            if hi is not None and pts >= hi:
                break
            item = _Frame(pts, frame.duration or 0, frame, frame.is_corrupt, frame_rotation(frame))
            yield from _fill(expected, prev.pts if prev else None, pts, prev or item)
            yield item
            prev = item
        if not landed_late:
            if prev is not None:
                yield from _fill(expected, prev.pts, float("inf"), prev)
            return


def decode_segment(
    uri: str,
    seg: Segment,
    model_size: int = 256,
    *,
    deinterlace: bool = False,
    timeline=None,
    luma: tuple[int, bool] | None = None,
) -> DecodedSegment:
    """Decode ``seg`` (context included) to normalised L at model resolution; ``deinterlace``
    runs bwdif first (pass the same value the encoder's ``EncodeSettings.deinterlace`` has);
    ``timeline`` repairs timestamp jumps (``Timeline.of(info)``). ``luma``: (matrix,
    full_range) of the output: keep the owned frames' luma as ``iter_luma`` gives it."""
    kept: list[LumaFrame] | None = None if luma is None else []
    pts: list[int] = []
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    concealed: list[int] = []
    full_size = None
    target = None
    rotation = 0

    def flush() -> None:
        if pending:
            chunks.append(cie.normalize_l(np.stack(pending))[:, None])
            pending.clear()

    frames = _iter_frames(uri, seg, owned_only=False, deinterlace=deinterlace, timeline=timeline)
    for item in frames:
        frame = item.frame
        if target is None:
            rotation = item.rotation
            h, w = frame.height, frame.width
            if rotation in (90, 270):
                h, w = w, h
            full_size = (h, w)
            mh, mw = model_resolution(h, w, model_size)
            target = (mw, mh) if rotation in (90, 270) else (mh, mw)  # coded orientation
        pending.append(_to_display(_small_lstar(frame, target), rotation))
        if kept is not None and seg.owns(item.pts):
            kept.append(_luma_frame(item, *luma, copy=True))  # not a view holding the frame
        pts.append(item.pts)
        if item.concealed:
            concealed.append(item.pts)
        if len(pending) >= _CHUNK:
            flush()
    flush()
    if not pts:
        raise VidcolorError(f"{uri}: segment {seg.index} decoded no frames")
    pts_arr = np.asarray(pts, dtype=np.int64)
    own_lo = int(np.searchsorted(pts_arr, seg.start_pts, side="left"))
    own_hi = len(pts_arr) if seg.end_pts is None else int(np.searchsorted(pts_arr, seg.end_pts))
    return DecodedSegment(
        pts=pts_arr,
        l_small=np.concatenate(chunks).astype(np.float32, copy=False),
        own=slice(own_lo, own_hi),
        full_size=full_size,
        concealed=[p for p in concealed if seg.owns(p)],
        luma=kept,
    )


def iter_luma(
    uri: str,
    seg: Segment,
    *,
    matrix: int = 1,
    full_range: bool = False,
    deinterlace: bool = False,
    timeline=None,
) -> Iterator[LumaFrame]:
    """The owned frames of ``seg`` as their stored luma codes, display orientation.

    Sources without a luma plane (RGB, palette) are converted with ``matrix``/``full_range``, the
    ones the output is tagged with."""
    frames = _iter_frames(uri, seg, owned_only=True, deinterlace=deinterlace, timeline=timeline)
    for item in frames:
        yield _luma_frame(item, matrix, full_range)


def _luma_frame(item: _Frame, matrix: int, full_range: bool, *, copy: bool = False) -> LumaFrame:
    y, bits = luma_of(item.frame, matrix=matrix, full_range=full_range)
    y = to_display(y, item.rotation)
    return LumaFrame(item.pts, item.duration, y.copy() if copy else y, bits, item.concealed)


def luma_of(frame: av.VideoFrame, *, matrix: int, full_range: bool) -> tuple[np.ndarray, int]:
    """(luma codes (H, W), their bits) of a decoded frame, coded orientation: its own luma plane,
    or, for RGB and palette frames, Y' computed with ``matrix``/``full_range`` (the output's)."""
    bits = luma_bits(frame.format)
    if bits is None:
        deep = max(c.bits for c in frame.format.components) > 8
        frame = frame.reformat(
            format="yuv444p10le" if deep else "yuv444p",
            dst_colorspace=matrix,
            dst_color_range=2 if full_range else 1,
        )
        bits = 10 if deep else 8
    return luma_plane(frame), bits
