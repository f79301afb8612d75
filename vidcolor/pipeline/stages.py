"""The pipeline's stages as plain functions on row dicts (and one callable class for the model).

Ray Data runs them (``run.py``); the sequential loop and the tests call them directly. A stage never
raises for a bad input: it puts a one-line message in ``row['error']`` and the later stages pass the
row through, so one broken file does not sink a run over a whole archive.

Payload columns hold float16 bytes plus a JSON shape: ``l`` (decoded, context included), ``ab``
(model output, then smoothed and owned frames only), ``data`` (the encoded segment or image file).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vidcolor.errors import VidcolorError

PAYLOADS = ("l", "ab", "data")


def put_array(row: dict, name: str, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr, dtype=np.float16)
    row[name] = arr.tobytes()
    row[f"{name}_shape"] = json.dumps(list(arr.shape))


def get_array(row: dict, name: str) -> np.ndarray:
    shape = json.loads(row[f"{name}_shape"])
    return np.frombuffer(row[name], dtype=np.float16).reshape(shape).astype(np.float32)


def one_line_error(row: dict, err: BaseException) -> str:
    if isinstance(err, VidcolorError):
        msg = str(err)
    else:  # unexpected: still one line, naming the file
        msg = f"{row['uri']}: {type(err).__name__}: {err}"
    return " ".join(msg.split())[:500]


def _keep(row: dict, drop: tuple[str, ...]) -> dict:
    """A copy of ``row`` with the ``drop`` payloads emptied. Columns are never removed: every row
    of every stage has the same columns, so Arrow blocks mixing good and failed rows stay uniform."""
    out = dict(row)
    for name in drop:
        out[name] = b""
        out[f"{name}_shape"] = "[]"
    return out


def guarded(fn: Callable[[dict], dict], drop: tuple[str, ...]) -> Callable[[dict], dict]:
    """Run ``fn`` on good rows; failed rows pass through without their payload."""

    def stage(row: dict) -> dict:
        if row["error"]:
            return _keep(row, PAYLOADS)
        try:
            return fn(row)
        except Exception as err:  # noqa: BLE001 - any failure belongs to this input only
            out = _keep(row, PAYLOADS)
            out["error"] = one_line_error(row, err)
            return out

    stage.__name__ = fn.__name__
    return stage


# --- decode ---------------------------------------------------------------------------------


def _decode(row: dict) -> dict:
    out = dict(row)
    if row["kind"] == "image":
        l_small = _image_l_small(row["uri"], row["model_size"])
        own_lo, own_hi = 0, 1
    else:
        from vidcolor.pipeline.plan import segment_from_json
        from vidcolor.video.decode import decode_segment

        seg = segment_from_json(row["segment"])
        decoded = decode_segment(row["uri"], seg, model_size=row["model_size"])
        l_small = decoded.l_small
        own_lo, own_hi = decoded.own.start, decoded.own.stop
        if own_hi - own_lo != seg.n_frames:
            raise VidcolorError(
                f"{row['uri']}: segment {seg.index} decoded {own_hi - own_lo} owned frames, "
                f"the probe found {seg.n_frames}"
            )
    put_array(out, "l", l_small)
    out["own_lo"], out["own_hi"] = int(own_lo), int(own_hi)
    out["n_frames"] = int(own_hi - own_lo)
    return out


decode_row = guarded(_decode, drop=PAYLOADS)


def _image_l_full(uri: str):
    import torch

    from vidcolor import color
    from vidcolor.image import read_image

    rgb = read_image(uri)
    return color.rgb_uint8_to_lab(torch.tensor(rgb))[:1]  # (1, H, W) L*


def _image_l_small(uri: str, model_size: int) -> np.ndarray:
    import torch.nn.functional as F

    from vidcolor import color
    from vidcolor.infer import model_resolution

    L = _image_l_full(uri)[None]
    h, w = model_resolution(*L.shape[-2:], short_side=model_size)
    return F.interpolate(color.normalize_l(L), size=(h, w), mode="area").numpy()


# --- colourise (the model, once per actor) ----------------------------------------------------


class ColouriseActor:
    """Loads the generator once; each call predicts ab for every frame of a batch of rows, running
    the model on ``batch_size`` frames at a time (frames of several segments share a forward)."""

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

    def predict_rows(self, rows: list[dict]) -> list[dict]:
        good = [r for r in rows if not r["error"]]
        ls = [get_array(r, "l") for r in good]
        sizes = {x.shape[2:] for x in ls}
        ab_parts: list[list[np.ndarray]] = [[] for _ in good]
        # Group by model resolution (videos of different sizes may share a batch).
        for size in sizes:
            members = [i for i, x in enumerate(ls) if x.shape[2:] == size]
            frames = np.concatenate([ls[i] for i in members])
            preds = [
                self.colouriser.predict_ab(frames[s : s + self.batch_size])
                for s in range(0, len(frames), self.batch_size)
            ]
            ab = np.concatenate(preds)
            start = 0
            for i in members:
                ab_parts[i].append(ab[start : start + len(ls[i])])
                start += len(ls[i])
        for row, parts in zip(good, ab_parts, strict=True):
            put_array(row, "ab", parts[0])
        return [r if not r["error"] else _keep(r, PAYLOADS) for r in rows]

    def __call__(self, batch):
        """Ray Data entry point: a pyarrow.Table batch in, a pyarrow.Table out."""
        import pyarrow as pa

        rows = batch.to_pylist()
        try:
            rows = self.predict_rows(rows)
        except Exception as err:  # noqa: BLE001 - a model failure fails these rows, not the run
            rows = [
                {**_keep(r, PAYLOADS), "error": r["error"] or one_line_error(r, err)} for r in rows
            ]
        return pa.Table.from_pylist(rows)


# --- temporal smoothing -----------------------------------------------------------------------


def smooth_row(row: dict, *, radius: int = 3) -> dict:
    """Smooth ab over time within the segment (context included), keep the owned frames, and
    report scene cuts that start on an owned frame as global frame indices."""
    return _smooth_guarded(row, radius=radius)


def _smooth(row: dict, *, radius: int) -> dict:
    from vidcolor.smooth import SmoothingConfig, detect_cuts, smooth_ab

    out = _keep(row, ("l", "ab"))
    lo, hi = row["own_lo"], row["own_hi"]
    ab = get_array(row, "ab")
    cuts: list[int] = []
    if row["kind"] == "video":
        l = get_array(row, "l")  # noqa: E741
        cfg = SmoothingConfig(radius=radius)
        local_cuts = detect_cuts(l, threshold=cfg.cut_threshold, bins=cfg.hist_bins)
        ab = smooth_ab(ab, l, cfg, local_cuts)
        cuts = [row["first_frame"] + c - lo for c in local_cuts if lo <= c < hi]
    put_array(out, "ab", ab[lo:hi])
    out["cuts"] = json.dumps(cuts)
    return out


def _smooth_guarded(row: dict, *, radius: int) -> dict:
    return guarded(lambda r: _smooth(r, radius=radius), drop=PAYLOADS)(row)


# --- encode -----------------------------------------------------------------------------------


def encode_row(row: dict, *, codec: str = "h264", crf: int = 18, preset: str = "veryfast") -> dict:
    """Encode the segment (or write the image) to a local temp file; its bytes go in ``data``.

    Workers never write into the output: the driver stores what they return, so the state and
    outputs need no filesystem shared between nodes.
    """
    return guarded(lambda r: _encode(r, codec=codec, crf=crf, preset=preset), drop=PAYLOADS)(row)


def _encode(row: dict, *, codec: str, crf: int, preset: str) -> dict:
    out = _keep(row, ("l", "ab"))
    ab = get_array(row, "ab")
    with tempfile.TemporaryDirectory(prefix="vidcolor-enc-") as tmp:
        if row["kind"] == "image":
            path = Path(tmp) / f"image{row['out_suffix']}"
            _write_image(row["uri"], ab, path)
        else:
            from vidcolor.pipeline.plan import segment_from_json, source_from_json
            from vidcolor.video.encode import EncodeSettings, encode_segment

            settings = EncodeSettings(codec=codec, crf=crf, preset=preset)
            path = Path(tmp) / f"segment{settings.segment_suffix()}"
            encode_segment(
                row["uri"],
                segment_from_json(row["segment"]),
                ab,
                path,
                settings,
                source_from_json(row["source"]),
            )
        out["data"] = path.read_bytes()
    return out


def _write_image(uri: str, ab: np.ndarray, path: Path) -> None:
    from vidcolor.image import write_image
    from vidcolor.video.encode import merge_l_ab

    l_full = _image_l_full(uri)[0].numpy()
    write_image(str(path), merge_l_ab(l_full, np.clip(ab[0], -1.0, 1.0)))
