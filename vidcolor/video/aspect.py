"""Sample aspect ratio (SAR) on an output video stream, for every container.

MOV/MP4 take the SAR from the stream's codec parameters ('pasp'), and H.264 also codes it in the
bitstream; Matroska writes DisplayWidth/DisplayHeight from the stream's own field
(``AVStream.sample_aspect_ratio``), which PyAV 18 can read but not set (PyAV issues #764, #1001):
without it an 8:9 DV source in FFV1/Matroska plays at the wrong shape. :func:`set_sar` sets both,
the stream's field through ctypes at its offset in FFmpeg's ``AVStream``, after checking that the
fields before it hold what PyAV says they hold (else it warns and leaves the container's alone).
"""

from __future__ import annotations

import ctypes
import logging
from fractions import Fraction

log = logging.getLogger(__name__)

# A Cython extension object: PyObject header (refcount, type), its vtable pointer, then the first
# declared field, ``cdef lib.AVStream *ptr`` (av/stream.pxd).
_PTR_OFFSET = 3 * ctypes.sizeof(ctypes.c_void_p)


class _Rational(ctypes.Structure):
    _fields_ = [("num", ctypes.c_int), ("den", ctypes.c_int)]


class _AVStreamHead(ctypes.Structure):
    """The start of FFmpeg's AVStream (libavformat 59-62), up to sample_aspect_ratio."""

    _fields_ = [
        ("av_class", ctypes.c_void_p),
        ("index", ctypes.c_int),
        ("id", ctypes.c_int),
        ("codecpar", ctypes.c_void_p),
        ("priv_data", ctypes.c_void_p),
        ("time_base", _Rational),
        ("start_time", ctypes.c_int64),
        ("duration", ctypes.c_int64),
        ("nb_frames", ctypes.c_int64),
        ("disposition", ctypes.c_int),
        ("discard", ctypes.c_int),
        ("sample_aspect_ratio", _Rational),
    ]


def _stream_head(stream) -> _AVStreamHead | None:
    """The AVStream behind a PyAV output stream, or None when its layout is not the expected one
    (index, time base and disposition must read back as PyAV reports them)."""
    address = ctypes.c_void_p.from_address(id(stream) + _PTR_OFFSET).value
    if not address:
        return None
    head = _AVStreamHead.from_address(address)
    same = head.index == stream.index and head.disposition == int(stream.disposition)
    if stream.time_base:
        tb = head.time_base
        same = same and tb.den > 0 and Fraction(tb.num, tb.den) == Fraction(stream.time_base)
    return head if same else None


def set_sar(stream, sar: Fraction | None) -> bool:
    """Give an output video stream (before its first packet is muxed) the sample aspect ratio
    ``sar``, in its codec parameters and in the container's stream field; False when the second
    could not be set (a warning says so)."""
    if not sar:
        return True
    stream.codec_context.sample_aspect_ratio = sar
    head = _stream_head(stream)
    if head is None:
        log.warning("cannot set the container's sample aspect ratio (unexpected PyAV layout)")
        return False
    head.sample_aspect_ratio.num, head.sample_aspect_ratio.den = sar.numerator, sar.denominator
    return True
