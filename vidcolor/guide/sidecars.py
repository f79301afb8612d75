"""Where a user puts references, what their names mean, and their checks against the input.

Beside an input (or at the same relative path under ``--references DIR``, local or S3):

- ``reel.mp4`` + folder ``reel.refs/``:
  - ``frame-000120.png`` (the frame's index from 0, any number of digits) or ``00-00-04.800.png``
    (its time from the start, ``HH-MM-SS.mmm``): a coloured copy of that frame, any size of the
    same aspect; with transparency (PNG alpha) it marks only some pixels: hint strokes;
  - ``shot-000120[-anything].jpg`` or ``shot-00-00-04.800[-anything].jpg``: a reference photo for
    the shot around that frame (a still of the set, a costume photo);
  - any other image: a reference photo for the whole film (a postcard of the street);
- ``photo.jpg`` + ``photo.hints.png`` (hint strokes, or a whole coloured copy) and/or a folder
  ``photo.refs/`` of reference photos.

``--reference IMG`` is a reference photo for every input that has none of its own. Sidecar
folders and files are references, never inputs of their own (:func:`is_sidecar`).
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from vidcolor import storage
from vidcolor.errors import VidcolorError, one_line

KEYFRAME, HINTS, SHOT_PHOTO, FILM_PHOTO = "keyframe", "hints", "shot-photo", "film-photo"
REFS_SUFFIX = ".refs"
_NUMBER_FIELD = re.compile(r"%0?\d*d$")  # a frame sequence's number in its pattern
HINTS_SUFFIX = ".hints.png"
ASPECT_TOLERANCE = 0.02  # a keyframe's width/height may differ from the frame's by 2 %

_TIME = r"(\d+)-(\d{2})-(\d{2})\.(\d{3})"
_NAMES = (  # (pattern of the name without extension, kind, how the anchor is given)
    (re.compile(r"frame-(\d+)"), KEYFRAME, "frame"),
    (re.compile(_TIME), KEYFRAME, "time"),
    (re.compile(rf"shot-{_TIME}(?:[-_ .].*)?"), SHOT_PHOTO, "time"),
    (re.compile(r"shot-(?:frame-)?(\d+)(?:[-_ .].*)?"), SHOT_PHOTO, "frame"),
)


@dataclass
class RefSpec:
    """One reference of one input, as planned: small, JSON-able, travels in the video's plan (or a
    photo's row), never its pixels."""

    uri: str
    name: str  # the file's name, for the report
    kind: str  # keyframe | hints | shot-photo | film-photo
    frame: int | None = None  # index in the video (anchored kinds)
    time: float | None = None  # seconds from the start, as named or as the frame's

    def to_dict(self) -> dict:
        return asdict(self)


def is_sidecar(path: str) -> bool:
    """Whether ``path`` (a file or directory, any depth) is a reference, not an input: it lies
    in a ``*.refs`` folder or is a ``*.hints.png``."""
    parts = PurePosixPath(str(path).replace("\\", "/").lower()).parts
    if not parts:
        return False
    return any(p.endswith(REFS_SUFFIX) for p in parts) or parts[-1].endswith(HINTS_SUFFIX)


def parse_name(name: str) -> tuple[str, int | None, float | None]:
    """(kind, frame, seconds) a reference file's name says; keyframe/hints are told apart later
    by the image's transparency."""
    stem = PurePosixPath(name).stem if storage.suffix_of(name) else name
    for pattern, kind, given in _NAMES:
        found = pattern.fullmatch(stem)
        if found is None:
            continue
        if given == "frame":
            return kind, int(found.group(1)), None
        h, m, s, ms = (int(x) for x in found.groups()[:4])
        return kind, None, h * 3600 + m * 60 + s + ms / 1000.0
    return FILM_PHOTO, None, None


def find_references(
    uri: str, relpath: str, kind: str, *, mirror: str | None = None, run_wide: str | None = None
) -> list[RefSpec]:
    """The references of the input ``uri`` (its path below its root: ``relpath``), beside it and
    under ``mirror``; ``run_wide`` when it has none of its own."""
    sequence = kind == "sequence"
    places = [_beside(uri, sequence)]
    if mirror:
        places.append(storage.safe_join(mirror, _beside(relpath, sequence)))
    specs: list[RefSpec] = []
    for base in places:
        for ref in _list_images(base + REFS_SUFFIX):
            name = PurePosixPath(ref).name
            found, frame, seconds = (
                parse_name(name) if kind in ("video", "sequence") else (FILM_PHOTO, None, None)
            )
            specs.append(RefSpec(ref, name, found, frame, seconds))
        if kind == "image" and storage.exists(base + HINTS_SUFFIX):
            specs.append(
                RefSpec(base + HINTS_SUFFIX, PurePosixPath(base).name + HINTS_SUFFIX, HINTS, 0, 0.0)
            )
    if not specs and run_wide:
        specs.append(RefSpec(str(run_wide), PurePosixPath(str(run_wide)).name, FILM_PHOTO))
    return specs


def _beside(uri: str, sequence: bool = False) -> str:
    """``uri`` without its suffix: where its sidecars start. A frame sequence's pattern loses its
    number and the separator before it (``reel1/reel1_%07d.dpx``: ``reel1/reel1``, so its
    references are ``reel1/reel1.refs/``, in the scans' own folder; ``reel1/%06d.png``:
    ``reel1.refs/`` beside the folder)."""
    suffix = PurePosixPath(uri).suffix
    base = uri[: len(uri) - len(suffix)] if suffix else uri
    unnumbered = _NUMBER_FIELD.sub("", base) if sequence else base
    if unnumbered == base:
        return base
    unnumbered = unnumbered.rstrip("_-. /")  # frames named by number alone: the folder's name
    return unnumbered if PurePosixPath(unnumbered).name else base


def _list_images(folder: str) -> list[str]:
    """Image files directly in ``folder`` (local or S3), sorted; none when it does not exist."""
    if storage.is_s3(folder):
        _, path = storage.filesystem_for(folder)
        bucket, _, prefix = path.partition("/")
        pages = storage.s3_client().get_paginator("list_objects_v2")
        keys = [
            obj["Key"]
            for page in pages.paginate(
                Bucket=bucket, Prefix=prefix.rstrip("/") + "/", Delimiter="/"
            )
            for obj in page.get("Contents", [])
        ]
        found = [f"s3://{bucket}/{k}" for k in keys]
    else:
        path = storage.filesystem_for(folder)[1]
        if not os.path.isdir(path):
            return []
        found = [os.path.join(folder, name) for name in os.listdir(path)]
    return sorted(f for f in found if storage.suffix_of(f) in storage.IMAGE_EXTS)


def frame_at(seconds: float, times: list[float], uri: str, ref: str) -> int:
    """The frame whose time (from the video's start) is nearest ``seconds``; a time past the end
    is an error naming the reference."""
    if not times or seconds > times[-1] + (times[-1] - times[-2] if len(times) > 1 else 0.0):
        end = times[-1] if times else 0.0
        raise VidcolorError(
            f"{uri}: reference {ref}: time {seconds:.3f} s is past the end ({end:.3f} s)"
        )
    i = bisect.bisect_left(times, seconds)
    if i > 0 and (i == len(times) or seconds - times[i - 1] <= times[i] - seconds):
        i -= 1
    return i


def check_aspect(
    ref_size: tuple[int, int], shapes: list[tuple[int, int]], uri: str, ref: str
) -> None:
    """A keyframe (or hints) must show the frame: the width/height ratio of one of ``shapes`` (the
    frame as stored, as displayed), within 2 %. Sizes are (width, height)."""
    want = ref_size[0] / ref_size[1]
    if not any(abs(want / (w / h) - 1.0) <= ASPECT_TOLERANCE for w, h in shapes):
        w, h = shapes[0]
        raise VidcolorError(
            f"{uri}: reference {ref}: {ref_size[0]}x{ref_size[1]} does not have the frame's "
            f"aspect ({w}x{h})"
        )


def resolve(
    specs: list[RefSpec], uri: str, times: list[float], shapes: list[tuple[int, int]]
) -> list[RefSpec]:
    """``specs`` checked against the video (``times``: seconds of every frame from the start;
    ``shapes``: acceptable (width, height) of its frames): anchors as frame indices and times,
    keyframes that are mostly transparent as hints. Each image is read (a reference that does not
    decode fails here, not halfway through the film); a bad one is a ``VidcolorError`` naming it."""
    from vidcolor.guide.reference import is_hints
    from vidcolor.image import read_rgba

    out = []
    for spec in specs:
        try:
            rgb, alpha = read_rgba(spec.uri)
        except VidcolorError as err:
            reason = str(err).removeprefix(f"{spec.uri}: ")
            raise VidcolorError(f"{uri}: reference {spec.name}: {reason}") from err
        kind, frame = spec.kind, spec.frame
        if kind != FILM_PHOTO:
            if spec.time is not None:
                frame = frame_at(spec.time, times, uri, spec.name)
            elif frame >= len(times):
                raise VidcolorError(
                    f"{uri}: reference {spec.name}: frame {frame} is past the end "
                    f"(the video has {len(times)} frames)"
                )
        if kind in (KEYFRAME, HINTS):
            check_aspect((rgb.shape[1], rgb.shape[0]), shapes, uri, spec.name)
            kind = HINTS if is_hints(alpha) else KEYFRAME
        time = None if frame is None else round(times[frame], 3)
        out.append(RefSpec(spec.uri, spec.name, kind, frame, time))
    return out


def references_key(specs: list[RefSpec], reach: float) -> str:
    """What the references contribute to an input's resume key: their identities and the reach."""
    if not specs:
        return ""
    parts = [f"{s.kind}:{s.frame}:{storage.fingerprint(s.uri)}" for s in specs] + [f"{reach}"]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def describe(spec: RefSpec) -> str:
    return one_line(
        f"{spec.name} ({spec.kind}{'' if spec.frame is None else f' at frame {spec.frame}'})"
    )
