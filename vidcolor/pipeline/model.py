"""The model stage: a callable class that Ray Data runs as an actor pool (one model per actor)."""

from __future__ import annotations

import numpy as np

from vidcolor.pipeline.rows import TODO, batch_to_rows, failed, rows_to_batch, with_payloads


class ColouriseActor:
    """Loads the generator once; each call predicts ab for every frame of every row of a batch
    (a numpy batch: dict of columns), ``batch_size`` frames per forward pass."""

    def __init__(
        self,
        checkpoint: str | None = None,
        *,
        device: str = "auto",
        inception_weights: str | None = None,
        batch_size: int = 16,
    ):
        from vidcolor.infer import Colouriser

        self.colouriser = Colouriser(checkpoint, device=device, inception_weights=inception_weights)
        self.batch_size = batch_size

    def predict_row(self, row: dict) -> dict:
        """One row: ``l`` (N, 1, h, w) in; ``l``, ``times`` and ``ab`` (N, 2, h, w) float16 out."""
        keep = {k: row[k] for k in ("l", "times", "concealed")}  # for smoothing and the report
        if row["status"] != TODO:
            return with_payloads(row, **keep, ab=None)
        try:
            frames = np.asarray(row["l"])
            ab = np.concatenate(
                [
                    self.colouriser.predict_ab(frames[s : s + self.batch_size])
                    for s in range(0, len(frames), self.batch_size)
                ]
            )
        except Exception as err:  # noqa: BLE001 - a model failure fails this input, not the run
            return with_payloads(failed(row, err), **dict.fromkeys(keep), ab=None)
        return with_payloads(row, **keep, ab=ab.astype(np.float16))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data entry point (``batch_format="numpy"``)."""
        return rows_to_batch([self.predict_row(r) for r in batch_to_rows(batch)])
