"""A photo's short path: read its L* -> [model] -> merge with the full-resolution L* and write the
output in the input's format, on the worker."""

from __future__ import annotations

import numpy as np

from vidcolor.pipeline.rows import guarded, scalars, with_payloads


def _l_full(uri: str):
    import torch

    from vidcolor import color
    from vidcolor.image import read_image

    rgb = read_image(uri)
    return color.rgb_uint8_to_lab(torch.tensor(rgb))[:1]  # (1, H, W) L*


def _read(row: dict, *, model_size: int) -> dict:
    import torch.nn.functional as F

    from vidcolor import color
    from vidcolor.models import model_resolution

    L = _l_full(row["input"])[None]
    h, w = model_resolution(*L.shape[-2:], short_side=model_size)
    l_small = F.interpolate(color.normalize_l(L), size=(h, w), mode="area").numpy()
    return with_payloads({**row, "own_lo": 0, "own_hi": 1}, l=l_small.astype(np.float16))


read_image_row = guarded(_read, produces=("l",))


def _write(row: dict, *, output_root: str) -> dict:
    from vidcolor import storage
    from vidcolor.color import merge_l_ab
    from vidcolor.image import write_image
    from vidcolor.pipeline.thumbnails import thumbnail_or_warn

    l_full = _l_full(row["input"])[0].numpy()
    ab = np.clip(np.asarray(row["ab"], np.float32)[0], -1.0, 1.0)
    write_image(row["output"], merge_l_ab(l_full, ab))
    thumbnail = thumbnail_or_warn(row["input"], row["output"], output_root, row["relpath"])
    return {**scalars(row), "bytes": storage.size_of(row["output"]), "thumbnail": thumbnail}


write_image_row = guarded(_write, produces=())
