"""Find the media files that inputs name, lazily: files, directories, globs and s3:// prefixes.

Nothing is collected before it is yielded, so a pipeline can start on the first file while the
listing of a million-object prefix is still going: local directories are walked with ``scandir``
(entries sorted within each directory), S3 prefixes page by page (``list_objects_v2``, 1,000 keys a
page). A directory reached twice (a symlink loop such as ``sub/loop -> ../..``, or two inputs that
overlap) is listed once; what is passed over is yielded as a note, so the report can say so.

With ``sequences=True`` a directory's numbered frame files (``reel1_0086400.dpx`` ...) are one
input, a frame sequence, grouped as the listing goes (:mod:`vidcolor.sequences.names`).
"""

from __future__ import annotations

import fnmatch
import glob as globlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from vidcolor import storage
from vidcolor.errors import VidcolorError, one_line
from vidcolor.guide.sidecars import is_sidecar
from vidcolor.sequences.names import FrameSequence, SequenceGrouper


@dataclass
class Listed:
    """A media file found under an input (``relpath`` relative to the input's root), or, when
    ``problem`` is set, an input that names no usable file, or, when ``note`` is set, something
    passed over while listing. A frame sequence has its pattern as ``uri`` and ``relpath``."""

    uri: str
    relpath: str = ""
    problem: str = ""
    note: str = ""
    sequence: FrameSequence | None = None


def is_media(uri: str) -> bool:
    """A video or image that is an input: references (``reel.refs/``, ``photo.hints.png``) are not."""
    return storage.suffix_of(uri) in storage.MEDIA_EXTS and not is_sidecar(uri)


class Lister:
    """Lists inputs one after another, remembering directories and files already yielded;
    ``sequences``: numbered frame files of one directory become one input."""

    def __init__(self, *, sequences: bool = False) -> None:
        self.dirs: set[tuple[int, int]] = set()  # (st_dev, st_ino) of every directory walked
        self.files: set[str] = set()
        self.sequences = sequences

    def _grouper(self) -> SequenceGrouper | None:
        if not self.sequences:
            return None
        return SequenceGrouper(lambda uri, rel, seq=None: Listed(uri, rel, sequence=seq))

    def iter_inputs(self, inputs: list[str]) -> Iterator[Listed]:
        for arg in inputs:
            found = 0
            try:
                for item in self._one(str(arg)):
                    if item.note or item.uri not in self.files:
                        self.files.add(item.uri)
                        found += not item.note
                        yield item
            except VidcolorError as err:
                yield Listed(uri=str(arg), problem=one_line(err))
                continue
            if not found:
                yield Listed(uri=str(arg), problem=self._nothing_found(str(arg)))

    def _nothing_found(self, arg: str) -> str:
        exists = storage.is_s3(arg) or globlib.has_magic(arg) or os.path.lexists(arg)
        # (an S3 prefix with no object at all raised "no such file" while listing)
        return f"{one_line(arg)}: " + (
            "no video or image files found" if exists else "no such file or directory"
        )

    def _one(self, arg: str) -> Iterator[Listed]:
        if storage.is_s3(arg):
            yield from _list_s3(arg, self._grouper())
        elif globlib.has_magic(arg):
            yield from self._list_local_glob(arg)
        else:
            yield from self._list_local(arg, os.path.basename(arg.rstrip("/")), top=True)

    def _list_local(self, path: str, rel: str, *, top: bool = False) -> Iterator[Listed]:
        try:
            st = os.stat(path)  # follows symlinks: a link to a directory is walked (once)
        except FileNotFoundError:
            if top:
                raise VidcolorError(f"{path}: no such file or directory") from None
            yield Listed(uri=path, note=one_line(f"{path}: dangling link, skipped"))
            return
        except OSError as err:
            raise VidcolorError(f"{path}: cannot list ({one_line(err)})") from err
        if stat.S_ISREG(st.st_mode):
            if is_media(path):
                yield Listed(uri=path, relpath=rel)
        elif stat.S_ISDIR(st.st_mode):
            if not top and is_sidecar(path):
                return  # a folder of references (reel.refs/): read by its video, not listed
            yield from self._walk(path, "" if top else rel + "/", st)
        elif top:
            raise VidcolorError(f"{path}: cannot list (not a regular file or directory)")
        elif is_media(path):
            note = f"{path}: not a regular file (pipe, socket or device), skipped"
            yield Listed(uri=path, note=one_line(note))

    def _walk(self, path: str, rel: str, st: os.stat_result) -> Iterator[Listed]:
        key = (st.st_dev, st.st_ino)
        if key in self.dirs:
            note = (
                f"{path}: directory already listed (symlink loop or a second path to it), skipped"
            )
            yield Listed(uri=path, note=one_line(note))
            return
        self.dirs.add(key)
        try:
            with os.scandir(path) as it:
                names = sorted(e.name for e in it)
        except OSError as err:
            yield Listed(uri=path, note=one_line(f"{path}: cannot list ({err}), skipped"))
            return
        grouper = self._grouper()  # this directory's own frames, grouped when it is listed
        for name in names:
            for item in self._list_local(os.path.join(path, name), rel + name):
                held = grouper is not None and item.relpath == rel + name and not item.note
                if not (held and grouper.add(item.uri, item.relpath)):
                    yield item
        if grouper is not None:
            yield from grouper.flush()

    def _list_local_glob(self, pattern: str) -> Iterator[Listed]:
        parts = pattern.split("/")
        base = "/".join(parts[: next(i for i, p in enumerate(parts) if globlib.has_magic(p))])
        grouper = self._grouper()  # glob matches come unsorted: grouped at the end
        for match in globlib.iglob(os.path.expanduser(pattern), recursive=True):
            rel = os.path.relpath(match, base or ".").replace(os.sep, "/")
            for item in self._list_local(match, rel):
                if item.note or grouper is None or not grouper.add(item.uri, item.relpath):
                    yield item
        if grouper is not None:
            yield from grouper.flush()


def _list_s3(arg: str, grouper: SequenceGrouper | None = None) -> Iterator[Listed]:
    from botocore.exceptions import BotoCoreError, ClientError

    _, path = storage.filesystem_for(arg)  # validates the URI
    bucket, _, key = path.partition("/")
    wild = globlib.has_magic(key)
    if wild:
        parts = key.split("/")
        first = next(i for i, p in enumerate(parts) if globlib.has_magic(p))
        prefix, regex = "/".join(parts[:first]), _glob_regex("/".join(parts[first:]))
    else:
        prefix, regex = key.rstrip("/"), None
    client = storage.s3_client()
    try:
        if key and not key.endswith("/") and not wild and storage.exists(arg):
            yield Listed(uri=arg, relpath=key.rsplit("/", 1)[-1])
            return
        root = f"{prefix}/" if prefix else ""
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root)
        seen = 0
        for page in pages:
            seen += page.get("KeyCount", 0)
            for obj in page.get("Contents", []):
                rel, uri = obj["Key"][len(root) :], f"s3://{bucket}/{obj['Key']}"
                if grouper is not None:  # keys come sorted: groups left behind are complete
                    yield from grouper.passed(uri)
                if not rel or obj["Key"].endswith("/") or not is_media(rel):
                    continue
                if regex is None or regex.fullmatch(rel):
                    if grouper is None or not grouper.add(uri, rel):
                        yield Listed(uri=uri, relpath=rel)
        if grouper is not None:
            yield from grouper.flush()
        if not seen:
            raise VidcolorError(f"{arg}: no such file or directory")
    except (BotoCoreError, ClientError) as err:
        raise VidcolorError(f"{arg}: cannot list ({one_line(err)})") from err


def _glob_regex(pattern: str) -> re.Pattern:
    """Shell glob on '/'-separated keys, like glob.glob: '*' stays in one level, '**/' spans any."""
    out = []
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        if part == "**":
            out.append("(?:[^/]+/)*")
            continue
        # fnmatch.translate gives '(?s:...)\\Z'; '*' must not cross '/'.
        body = fnmatch.translate(part)[4:-3].replace(".*", "[^/]*")
        body = re.sub(r"(?<!\\)\.", "[^/]", body)  # '?' -> any one character but '/'
        out.append(body + ("/" if i < len(parts) - 1 else ""))
    return re.compile("".join(out))


def list_inputs(inputs: list[str]) -> list[Listed]:
    """Every media file named by ``inputs``, sorted by URI; the first input that names none is a
    ``VidcolorError``. For callers that need the whole list (training data), not for the pipeline."""
    found = []
    for item in Lister().iter_inputs(inputs):
        if item.problem:
            raise VidcolorError(item.problem)
        if not item.note:
            found.append(item)
    return sorted(found, key=lambda f: f.uri)
