"""Probe a video: container, streams, every video frame's pts and the keyframes, from packets.

Reading packets is fast (no pixel work). One frame is decoded to check that the video stream really
decodes and to read its display matrix (rotation), which only reaches us on decoded frames.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from vidcolor import storage
from vidcolor.errors import VidcolorError
from vidcolor.video.threads import codec_threads
from vidcolor.video.timeline import JumpFinder, Timeline, jumps_possible

log = logging.getLogger(__name__)


@dataclass
class StreamInfo:
    index: int
    kind: str  # 'video' | 'audio' | 'subtitle' | 'data'
    codec: str
    time_base: str  # exact 'num/den'
    language: str | None = None
    # video
    width: int | None = None
    height: int | None = None
    frame_rate: str | None = None  # exact 'num/den'
    pix_fmt: str | None = None
    bit_depth: int | None = None
    rotation: int | None = None  # degrees counter-clockwise, as the display matrix says
    colorspace: int | None = None  # AVColorSpace of the first frame (decoded matrix)
    color_range: int | None = None
    color_primaries: int | None = None  # AVColorPrimaries of the first frame (2 = unspecified)
    color_trc: int | None = None  # AVColorTransferCharacteristic of the first frame
    sample_aspect_ratio: str | None = None  # exact 'num/den'; None = square/unknown
    field_order: str | None = None  # 'progressive' | 'tt' | 'bb' | 'tb' | 'bt'; None = unknown
    frame_count: int | None = None
    keyframes: list[int] = field(default_factory=list)  # pts
    # audio
    channels: int | None = None
    sample_rate: int | None = None


@dataclass
class VideoInfo:
    uri: str
    container: str
    duration: float  # seconds
    streams: list[StreamInfo]
    video_index: int
    frame_pts: list[int]  # sorted pts of every video frame
    keyframe_pts: list[int]
    time_base: Fraction  # of the video stream
    width: int  # as displayed (rotation applied)
    height: int
    frame_durations_last: int = 0  # duration of the last frame in time_base units (for muxing)
    # Timestamp jumps repaired as ffmpeg does (vidcolor.video.timeline): every pts above is
    # repaired; the copied streams' packets are shifted when read. Only for MPEG-TS/PS inputs.
    jumps: list[dict] = field(default_factory=list)
    seek_points: list[list[int]] = field(default_factory=list)  # [repaired keyframe pts, byte]
    ts_offset: str = "0"  # seconds added to every timestamp before any jump (-the start)
    # A frame sequence (vidcolor.sequences): its files (FrameSequence JSON) and a sidecar WAV
    # whose streams (indices: the WAV's own) are copied instead of the source's.
    sequence: str = ""
    sidecar: str | None = None

    @property
    def video(self) -> StreamInfo:
        return next(s for s in self.streams if s.index == self.video_index and s.kind == "video")

    @property
    def frame_count(self) -> int:
        return len(self.frame_pts)

    @property
    def rotation(self) -> int:
        return self.video.rotation or 0

    @property
    def bit_depth(self) -> int:
        return self.video.bit_depth or 8

    @property
    def frame_rate(self) -> Fraction:
        return Fraction(self.video.frame_rate or "0/1")

    def to_dict(self, *, frame_lists: bool = True) -> dict:
        """Plain JSON-able dict; ``frame_lists=False`` leaves out the per-frame and per-keyframe
        lists (what the encoder and muxer need is small; a 2-hour film has 170,000 frames)."""
        d = asdict(self)
        d["time_base"] = f"{self.time_base.numerator}/{self.time_base.denominator}"
        d["frame_count"] = self.frame_count
        if not frame_lists:
            d["frame_pts"], d["keyframe_pts"] = [], []
            for s in d["streams"]:
                s["keyframes"] = []
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VideoInfo:
        d = dict(d)
        d.pop("frame_count", None)  # derived from frame_pts
        d["streams"] = [StreamInfo(**s) for s in d["streams"]]
        d["time_base"] = Fraction(d["time_base"])
        return cls(**d)


def open_media(uri: str) -> av.container.InputContainer:
    """Open ``uri`` (local or S3) for demuxing; ``VidcolorError`` naming the file on failure."""
    uri = str(uri)
    try:
        if storage.is_s3(uri):
            # Seekable (mp4 with the moov atom at the end needs seeks) and read ahead: PyAV asks
            # for 32 KiB at a time, which would be one GET each.
            return av.open(storage.ReadAhead(storage.open_input(uri)), mode="r")
        path = storage.filesystem_for(uri)[1]
        if not Path(path).is_file():
            raise VidcolorError(f"{uri}: no such file")
        return av.open(path, mode="r")
    except av.FFmpegError as err:
        raise VidcolorError(f"{uri}: not a readable video file ({_reason(err)})") from err


def _reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err)  # FFmpegError: the reason without errno/path
    return " ".join(str(text).split())[:200]


def _fraction_str(x) -> str | None:
    if x is None:
        return None
    f = Fraction(x)
    return f"{f.numerator}/{f.denominator}"


def _kind(stream) -> str:
    return stream.type if stream.type in ("video", "audio", "subtitle") else "data"


def stream_info(stream) -> StreamInfo:
    ctx = stream.codec_context
    info = StreamInfo(
        index=stream.index,
        kind=_kind(stream),
        codec=(ctx.name if ctx is not None else None) or "unknown",
        time_base=_fraction_str(stream.time_base) or "0/1",
        language=stream.metadata.get("language"),
    )
    if info.kind == "video":
        info.width, info.height = ctx.width, ctx.height
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        info.frame_rate = _fraction_str(rate)
        fmt = ctx.format
        if fmt is not None:
            info.pix_fmt = fmt.name
            info.bit_depth = max(c.bits for c in fmt.components)
    elif info.kind == "audio":
        info.sample_rate = ctx.sample_rate
        info.channels = ctx.layout.nb_channels if ctx.layout is not None else None
    return info


@dataclass
class _Scan:
    """What the packet scan of the video stream found."""

    pts: list[int] = field(default_factory=list)  # every packet's pts, demux order
    keys: list[int] = field(default_factory=list)  # indices in ``pts`` of the keyframes
    durations: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # byte positions (files that may jump)
    first_frame: av.VideoFrame | None = None
    jumps: list[dict] = field(default_factory=list)
    seek_points: list[list[int]] = field(default_factory=list)
    ts_offset: Fraction = Fraction(0)

    @property
    def last_duration(self) -> int:
        """Duration of the last frame in display order."""
        return self.durations[max(range(len(self.pts)), key=self.pts.__getitem__)]


def probe(uri: str) -> VideoInfo:
    """Describe ``uri``. ``VidcolorError`` for garbage, no video stream or zero decodable frames."""
    uri = str(uri)
    with open_media(uri) as container:
        vstream = pick_video_stream(container, uri)
        streams = [stream_info(s) for s in container.streams]
        vinfo = next(s for s in streams if s.index == vstream.index)
        scan = _scan_packets(container, vstream, uri)
        _check_complete(uri, vstream, scan)
        _from_first_frame(vinfo, vstream, scan.first_frame)
        keys = sorted(scan.pts[i] for i in scan.keys)
        vinfo.frame_count, vinfo.keyframes = len(scan.pts), keys
        return _video_info(uri, container, streams, vinfo, scan, keys)


def _scan_packets(container, vstream, uri: str) -> _Scan:
    """Every video packet's pts (no pixel work), the keyframes, and the first decoded frame; in
    a format whose timestamps may jump, the audio packets too, to find and repair the jumps."""
    scan = _Scan()
    finder = _jump_finder(container, vstream)
    streams = [vstream, *container.streams.audio] if finder else [vstream]
    try:
        for pkt in container.demux(*streams):
            if pkt.size == 0 and pkt.pts is None and pkt.dts is None:
                continue  # flush packet
            if finder is not None:
                finder.feed(pkt)
            if pkt.stream.index != vstream.index:
                continue
            _add_packet(scan, pkt, uri, finder)
            if scan.first_frame is None:
                frames = vstream.decode(pkt)
                scan.first_frame = frames[0] if frames else None
        if scan.first_frame is None and scan.pts:
            frames = vstream.decode(None)
            scan.first_frame = frames[0] if frames else None
    except av.FFmpegError as err:
        raise VidcolorError(f"{uri}: corrupt video stream ({_reason(err)})") from err
    if finder is not None and (finder.jumps or finder.base):
        _repair(scan, finder, vstream)
    return scan


def _add_packet(scan: _Scan, pkt, uri: str, finder: JumpFinder | None) -> None:
    pts = pkt.pts if pkt.pts is not None else pkt.dts
    if pts is None:
        raise VidcolorError(f"{uri}: video packets carry no timestamps")
    if pkt.is_keyframe:
        scan.keys.append(len(scan.pts))
    scan.pts.append(pts)
    scan.durations.append(pkt.duration or 0)
    if finder is not None:
        scan.positions.append(finder.streams[pkt.stream.index].pos)


def _jump_finder(container, vstream) -> JumpFinder | None:
    """A :class:`JumpFinder` over the video and audio streams, for formats whose timestamps
    ffmpeg repairs (MPEG-TS, MPEG-PS); None for the others."""
    if not jumps_possible(container):
        return None
    streams = (vstream, *container.streams.audio)
    starts = [s.start_time * s.time_base for s in streams if s.start_time is not None]
    finder = JumpFinder(base=-min(starts) if starts else Fraction(0))
    rate = vstream.average_rate or vstream.guessed_rate
    finder.add_stream(vstream.index, vstream.time_base, 1 / rate if rate else 0)
    for s in container.streams.audio:
        ctx = s.codec_context
        frame = (
            Fraction(ctx.frame_size, ctx.sample_rate) if ctx.frame_size and ctx.sample_rate else 0
        )
        finder.add_stream(s.index, s.time_base, frame)
    return finder


def _repair(scan: _Scan, finder: JumpFinder, vstream) -> None:
    """Every pts shifted by the offset in force at its packet's byte position."""
    index, time_base = vstream.index, vstream.time_base
    jumps = finder.found()
    timeline = Timeline(jumps, base=str(finder.base))
    scan.ts_offset = finder.base
    scan.pts = [
        timeline.shift(index, b, time_base) + p
        for p, b in zip(scan.pts, scan.positions, strict=True)
    ]
    scan.jumps = [j.to_dict() for j in jumps]
    scan.seek_points = sorted([scan.pts[i], scan.positions[i]] for i in scan.keys)


def _check_complete(uri: str, vstream, scan: _Scan) -> None:
    if not scan.pts or scan.first_frame is None:
        raise VidcolorError(f"{uri}: video stream has no decodable frames")
    if vstream.frames and len(scan.pts) < vstream.frames:
        # Lost packets are concealed when decoding; a file cut short is not a film to finish.
        raise VidcolorError(
            f"{uri}: truncated: the index lists {vstream.frames} frames, "
            f"only {len(scan.pts)} are in the file"
        )


def _from_first_frame(vinfo: StreamInfo, vstream, first_frame) -> None:
    """What only a decoded frame tells: format, size, rotation, colour, SAR, field order."""
    if first_frame.format is not None:
        vinfo.pix_fmt = first_frame.format.name
        vinfo.bit_depth = max(c.bits for c in first_frame.format.components)
    vinfo.width, vinfo.height = first_frame.width, first_frame.height
    vinfo.rotation = int(round(first_frame.rotation or 0)) % 360
    vinfo.colorspace = int(first_frame.colorspace)
    vinfo.color_range = int(first_frame.color_range)
    _scan_properties(vinfo, vstream, first_frame)


def _video_info(
    uri: str, container, streams: list, vinfo: StreamInfo, scan: _Scan, keys: list[int]
) -> VideoInfo:
    time_base = Fraction(container.streams[vinfo.index].time_base)
    pts = sorted(scan.pts)
    if container.duration and not scan.jumps:
        duration = container.duration / 1_000_000
    else:  # (with jumps the container's duration spans them)
        duration = float((pts[-1] - pts[0] + scan.last_duration) * time_base)
    display_w, display_h = vinfo.width, vinfo.height
    if vinfo.rotation in (90, 270):
        display_w, display_h = display_h, display_w
    return VideoInfo(
        uri=uri,
        container=container.format.name,
        duration=duration,
        streams=streams,
        video_index=vinfo.index,
        frame_pts=pts,
        keyframe_pts=keys or [pts[0]],  # some demuxers flag no keyframe: the first must decode
        time_base=time_base,
        width=display_w,
        height=display_h,
        frame_durations_last=scan.last_duration,
        jumps=scan.jumps,
        seek_points=scan.seek_points,
        ts_offset=str(scan.ts_offset),
    )


_FIELD_ORDERS = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}  # AVFieldOrder


def _scan_properties(vinfo: StreamInfo, vstream, first_frame) -> None:
    """Primaries, transfer, sample aspect ratio and field order, as the first frame left them."""
    vinfo.color_primaries = int(first_frame.color_primaries)
    vinfo.color_trc = int(first_frame.color_trc)
    ctx = vstream.codec_context
    sar = vstream.sample_aspect_ratio or ctx.sample_aspect_ratio
    if sar and Fraction(sar) > 0:
        vinfo.sample_aspect_ratio = _fraction_str(sar)
    order = _FIELD_ORDERS.get(int(ctx.field_order or 0))
    if order is None and first_frame.interlaced_frame:
        order = "tt"  # interlaced without a stated order: top field first is the common case
    vinfo.field_order = order


def pick_video_stream(container, uri: str):
    """The first real video stream (cover art is a one-picture 'video' stream: skipped), set to
    decode with frame/slice threads, as many as this task has CPUs."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            stream.thread_type = "AUTO"
            stream.thread_count = codec_threads()
            return stream
    raise VidcolorError(f"{uri}: no video stream")
