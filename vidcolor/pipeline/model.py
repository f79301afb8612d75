"""The model stage: a callable class that Ray Data runs as an actor pool (one model per actor)."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.rows import (
    TODO,
    batch_to_rows,
    failed,
    model_window,
    rows_to_batch,
    with_payloads,
)


def frame_key(frame: np.ndarray, video: str, time: float) -> bytes:
    """A decoded frame's identity: its video, its time and the exact bytes of its L. A frame
    decoded differently (another start, a filter) is another key, so reusing by key never gives a
    wrong answer; a frame that merely looks the same at another time is another key too."""
    frame = np.ascontiguousarray(frame)
    digest = hashlib.blake2b(frame.data, digest_size=16)
    digest.update(f"{frame.shape} {video} {time!r}".encode())
    return digest.digest()


def shared_frames(n: int, own_lo: int, own_hi: int, context: int) -> np.ndarray:
    """Which of a segment's ``n`` decoded frames (it owns ``own_lo:own_hi``) its neighbours
    decode too: its context on each side that has one, and the ``context`` owned frames next to
    it (theirs; a neighbour's context can be longer than this segment's, which a short
    neighbour clips)."""
    i = np.arange(n)
    return ((own_lo > 0) & (i < own_lo + context)) | ((own_hi < n) & (i >= own_hi - context))


def actor_arguments(config: PipelineConfig, device: str, *, threads: int | None = None) -> dict:
    """The keywords of :class:`ColouriseActor` for a run (the Ray pool's and the in-process
    model's): ``device`` and ``threads`` are the pool's choice (cluster.model_pool)."""
    return {
        "checkpoint": config.checkpoint,
        "device": device,
        "inception_weights": config.inception_weights,
        "batch_size": config.batch_size,
        "context_frames": config.overlap,
        "threads": threads,
    }


class ColouriseActor:
    """Loads the generator once; each call predicts ab for every frame of every row of a batch
    (a numpy batch: dict of columns), ``batch_size`` frames per forward pass.

    On CPU the actor also keeps the ab of the last segment's shared frames (:func:`shared_frames`)
    and reuses them. Neighbouring segments carry each other's frames as smoothing context, decoded
    twice (10 s segments: 21 % more frames than are written; 1 s: 3x); segments that reach an actor
    in order (one CPU actor's do) then have each frame inferred once. On a GPU the model is not the
    slow stage and hashing every frame's L would cost ~10 % of its time, so it does not."""

    def __init__(
        self,
        checkpoint: str | None = None,
        *,
        device: str = "auto",
        inception_weights: str | None = None,
        batch_size: int = 16,
        context_frames: int = 0,
        reuse_context: bool | None = None,
        threads: int | None = None,
    ):
        """``context_frames``: the smoothing context each side of a cut (PipelineConfig.overlap).
        ``reuse_context``: None = on CPU when there is context. ``threads``: torch threads on CPU
        (None: leave torch's setting; Ray sets one per CPU the actor reserves), at most the cores
        this process may run on."""
        import torch

        from vidcolor.infer import Colouriser

        self.colouriser = Colouriser(checkpoint, device=device, inception_weights=inception_weights)
        on_cpu = self.colouriser.device.type == "cpu"
        if threads and on_cpu:
            torch.set_num_threads(min(threads, len(os.sched_getaffinity(0))))
        self.batch_size = batch_size
        self.context_frames = context_frames
        if reuse_context is None:
            reuse_context = on_cpu and context_frames > 0
        self.reuse_context = reuse_context
        self.recent: dict[bytes, np.ndarray] = {}  # the last video segment's shared frames' ab
        self.inferred = 0  # frames through the model (the rest came from ``recent``)

    def predict_segment(self, row: dict) -> np.ndarray:
        """A video segment's ``l`` -> float16 ab, reusing the previous segment's shared frames.
        Only the frames whose colours matter are inferred (``rows.model_window``: a segment near
        a reference decodes more, for its flow); the others' ab is 0."""
        frames = np.asarray(row["l"])
        lo, hi = model_window(row)
        out = np.zeros((len(frames), 2, *frames.shape[2:]), np.float16)
        if not self.reuse_context:
            out[lo:hi] = self._infer(frames[lo:hi])
            return out
        window = range(lo, hi)
        keys = [frame_key(frames[i], row["input"], row["times"][i]) for i in window]
        ab: list[np.ndarray | None] = [self.recent.get(k) for k in keys]
        todo = [i for i, x in enumerate(ab) if x is None]
        for i, x in zip(todo, self._infer(frames[lo:hi][todo]), strict=True):
            ab[i] = x
        shared = shared_frames(len(frames), row["own_lo"], row["own_hi"], self.context_frames)
        self.recent = {k: x for k, x, i in zip(keys, ab, window, strict=True) if shared[i]}
        if ab:
            out[lo:hi] = np.stack(ab)
        return out

    def _infer(self, frames: np.ndarray) -> np.ndarray:
        """The model on every frame, ``batch_size`` per forward pass; float16 ab."""
        self.inferred += len(frames)
        out = np.zeros((len(frames), 2, *frames.shape[2:]), np.float16)
        for s in range(0, len(frames), self.batch_size):
            out[s : s + self.batch_size] = self.colouriser.predict_ab(
                frames[s : s + self.batch_size]
            )
        return out

    def predict_row(self, row: dict) -> dict:
        """One row: ``l`` (N, 1, h, w) in; ``l``, ``times`` and ``ab`` (N, 2, h, w) float16 out,
        and ``inferred``: how many of the N went through the model."""
        keep = {k: row[k] for k in ("l", "times", "concealed")}  # for smoothing and the report
        if row["status"] != TODO:
            return with_payloads(row, **keep, ab=None)
        try:
            before = self.inferred
            if row["kind"] in ("video", "sequence"):  # segments, with smoothing context
                ab = self.predict_segment(row)
            else:
                ab = self._infer(np.asarray(row["l"]))
        except Exception as err:  # noqa: BLE001 - a model failure fails this input, not the run
            return with_payloads(failed(row, err), **dict.fromkeys(keep), ab=None)
        return with_payloads({**row, "inferred": self.inferred - before}, **keep, ab=ab)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data entry point (``batch_format="numpy"``)."""
        return rows_to_batch([self.predict_row(r) for r in batch_to_rows(batch)])
