"""Decode one segment: small normalised L for the model, full-resolution L* for the final merge.

Both outputs are in display orientation (the display matrix is applied). swscale does the resize
and the YUV->RGB conversion (honouring the frame's matrix and range); vidcolor.color does RGB->L*.
Full frames never leave this process: the encoder re-decodes its segment with ``iter_full_l``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import torch

from vidcolor import color
from vidcolor.errors import VidcolorError
from vidcolor.models.generator import model_resolution
from vidcolor.video.probe import open_media, pick_video_stream
from vidcolor.video.segments import Segment

_CHUNK = 16  # frames converted to L* at once: bounds the float working memory


@dataclass
class DecodedSegment:
    pts: np.ndarray  # int64 (N,), every decoded frame, context included
    l_small: np.ndarray  # float32 (N, 1, h, w), normalised L at model resolution
    own: slice  # rows of pts/l_small owned by the segment (the rest is context)
    full_size: tuple[int, int]  # (H, W) as displayed


@dataclass
class _Frame:
    pts: int
    duration: int
    frame: av.VideoFrame


def _rotation(frame: av.VideoFrame) -> int:
    return int(round(frame.rotation or 0)) % 360


def _to_display(arr: np.ndarray, rotation: int) -> np.ndarray:
    # Display matrix rotation is counter-clockwise, as is np.rot90 with positive k.
    if rotation % 90:
        raise VidcolorError(f"unsupported display rotation {rotation} degrees")
    return np.ascontiguousarray(np.rot90(arr, k=rotation // 90)) if rotation else arr


def _src_range(frame: av.VideoFrame):
    # PyAV treats None as "unspecified" (= limited for YUV); pass full range through explicitly.
    return frame.color_range if int(frame.color_range) == 2 else None


def _iter_frames(uri: str, seg: Segment, *, owned_only: bool) -> Iterator[_Frame]:
    """Decoded frames of ``seg`` in pts order: context+owned, or owned only."""
    lo = seg.start_pts if owned_only else seg.context_start_pts
    hi = seg.end_pts if owned_only else seg.context_end_pts
    with open_media(uri) as container:
        stream = pick_video_stream(container, uri)
        try:
            for attempt in ("seek", "from_start"):
                if attempt == "seek" and seg.index > 0:
                    container.seek(seg.seek_pts, stream=stream)
                elif attempt == "from_start":
                    # The demuxer's index put us past our first frame: decode from the start.
                    container.seek(0, stream=stream, backward=True, any_frame=False)
                landed_late = False
                first = True
                for frame in container.decode(stream):
                    pts = frame.pts
                    if pts is None:
                        continue
                    if first and pts > lo and attempt == "seek" and seg.index > 0:
                        landed_late = True
                        break
                    first = False
                    if pts < lo:
                        continue
                    if hi is not None and pts >= hi:
                        break
                    yield _Frame(pts=pts, duration=frame.duration or 0, frame=frame)
                if not landed_late:
                    return
        except av.FFmpegError as err:
            raise VidcolorError(f"{uri}: decode failed in segment {seg.index} ({err})") from err


def _rgb_to_l(rgb: np.ndarray) -> torch.Tensor:
    """RGB (N, H, W, 3), uint8 or uint16 -> CIE L* float32 (N, H, W)."""
    scale = 255.0 if rgb.dtype == np.uint8 else 65535.0
    x = torch.from_numpy(rgb).movedim(-1, -3).float() / scale
    return color.rgb_to_lab(x)[..., 0, :, :]


def decode_segment(uri: str, seg: Segment, model_size: int = 256) -> DecodedSegment:
    """Decode ``seg`` (context included) to normalised L at model resolution."""
    pts: list[int] = []
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    full_size = None
    target = None
    rotation = 0

    def flush() -> None:
        if pending:
            l_star = _rgb_to_l(np.stack(pending))
            chunks.append(color.normalize_l(l_star).unsqueeze(1).numpy())
            pending.clear()

    for item in _iter_frames(uri, seg, owned_only=False):
        frame = item.frame
        if target is None:
            rotation = _rotation(frame)
            h, w = frame.height, frame.width
            if rotation in (90, 270):
                h, w = w, h
            full_size = (h, w)
            mh, mw = model_resolution(h, w, model_size)
            target = (mw, mh) if rotation in (90, 270) else (mh, mw)  # coded orientation
        rgb = frame.to_ndarray(
            format="rgb24",
            height=target[0],
            width=target[1],
            interpolation="AREA",
            src_color_range=_src_range(frame),
        )
        pending.append(_to_display(rgb, rotation))
        pts.append(item.pts)
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
    )


def _full_rgb(frame: av.VideoFrame, high_bit: bool) -> np.ndarray:
    rgb = frame.to_ndarray(
        format="rgb48le" if high_bit else "rgb24", src_color_range=_src_range(frame)
    )
    return _to_display(rgb, _rotation(frame))


def iter_full_frames(uri: str, seg: Segment) -> Iterator[tuple[int, int, np.ndarray]]:
    """(pts, duration, full-res CIE L* float32 (H, W)) of the owned frames, display orientation.

    Sources deeper than 8 bit go through 16-bit RGB so 10-bit precision reaches L*.
    """
    for item in _iter_frames(uri, seg, owned_only=True):
        fmt = item.frame.format
        high_bit = max(c.bits for c in fmt.components) > 8
        l_star = _rgb_to_l(_full_rgb(item.frame, high_bit)[None])[0]
        yield item.pts, item.duration, l_star.numpy()


def iter_full_l(uri: str, seg: Segment) -> Iterator[tuple[int, np.ndarray]]:
    """(pts, full-res CIE L* float32 (H, W)) for the owned frames of ``seg``, re-decoded."""
    for pts, _, l_star in iter_full_frames(uri, seg):
        yield pts, l_star
