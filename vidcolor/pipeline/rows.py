"""The rows that flow through the pipeline: small scalar columns plus numpy payloads.

Every stage returns the same scalar columns (``new_row``) and exactly the payload columns it
produces, so Arrow blocks stay uniform. A row that is not ``todo`` (skipped, failed, a listing
note) passes through every stage untouched apart from its payloads; a stage never raises for a bad
input, it fails that row with one line naming the file (``guarded``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vidcolor.errors import VidcolorError, one_line

# Payload columns and the empty value a row carries where it has none (same ndim and dtype as the
# real thing, so one column holds both).
EMPTY = {
    "l": np.zeros((0, 1, 1, 1), np.float16),  # normalised L at model resolution, context included
    "ab": np.zeros((0, 2, 1, 1), np.float16),  # model output, then smoothed owned frames only
    "times": np.zeros((0,), np.float64),  # seconds from the video's start of each decoded frame
    "cut_frames": np.zeros((0,), np.int64),  # scene cuts on owned frames, index in the video
    "cut_times": np.zeros((0,), np.float64),
    # owned frames the decoder concealed (lost or broken: a neighbour repeated): (index, seconds)
    "concealed": np.zeros((0, 2), np.float64),
    # owned frames each reference changed: (reference index in the plan, frame index in the video)
    "reached": np.zeros((0, 2), np.int64),
}

# What a row asks of the stages: work (todo), or nothing: all its segments were already done
# (done: the driver joins it), it was skipped or failed, or it is a note about the listing.
TODO, DONE, SKIPPED, FAILED, NOTE = "todo", "done", "skipped", "failed", "note"


def new_row(uri: str, **fields) -> dict:
    """A row with every scalar column at its default; ``fields`` override them."""
    row = {
        "input": uri,
        "relpath": "",  # the input's path below its root (the output's path below OUT)
        "kind": "",  # 'video' | 'sequence' | 'image' | '' (a listing note, or never a file)
        "output": "",  # final output uri ('' when none is planned)
        "status": TODO,
        "error": "",  # the one line when failed; the note's text for a note
        "state": "",  # a video's state directory
        "segment": -1,  # segment index; -1: a row about the whole input
        "todo": 0,  # rows this run sends for this input (the driver joins a video when all came)
        "first_frame": 0,  # index in the video of the segment's first owned frame
        "own_lo": 0,  # rows of ``l`` that the segment owns (the rest is smoothing context)
        "own_hi": 0,
        # rows of ``l`` the model colours: owned + smoothing context (0, 0: all). A segment near
        # a reference decodes further out, for its flow only (vidcolor.video.segments).
        "infer_lo": 0,
        "infer_hi": 0,
        "frames": 0,  # owned frames in this row
        "inferred": 0,  # frames the model ran on for this row (not those it had just seen)
        "bytes": 0,  # bytes this row wrote under the output
        "n_segments": 0,  # video-level facts, on every row of a video
        "resumed": 0,
        "video_frames": 0,
        "duration": 0.0,
        "thumbnail": "",  # the report's before/after picture, relative to OUT
        # a photo's references (JSON list of vidcolor.guide.sidecars.RefSpec; a video's are in
        # its plan), then what the report says of them (JSON, see guide_report)
        "references": "",
        "sequence": "",  # a frame sequence's files (FrameSequence JSON), listing to plan only
    }
    unknown = set(fields) - set(row)
    if unknown:
        raise KeyError(f"not row columns: {sorted(unknown)}")
    row.update(fields)
    return row


def model_window(row: dict) -> tuple[int, int]:
    """The rows of ``l`` whose colours matter (``infer_lo:infer_hi``; all when unset)."""
    return (row["infer_lo"], row["infer_hi"]) if row["infer_hi"] else (0, len(row["l"]))


def scalars(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in EMPTY}


def with_payloads(row: dict, **payloads: np.ndarray) -> dict:
    """The scalar columns of ``row`` and exactly ``payloads`` (an empty one where the value is None)."""
    out = scalars(row)
    for name, value in payloads.items():
        out[name] = EMPTY[name] if value is None else value
    return out


def failed(row: dict, err: BaseException | str) -> dict:
    if isinstance(err, VidcolorError | str):
        msg = str(err)
    else:  # unexpected: still one line, naming the file
        msg = f"{type(err).__name__}: {err}"
    return {**scalars(row), "status": FAILED, "error": error_line(row["input"], msg)}


def error_line(uri: str, message: str) -> str:
    """``message`` as one line that starts with the input it is about."""
    message, name = one_line(message), one_line(uri)
    return message if message.startswith(f"{name}:") else one_line(f"{name}: {message}")


def guarded(fn: Callable[[dict], dict], produces: tuple[str, ...]) -> Callable[[dict], dict]:
    """Run ``fn`` on ``todo`` rows; the others, and rows whose ``fn`` raised, pass through with
    empty ``produces`` payloads."""

    def stage(row: dict, **kwargs) -> dict:
        empty = dict.fromkeys(produces)
        if row["status"] != TODO:
            return with_payloads(row, **empty)
        try:
            return fn(row, **kwargs)
        except Exception as err:  # noqa: BLE001 - any failure belongs to this input only
            return with_payloads(failed(row, err), **empty)

    stage.__name__ = fn.__name__.lstrip("_")
    stage.__doc__ = fn.__doc__
    return stage


def batch_to_rows(batch: dict[str, np.ndarray]) -> list[dict]:
    n = len(next(iter(batch.values())))
    return [plain({k: v[i] for k, v in batch.items()}) for i in range(n)]


def plain(row) -> dict:
    """A dict of Python scalars (numpy ones converted: json, list indices) and numpy arrays."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in dict(row).items()}


def rows_to_batch(rows: list[dict]) -> dict[str, np.ndarray]:
    """Columns from rows; an array column whose rows differ in shape becomes an object array of
    arrays (Ray Data stores it as a variable-shaped tensor column)."""
    batch = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if isinstance(values[0], np.ndarray):
            if len({v.shape for v in values}) == 1:
                batch[key] = np.stack(values)
            else:
                column = batch[key] = np.empty(len(values), dtype=object)
                for i, value in enumerate(values):
                    column[i] = value
        else:
            batch[key] = np.asarray(values)
    return batch
