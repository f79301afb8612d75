"""What to do for each input: output path, resume state, and the segment rows fed to Ray Data.

Rows are plain dicts of str/int/bytes so they travel through Arrow blocks unchanged; the model
resolution L and ab travel as float16 bytes of one segment, never full-resolution frames.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath

import pyarrow.fs as pafs

from vidcolor import storage
from vidcolor.errors import VidcolorError
from vidcolor.pipeline.config import PipelineConfig

STATE_DIR = ".vidcolor-state"
REPORT_NAME = "vidcolor-report.json"
PREVIEW_SUFFIX = ".preview"


@dataclass
class InputJob:
    """One input file and where its result goes."""

    uri: str
    relpath: str
    kind: str  # 'video' | 'image'
    output: str  # planned output uri (a video's suffix may still change to .mkv at finalise)
    id: int = 0
    error: str | None = None  # set when planning already failed
    state_key: str = ""
    segments: list = field(default_factory=list)  # Segment, for videos
    done_segments: set[int] = field(default_factory=set)  # found finished in the state dir
    info: object = None  # VideoInfo once probed


def kind_of(uri: str) -> str:
    return "image" if PurePosixPath(uri).suffix.lower() in storage.IMAGE_EXTS else "video"


def output_uri(output_root: str, relpath: str, kind: str, config: PipelineConfig) -> str:
    """Mirror ``relpath`` under the output root; videos get the codec's container suffix."""
    if kind == "image":
        return storage.safe_join(output_root, relpath)
    stem = str(PurePosixPath(relpath).with_suffix(""))
    return storage.safe_join(output_root, stem + config.encode_settings().container_suffix())


def finished_output(job: InputJob) -> str | None:
    """The existing final output of ``job``, if any (a video may have been written as .mkv)."""
    candidates = [job.output]
    if job.kind == "video":
        candidates.append(str(PurePosixPath(job.output).with_suffix(".mkv")))
        if job.output.startswith("s3://"):
            candidates[-1] = job.output.rsplit(".", 1)[0] + ".mkv"
    for uri in candidates:
        if storage.exists(uri):
            return uri
    return None


def plan_inputs(inputs: list[str], output_root: str, config: PipelineConfig) -> list[InputJob]:
    """List the inputs (files, dirs, globs, s3 prefixes) as jobs; refuse two inputs -> one output."""
    jobs: list[InputJob] = []
    taken: dict[str, str] = {}
    listed: dict[str, storage.InputFile] = {}
    unlisted: list[tuple[str, str]] = []
    for arg in inputs:
        try:
            for item in storage.list_inputs([arg]):
                listed.setdefault(item.uri, item)
        except VidcolorError as err:  # a missing or unreadable input fails alone, in the report
            unlisted.append((str(arg), str(err)))
    for i, item in enumerate(sorted(listed.values(), key=lambda f: f.uri)):
        kind = kind_of(item.uri)
        job = InputJob(uri=item.uri, relpath=item.relpath, kind=kind, output="", id=i)
        try:
            job.output = output_uri(output_root, item.relpath, kind, config)
            if PurePosixPath(item.relpath).parts[:1] == (STATE_DIR,):
                raise VidcolorError(f"{item.uri}: inside vidcolor's state directory")
            if job.output in taken:
                raise VidcolorError(
                    f"{item.uri}: its output {job.output} is also the output of {taken[job.output]}"
                )
            taken[job.output] = item.uri
        except VidcolorError as err:
            job.error = str(err)
        jobs.append(job)
    for uri, error in unlisted:
        name = PurePosixPath(uri).name
        jobs.append(InputJob(uri, name, kind_of(uri), "", id=len(jobs), error=error))
    return jobs


def checkpoint_id(config: PipelineConfig) -> str:
    from vidcolor.checkpoint import default_checkpoint

    uri = config.checkpoint or default_checkpoint()
    try:
        return storage.fingerprint(uri)
    except VidcolorError:
        return str(uri)  # missing checkpoint: loading it reports the error


def state_key(input_uri: str, config_key: str) -> str:
    return hashlib.sha256(f"{storage.fingerprint(input_uri)}\0{config_key}".encode()).hexdigest()[
        :24
    ]


class StateDir:
    """``OUT/.vidcolor-state/<key>/seg-00012.mov`` (+ ``seg-00012.json``, its scene cuts): finished
    segments of one video. Each file is written atomically and the segment after its cuts, so a
    segment file that exists is complete."""

    def __init__(self, output_root: str, key: str, suffix: str):
        self.root = storage.safe_join(output_root, f"{STATE_DIR}/{key}")
        self.suffix = suffix

    def segment_uri(self, index: int) -> str:
        return f"{self.root.rstrip('/')}/seg-{index:05d}{self.suffix}"

    def cuts_uri(self, index: int) -> str:
        return f"{self.root.rstrip('/')}/seg-{index:05d}.json"

    def done(self, n_segments: int) -> set[int]:
        """Indices of finished segments, from one listing of the state directory."""
        fs, path = storage.filesystem_for(self.root)
        try:
            entries = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        except OSError as err:
            raise VidcolorError(f"{self.root}: cannot list resume state ({err})") from err
        names = {PurePosixPath(e.path).name for e in entries}
        return {i for i in range(n_segments) if PurePosixPath(self.segment_uri(i)).name in names}

    def write_segment(self, index: int, data: bytes, cuts: list[int]) -> None:
        storage.write_bytes_atomic(self.cuts_uri(index), json.dumps(cuts).encode())
        storage.write_bytes_atomic(self.segment_uri(index), data)

    def cuts(self, index: int) -> list[int]:
        try:
            return json.loads(storage.read_bytes(self.cuts_uri(index)))
        except (VidcolorError, ValueError):
            return []  # cuts are report-only; a lost file must not block the resume

    def local_segment(self, index: int, tmp: Path) -> Path:
        """A local path to segment ``index`` (downloaded into ``tmp`` when the state is on S3)."""
        uri = self.segment_uri(index)
        if not storage.is_s3(uri):
            return Path(storage.filesystem_for(uri)[1])
        local = tmp / PurePosixPath(uri).name
        local.write_bytes(storage.read_bytes(uri))
        return local

    def remove(self) -> None:
        fs, path = storage.filesystem_for(self.root)
        try:
            fs.delete_dir(path)
        except (FileNotFoundError, OSError):
            pass  # already gone (or an empty S3 prefix): nothing to clean


# --- the slim source description that encode needs, as JSON (no frame lists: rows stay small)


def source_to_json(info) -> str:
    d = info.to_dict()
    d["frame_pts"], d["keyframe_pts"] = [], []
    for s in d["streams"]:
        s["keyframes"] = []
    d.pop("frame_count", None)
    return json.dumps(d)


def source_from_json(text: str):
    from vidcolor.video.probe import StreamInfo, VideoInfo

    d = json.loads(text)
    d["streams"] = [StreamInfo(**s) for s in d["streams"]]
    d["time_base"] = Fraction(d["time_base"])
    return VideoInfo(**d)


def segment_from_json(text: str):
    from vidcolor.video.segments import Segment

    return Segment(**json.loads(text))


def segment_rows(job: InputJob, config: PipelineConfig) -> list[dict]:
    """One row per segment still to do; ``first_frame`` is the global index of its first owned frame."""
    source = source_to_json(job.info)
    rows, first = [], 0
    for seg in job.segments:
        if seg.index not in job.done_segments:
            rows.append(
                base_row(
                    job,
                    config,
                    seg_index=seg.index,
                    n_segments=len(job.segments),
                    first_frame=first,
                    n_frames=seg.n_frames,
                    segment=json.dumps(asdict(seg)),
                    source=source,
                )
            )
        first += seg.n_frames
    return rows


def image_row(job: InputJob, config: PipelineConfig) -> dict:
    return base_row(
        job, config, seg_index=0, n_segments=1, first_frame=0, n_frames=1, segment="", source=""
    )


def base_row(job: InputJob, config: PipelineConfig, **kw) -> dict:
    """Every stage returns rows with these columns (plus array payloads), errors included."""
    return {
        "job": job.id,
        "kind": job.kind,
        "uri": job.uri,
        "out_suffix": PurePosixPath(job.output).suffix,
        "model_size": config.model_size,
        "error": "",
        "n_frames": 0,  # owned frames
        "own_lo": 0,  # rows of l that the segment owns (the rest is smoothing context)
        "own_hi": 0,
        "cuts": "[]",  # scene cuts starting on an owned frame, global frame indices (JSON)
        **{name: b"" for name in ("l", "ab", "data")},
        **{f"{name}_shape": "[]" for name in ("l", "ab", "data")},
        **kw,
    }
