"""Colour tags of the output: the source's when it has them, else what its line count implies.

The merge computes Cb/Cr with the matrix written here, so tags and pixels always agree. Values are
FFmpeg's AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic (= ITU-T H.273 codes).
"""

from __future__ import annotations

from dataclasses import dataclass

from vidcolor.cie import MATRIX_COEFFS, YCbCrFormat
from vidcolor.video.probe import StreamInfo

BT709, BT470BG, SMPTE170M = 1, 5, 6  # the same code in all three tables for these systems
_UNSET = (None, 0, 2)  # 0 = RGB/reserved, 2 = unspecified
PAL_LINES = (576, 288)  # 625-line systems (and CIF): BT.470BG; other SD: SMPTE 170M (525 lines)


@dataclass(frozen=True)
class ColourTags:
    matrix: int
    primaries: int
    transfer: int
    full_range: bool

    def ycbcr(self, bits: int) -> YCbCrFormat:
        kr, kb = MATRIX_COEFFS[self.matrix]
        return YCbCrFormat(kr=kr, kb=kb, bits=bits, full_range=self.full_range)


def default_system(height: int) -> int:
    """Matrix/primaries code an untagged video of ``height`` coded lines is assumed to use."""
    if height >= 720:
        return BT709
    return BT470BG if height in PAL_LINES else SMPTE170M


def output_tags(video: StreamInfo) -> ColourTags:
    """Tags for the colourised output of ``video``: each tagged property kept, the rest defaulted."""
    system = default_system(video.height or 0)
    matrix = video.colorspace if video.colorspace in MATRIX_COEFFS else system
    primaries = video.color_primaries if video.color_primaries not in _UNSET else system
    # BT.601 and BT.709 share one transfer curve; SMPTE 170M is its SD name.
    transfer = (
        video.color_trc
        if video.color_trc not in _UNSET
        else (BT709 if system == BT709 else SMPTE170M)
    )
    full = video.color_range == 2 or (video.pix_fmt or "").startswith("yuvj")
    return ColourTags(matrix, primaries, transfer, full_range=full)
