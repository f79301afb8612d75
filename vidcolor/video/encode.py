"""Merge in Y'CbCr and encode one segment, keeping the source pts exactly.

The output's Y' plane is the source's, code for code (shifted only when the output is deeper);
only Cb/Cr are computed, at chroma resolution, from L* (of the source Y') and the upsampled ab
(``vidcolor.video.chroma``). Colour tags follow ``vidcolor.video.tags``; sample aspect ratio and field order
are carried over. Segments are encoded without B-frames so DTS == PTS: the concatenation in
``mux`` then has monotonic DTS at every join. On Ray the encoder re-decodes its segment's luma
(``iter_luma``) instead of receiving full frames from other stages; a local run hands it over.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidcolor.errors import VidcolorError
from vidcolor.video import containers
from vidcolor.video.chroma import ChromaMerger
from vidcolor.video.codecs import CODECS
from vidcolor.video.decode import LumaFrame, iter_luma
from vidcolor.video.planes import change_depth, chroma_subsampling, make_frame, pad_to
from vidcolor.video.probe import VideoInfo
from vidcolor.video.segments import Segment
from vidcolor.video.tags import ColourTags, output_tags
from vidcolor.video.threads import codec_threads
from vidcolor.video.timeline import Timeline

log = logging.getLogger(__name__)

# Container the finished video goes in, before any fallback for streams it can't hold.
_PREFERRED_SUFFIX = {"h264": ".mp4", "h265": ".mp4", "ffv1": ".mkv", "prores": ".mov"}
# Intermediate segment files: mov keeps any stream time base exactly (mkv rounds to 1 ms), but
# cannot hold FFV1, whose final container is mkv anyway.
_SEGMENT_FORMAT = {"h264": "mov", "h265": "mov", "ffv1": "matroska", "prores": "mov"}
_FIELD_ORDER_CODES = {"progressive": 1, "tt": 2, "bb": 3, "tb": 4, "bt": 5}  # AVFieldOrder
# Field displayed first for each interlaced AVFieldOrder (tb: top coded, bottom displayed first).
_TOP_FIRST = {"tt": True, "bt": True, "bb": False, "tb": False}


@dataclass
class EncodeSettings:
    codec: str = "h264"  # 'h264' | 'h265' | 'ffv1' | 'prores'
    crf: int = 18  # h264/h265 quality
    preset: str = "veryfast"  # x264/x265 speed; veryfast ~2.5x medium at near-equal CRF quality
    prores_profile: int = 3  # 3 = ProRes 422 HQ
    extra_options: dict[str, str] = field(default_factory=dict)  # passed to the encoder as-is
    deinterlace: bool = False  # bwdif before the merge (decode_segment needs the same flag)

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise VidcolorError(f"unknown codec {self.codec!r}; choose one of {sorted(CODECS)}")

    def container_suffix(self) -> str:
        """The preferred container (before any fallback for streams it can't hold)."""
        return containers.PREFERRED[self.codec]

    def segment_format(self) -> str:
        """Muxer for intermediate segment files (whatever suffix the caller's path has)."""
        return _SEGMENT_FORMAT[self.codec]

    def segment_suffix(self) -> str:
        return ".mkv" if self.segment_format() == "matroska" else ".mov"

    def pix_fmt(self, bit_depth: int, width: int = 0, height: int = 0) -> str:
        """Output pixel format: 10-bit for deep sources where the codec allows it. H.264/H.265
        are always 4:2:0, the format browsers and hardware decoders play (odd sizes are padded,
        see :func:`coded_size`); the archival codecs keep more chroma."""
        deep = bit_depth > 8
        if self.codec == "prores":
            return "yuv422p10le"
        if self.codec == "ffv1":
            return "yuv444p10le" if deep else "yuv444p"  # archival: keep full-resolution chroma
        return "yuv420p10le" if deep else "yuv420p"

    def encoder_options(self, field_order: str | None = None) -> dict[str, str]:
        """Options for the encoder; ``field_order`` ('tt', 'bb', 'tb', 'bt') of an interlaced
        source that is not deinterlaced: x264 then flags its (progressively coded) frames as
        interlaced with that field order, which players use to deinterlace."""
        if self.codec == "h264":
            opts = {"crf": str(self.crf), "preset": self.preset, "bf": "0"}
            if field_order in _TOP_FIRST and not self.deinterlace:
                parity = "tff" if _TOP_FIRST[field_order] else "bff"
                opts["x264-params"] = f"fake-interlaced=1:pic-struct=1:{parity}=1"
        elif self.codec == "h265":
            opts = {
                "crf": str(self.crf),
                "preset": self.preset,
                "x265-params": "bframes=0:log-level=error",
            }
        elif self.codec == "ffv1":
            opts = {"level": "3", "slicecrc": "1", "g": "1"}
        else:
            opts = {"profile": str(self.prores_profile)}
        return {**opts, **self.extra_options}


def coded_size(width: int, height: int, pix_fmt: str) -> tuple[int, int]:
    """(width, height) rounded up to whole chroma samples: an odd-sized picture gets its last
    column/row repeated once, since 4:2:0 cannot code odd sizes (README, "Output format")."""
    sub_h, sub_w = chroma_subsampling(pix_fmt)
    return -(-width // sub_w) * sub_w, -(-height // sub_h) * sub_h


def _open_video(out, settings: EncodeSettings, source: VideoInfo, pix_fmt: str, tags: ColourTags):
    """The output video stream, tagged (colour, SAR, field order unless deinterlaced)."""
    width, height = coded_size(source.width, source.height, pix_fmt)
    options = settings.encoder_options(field_order=source.video.field_order)
    stream = out.add_stream(CODECS[settings.codec], options=options)
    stream.thread_count = codec_threads()
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    time_base = Fraction(source.time_base)
    stream.time_base = time_base
    ctx = stream.codec_context
    ctx.time_base = time_base
    if source.frame_rate:
        ctx.framerate = source.frame_rate
    ctx.max_b_frames = 0
    ctx.colorspace, ctx.color_primaries, ctx.color_trc = tags.matrix, tags.primaries, tags.transfer
    ctx.color_range = 2 if tags.full_range else 1
    v = source.video
    if sar := output_sar(source):
        ctx.sample_aspect_ratio = sar
    if settings.deinterlace:
        ctx.field_order = _FIELD_ORDER_CODES["progressive"]
    elif v.field_order in _FIELD_ORDER_CODES:
        ctx.field_order = _FIELD_ORDER_CODES[v.field_order]
    return stream


def output_sar(source: VideoInfo) -> Fraction | None:
    """The output's sample aspect ratio: the source's, inverted when the frames are turned."""
    if not source.video.sample_aspect_ratio:
        return None
    sar = Fraction(source.video.sample_aspect_ratio)
    return 1 / sar if source.rotation in (90, 270) else sar


def _tag_frame(frame: av.VideoFrame, tags: ColourTags) -> None:
    frame.colorspace, frame.color_primaries, frame.color_trc = (
        tags.matrix,
        tags.primaries,
        tags.transfer,
    )
    frame.color_range = 2 if tags.full_range else 1


def _luma(uri: str, seg: Segment, settings: EncodeSettings, source: VideoInfo, tags: ColourTags):
    """The owned frames' stored luma: decoded from ``uri``, or read from a frame sequence's
    files (Y' computed with the output's matrix and range)."""
    if source.sequence:
        from vidcolor.sequences.frames import iter_sequence_luma
        from vidcolor.sequences.names import FrameSequence

        seq = FrameSequence.from_json(source.sequence)
        size = (source.height, source.width)
        return iter_sequence_luma(seq, seg, size, tags.matrix, tags.full_range)
    return iter_luma(
        uri,
        seg,
        matrix=tags.matrix,
        full_range=tags.full_range,
        deinterlace=settings.deinterlace,
        timeline=Timeline.of(source),
    )


def encode_segment(
    uri: str,
    seg: Segment,
    ab_small: np.ndarray,
    out_path: str | Path,
    settings: EncodeSettings,
    source: VideoInfo,
    *,
    luma: Iterable[LumaFrame] | None = None,
) -> Path:
    """Encode the owned frames of ``seg`` colourised with ``ab_small`` (n_owned, 2, h, w);
    ``luma``: their stored luma when the caller decoded it already (else decoded here)."""
    out_path = Path(out_path)
    if len(ab_small) != seg.n_frames:
        raise VidcolorError(
            f"{uri}: segment {seg.index} owns {seg.n_frames} frames but got {len(ab_small)} ab maps"
        )
    pix_fmt = settings.pix_fmt(source.bit_depth)
    out_bits = av.VideoFormat(pix_fmt).components[0].bits
    tags = output_tags(source.video)
    fmt = tags.ycbcr(out_bits)
    n_written = 0
    with av.open(str(out_path), mode="w", format=settings.segment_format()) as out:
        stream = _open_video(out, settings, source, pix_fmt, tags)
        merge = ChromaMerger(fmt, pix_fmt, (stream.height, stream.width))
        frames = _luma(uri, seg, settings, source, tags) if luma is None else luma
        for item, ab in zip(frames, ab_small, strict=False):
            if item.y.shape != (source.height, source.width):
                raise VidcolorError(
                    f"{uri}: frame at pts {item.pts} is {item.y.shape[1]}x{item.y.shape[0]}, "
                    f"expected {source.width}x{source.height} "
                    "(size changes mid-stream are not supported)"
                )
            y = change_depth(item.y, item.bits, out_bits)
            y = pad_to(y, stream.height, stream.width)
            frame = make_frame(y, merge(y, ab), pix_fmt)
            _tag_frame(frame, tags)
            frame.pts = item.pts
            frame.time_base = source.time_base  # the stream's may change when the muxer starts
            if item.duration:
                frame.duration = item.duration
            for packet in stream.encode(frame):
                out.mux(packet)
            n_written += 1
        for packet in stream.encode(None):
            out.mux(packet)
    if n_written != seg.n_frames:
        out_path.unlink(missing_ok=True)
        raise VidcolorError(
            f"{uri}: segment {seg.index} decoded {n_written} frames, the plan says {seg.n_frames}"
        )
    return out_path
