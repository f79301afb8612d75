"""Still images: read (local or S3) any 8/16-bit grey/RGB/palette file as RGB, write in the
input's format, atomically. No model here (nor torch): the report's thumbnails use it too."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vidcolor import storage
from vidcolor.errors import VidcolorError

# Pillow format name by suffix, for writing the output in the input's format.
_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
# Lossy formats get a high quality so the kept L channel survives the re-encode.
_SAVE_OPTIONS = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"quality": 95}}


def read_image(uri: str) -> np.ndarray:
    """Any 8/16-bit grey/RGB/RGBA/palette image -> uint8 RGB (H, W, 3)."""
    try:
        with storage.open_input(uri) as f, Image.open(io.BytesIO(f.read())) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I"):
                grey = np.asarray(im, dtype=np.float64)
                grey = (grey / max(grey.max(), 1.0) * 255.0).round().astype(np.uint8)
                return np.repeat(grey[..., None], 3, axis=2)
            return np.asarray(im.convert("RGB"))
    except UnidentifiedImageError as err:
        raise VidcolorError(f"{uri}: not an image file (unrecognised format)") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise VidcolorError(f"{uri}: not a readable image ({err})") from err


def write_image(uri: str, rgb: np.ndarray) -> None:
    fmt = _FORMATS.get(Path(uri).suffix.lower())
    if fmt is None:
        raise VidcolorError(f"{uri}: unsupported image format {Path(uri).suffix!r}")
    with storage.atomic_output(uri) as tmp:
        Image.fromarray(rgb).save(tmp, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
