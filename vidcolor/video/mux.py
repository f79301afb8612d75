"""Join encoded segments by stream copy and copy the source's audio/subtitles packet-for-packet.

Nothing is re-encoded here. Packets of all streams are merged in DTS order (the muxer interleaves
properly), keeping their timestamps. The container follows :mod:`vidcolor.video.containers`.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from vidcolor import storage
from vidcolor.errors import VidcolorError
from vidcolor.video import containers
from vidcolor.video.aspect import set_sar
from vidcolor.video.encode import EncodeSettings, output_sar
from vidcolor.video.probe import VideoInfo, open_media
from vidcolor.video.timeline import Timeline

log = logging.getLogger(__name__)


def _copied_streams(source: VideoInfo):
    return [s for s in source.streams if s.kind in ("audio", "subtitle")]


def container_for(source: VideoInfo, settings: EncodeSettings) -> str:
    """'.mp4' | '.mov' | '.mkv' for the finished ``source`` (see :mod:`vidcolor.video.containers`)."""
    return containers.container_for(settings.codec, _copied_streams(source))


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


def _keep_monotonic(last: dict, tag, packet) -> None:
    """A copied packet whose DTS does not follow its stream's last (where a repaired timestamp
    jump leaves the two recordings' audio overlapping by a few ms) gets the next one, as
    ffmpeg's muxing loop does ("Non-monotonous DTS ... changing to")."""
    if packet.dts is None:
        return
    if tag in last and packet.dts <= last[tag]:
        if packet.pts is not None and packet.pts >= packet.dts:
            packet.pts = max(packet.pts, last[tag] + 1)
        packet.dts = last[tag] + 1
    last[tag] = packet.dts


def finalise(
    source_uri: str,
    segment_files: list[Path],
    out_uri: str,
    settings: EncodeSettings,
    source: VideoInfo,
) -> str:
    """Write the finished video to ``out_uri`` (suffix may change to .mkv); returns the uri written.
    The audio and subtitles come from ``source_uri``, or from ``source.sidecar`` when it names
    one (a frame sequence's WAV; a sequence without one has nothing to copy)."""
    if not segment_files:
        raise VidcolorError(f"{source_uri}: no encoded segments to join")
    out_uri = containers.final_output(str(out_uri), settings.codec, _copied_streams(source))
    copy_from = source.sidecar or (None if source.sequence else source_uri)
    with storage.atomic_output(out_uri) as tmp, _opened(copy_from) as src:
        with av.open(str(tmp), mode="w") as out:
            for key, value in src.metadata.items() if src and not source.sidecar else ():
                if key not in ("major_brand", "minor_version", "compatible_brands", "encoder"):
                    out.metadata[key] = value
            video_out, copied = _add_streams(out, src, source, segment_files[0])
            tagged = [((_VIDEO, p) for p in _segment_packets(segment_files))]
            if copied:  # demux() with no streams would demux all of them, video included
                fix = Timeline.of(source).fix  # the source's jumps, repaired as in the video
                tagged.append((p.stream.index, fix(p)) for p in _packets(src, list(copied)))
            last_dts: dict = {}
            for tag, packet in heapq.merge(*tagged, key=_OrderKey()):
                if tag is _VIDEO:  # segment joins: DTS must keep increasing
                    _check_monotonic(out_uri, last_dts, tag, packet.dts)
                else:
                    _keep_monotonic(last_dts, tag, packet)
                packet.stream = video_out if tag is _VIDEO else copied[packet.stream]
                out.mux(packet)
    log.info("%s: wrote %d segments", out_uri, len(segment_files))
    return out_uri


_VIDEO = "video"  # the tag of the segments' packets in the merge


@contextlib.contextmanager
def _opened(uri: str | None):
    if uri is None:
        yield None
        return
    with open_media(uri) as container:
        yield container


def _add_streams(out, src, source: VideoInfo, first_segment: Path):
    """The output's streams in the source's order (a sidecar's after the video): the video from
    the first segment's stream (with the source's SAR, see :mod:`vidcolor.video.aspect`) and a
    copy of each audio and subtitle stream; returns (video stream, {source stream: output})."""
    copied = [src.streams[s.index] for s in _copied_streams(source)] if src else []
    video_src = src.streams[source.video_index] if src and not source.sidecar else None
    copies = {}
    with av.open(str(first_segment)) as seg0:
        video_template = seg0.streams.video[0]
        order = [video_src or video_template, *copied]
        if video_src is not None:
            order.sort(key=lambda s: s.index)
        for s in order:
            is_video = s is video_src or s is video_template
            o = out.add_stream_from_template(video_template if is_video else s)
            o.time_base = s.time_base
            for k in ("language", "title", "handler_name"):
                if k in s.metadata:
                    o.metadata[k] = s.metadata[k]
            o.disposition = s.disposition
            copies[_VIDEO if is_video else s] = o
    video_out = copies.pop(_VIDEO)
    set_sar(video_out, output_sar(source))
    return video_out, copies
