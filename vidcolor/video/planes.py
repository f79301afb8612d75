"""Y'CbCr planes straight from decoded frames and into frames to encode, no swscale in between.

The merge keeps the source's luma codes, so they are read from plane 0 as stored and written to
the encoder's plane 0 unchanged (only shifted when the output is deeper than the source).
"""

from __future__ import annotations

import av
import numpy as np

# Planar formats whose plane 0 is the luma, little-endian: read as stored.
_LUMA_FIRST = ("yuv", "yuvj", "gray", "nv12", "nv16", "nv21", "nv24", "nv42", "p010le", "p016le")


def luma_bits(fmt: av.VideoFormat) -> int | None:
    """Bits of the stored luma, or None when the format has no luma plane to copy (RGB, palette)."""
    name = fmt.name
    if not name.startswith(_LUMA_FIRST) or name.endswith("be") or "a" in name.removeprefix("gray"):
        return None  # RGB, palette, big-endian or with alpha: converted first
    return fmt.components[0].bits


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """The stored luma (H, W), uint8 or uint16, coded orientation (a view of the frame's buffer).

    ``frame`` must have a luma plane (see :func:`luma_bits`)."""
    plane = frame.planes[0]
    dtype = np.uint8 if frame.format.components[0].bits <= 8 else np.uint16
    rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
    return rows[:, : frame.width]


def to_display(arr: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise, as np.rot90 with positive k)."""
    return np.rot90(arr, k=rotation // 90) if rotation else arr


def change_depth(y: np.ndarray, src_bits: int, dst_bits: int) -> np.ndarray:
    """Luma codes at ``dst_bits``: unchanged when equal, exact shift up, rounded shift down."""
    if dst_bits == src_bits:
        return y
    if dst_bits > src_bits:
        return y.astype(np.uint16) << (dst_bits - src_bits)
    shift = src_bits - dst_bits
    out = (y.astype(np.uint32) + (1 << (shift - 1))) >> shift
    return np.minimum(out, (1 << dst_bits) - 1).astype(np.uint8 if dst_bits <= 8 else np.uint16)


def pad_to(y: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad bottom/right to (height, width) by repeating the last row/column."""
    if y.shape == (height, width):
        return y
    return np.pad(y, ((0, height - y.shape[0]), (0, width - y.shape[1])), mode="edge")


def chroma_subsampling(pix_fmt: str) -> tuple[int, int]:
    """(vertical, horizontal) chroma subsampling factors of a planar YUV format."""
    chroma = av.VideoFormat(pix_fmt, 64, 64).components[1]
    return 64 // chroma.height, 64 // chroma.width


def make_frame(y: np.ndarray, chroma: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    """A frame of ``pix_fmt`` (planar Y'CbCr) from luma (H, W) and Cb, Cr (2, h, w) codes."""
    height, width = y.shape
    frame = av.VideoFrame(width, height, pix_fmt)
    dtype = np.uint8 if frame.format.components[0].bits <= 8 else np.uint16
    for plane, data in zip(frame.planes, (y, chroma[0], chroma[1]), strict=True):
        rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
        rows[:, : plane.width] = data
    return frame
