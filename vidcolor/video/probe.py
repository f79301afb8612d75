"""Probe a video: container, streams, every video frame's pts and the keyframes, from packets.

Reading packets is fast (no pixel work). One frame is decoded to check that the video stream really
decodes and to read its display matrix (rotation), which only reaches us on decoded frames.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from vidcolor import storage
from vidcolor.errors import VidcolorError

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

    @property
    def video(self) -> StreamInfo:
        return next(s for s in self.streams if s.index == self.video_index)

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


def _stream_info(stream) -> StreamInfo:
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


def probe(uri: str) -> VideoInfo:
    """Describe ``uri``. ``VidcolorError`` for garbage, no video stream or zero decodable frames."""
    uri = str(uri)
    with open_media(uri) as container:
        vstream = pick_video_stream(container, uri)
        streams = [_stream_info(s) for s in container.streams]
        vinfo = next(s for s in streams if s.index == vstream.index)

        pts_list: list[int] = []
        key_list: list[int] = []
        first_frame = None
        last_duration = 0
        max_pts = 0
        try:
            for pkt in container.demux(vstream):
                if pkt.size == 0 and pkt.pts is None and pkt.dts is None:
                    continue  # flush packet
                pts = pkt.pts if pkt.pts is not None else pkt.dts
                if pts is None:
                    raise VidcolorError(f"{uri}: video packets carry no timestamps")
                if not pts_list or pts >= max_pts:
                    max_pts = pts
                    last_duration = pkt.duration or 0  # of the last frame in display order
                pts_list.append(pts)
                if pkt.is_keyframe:
                    key_list.append(pts)
                if first_frame is None:
                    frames = vstream.decode(pkt)
                    if frames:
                        first_frame = frames[0]
            if first_frame is None and pts_list:
                frames = vstream.decode(None)
                first_frame = frames[0] if frames else None
        except av.FFmpegError as err:
            raise VidcolorError(f"{uri}: corrupt video stream ({_reason(err)})") from err
        if not pts_list or first_frame is None:
            raise VidcolorError(f"{uri}: video stream has no decodable frames")
        if vstream.frames and len(pts_list) < vstream.frames:
            # Lost packets are concealed when decoding; a file cut short is not a film to finish.
            raise VidcolorError(
                f"{uri}: truncated: the index lists {vstream.frames} frames, "
                f"only {len(pts_list)} are in the file"
            )

        if first_frame.format is not None:
            vinfo.pix_fmt = first_frame.format.name
            vinfo.bit_depth = max(c.bits for c in first_frame.format.components)
        vinfo.width, vinfo.height = first_frame.width, first_frame.height
        vinfo.rotation = int(round(first_frame.rotation or 0)) % 360
        vinfo.colorspace = int(first_frame.colorspace)
        vinfo.color_range = int(first_frame.color_range)
        _scan_properties(vinfo, vstream, first_frame)
        pts_list.sort()
        key_list.sort()
        vinfo.frame_count = len(pts_list)
        vinfo.keyframes = key_list
        time_base = Fraction(vstream.time_base)
        if container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = float((pts_list[-1] - pts_list[0] + last_duration) * time_base)
        display_w, display_h = vinfo.width, vinfo.height
        if vinfo.rotation in (90, 270):
            display_w, display_h = display_h, display_w
        if not key_list:
            key_list = [pts_list[0]]  # some demuxers flag nothing: the first frame must decode
        return VideoInfo(
            uri=uri,
            container=container.format.name,
            duration=duration,
            streams=streams,
            video_index=vstream.index,
            frame_pts=pts_list,
            keyframe_pts=key_list,
            time_base=time_base,
            width=display_w,
            height=display_h,
            frame_durations_last=last_duration,
        )


def codec_threads() -> int:
    """Threads for one decoder or encoder: the CPUs this task was given (Ray sets OMP_NUM_THREADS
    to a task's num_cpus), not every core of the machine, which is FFmpeg's default."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return os.cpu_count() or 1


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
