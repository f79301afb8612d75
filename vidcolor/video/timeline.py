"""Timestamp jumps, repaired the way ffmpeg's command line repairs them.

A broadcast capture made of recordings joined end to end (or cut across the 33-bit PTS wrap)
has timestamps that jump: PyAV hands them over as they are, and an output that keeps them lasts
hours longer than its frames. ffmpeg's demux loop (``fftools/ffmpeg.c``, for formats flagged
``AVFMT_TS_DISCONT``: MPEG-TS, MPEG-PS) predicts each stream's next DTS from the last one and
its duration; a packet more than 10 s off, or 0.1 s behind, changes an offset added to every
later timestamp of the file, so that packet lands where it was predicted: the output is
continuous and the streams stay in sync (one offset for all). libavformat already unwraps a
33-bit wrap inside one recording; a wrap across a join is one more jump. ffmpeg also starts
such a file at 0 (its ``-start_time`` offset: a capture's clock starts anywhere, 1.4 s for
ffmpeg's own muxer, hours into the day for a broadcast): so do we, or MP4 would open with that
much nothing.

:class:`JumpFinder` applies that rule at probe time, in demux order, and records each new
offset with the byte position, per stream, from which the stream's packets take it: its first
packet that fits the new offset (a byte-wise join puts every packet of the second recording after
every packet of the first, but a wrap inside one recording reaches audio and video at different
bytes, as the muxer interleaved them). :class:`Timeline` applies the recorded offsets by stream
and byte position wherever packets are read again (decode, the audio copy) and seeks by byte to
a keyframe, since a file whose timestamps repeat cannot be searched by timestamp.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction

import av

JUMP_SECONDS = 10  # ffmpeg's -dts_delta_threshold default
BACKWARD_SECONDS = Fraction(1, 10)  # a DTS this far behind the stream's last is a jump too


def jumps_possible(container) -> bool:
    """Whether ffmpeg would look for timestamp jumps in this container's format."""
    return bool(container.format.flags & av.format.Flags.ts_discont.value)


@dataclass
class Jump:
    pos: int  # byte position where it was found (streams not in ``starts`` switch here)
    offset: str  # seconds added to every timestamp from there on (exact 'num/den')
    time: float  # where the jump lands in the repaired timeline (seconds)
    by: float  # how far the timestamps jumped (seconds; negative: backwards)
    starts: dict[str, int] = field(default_factory=dict)  # stream index -> its first byte

    def start(self, stream: int, default: int | None = None) -> int | None:
        """Byte from which ``stream`` takes the offset (a stream the finder never saw, e.g.
        subtitles: from where the jump was found)."""
        return self.starts.get(str(stream), self.pos if default is None else default)

    def to_dict(self) -> dict:
        return asdict(self)


NEVER = 1 << 62  # the start of a jump a stream never took


def offset_at(jumps: list[Jump], stream: int, pos: int, base: Fraction, *, taken=False) -> Fraction:
    """The offset in force for ``stream`` at byte ``pos`` (``base`` before any jump);
    ``taken``: only the jumps the stream has taken (while finding them)."""
    for jump in reversed(jumps):
        if jump.start(stream, NEVER if taken else None) <= pos:
            return Fraction(jump.offset)
    return base


@dataclass
class _Stream:
    time_base: Fraction
    default_duration: Fraction  # seconds, when a packet carries none
    next_dts: Fraction | None = None  # predicted (repaired) dts of the next packet
    # the last packet's repaired dts (ffmpeg compares with the later of it and the last decoded
    # frame's pts, which trails the packets' dts by the decoder's delay)
    last_dts: Fraction = Fraction(0)
    pos: int = 0  # byte position of its last packet (split audio frames carry none)


@dataclass
class JumpFinder:
    """Feed it a file's video and audio packets in demux order; ``jumps`` is what it found."""

    base: Fraction = Fraction(0)  # seconds added before any jump (minus the file's start)
    streams: dict[int, _Stream] = field(default_factory=dict)
    jumps: list[Jump] = field(default_factory=list)
    last: Fraction | None = None  # the file's last repaired dts (ffmpeg's last_ts)

    def add_stream(self, index: int, time_base: Fraction, default_duration: Fraction) -> None:
        self.streams[index] = _Stream(Fraction(time_base), Fraction(default_duration))

    def feed(self, packet) -> None:
        index = packet.stream.index
        st = self.streams[index]
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is None:
            return
        st.pos = packet.pos if packet.pos is not None and packet.pos >= 0 else st.pos
        raw = ts * st.time_base
        t = raw + offset_at(self.jumps, index, st.pos, self.base, taken=True)
        if self._jumped(st, t):
            t = self._switch(index, st, raw) or self._new_jump(index, st, raw, t)
        duration = packet.duration * st.time_base if packet.duration else st.default_duration
        st.next_dts, st.last_dts, self.last = t + duration, t, t

    def _jumped(self, st: _Stream, t: Fraction) -> bool:
        if st.next_dts is None:  # a stream's first packet, compared with the file's last
            return self.last is not None and abs(t - self.last) > JUMP_SECONDS
        return abs(t - st.next_dts) > JUMP_SECONDS or t + BACKWARD_SECONDS < st.last_dts

    def _switch(self, index: int, st: _Stream, raw: Fraction) -> Fraction | None:
        """The first packet of a stream that fits a jump another stream found: the stream takes
        its offset from this byte on."""
        key = str(index)
        for jump in reversed(self.jumps):
            if key in jump.starts:
                return None  # this stream has taken the latest jump it can take
            if not self._jumped(st, raw + Fraction(jump.offset)):
                for skipped in self.jumps[: self.jumps.index(jump) + 1]:
                    skipped.starts.setdefault(key, st.pos)
                return raw + Fraction(jump.offset)
        return None

    def found(self) -> list[Jump]:
        """The jumps, each with the byte from which every stream fed here takes it (NEVER for
        a stream that had no packet after it)."""
        for jump in self.jumps:
            for index in self.streams:
                jump.starts.setdefault(str(index), NEVER)
        return self.jumps

    def _new_jump(self, index: int, st: _Stream, raw: Fraction, t: Fraction) -> Fraction:
        expected = st.next_dts if st.next_dts is not None else self.last
        offset = f"{(expected - raw).numerator}/{(expected - raw).denominator}"
        jump = Jump(st.pos, offset, float(expected), float(t - expected), {str(index): st.pos})
        self.jumps.append(jump)
        return expected


class Timeline:
    """Recorded jumps (and the start offset) applied to packets read again, by stream and byte
    position; byte seeks to keyframes. False when it changes nothing (all formats but TS/PS)."""

    def __init__(self, jumps: list, seek_points: list | None = None, base: str = "0"):
        self.jumps = [j if isinstance(j, Jump) else Jump(**j) for j in jumps]
        self.base = Fraction(base)
        self.keyframes = {int(p): int(b) for p, b in seek_points or ()}  # repaired pts -> byte
        self.pos: dict[int, int] = {}  # stream index -> last byte position seen

    @classmethod
    def of(cls, info) -> Timeline:
        """The timeline of a probed video (``VideoInfo``)."""
        return cls(info.jumps, info.seek_points, info.ts_offset)

    def __bool__(self) -> bool:
        return bool(self.jumps) or bool(self.base)

    def shift(self, stream: int, pos: int, time_base) -> int:
        """The offset for ``stream`` at byte ``pos`` in units of ``time_base``."""
        if not self:
            return 0
        return round(offset_at(self.jumps, stream, pos, self.base) / Fraction(time_base))

    def fix(self, packet):
        """Shift ``packet``'s pts and dts (in place) by the offset of its stream and byte."""
        if not self:
            return packet
        index = packet.stream.index
        if packet.pos is not None and packet.pos >= 0:
            self.pos[index] = packet.pos
        shift = self.shift(index, self.pos.get(index, 0), packet.time_base)
        if shift:
            if packet.pts is not None:
                packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
        return packet

    def seek(self, container, stream, pts: int) -> None:
        """To the keyframe at repaired ``pts``: by byte when the file has jumps."""
        if self and pts in self.keyframes:
            container.seek(self.keyframes[pts], unsupported_byte_offset=True)
            self.pos.clear()
        else:
            container.seek(pts, stream=stream)

    def rewind(self, container, stream) -> None:
        """Back to the start of the file (to decode from the first frame)."""
        if self:
            container.seek(0, unsupported_byte_offset=True)
            self.pos.clear()
        else:
            container.seek(0, stream=stream, backward=True, any_frame=False)
