"""Merge full-res L* with upsampled ab and encode one segment, keeping the source pts exactly.

Segments are encoded without B-frames so DTS == PTS: the concatenation in ``mux`` then has
monotonic DTS at every join. The encoder re-decodes its segment's luminance at full resolution
(``iter_full_frames``) instead of receiving full frames from other stages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidcolor.color import merge_l_ab
from vidcolor.errors import VidcolorError
from vidcolor.video.decode import iter_full_frames
from vidcolor.video.probe import VideoInfo, codec_threads
from vidcolor.video.segments import Segment

log = logging.getLogger(__name__)

CODECS = {"h264": "libx264", "h265": "libx265", "ffv1": "ffv1", "prores": "prores_ks"}
# Container the finished video goes in, before any fallback for streams it can't hold.
_PREFERRED_SUFFIX = {"h264": ".mp4", "h265": ".mp4", "ffv1": ".mkv", "prores": ".mov"}
# Intermediate segment files: mov keeps any stream time base exactly (mkv rounds to 1 ms), but
# cannot hold FFV1, whose final container is mkv anyway.
_SEGMENT_FORMAT = {"h264": "mov", "h265": "mov", "ffv1": "matroska", "prores": "mov"}


@dataclass
class EncodeSettings:
    codec: str = "h264"  # 'h264' | 'h265' | 'ffv1' | 'prores'
    crf: int = 18  # h264/h265 quality
    preset: str = "veryfast"  # x264/x265 speed; veryfast ~2.5x medium at near-equal CRF quality
    prores_profile: int = 3  # 3 = ProRes 422 HQ
    extra_options: dict[str, str] = field(default_factory=dict)  # passed to the encoder as-is

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise VidcolorError(f"unknown codec {self.codec!r}; choose one of {sorted(CODECS)}")

    def container_suffix(self) -> str:
        return _PREFERRED_SUFFIX[self.codec]

    def segment_format(self) -> str:
        """Muxer for intermediate segment files (whatever suffix the caller's path has)."""
        return _SEGMENT_FORMAT[self.codec]

    def segment_suffix(self) -> str:
        return ".mkv" if self.segment_format() == "matroska" else ".mov"

    def pix_fmt(self, bit_depth: int, width: int, height: int) -> str:
        """Output pixel format: 10-bit for deep sources where the codec allows it."""
        deep = bit_depth > 8
        if self.codec == "prores":
            return "yuv422p10le"
        if self.codec == "ffv1":
            return "yuv444p10le" if deep else "yuv444p"  # archival: keep full-resolution chroma
        # 4:2:0 needs even sizes; keep odd sizes exact with 4:4:4 rather than cropping.
        chroma = "444" if width % 2 or height % 2 else "420"
        return f"yuv{chroma}p10le" if deep else f"yuv{chroma}p"

    def encoder_options(self) -> dict[str, str]:
        if self.codec == "h264":
            opts = {"crf": str(self.crf), "preset": self.preset, "bf": "0"}
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


def _tag_colour(ctx, source: VideoInfo) -> tuple[int | None, int]:
    """Encode with the matrix and range the decoder used for the source, and tag them the same way.

    Full-range ('pc'/JPEG) sources stay full range; everything else is written limited ('tv').
    """
    v = source.video
    colorspace = v.colorspace if v.colorspace not in (None, 2) else None  # 2 = unspecified
    if colorspace is not None:
        ctx.colorspace = colorspace
    color_range = 2 if v.color_range == 2 else 1
    ctx.color_range = color_range
    return colorspace, color_range


def encode_segment(
    uri: str,
    seg: Segment,
    ab_small: np.ndarray,
    out_path: str | Path,
    settings: EncodeSettings,
    source: VideoInfo,
) -> Path:
    """Encode the owned frames of ``seg`` colourised with ``ab_small`` (n_owned, 2, h, w)."""
    out_path = Path(out_path)
    if len(ab_small) != seg.n_frames:
        raise VidcolorError(
            f"{uri}: segment {seg.index} owns {seg.n_frames} frames but got {len(ab_small)} ab maps"
        )
    width, height = source.width, source.height
    high_bit = source.bit_depth > 8
    pix_fmt = settings.pix_fmt(source.bit_depth, width, height)
    time_base = Fraction(source.time_base)
    n_written = 0
    with av.open(str(out_path), mode="w", format=settings.segment_format()) as out:
        stream = out.add_stream(CODECS[settings.codec], options=settings.encoder_options())
        stream.thread_count = codec_threads()
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if source.frame_rate:
            stream.codec_context.framerate = source.frame_rate
        stream.codec_context.max_b_frames = 0
        colorspace, color_range = _tag_colour(stream.codec_context, source)
        for (pts, duration, l_full), ab in zip(iter_full_frames(uri, seg), ab_small, strict=False):
            if l_full.shape != (height, width):
                raise VidcolorError(
                    f"{uri}: frame at pts {pts} is {l_full.shape[1]}x{l_full.shape[0]}, "
                    f"expected {width}x{height} (size changes mid-stream are not supported)"
                )
            rgb = merge_l_ab(l_full, ab, dtype=np.uint16 if high_bit else np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if high_bit else "rgb24")
            frame = frame.reformat(
                format=pix_fmt,
                dst_colorspace=colorspace,
                dst_color_range=color_range,
                interpolation="BICUBIC",
            )
            frame.pts = pts
            frame.time_base = time_base
            if duration:
                frame.duration = duration
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
