"""A video's resume state under the output: ``OUT/.vidcolor-state/<key>/``.

``plan.json`` is the video's plan (the source's description without per-frame lists, its segments,
its first pts), written by the worker that probed it; ``seg-00012.mov`` (+ ``seg-00012.json``, its
scene cuts and concealed frames) are finished segments, written by the workers that encoded them.
Each file is written atomically and a segment after its notes, so a segment file that exists is
complete. The key hashes
the input's identity and every setting that changes pixels, so a changed input or setting never
reuses old segments.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

import pyarrow.fs as pafs

from vidcolor import storage
from vidcolor.errors import VidcolorError
from vidcolor.guide.sidecars import RefSpec
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.video.probe import VideoInfo
from vidcolor.video.segments import Segment

STATE_DIR = ".vidcolor-state"
PLAN_FILE = "plan.json"


@dataclass
class VideoPlan:
    source: VideoInfo  # without per-frame lists
    segments: list[Segment]
    first_pts: int  # pts of the video's first frame: scene-cut times count from it
    references: list[RefSpec] = field(default_factory=list)  # checked, anchors as frames
    reach: int = 0  # frames a keyframe's colours follow the flow each way

    def to_dict(self) -> dict:
        return {
            "source": self.source.to_dict(frame_lists=False),
            "segments": [s.to_dict() for s in self.segments],
            "first_pts": self.first_pts,
            "references": [r.to_dict() for r in self.references],
            "reach": self.reach,
        }

    @classmethod
    def from_dict(cls, d: dict) -> VideoPlan:
        segments = [Segment.from_dict(s) for s in d["segments"]]
        refs = [RefSpec(**r) for r in d.get("references", [])]
        return cls(
            VideoInfo.from_dict(d["source"]), segments, d["first_pts"], refs, d.get("reach", 0)
        )


def config_key(config: PipelineConfig) -> str:
    """What every state key of a run shares: its pixel settings and its checkpoint's identity."""
    from vidcolor.checkpoint import default_checkpoint

    uri = config.checkpoint or default_checkpoint()
    try:
        return config.output_key(storage.fingerprint(uri))
    except VidcolorError:
        return config.output_key(str(uri))  # missing checkpoint: loading it reports the error


def state_key(input_uri: str, config_key: str, fingerprint: str | None = None) -> str:
    """The state directory's name: the input's identity (``storage.fingerprint``, or the one
    given: a frame sequence's) and the pixel settings."""
    fingerprint = fingerprint or storage.fingerprint(input_uri)
    digest = hashlib.sha256(f"{fingerprint}\0{config_key}".encode())
    return digest.hexdigest()[:24]


class StateDir:
    def __init__(self, uri: str, suffix: str):
        self.root = uri.rstrip("/")
        self.suffix = suffix  # of the segment files (the codec's intermediate container)

    @classmethod
    def for_input(cls, output_root: str, key: str, suffix: str) -> StateDir:
        return cls(storage.safe_join(output_root, f"{STATE_DIR}/{key}"), suffix)

    def segment_uri(self, index: int) -> str:
        return f"{self.root}/seg-{index:05d}{self.suffix}"

    def notes_uri(self, index: int) -> str:
        return f"{self.root}/seg-{index:05d}.json"

    def write_plan(self, plan: VideoPlan) -> None:
        storage.write_bytes_atomic(f"{self.root}/{PLAN_FILE}", json.dumps(plan.to_dict()).encode())

    def done(self, n_segments: int) -> set[int]:
        """Indices of finished segments, from one listing of the state directory."""
        fs, path = storage.filesystem_for(self.root)
        try:
            entries = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        except OSError as err:
            raise VidcolorError(f"{self.root}: cannot list resume state ({err})") from err
        names = {PurePosixPath(e.path).name for e in entries}
        return {i for i in range(n_segments) if PurePosixPath(self.segment_uri(i)).name in names}

    def write_notes(self, index: int, notes: dict) -> None:
        """What the report needs of a segment: its scene cuts, concealed frames and which frames
        each reference reached."""
        storage.write_bytes_atomic(self.notes_uri(index), json.dumps(notes).encode())

    def notes(self, index: int) -> dict:
        try:
            notes = json.loads(storage.read_bytes(self.notes_uri(index)))
        except (VidcolorError, ValueError):
            notes = {}  # report-only; a lost file must not block the resume
        keys = ("cuts", "concealed", "references")
        return {k: notes.get(k, []) for k in keys}

    def local_segment(self, index: int, tmp: Path) -> Path:
        """A local path to segment ``index`` (downloaded into ``tmp`` when the state is on S3)."""
        uri = self.segment_uri(index)
        if not storage.is_s3(uri):
            return Path(storage.filesystem_for(uri)[1])
        local = tmp / PurePosixPath(uri).name
        with storage.open_input(uri) as src, open(local, "wb") as dst:
            while chunk := src.read(storage.READ_AHEAD):
                dst.write(chunk)
        return local

    def remove(self) -> None:
        fs, path = storage.filesystem_for(self.root)
        try:
            fs.delete_dir(path)
        except (FileNotFoundError, OSError):
            pass  # already gone (or an empty S3 prefix): nothing to clean


def read_plan(state_uri: str) -> VideoPlan:
    """The plan in the state directory ``state_uri``."""
    return _read_plan(f"{state_uri.rstrip('/')}/{PLAN_FILE}")


@lru_cache(maxsize=32)
def _read_plan(uri: str) -> VideoPlan:
    # Every segment task of a video reads the same plan: one read per worker process.
    try:
        return VideoPlan.from_dict(json.loads(storage.read_bytes(uri)))
    except ValueError as err:
        raise VidcolorError(f"{uri}: damaged resume state ({err})") from err
