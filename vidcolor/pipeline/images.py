"""A photo's short path: read its L* -> [model] -> merge with the full-resolution L* and write the
output in the input's format, on the worker."""

from __future__ import annotations

import numpy as np

from vidcolor.pipeline.rows import guarded, scalars, with_payloads


def _read(row: dict, *, model_size: int) -> dict:
    from vidcolor.image import model_input, read_image

    _, l_small = model_input(read_image(row["input"]), model_size)
    return with_payloads({**row, "own_lo": 0, "own_hi": 1}, l=l_small.astype(np.float16))


read_image_row = guarded(_read, produces=("l",))


def _write(row: dict, *, output_root: str) -> dict:
    from vidcolor import cie, storage
    from vidcolor.image import merge_l_ab, read_image, write_image
    from vidcolor.pipeline.thumbnails import thumbnail_or_warn

    l_full = cie.lstar_of_rgb(read_image(row["input"]))
    write_image(row["output"], merge_l_ab(l_full, np.asarray(row["ab"], np.float32)[0]))
    thumbnail = thumbnail_or_warn(row["input"], row["output"], output_root, row["relpath"])
    return {**scalars(row), "bytes": storage.size_of(row["output"]), "thumbnail": thumbnail}


write_image_row = guarded(_write, produces=())
