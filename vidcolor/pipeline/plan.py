"""Planning, as two streaming stages that run on workers: list the inputs into one row per file
(its output, or why it has none), then plan each file: skip it when finished, probe a video (or
describe a frame sequence as one: ``sequences.py``), save its plan in its state directory and emit
one row per segment still to do.

The driver sees none of this until the rows come out of the end of the pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import PurePosixPath

from vidcolor import storage
from vidcolor.errors import VidcolorError
from vidcolor.guide.sidecars import RefSpec, find_references, references_key, resolve
from vidcolor.listing import Lister
from vidcolor.pipeline import sequences
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.rows import DONE, NOTE, SKIPPED, TODO, failed, new_row
from vidcolor.pipeline.state import STATE_DIR, StateDir, VideoPlan, state_key
from vidcolor.pipeline.thumbnails import existing_thumbnail
from vidcolor.sequences.names import FrameSequence

REPORT_NAME = "vidcolor-report.json"


def output_uri(output_root: str, relpath: str, kind: str, config: PipelineConfig) -> str:
    """Mirror ``relpath`` under the output root; videos get the codec's container suffix."""
    if kind == "image":
        return storage.safe_join(output_root, relpath)
    stem = str(PurePosixPath(relpath).with_suffix(""))
    return storage.safe_join(output_root, stem + config.encode_settings().container_suffix())


def input_rows(inputs: list[str], output_root: str, config: PipelineConfig) -> Iterator[dict]:
    """One row per file the inputs name, in listing order, as the listing goes. Two files that
    would write one output: the second fails (the set of outputs lives on this worker only)."""
    taken: dict[str, str] = {}
    for item in Lister(sequences=config.sequences == "on").iter_inputs(inputs):
        if config.reference and item.uri == str(config.reference):
            continue  # the run-wide reference photo is a reference, not an input
        if item.note:
            yield new_row(item.uri, status=NOTE, error=item.note)
            continue
        kind = "sequence" if item.sequence else storage.kind_of(item.uri)
        row = new_row(item.uri, kind=kind, relpath=item.relpath)
        if item.problem:
            yield failed(row, item.problem)
            continue
        try:
            if item.sequence:
                row["sequence"] = item.sequence.to_json()
                row["output"] = sequences.output_uri(output_root, item.sequence, config)
            else:
                row["output"] = output_uri(output_root, item.relpath, row["kind"], config)
            if PurePosixPath(item.relpath).parts[:1] == (STATE_DIR,):
                raise VidcolorError(f"{item.uri}: inside vidcolor's state directory")
            if row["output"] in taken:
                raise VidcolorError(
                    f"{item.uri}: its output {row['output']} is also the output of "
                    f"{taken[row['output']]}"
                )
            taken[row["output"]] = item.uri
        except VidcolorError as err:
            row = failed(row, err)
        yield row


def finished_output(output: str, kind: str) -> str | None:
    """The existing final output, if any (a video may have been written in the fallback
    container: :func:`vidcolor.video.containers.possible_outputs`)."""
    from vidcolor.video.containers import possible_outputs

    candidates = possible_outputs(output) if kind == "video" else [output]
    for uri in candidates:
        if storage.exists(uri):
            return uri
    return None


def plan_input(
    row: dict, *, output_root: str, config: PipelineConfig, config_key: str
) -> Iterator[dict]:
    """The rows of one input: itself when skipped, failed or a photo; a video's segments to do,
    or one row with ``todo=0`` when every segment is already in its state directory."""
    if row["status"] != TODO:
        yield row
        return
    try:
        if not config.overwrite and (done := _finished(row, output_root, config)):
            rel = row["relpath"]
            if row["kind"] == "sequence":
                rel = sequences.thumbnail_relpath(FrameSequence.from_json(row["sequence"]))
            thumbnail = existing_thumbnail(output_root, rel) or ""
            yield {**row, "status": SKIPPED, "output": done, "thumbnail": thumbnail}
        elif row["kind"] == "image":
            refs = [r.to_dict() for r in photo_references(row, config)]
            yield {**row, "todo": 1, "frames": 1, "references": json.dumps(refs) if refs else ""}
        else:
            yield from _video_rows(row, output_root, config, config_key)
    except VidcolorError as err:
        yield failed(row, err)


def _finished(row: dict, output_root: str, config: PipelineConfig) -> str | None:
    if row["kind"] == "sequence" and config.sequence_output == "frames":
        return sequences.finished_frames(row, output_root)
    return finished_output(row["output"], "image" if row["kind"] == "image" else "video")


def _probed(row: dict, config: PipelineConfig):
    """(its ``VideoInfo``, its identity for the state key, its segments' suffix in the state)."""
    if row["kind"] == "sequence":
        return sequences.probe_row(row, config)
    from vidcolor.video.probe import probe

    info = probe(row["input"])
    return info, storage.fingerprint(row["input"]), config.encode_settings().segment_suffix()


def _video_rows(row: dict, output_root: str, config: PipelineConfig, config_key: str):
    """A video's or a frame sequence's segment rows (see :func:`plan_input`); segments near a
    reference decode it as context (``plan_segments``' anchors)."""
    from vidcolor.video.segments import plan_segments

    info, identity, suffix = _probed(row, config)
    refs = video_references(row, info, config)
    reach = round(config.reference_reach * float(info.frame_rate or 25)) if refs else 0
    anchors = [r.frame for r in refs if r.frame is not None]
    segments = plan_segments(
        info,
        segment_seconds=config.segment_seconds,
        overlap=config.overlap,
        anchors=anchors,
        reach=reach,
    )
    keyed = config_key + references_key(refs, config.reference_reach)
    key = state_key(row["input"], keyed, fingerprint=identity)
    state = StateDir.for_input(output_root, key, suffix)
    if config.overwrite:
        state.remove()
    plan = VideoPlan(info, segments, info.frame_pts[0], refs, reach)
    state.write_plan(plan)
    done = state.done(len(segments))
    todo = [s for s in segments if s.index not in done]
    video = {
        **row,
        "sequence": "",  # the plan has it
        "state": state.root,
        "todo": len(todo),
        "n_segments": len(segments),
        "resumed": len(done),
        "video_frames": info.frame_count,
        "duration": round(info.duration, 3),
    }
    if not todo:
        yield {**video, "status": DONE}  # a crash after the last segment: only the join is left
    first = 0
    for seg in segments:
        if seg.index not in done:
            yield {**video, "segment": seg.index, "first_frame": first, "frames": seg.n_frames}
        first += seg.n_frames


def _find(row: dict, config: PipelineConfig) -> list[RefSpec]:
    return find_references(
        row["input"],
        row["relpath"],
        row["kind"],
        mirror=config.references,
        run_wide=config.reference,
    )


def video_references(row: dict, info, config: PipelineConfig) -> list[RefSpec]:
    """The video's references (vidcolor.guide.sidecars), checked against it: anchors as frames."""
    specs = _find(row, config)
    if not specs:
        return []
    tb = float(info.time_base)
    times = [(p - info.frame_pts[0]) * tb for p in info.frame_pts]
    shapes = [(info.width, info.height)]
    if info.video.sample_aspect_ratio:  # a frame grab may be stored size or display shape
        sar = float(Fraction(info.video.sample_aspect_ratio))
        turned = info.rotation in (90, 270)
        shapes.append(
            (info.width, round(info.height / sar))
            if turned
            else (round(info.width * sar), info.height)
        )
    return resolve(specs, row["input"], times, shapes)


def photo_references(row: dict, config: PipelineConfig) -> list[RefSpec]:
    """A photo's references, checked against it (a photo is a one-frame film)."""
    from vidcolor.image import image_size

    specs = _find(row, config)
    return resolve(specs, row["input"], [0.0], [image_size(row["input"])]) if specs else []
