"""A small before/after JPEG per finished video or photo, for the HTML report.

Written under ``OUT/vidcolor-report/thumbs/`` with the output's relative path, so the report links it
with a relative URL and the whole report (HTML plus thumbnails) can be copied or served as one tree.
"""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from vidcolor import storage
from vidcolor.errors import VidcolorError, one_line
from vidcolor.video.frames import fit_height, frames_at

log = logging.getLogger(__name__)

THUMBS_DIR = "vidcolor-report/thumbs"
THUMB_HEIGHT = 96  # each half; small enough that 10,000 of them stay a light page
GAP = 2  # white pixels between before and after


def thumbnail_relpath(relpath: str) -> str:
    """Where the thumbnail of the output at ``relpath`` (relative to OUT) goes, relative to OUT."""
    return f"{THUMBS_DIR}/{relpath.replace(chr(92), '/').lstrip('/')}.jpg"


def _photo(uri: str) -> np.ndarray:
    from vidcolor.image import read_image

    im = Image.fromarray(read_image(uri))
    width = max(1, round(im.width * THUMB_HEIGHT / im.height))
    return np.asarray(im.resize((width, THUMB_HEIGHT), Image.Resampling.BILINEAR))


def _middle_frame(uri: str) -> np.ndarray:
    frames = frames_at(uri, fractions=[0.5], fit=fit_height(THUMB_HEIGHT))
    if not frames:
        raise ValueError(f"{uri}: no frame decoded")
    return frames[0]


def _grab(uri: str) -> np.ndarray:
    return _photo(uri) if storage.kind_of(uri) == "image" else _middle_frame(uri)


def before_after(before_uri: str, after_uri: str) -> np.ndarray:
    """Input left, output right, at the same moment (the middle of a video), THUMB_HEIGHT high
    (a frame of a sequence and its video: each is a photo or a video by its own name)."""
    before, after = _grab(before_uri), _grab(after_uri)
    gap = np.full((THUMB_HEIGHT, GAP, 3), 255, dtype=np.uint8)
    return np.hstack([before, gap, after])


def write_thumbnail(before_uri: str, after_uri: str, output_root: str, relpath: str) -> str:
    """Write the before/after JPEG of one finished output atomically under ``output_root`` (local
    or s3://); returns its path relative to ``output_root``."""
    rel = thumbnail_relpath(relpath)
    with storage.atomic_output(storage.safe_join(output_root, rel)) as tmp:
        Image.fromarray(before_after(before_uri, after_uri)).save(tmp, format="JPEG", quality=80)
    return rel


def thumbnail_or_warn(before_uri: str, after_uri: str, output_root: str, relpath: str) -> str:
    """:func:`write_thumbnail` run where the output was made (a worker); "" with a warning when
    it fails: the output is done, its picture is a bonus."""
    try:
        return write_thumbnail(before_uri, after_uri, output_root, relpath)
    except Exception as err:  # noqa: BLE001
        log.warning("%s: thumbnail failed (%s)", after_uri, one_line(err, 200))
        return ""


def reference_thumbnail(ref_uri: str, output_root: str, relpath: str, index: int) -> str:
    """A small JPEG of reference ``index`` of the output at ``relpath`` (hint strokes over grey,
    so transparent pixels show as such), beside its before/after; its path relative to
    ``output_root``, or "" with a warning when it cannot be made."""
    from vidcolor.image import read_rgba

    rel = thumbnail_relpath(f"{relpath}.ref-{index}")
    try:
        rgb, alpha = read_rgba(ref_uri)
        if alpha is not None:
            rgb = (rgb * alpha[..., None] + 128.0 * (1.0 - alpha[..., None])).astype(np.uint8)
        im = Image.fromarray(rgb)
        width = max(1, round(im.width * THUMB_HEIGHT / im.height))
        im = im.resize((width, THUMB_HEIGHT), Image.Resampling.BILINEAR)
        with storage.atomic_output(storage.safe_join(output_root, rel)) as tmp:
            im.save(tmp, format="JPEG", quality=80)
    except Exception as err:  # noqa: BLE001 - a picture for the report, not the output
        log.warning("%s: reference thumbnail failed (%s)", ref_uri, one_line(err, 200))
        return ""
    return rel


def existing_thumbnail(output_root: str, relpath: str) -> str | None:
    """The thumbnail an earlier run wrote for this output (a skipped input keeps its picture)."""
    rel = thumbnail_relpath(relpath)
    try:
        return rel if storage.exists(storage.safe_join(output_root, rel)) else None
    except VidcolorError:
        return None
