"""Which container a finished video goes in: one rule for the muxer that writes it
(``mux.finalise``) and for the planner that looks for a finished output (``plan.finished_output``).

Each codec has its preferred container: mp4 for H.264/H.265, mov for ProRes, mkv for FFV1. A source
stream the preferred container cannot hold as a stream copy (subtitles other than mov_text, PCM
audio in mp4, ...) sends the whole video to mkv instead, which takes everything we copy. The planner
does not know the streams before probing, so it looks for both names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import PurePosixPath

log = logging.getLogger(__name__)

PREFERRED = {"h264": ".mp4", "h265": ".mp4", "ffv1": ".mkv", "prores": ".mov"}
FALLBACK = ".mkv"  # takes every stream we copy

# Stream codecs each container takes as a stream copy (conservative; anything else -> mkv).
_MP4_AUDIO = {"aac", "mp3", "mp2", "ac3", "eac3", "opus", "flac", "alac", "dts", "truehd"}
_MOV_AUDIO = _MP4_AUDIO | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le"}
_ACCEPTS = {
    ".mp4": {"audio": _MP4_AUDIO, "subtitle": {"mov_text"}},
    ".mov": {"audio": _MOV_AUDIO, "subtitle": {"mov_text"}},
}


def refused(suffix: str, copied: Iterable) -> list:
    """The copied streams (``StreamInfo`` with ``kind`` and ``codec``) ``suffix`` cannot hold."""
    accepts = _ACCEPTS.get(suffix.lower())
    if accepts is None:
        return []
    return [s for s in copied if s.codec not in accepts.get(s.kind, ())]


def container_for(codec: str, copied: Iterable) -> str:
    """'.mp4' | '.mov' | '.mkv': the codec's preferred container unless a copied stream can't go
    in it."""
    preferred = PREFERRED[codec]
    return FALLBACK if refused(preferred, copied) else preferred


def with_suffix(uri: str, suffix: str) -> str:
    """``uri`` with its last suffix replaced by ``suffix`` (or ``suffix`` added)."""
    current = PurePosixPath(uri).suffix
    return uri[: len(uri) - len(current)] + suffix


def final_output(planned: str, codec: str, copied: list) -> str:
    """Where the finished video goes: ``planned`` (the planner's name, in the preferred container)
    or, when a copied stream cannot go in it, the same name as .mkv (said in a warning)."""
    suffix = container_for(codec, copied)
    current = PurePosixPath(planned).suffix.lower()
    if current == suffix:
        return planned
    if current in _ACCEPTS and suffix == FALLBACK:
        kinds = ", ".join(f"{s.kind} {s.codec}" for s in refused(current, copied))
        log.warning("%s: writing %s instead: %s cannot go in %s", planned, suffix, kinds, current)
    return with_suffix(planned, suffix)


def possible_outputs(planned: str) -> list[str]:
    """Every name :func:`final_output` may give a planned video output."""
    fallback = with_suffix(planned, FALLBACK)
    return [planned] if fallback == planned else [planned, fallback]
