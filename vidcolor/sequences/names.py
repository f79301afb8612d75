"""Frame sequences found while listing: a folder's files named ``PREFIX<number>.EXT``.

A film scanner writes one file per frame, numbered from the reel's timecode
(``reel1/reel1_0086400.dpx`` ... ``reel1_0215999.dpx``). Files of one directory that share a
prefix and an extension (DPX, TIFF, PNG, JPEG), at least :data:`MIN_FRAMES` of them, are one
film, a :class:`FrameSequence`; numbers missing between its first and last frame are its gaps.
Fewer files (a one-frame "sequence") stay photos.

:class:`SequenceGrouper` groups as the listing streams: a local directory's files when that
directory's listing is done (its names are sorted and in memory anyway), S3 keys as they come:
keys arrive sorted, so every key that starts with ``dir/PREFIX`` comes before the first that
does not, and a group is closed (a sequence, or its files yielded as photos) as soon as a key
past it arrives. An open group holds its frames' number strings only.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

SEQUENCE_EXTS = {".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}
MIN_FRAMES = 3  # fewer numbered files are photos that happen to be numbered
_NAME = re.compile(r"^(?P<prefix>(?:.*\D)?)(?P<number>\d+)(?P<ext>\.[^./]+)$")


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


@dataclass(frozen=True)
class FrameSequence:
    """The files ``directory/PREFIX<number, zero-padded to width>EXT`` for the numbers in
    ``runs`` (inclusive ranges, ascending). Frame ``i`` of the film is number ``first + i``."""

    directory: str  # uri of the folder (no trailing '/')
    rel_dir: str  # the folder below the input's root: '' or ending in '/'
    prefix: str
    width: int
    ext: str
    runs: tuple[tuple[int, int], ...]

    @property
    def first(self) -> int:
        return self.runs[0][0]

    @property
    def last(self) -> int:
        return self.runs[-1][1]

    @property
    def length(self) -> int:
        """Frames of the film, gaps included."""
        return self.last - self.first + 1

    @property
    def count(self) -> int:
        """Files present."""
        return sum(hi - lo + 1 for lo, hi in self.runs)

    def name(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.width}d}{self.ext}"

    def uri(self, number: int) -> str:
        return _join(self.directory, self.name(number))

    def relpath(self, number: int) -> str:
        return self.rel_dir + self.name(number)

    @property
    def pattern(self) -> str:
        """The sequence as ffmpeg names it: ``dir/reel1_%07d.dpx``."""
        digits = f"%0{self.width}d" if self.width > 1 else "%d"
        return _join(self.directory, f"{self.prefix}{digits}{self.ext}")

    @property
    def rel_pattern(self) -> str:
        return self.rel_dir + self.pattern.rsplit("/", 1)[-1]

    @property
    def film_name(self) -> str:
        """What the film is called: the prefix without trailing separators, else its folder."""
        stem = self.prefix.rstrip("_-. ")
        return stem or self.directory.rstrip("/").rsplit("/", 1)[-1] or "sequence"

    def present(self, number: int) -> bool:
        i = bisect.bisect_right(self.runs, (number, float("inf"))) - 1
        return i >= 0 and self.runs[i][0] <= number <= self.runs[i][1]

    def gaps(self) -> list[tuple[int, int]]:
        """The missing numbers between the first and last frame, as inclusive ranges."""
        return [(a[1] + 1, b[0] - 1) for a, b in zip(self.runs, self.runs[1:], strict=False)]

    def to_json(self) -> str:
        return json.dumps(
            [self.directory, self.rel_dir, self.prefix, self.width, self.ext, self.runs]
        )

    @classmethod
    def from_json(cls, text: str) -> FrameSequence:
        directory, rel_dir, prefix, width, ext, runs = json.loads(text)
        return cls(directory, rel_dir, prefix, width, ext, tuple(tuple(r) for r in runs))


def runs_of(numbers: list[int]) -> tuple[tuple[int, int], ...]:
    """Sorted distinct numbers -> inclusive ranges."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return tuple((lo, hi) for lo, hi in runs)


@dataclass
class _Group:
    directory: str
    rel_dir: str
    prefix: str
    ext: str
    digits: list[str] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return _join(self.directory, self.prefix)


class SequenceGrouper:
    """Holds a listing's numbered frame files until their group is complete. ``make(uri,
    relpath, sequence=None)`` builds what the listing yields (a photo, or the sequence)."""

    def __init__(self, make, min_frames: int = MIN_FRAMES):
        self.make = make
        self.min_frames = min_frames
        self.groups: dict[tuple[str, str, str], _Group] = {}

    def add(self, uri: str, relpath: str) -> bool:
        """Take the file at ``uri`` when it could be a frame (True); else the caller yields it."""
        directory, _, name = uri.rpartition("/")
        match = _NAME.match(name)
        if match is None or match["ext"].lower() not in SEQUENCE_EXTS:
            return False
        key = (directory, match["prefix"], match["ext"])
        group = self.groups.get(key)
        if group is None:
            rel_dir = relpath[: len(relpath) - len(name)]
            group = self.groups[key] = _Group(directory, rel_dir, match["prefix"], match["ext"])
        group.digits.append(match["number"])
        return True

    def passed(self, uri: str) -> Iterator:
        """Close the groups a sorted listing has left behind on reaching ``uri`` (S3 keys)."""
        for key in [k for k, g in self.groups.items() if not uri.startswith(g.stem)]:
            yield from self._close(self.groups.pop(key))

    def flush(self) -> Iterator:
        """Close every group (the end of a directory, or of the listing)."""
        groups, self.groups = self.groups, {}
        for group in groups.values():
            yield from self._close(group)

    def _close(self, group: _Group) -> Iterator:
        """A sequence when enough files are named alike, the files themselves otherwise."""
        width = min(len(d) for d in group.digits)
        members = sorted({int(d) for d in group.digits if d == str(int(d)).zfill(width)})
        loose = [d for d in group.digits if d != str(int(d)).zfill(width)]
        if len(members) < self.min_frames:
            members, loose = [], sorted(group.digits)
        if members:
            seq = FrameSequence(
                group.directory, group.rel_dir, group.prefix, width, group.ext, runs_of(members)
            )
            yield self.make(seq.pattern, seq.rel_pattern, seq)
        for digits in loose:
            name = f"{group.prefix}{digits}{group.ext}"
            yield self.make(_join(group.directory, name), group.rel_dir + name)
