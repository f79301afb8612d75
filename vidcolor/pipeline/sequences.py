"""A frame sequence's stages: planned like a video (one row per segment, ``plan.py``), each
segment row through

    decode (only its range's files: L at model resolution) -> [model] -> smooth (``videos``)
    -> write its frames like the input (default) | encode it (``--sequence-output video``)
    ... join: the video (segments + sidecar WAV, ``videos``' muxer) or, for frames, the run's
        mark that the sequence is finished; both: the gaps by number, the thumbnail

Frames are written under OUT with the input's names, format and bit depth (a DPX under its own
header), each atomically; a missing number gets no file, an unreadable one is copied as it is
(and reported). A segment's frames are done when its mark ``seg-NNNNN.done`` is in the state
directory (written after them), so a resumed run redoes no finished segment.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from vidcolor import storage
from vidcolor.errors import VidcolorError
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.guide_report import entries
from vidcolor.pipeline.rows import guarded, scalars
from vidcolor.pipeline.state import STATE_DIR, StateDir, read_plan
from vidcolor.pipeline.videos import collected_notes, decoded_row, segment_notes
from vidcolor.sequences.names import FrameSequence

FRAMES_DONE = ".done"  # a frames-output segment's mark in the state directory


def of(source) -> FrameSequence:
    """The sequence a plan's source (``VideoInfo``) describes."""
    return FrameSequence.from_json(source.sequence)


def state_suffix(config: PipelineConfig) -> str:
    if config.sequence_output == "frames":
        return FRAMES_DONE
    return config.encode_settings().segment_suffix()


def output_uri(output_root: str, seq: FrameSequence, config: PipelineConfig) -> str:
    """The frames' pattern under OUT, or the film: ``reel1/reel1.mp4`` (the codec's container)."""
    if config.sequence_output == "frames":
        return storage.safe_join(output_root, seq.rel_pattern)
    suffix = config.encode_settings().container_suffix()
    return storage.safe_join(output_root, seq.rel_dir + seq.film_name + suffix)


def finished_mark(output_root: str, output: str) -> str:
    """Where a run marks a frames output finished (its frames are many files, none the last)."""
    key = hashlib.sha256(output.encode()).hexdigest()[:24]
    return storage.safe_join(output_root, f"{STATE_DIR}/finished/{key}.json")


def finished_frames(row: dict, output_root: str) -> str | None:
    """The sequence's frames output, if an earlier run finished it (a video output is found
    like any video's: ``plan.finished_output``)."""
    return row["output"] if storage.exists(finished_mark(output_root, row["output"])) else None


def thumbnail_relpath(seq: FrameSequence) -> str:
    """The relpath its report thumbnail is named after (the film's, not the pattern's)."""
    return seq.rel_dir + seq.film_name


def probe_row(row: dict, config: PipelineConfig):
    """(the sequence as a ``VideoInfo``, its identity for the state key, the state's suffix)."""
    from vidcolor.sequences.probe import probe_sequence

    seq = FrameSequence.from_json(row["sequence"])
    info = probe_sequence(seq, config.sequence_rate())
    ends = [storage.fingerprint(seq.uri(n)) for n in (seq.first, seq.last)]
    identity = hashlib.sha256("\0".join([row["sequence"], *ends]).encode()).hexdigest()[:32]
    return info, identity, state_suffix(config)


def _decode(row: dict, *, model_size: int, context: int) -> dict:
    from vidcolor.sequences.frames import decode_sequence_segment

    plan = read_plan(row["state"])
    size = (plan.source.height, plan.source.width)
    seg = plan.segments[row["segment"]]
    decoded = decode_sequence_segment(of(plan.source), seg, size, model_size)
    return decoded_row(row, plan, decoded, context)


decode_row = guarded(_decode, produces=("l", "times", "concealed"))


def _write_frames(row: dict, *, output_root: str) -> dict:
    """Merge and write the segment's frames under OUT, then its notes and its mark."""
    from vidcolor.image import decode_picture, encode_picture, merge_l_ab

    plan = read_plan(row["state"])
    seq, seg = of(plan.source), plan.segments[row["segment"]]
    size = (plan.source.height, plan.source.width)
    ab = np.asarray(row["ab"], np.float32)
    written = 0
    for k, index in enumerate(range(seg.start_pts, seg.start_pts + seg.n_frames)):
        number = seq.first + index
        if not seq.present(number):
            continue  # a missing frame: no file invented for it
        data = storage.read_bytes(seq.uri(number))
        try:
            source = decode_picture(data, seq.uri(number))
            if source.rgb.shape[:2] != size:
                raise VidcolorError("another size")
            rgb = merge_l_ab(source.lstar(), ab[k], bits=source.bits)
            data = encode_picture(seq.uri(number), rgb, source)
        except VidcolorError:
            pass  # unreadable (a gap in the report): written back as it came
        storage.write_bytes_atomic(storage.safe_join(output_root, seq.relpath(number)), data)
        written += len(data)
    state = StateDir(row["state"], FRAMES_DONE)
    state.write_notes(seg.index, segment_notes(row))
    storage.write_bytes_atomic(state.segment_uri(seg.index), b"done\n")
    return {**scalars(row), "bytes": written}


write_frames_row = guarded(_write_frames, produces=())


def join_sequence(row: dict, config: PipelineConfig, output_root: str) -> dict:
    """Finish a sequence whose segments are all done (see the module docstring); returns what
    the report needs. Runs on a worker, as a Ray task."""
    from vidcolor.pipeline.thumbnails import thumbnail_or_warn

    state = StateDir(row["state"], state_suffix(config))
    plan = read_plan(state.root)
    seq = of(plan.source)
    n = len(plan.segments)
    cuts, concealed, runs = collected_notes(state, n)
    gaps = gap_list(seq, [c["frame"] for c in concealed])
    middle = _middle(seq)
    if config.sequence_output == "video":
        output = _join_video(row, config, state, plan)
        after = output
    else:
        output, after = row["output"], storage.safe_join(output_root, seq.relpath(middle))
        storage.write_bytes_atomic(finished_mark(output_root, output), seq.to_json().encode())
    thumbnail = thumbnail_or_warn(seq.uri(middle), after, output_root, thumbnail_relpath(seq))
    state.remove()
    return {
        "output": output,
        "scene_cuts": cuts,
        "concealed": [],
        "gaps": gaps,
        "bytes": storage.size_of(output) if config.sequence_output == "video" else 0,
        "thumbnail": thumbnail,
        "preview_png": None,
        "preview_mp4": None,
        "references": entries(
            plan.references, runs, cuts, output_root=output_root, relpath=row["relpath"]
        ),
    }


def _join_video(row: dict, config: PipelineConfig, state: StateDir, plan) -> str:
    from vidcolor.video.mux import finalise

    with tempfile.TemporaryDirectory(prefix="vidcolor-join-") as tmp:
        files = [state.local_segment(i, Path(tmp)) for i in range(len(plan.segments))]
        return finalise(row["input"], files, row["output"], config.encode_settings(), plan.source)


def _middle(seq: FrameSequence) -> int:
    """The number of the present frame nearest the middle of the film."""
    target = (seq.first + seq.last) // 2
    lo, hi = min(((lo, hi) for lo, hi in seq.runs), key=lambda r: _distance(r, target))
    return min(max(target, lo), hi)


def _distance(run: tuple[int, int], n: int) -> int:
    return 0 if run[0] <= n <= run[1] else min(abs(run[0] - n), abs(run[1] - n))


def gap_list(seq: FrameSequence, filled: list[int]) -> list[dict]:
    """The gaps by number: missing runs, and the frames (film indices ``filled``) that were
    present but unreadable."""
    unreadable = sorted({seq.first + i for i in filled if seq.present(seq.first + i)})
    gaps = [{"first": lo, "last": hi, "reason": "missing"} for lo, hi in seq.gaps()]
    for number in unreadable:
        if gaps and gaps[-1]["reason"] == "unreadable" and gaps[-1]["last"] == number - 1:
            gaps[-1]["last"] = number
        else:
            gaps.append({"first": number, "last": number, "reason": "unreadable"})
    return sorted(gaps, key=lambda g: g["first"])
