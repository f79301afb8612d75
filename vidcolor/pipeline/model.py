"""The model stage: a callable class that Ray Data runs as an actor pool (one model per actor)."""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

import numpy as np

from vidcolor.pipeline.rows import TODO, batch_to_rows, failed, rows_to_batch, with_payloads

RECENT_BYTES = 256 * 1024**2  # ab kept for frames seen lately: a cut's context, many times over


class RecentFrames:
    """The ab of the frames the model saw last, keyed by video, time and the exact bytes of L.

    Neighbouring segments of a video share their smoothing context: segment k infers the first
    frames of k+1 as its right context and k+1 infers the last frames of k as its left one (at 10 s
    segments 21 % more frames than are written; at 1 s, 3x). An actor that gets the segments in
    order (one CPU actor does) finds them here and infers each frame once. The key holds the
    frame's input itself, so a frame decoded differently (another start, a filter) is a miss,
    never a wrong answer; and its video and time, so only a context frame is reused, not a
    frame that merely looks the same (a film's repeats are work like any other)."""

    def __init__(self, max_bytes: int = RECENT_BYTES):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.bytes = 0
        self.hits = 0

    @staticmethod
    def key(frame: np.ndarray, where: str) -> bytes:
        """``where``: the frame's video and time (or a photo's name)."""
        frame = np.ascontiguousarray(frame)
        digest = hashlib.blake2b(frame.data, digest_size=16)
        digest.update(f"{frame.shape} {where}".encode())
        return digest.digest()

    def get(self, key: bytes) -> np.ndarray | None:
        ab = self.entries.get(key)
        self.hits += ab is not None
        return ab

    def put(self, key: bytes, ab: np.ndarray) -> None:
        if key in self.entries or ab.nbytes > self.max_bytes:
            return
        self.entries[key] = ab
        self.bytes += ab.nbytes
        while self.bytes > self.max_bytes:  # the oldest go first: the newest are the next cut's
            self.bytes -= self.entries.popitem(last=False)[1].nbytes


class ColouriseActor:
    """Loads the generator once; each call predicts ab for every frame of every row of a batch
    (a numpy batch: dict of columns), ``batch_size`` frames per forward pass, and reuses the ab
    of frames it saw in the previous rows (:class:`RecentFrames`)."""

    def __init__(
        self,
        checkpoint: str | None = None,
        *,
        device: str = "auto",
        inception_weights: str | None = None,
        batch_size: int = 16,
        recent_bytes: int | None = None,
        threads: int | None = None,
    ):
        """``recent_bytes``: room for :class:`RecentFrames` (None: RECENT_BYTES on CPU, none on
        a GPU, where the model is not the slow stage and hashing each frame's L would cost ~10 %
        of its time). ``threads``: torch threads on CPU (None: leave torch's setting; Ray sets
        one per CPU the actor reserves), at most the cores this process may run on."""
        import torch

        from vidcolor.infer import Colouriser

        self.colouriser = Colouriser(checkpoint, device=device, inception_weights=inception_weights)
        if threads and self.colouriser.device.type == "cpu":
            torch.set_num_threads(min(threads, len(os.sched_getaffinity(0))))
        self.batch_size = batch_size
        if recent_bytes is None:
            recent_bytes = RECENT_BYTES if self.colouriser.device.type == "cpu" else 0
        self.recent = RecentFrames(recent_bytes)
        self.inferred = 0  # frames through the model (the rest came from ``recent``)

    def predict_ab(self, frames: np.ndarray, where: list[str]) -> np.ndarray:
        """``frames`` (N, 1, h, w) normalised L -> (N, 2, h, w) float16 ab; ``where[i]`` names
        frame i's video and time (see :meth:`RecentFrames.key`)."""
        if not self.recent.max_bytes:
            return self._infer(frames)
        keys = [self.recent.key(f, w) for f, w in zip(frames, where, strict=True)]
        ab: list[np.ndarray | None] = [self.recent.get(k) for k in keys]
        todo = [i for i, x in enumerate(ab) if x is None]
        for i, x in zip(todo, self._infer(frames[todo]), strict=True):
            ab[i] = x
        for k, x in zip(keys, ab, strict=True):
            self.recent.put(k, x)
        return np.stack(ab) if ab else self._infer(frames)  # no frames: an empty array

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
        """One row: ``l`` (N, 1, h, w) in; ``l``, ``times`` and ``ab`` (N, 2, h, w) float16 out."""
        keep = {k: row[k] for k in ("l", "times", "concealed")}  # for smoothing and the report
        if row["status"] != TODO:
            return with_payloads(row, **keep, ab=None)
        try:
            before, frames = self.inferred, np.asarray(row["l"])
            times = row["times"] if len(row["times"]) == len(frames) else range(len(frames))
            ab = self.predict_ab(frames, [f"{row['input']} {t!r}" for t in times])
        except Exception as err:  # noqa: BLE001 - a model failure fails this input, not the run
            return with_payloads(failed(row, err), **dict.fromkeys(keep), ab=None)
        return with_payloads({**row, "inferred": self.inferred - before}, **keep, ab=ab)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data entry point (``batch_format="numpy"``)."""
        return rows_to_batch([self.predict_row(r) for r in batch_to_rows(batch)])
