"""DPX (SMPTE 268M) files as film scanners write them: pixels, and the header a scan carries.

Reading: the header's layout fields and what a film archive keeps in it (frame rate, SMPTE
timecode, film edge code); the pixels as RGB codes (H, W, 3) at the file's bit depth. The common
scanner layouts (one RGB element, 8/16-bit, or 10/12-bit filled to words by method A, either byte
order) are unpacked by a compiled pass; anything else (luma-only, packed 10-bit, RLE, several
elements) by FFmpeg's DPX decoder through PyAV.

Writing: RGB codes at the source's bit depth, under the source's own header with only the fields
that no longer hold changed (file size, image data offset, one RGB element with its descriptor,
bit depth, packing), so the timecode, edge code, frame rate, creator and every other field a
conform tool reads stay the scan's. 10- and 12-bit data are written filled by method A, as
scanners and FFmpeg write them.
"""

from __future__ import annotations

import math
import struct
import sys
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from vidcolor.errors import VidcolorError
from vidcolor.video.chroma_kernel import jit

RGB, LUMA = 50, 6  # image element descriptors
_ELEMENT = 780  # first image element of the image information header
_FILM_RATE, _TV_TIMECODE, _TV_RATE = 1724, 1920, 1940
_UNDEFINED = 0xFFFFFFFF


@dataclass(frozen=True)
class DpxHeader:
    """What the pixels' layout and a film archive need from a DPX header."""

    raw: bytes  # every byte before the image data (written back, changed fields only)
    big_endian: bool
    width: int
    height: int
    descriptor: int
    bits: int
    packing: int
    encoding: int
    elements: int
    data_offset: int

    @property
    def order(self) -> str:
        return ">" if self.big_endian else "<"

    def _u32(self, offset: int) -> int | None:
        if len(self.raw) < offset + 4:
            return None
        value = struct.unpack_from(self.order + "I", self.raw, offset)[0]
        return None if value == _UNDEFINED else value

    @property
    def frame_rate(self) -> Fraction | None:
        """From the film header, else the television header; None when neither states one."""
        for offset in (_FILM_RATE, _TV_RATE):
            if len(self.raw) >= offset + 4:
                rate = struct.unpack_from(self.order + "f", self.raw, offset)[0]
                if math.isfinite(rate) and 1 <= rate <= 1000:
                    return exact_rate(rate)
        return None

    @property
    def timecode(self) -> str | None:
        """SMPTE timecode 'hh:mm:ss:ff' of the television header (BCD), if set."""
        value = self._u32(_TV_TIMECODE)
        if value is None:
            return None
        digits = f"{value:08x}"
        if not digits.isdigit():
            return None
        return ":".join(digits[i : i + 2] for i in range(0, 8, 2))

    @property
    def fast_layout(self) -> bool:
        """One uncompressed RGB element this module unpacks itself."""
        if self.descriptor != RGB or self.encoding != 0 or self.elements != 1:
            return False
        return (self.bits, self.packing) in ((8, 0), (16, 0), (10, 1), (12, 1))


def exact_rate(rate: float) -> Fraction:
    """A frame rate stored as a float, as the fraction it stands for (23.976 -> 24000/1001)."""
    for base in (24, 30, 48, 60, 120):
        if abs(rate - base * 1000 / 1001) < 0.002:
            return Fraction(base * 1000, 1001)
    return Fraction(rate).limit_denominator(1000)


def parse_header(data: bytes, uri: str = "") -> DpxHeader:
    """The header of a DPX file's bytes; ``VidcolorError`` naming ``uri`` when it is not one."""
    magic = data[:4]
    if magic not in (b"SDPX", b"XPDS") or len(data) < _ELEMENT + 72:
        raise VidcolorError(f"{uri}: not a DPX file")
    order = ">" if magic == b"SDPX" else "<"
    offset = struct.unpack_from(order + "I", data, 4)[0]
    elements, width, height = struct.unpack_from(order + "HII", data, 770)
    descriptor, _transfer, _colorimetric, bits = struct.unpack_from("BBBB", data, 800)
    packing, encoding = struct.unpack_from(order + "HH", data, 804)
    if not 0 < offset <= len(data) or not (0 < width <= 1 << 15 and 0 < height <= 1 << 15):
        raise VidcolorError(f"{uri}: damaged DPX header (offset {offset}, {width}x{height})")
    return DpxHeader(
        raw=bytes(data[:offset]),
        big_endian=order == ">",
        width=width,
        height=height,
        descriptor=descriptor,
        bits=bits,
        packing=packing,
        encoding=encoding,
        elements=elements,
        data_offset=offset,
    )


def decode(data: bytes, uri: str = "") -> tuple[np.ndarray, int, DpxHeader]:
    """(RGB codes (H, W, 3): uint8 at 8 bits, else uint16 holding ``bits``-bit codes; bits;
    header) of a DPX file's bytes."""
    header = parse_header(data, uri)
    if not header.fast_layout:
        rgb, bits = _decode_with_ffmpeg(data, uri)
        return rgb, bits, header
    h, w, bits = header.height, header.width, header.bits
    start = header.data_offset
    try:
        if bits == 8:
            rgb = np.frombuffer(data, np.uint8, h * w * 3, start).reshape(h, w, 3)
        elif bits == 16:
            rgb = np.frombuffer(data, header.order + "u2", h * w * 3, start).reshape(h, w, 3)
            rgb = rgb.astype(np.uint16)
        elif bits == 10:
            words = np.frombuffer(data, header.order + "u4", h * w, start).reshape(h, w)
            rgb = _unpack10(words.astype(np.uint32, copy=False))
        else:
            halves = np.frombuffer(data, header.order + "u2", h * w * 3, start).reshape(h, w, 3)
            rgb = (halves >> 4).astype(np.uint16)
    except ValueError as err:  # fewer bytes than the header promises
        raise VidcolorError(f"{uri}: truncated DPX file ({err})") from err
    return rgb, bits, header


def _decode_with_ffmpeg(data: bytes, uri: str) -> tuple[np.ndarray, int]:
    import av

    try:
        frames = av.CodecContext.create("dpx", "r").decode(av.Packet(data))
    except av.FFmpegError as err:
        raise VidcolorError(f"{uri}: not a readable DPX file ({err})") from err
    if not frames:
        raise VidcolorError(f"{uri}: not a readable DPX file (no picture)")
    frame = frames[0]
    bits = max(c.bits for c in frame.format.components)
    grey = frame.format.name.startswith("gray")
    target = ("gray" if grey else "rgb24") if bits <= 8 else ("gray16le" if grey else "rgb48le")
    rgb = frame.reformat(format=target).to_ndarray()
    if bits > 8:  # swscale scaled the codes to 16 bits: back to the file's depth
        rgb = (rgb >> (16 - bits)).astype(np.uint16)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    return rgb[..., :3], bits


def encode(rgb: np.ndarray, bits: int, like: DpxHeader) -> bytearray:
    """A DPX file of ``rgb`` (H, W, 3) codes at ``bits`` (8, 10, 12 or 16) under ``like``'s
    header (the source frame's), with the fields that changed set to what this file holds. The
    pixels are packed straight into the file's buffer (a 2K frame is 12.7 MB: no copies)."""
    h, w = rgb.shape[:2]
    if bits not in (8, 10, 12, 16):
        raise VidcolorError(f"cannot write {bits}-bit DPX")
    offset = len(like.raw)
    word = {8: 1, 10: 4, 12: 2, 16: 2}[bits]
    count = h * w * (1 if bits == 10 else 3)
    out = bytearray(offset + count * word)
    out[:offset] = like.raw
    native = {1: np.uint8, 2: np.uint16, 4: np.uint32}[word]
    pixels = np.frombuffer(out, native, count, offset)
    if bits == 10:
        _pack10(np.ascontiguousarray(rgb, np.uint16), pixels.reshape(h, w))
    else:
        np.left_shift(rgb.reshape(-1), 4 if bits == 12 else 0, out=pixels, casting="unsafe")
    if word > 1 and like.big_endian != (sys.byteorder == "big"):
        pixels.byteswap(inplace=True)
    _set_fields(out, like.order, offset, w, h, bits)
    return out


def _set_fields(header: bytearray, order: str, offset: int, width: int, height: int, bits: int):
    """What no longer holds from the source's header: sizes, offsets, one RGB element."""
    packing = 1 if bits in (10, 12) else 0  # 10/12-bit: filled to words, method A
    struct.pack_into(order + "I", header, 4, offset)
    struct.pack_into(order + "I", header, 16, len(header))
    struct.pack_into(order + "HII", header, 770, 1, width, height)
    struct.pack_into("B", header, 800, RGB)
    struct.pack_into("B", header, 803, bits)
    struct.pack_into(order + "HHIII", header, 804, packing, 0, offset, 0, 0)
    struct.pack_into(order + "I", header, _ELEMENT, 0)  # unsigned data


@jit
def _unpack10(words: np.ndarray) -> np.ndarray:
    """Method A 10-bit RGB: one pixel per 32-bit word, R G B from the top, 2 pad bits."""
    h, w = words.shape
    out = np.empty((h, w, 3), np.uint16)
    for i in range(h):
        for j in range(w):
            v = words[i, j]
            out[i, j, 0] = (v >> 22) & 0x3FF
            out[i, j, 1] = (v >> 12) & 0x3FF
            out[i, j, 2] = (v >> 2) & 0x3FF
    return out


@jit
def _pack10(rgb: np.ndarray, out: np.ndarray) -> None:
    """Method A 10-bit RGB into ``out`` (H, W) native uint32 words."""
    h, w = rgb.shape[:2]
    for i in range(h):
        for j in range(w):
            r = np.uint32(rgb[i, j, 0] & 0x3FF)
            g = np.uint32(rgb[i, j, 1] & 0x3FF)
            b = np.uint32(rgb[i, j, 2] & 0x3FF)
            out[i, j] = (r << 22) | (g << 12) | (b << 2)
