"""A photo's short path: read its L* -> [model] -> merge with the full-resolution L* and write the
output in the input's format and bit depth (16-bit stays 16-bit), on the worker."""

from __future__ import annotations

import json

import numpy as np

from vidcolor.pipeline.rows import guarded, scalars, with_payloads


def _read(row: dict, *, model_size: int) -> dict:
    from vidcolor.image import model_l, read_picture

    l_small = model_l(read_picture(row["input"]).lstar(), model_size)
    return with_payloads({**row, "own_lo": 0, "own_hi": 1}, l=l_small.astype(np.float16))


read_image_row = guarded(_read, produces=("l",))


def _write(row: dict, *, output_root: str) -> dict:
    from vidcolor import storage
    from vidcolor.image import merge_l_ab, read_picture, write_picture
    from vidcolor.pipeline.thumbnails import thumbnail_or_warn

    source = read_picture(row["input"])
    ab = np.asarray(row["ab"], np.float32)[0]
    report = ""
    if row["references"]:
        ab, report = _steer(row, ab, output_root)
    write_picture(row["output"], merge_l_ab(source.lstar(), ab, bits=source.bits), source)
    thumbnail = thumbnail_or_warn(row["input"], row["output"], output_root, row["relpath"])
    return {
        **scalars(row),
        "bytes": storage.size_of(row["output"]),
        "thumbnail": thumbnail,
        "references": report,
    }


def _steer(row: dict, ab: np.ndarray, output_root: str) -> tuple[np.ndarray, str]:
    """The photo's ab steered by its references (hints, reference photos), and the report's
    entries for them (JSON)."""
    from vidcolor.guide.load import guides_for
    from vidcolor.guide.sidecars import RefSpec
    from vidcolor.guide.steer import steer_photo
    from vidcolor.pipeline.guide_report import entries

    specs = [RefSpec(**r) for r in json.loads(row["references"])]
    l_small = np.asarray(row["l"], np.float32)[0, 0]
    guides = guides_for(specs, l_small.shape)
    ab = steer_photo(l_small, ab, guides)
    runs = [[i, 0, 1] for i, g in enumerate(guides) if g.reached]
    report = entries(specs, runs, [], output_root=output_root, relpath=row["relpath"])
    return ab, json.dumps(report)


write_image_row = guarded(_write, produces=())
