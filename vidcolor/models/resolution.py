"""The size the generator runs at, without torch: decode workers size frames for the model
without loading it (:mod:`vidcolor.cie` says why that matters)."""

from __future__ import annotations

DOWNSAMPLE = 32  # the generator's 5 average pools: its input must be a multiple of this


def model_resolution(height: int, width: int, short_side: int = 256) -> tuple[int, int]:
    """(h, w) the generator runs at for a height x width frame: short side -> ``short_side``, long
    side rounded to a multiple of 32, aspect kept (paper: trained at 256; frames are rarely square)."""
    if short_side % DOWNSAMPLE or short_side <= 0:
        raise ValueError(
            f"short_side must be a positive multiple of {DOWNSAMPLE}, got {short_side}"
        )
    if height <= 0 or width <= 0:
        raise ValueError(f"bad frame size {width}x{height}")
    if height <= width:
        return short_side, max(
            DOWNSAMPLE, round(width * short_side / height / DOWNSAMPLE) * DOWNSAMPLE
        )
    return max(DOWNSAMPLE, round(height * short_side / width / DOWNSAMPLE) * DOWNSAMPLE), short_side
