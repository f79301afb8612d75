"""Whole frames as they are displayed: seek, decode, apply the display rotation.

The one home for this: the preview, the training data loader and ``vidcolor evaluate`` use it
(the colourising path works on planes, in ``decode``). Sizes asked for are display sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction

import av
import numpy as np

from vidcolor.errors import VidcolorError
from vidcolor.video.planes import to_display
from vidcolor.video.probe import open_media, pick_video_stream

# (display width, display height) -> (width, height) wanted; None = full size.
Fit = Callable[[int, int], tuple[int, int]] | None


def fit_height(target_h: int) -> Fit:
    """A ``fit`` to ``target_h`` rows, the width scaled to match and made even (yuv420p)."""

    def size(width: int, height: int) -> tuple[int, int]:
        return max(2, round(width * target_h / height / 2) * 2), target_h

    return size


def frame_rotation(frame: av.VideoFrame) -> int:
    """Display rotation of a decoded frame, degrees counter-clockwise, a multiple of 90."""
    rotation = int(round(frame.rotation or 0)) % 360
    if rotation % 90:
        raise VidcolorError(f"unsupported display rotation {rotation} degrees")
    return rotation


def display_rgb(frame: av.VideoFrame, fit: Fit = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) of ``frame`` as displayed, resized by swscale to ``fit``'s size."""
    rotation = frame_rotation(frame)
    turned = rotation in (90, 270)
    size = {}
    if fit is not None:
        w, h = (frame.height, frame.width) if turned else (frame.width, frame.height)
        w, h = fit(w, h)
        size = {"width": h, "height": w} if turned else {"width": w, "height": h}
    full = frame.color_range if int(frame.color_range) == 2 else None  # None = limited
    rgb = frame.to_ndarray(format="rgb24", src_color_range=full, **size)
    return np.ascontiguousarray(to_display(rgb, rotation)) if rotation else rgb


def iter_display_frames(uri: str, fit: Fit = None) -> Iterator[np.ndarray]:
    """Every frame of ``uri``'s video in order, as displayed."""
    with open_media(uri) as container:
        stream = pick_video_stream(container, uri)
        try:
            for frame in container.decode(stream):
                yield display_rgb(frame, fit)
        except av.FFmpegError as err:
            raise VidcolorError(f"{uri}: not a readable video ({err})") from err


def frames_at(
    uri: str,
    pts: Sequence[int] | None = None,
    *,
    fractions: Sequence[float] | None = None,
    fit: Fit = None,
) -> list[np.ndarray]:
    """The first frame at or after each of ``pts`` (stream time base) or of ``fractions`` of the
    duration, as displayed. A seek lands on the keyframe before: frames are decoded and dropped
    until the target. Targets past the end give nothing."""
    out = []
    with open_media(uri) as container:
        stream = pick_video_stream(container, uri)
        if pts is None:
            duration = (container.duration or 0) / 1e6
            start = stream.start_time or 0
            tb = Fraction(stream.time_base)
            pts = [start + int(duration * f / tb) for f in fractions or ()]
        try:
            for target in pts:
                container.seek(target, stream=stream)
                for frame in container.decode(stream):
                    if frame.pts is not None and frame.pts >= target:
                        out.append(display_rgb(frame, fit))
                        break
        except av.FFmpegError as err:
            raise VidcolorError(f"{uri}: not a readable video ({err})") from err
    return out
