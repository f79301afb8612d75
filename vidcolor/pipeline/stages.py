"""The pipeline's stages as plain functions, in the order the data flows; ``run.py`` wires them
onto Ray Data, ``local.py`` onto threads of one process (a short local run), ``sequential.py``
calls them in a loop, tests call them directly.

    list inputs -> plan each input -> load (video or sequence segment | photo) -> model
      -> finish -> driver -> join (a video's or a sequence's, once all its segments are in)

Videos, frame sequences and photos each have their own load and finish functions (``videos.py``,
``sequences.py``, ``images.py``); these dispatchers pick by the row's kind. The model stage is
``model.ColouriseActor``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vidcolor.pipeline import images, sequences, videos
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.plan import input_rows, plan_input
from vidcolor.pipeline.rows import batch_to_rows, failed, rows_to_batch, with_payloads


def list_batches(
    _batch: dict, *, inputs: list[str], output: str, config: PipelineConfig
) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data: the listing as a stream of one-row batches (the input batch is a dummy)."""
    for row in input_rows(inputs, output, config):
        yield rows_to_batch([row])


def plan_batches(batch: dict[str, np.ndarray], **kwargs) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data: :func:`plan_input` on every row of ``batch``, one output row per batch, so the
    first segment can start while the next file is probed."""
    for row in batch_to_rows(batch):
        for out in plan_input(row, **kwargs):
            yield rows_to_batch([out])


def load_row(row: dict, *, config: PipelineConfig, luma: list | None = None) -> dict:
    """The model's input: ``l`` (N, 1, h, w) float16 (and a video's frame ``times`` and
    ``concealed`` frames). ``luma``: a list for a video's owned frames' stored luma, which
    :func:`finish_row` in the same process then encodes (``videos._decode``)."""
    if row["kind"] == "video":
        kw = {"deinterlace": config.deinterlace, "context": config.overlap, "luma": luma}
        out = videos.decode_segment_row(row, model_size=config.model_size, **kw)
    elif row["kind"] == "sequence":
        out = sequences.decode_row(row, model_size=config.model_size, context=config.overlap)
    elif row["kind"] == "image":
        out = images.read_image_row(row, model_size=config.model_size)
    else:
        out = row
    return with_payloads(
        out, l=out.get("l"), times=out.get("times"), concealed=out.get("concealed")
    )


def finish_row(
    row: dict,
    *,
    config: PipelineConfig,
    output_root: str,
    until: str = "write",
    luma: list | None = None,
) -> dict:
    """Smooth + encode a video segment into its state directory, or write a photo; only small
    columns go on. ``until="smooth"`` stops a video after smoothing (tests compare the ab);
    ``luma``: what :func:`load_row` kept of a video's owned frames (None: decoded again)."""
    if row["kind"] in ("video", "sequence"):
        out = videos.smooth_segment_row(row, radius=config.smoothing)
        if until == "smooth":
            return out
        if row["kind"] == "sequence" and config.sequence_output == "frames":
            return sequences.write_frames_row(out, output_root=output_root)
        return videos.encode_segment_row(out, config=config, luma=luma)
    if row["kind"] == "image":
        return images.write_image_row(row, output_root=output_root)
    return with_payloads(row)


def join_row(row: dict, config: PipelineConfig, output_root: str) -> dict:
    """Finish a video (``videos.join_video``) or a frame sequence (``sequences.join_sequence``)
    whose segments are all in, on a worker; a failure as ``{"error": one line}`` (a Ray task's
    exception would arrive pages long)."""
    join = sequences.join_sequence if row["kind"] == "sequence" else videos.join_video
    try:
        return join(row, config, output_root)
    except Exception as err:  # noqa: BLE001 - this input fails, the run goes on
        return {"error": failed(row, err)["error"]}
