"""Join encoded segments by stream copy and copy the source's audio/subtitles packet-for-packet.

Nothing is re-encoded here. Packets of all streams are merged in DTS order (the muxer interleaves
properly), keeping their timestamps. The container is mp4 (h264/h265), mov (ProRes) or mkv (FFV1),
falling back to mkv when a source stream cannot go in the preferred one.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path, PurePosixPath

import av

from vidcolor import storage
from vidcolor.errors import VidcolorError
from vidcolor.video.encode import EncodeSettings
from vidcolor.video.probe import VideoInfo, open_media

log = logging.getLogger(__name__)

# Stream codecs each container takes as a stream copy (conservative; anything else -> mkv).
_MP4_AUDIO = {"aac", "mp3", "mp2", "ac3", "eac3", "opus", "flac", "alac", "dts", "truehd"}
_MOV_AUDIO = _MP4_AUDIO | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le"}
_ACCEPTS = {
    ".mp4": {"audio": _MP4_AUDIO, "subtitle": {"mov_text"}},
    ".mov": {"audio": _MOV_AUDIO, "subtitle": {"mov_text"}},
    ".mkv": None,  # takes everything we copy
}


def _copied_streams(source: VideoInfo):
    return [s for s in source.streams if s.kind in ("audio", "subtitle")]


def container_for(source: VideoInfo, settings: EncodeSettings) -> str:
    """'.mp4' | '.mov' | '.mkv': the preferred container unless a copied stream can't go in it."""
    preferred = settings.container_suffix()
    accepts = _ACCEPTS[preferred]
    if accepts is None:
        return preferred
    for s in _copied_streams(source):
        if s.codec not in accepts[s.kind]:
            return ".mkv"
    return preferred


def _packets(container, streams) -> Iterator:
    for packet in container.demux(*streams):
        if packet.size == 0 and packet.pts is None and packet.dts is None:
            continue  # demuxer flush packet, not data
        yield packet


class _OrderKey:
    """Sort key in seconds (exact fractions) from dts, falling back to pts, then to the last key."""

    def __init__(self) -> None:
        self.last: dict[int, Fraction] = {}

    def __call__(self, tagged) -> Fraction:
        tag, packet = tagged
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is None:
            return self.last.get(tag, Fraction(0))
        key = ts * Fraction(packet.time_base)
        self.last[tag] = key
        return key


def _segment_packets(segment_files: list[Path]) -> Iterator:
    extradata = None
    for path in segment_files:
        with av.open(str(path)) as seg:
            stream = seg.streams.video[0]
            if extradata is None:
                extradata = stream.codec_context.extradata
            elif stream.codec_context.extradata != extradata:
                raise VidcolorError(
                    f"{path}: codec headers differ from the first segment's; cannot join by copy"
                )
            yield from _packets(seg, [stream])


def _check_monotonic(out_uri: str, last: dict, index: int, dts: int | None) -> None:
    if dts is None:
        return
    if index in last and dts <= last[index]:
        raise VidcolorError(
            f"{out_uri}: non-monotonic DTS {dts} after {last[index]} in stream {index}"
        )
    last[index] = dts


def finalise(
    source_uri: str,
    segment_files: list[Path],
    out_uri: str,
    settings: EncodeSettings,
    source: VideoInfo,
) -> str:
    """Write the finished video to ``out_uri`` (suffix may change to .mkv); returns the uri written."""
    if not segment_files:
        raise VidcolorError(f"{source_uri}: no encoded segments to join")
    suffix = container_for(source, settings)
    out_uri = str(out_uri)
    current = PurePosixPath(out_uri).suffix
    if current.lower() != suffix:
        final_uri = out_uri[: len(out_uri) - len(current)] + suffix if current else out_uri + suffix
        if current.lower() in (".mp4", ".mov") and suffix == ".mkv":
            kinds = ", ".join(
                f"{s.kind} {s.codec}"
                for s in _copied_streams(source)
                if s.codec not in _ACCEPTS[current.lower()][s.kind]
            )
            log.warning(
                "%s: writing %s instead: %s cannot go in %s", out_uri, suffix, kinds, current
            )
        out_uri = final_uri

    with storage.atomic_output(out_uri) as tmp, open_media(source_uri) as src:
        copied = [src.streams[s.index] for s in _copied_streams(source)]
        with av.open(str(tmp), mode="w") as out:
            for key, value in src.metadata.items():
                if key not in ("major_brand", "minor_version", "compatible_brands", "encoder"):
                    out.metadata[key] = value
            seg0 = av.open(str(segment_files[0]))
            try:
                out_streams = {}
                for s in sorted([src.streams[source.video_index], *copied], key=lambda s: s.index):
                    template = seg0.streams.video[0] if s.index == source.video_index else s
                    o = out.add_stream_from_template(template)
                    o.time_base = s.time_base
                    for k in ("language", "title", "handler_name"):
                        if k in s.metadata:
                            o.metadata[k] = s.metadata[k]
                    o.disposition = s.disposition
                    out_streams[s.index] = o
            finally:
                seg0.close()

            video_out = out_streams[source.video_index]
            tagged = [((source.video_index, p) for p in _segment_packets(segment_files))]
            if copied:  # demux() with no streams would demux all of them, video included
                tagged.append((p.stream.index, p) for p in _packets(src, copied))
            last_dts: dict[int, int] = {}
            for index, packet in heapq.merge(*tagged, key=_OrderKey()):
                if index == source.video_index:  # segment joins: DTS must keep increasing
                    _check_monotonic(out_uri, last_dts, index, packet.dts)
                packet.stream = out_streams[index] if index != source.video_index else video_out
                out.mux(packet)
    log.info("%s: wrote %d segments", out_uri, len(segment_files))
    return out_uri
