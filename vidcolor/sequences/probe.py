"""A frame sequence described as a video (``VideoInfo``), so it plans into segments like one.

One frame per number from the first to the last (a gap is a frame too: filled in the video, not
written among the frames), every frame a keyframe, at the DPX header's frame rate or the default
one; the first frame gives the size and bit depth. A WAV beside the frames named after the film
(``reel1/reel1.wav``) or its folder is the sidecar whose audio goes into a video output. Reads
one frame file and looks up to four sidecar names: a few requests per reel on S3.
"""

from __future__ import annotations

from fractions import Fraction

from vidcolor import storage
from vidcolor.image import read_picture
from vidcolor.sequences.names import FrameSequence
from vidcolor.video.probe import StreamInfo, VideoInfo, open_media, stream_info

_PIX_FMT = {8: "rgb24", 10: "gbrp10le", 12: "gbrp12le", 16: "rgb48le"}  # as FFmpeg decodes them


def _fraction(x: Fraction) -> str:
    return f"{x.numerator}/{x.denominator}"


def probe_sequence(seq: FrameSequence, default_rate: Fraction) -> VideoInfo:
    """Describe ``seq`` (its first frame read; ``VidcolorError`` naming it when unreadable)."""
    first = read_picture(seq.uri(seq.first))
    rate = (first.dpx.frame_rate if first.dpx is not None else None) or Fraction(default_rate)
    height, width = first.rgb.shape[:2]
    video = StreamInfo(
        index=0,
        kind="video",
        codec=seq.ext.lstrip(".").lower(),
        time_base=_fraction(1 / rate),
        width=width,
        height=height,
        frame_rate=_fraction(rate),
        pix_fmt=_PIX_FMT.get(first.bits, "rgb48le"),
        bit_depth=first.bits,
        colorspace=0,  # RGB: the output's matrix follows its line count
        frame_count=seq.length,
    )
    sidecar = find_sidecar(seq)
    audio = _audio_streams(sidecar) if sidecar else []
    frames = list(range(seq.length))
    return VideoInfo(
        uri=seq.pattern,
        container=f"{video.codec} sequence",
        duration=float(seq.length / rate),
        streams=[video, *audio],
        video_index=0,
        frame_pts=frames,
        keyframe_pts=frames,
        time_base=1 / rate,
        width=width,
        height=height,
        frame_durations_last=1,
        sequence=seq.to_json(),
        sidecar=sidecar,
    )


def find_sidecar(seq: FrameSequence) -> str | None:
    """``NAME.wav`` (or ``.WAV``) beside the frames, NAME the film's or its folder's name."""
    folder = seq.directory.rstrip("/").rsplit("/", 1)[-1]
    for stem in dict.fromkeys((seq.film_name, folder)):
        for suffix in (".wav", ".WAV"):
            uri = f"{seq.directory}/{stem}{suffix}" if seq.directory else f"{stem}{suffix}"
            if stem and storage.exists(uri):
                return uri
    return None


def _audio_streams(uri: str) -> list[StreamInfo]:
    with open_media(uri) as container:
        return [stream_info(s) for s in container.streams if s.type == "audio"]
