"""Still images: read (local or S3) any 8/16-bit grey/RGB/palette file as RGB; its L* and the
model's input; the merge of that L* with predicted ab; write in the input's format, atomically.

No model here, nor torch (numpy, OpenCV and :mod:`vidcolor.cie`): a photo's pipeline tasks and
the report's thumbnails use it, and :class:`vidcolor.infer.Colouriser` gives the same pixels."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vidcolor import cie, storage
from vidcolor.errors import VidcolorError
from vidcolor.models.resolution import model_resolution

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
    return read_rgba(uri)[0]


def read_rgba(uri: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Any 8/16-bit grey/RGB/RGBA/palette image -> (uint8 RGB (H, W, 3), its transparency as
    float32 alpha (H, W) in [0, 1], or None when the file has none)."""
    with _opened(uri) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I"):
            grey = np.asarray(im, dtype=np.float64)
            grey = (grey / max(grey.max(), 1.0) * 255.0).round().astype(np.uint8)
            return np.repeat(grey[..., None], 3, axis=2), None
        if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
            rgba = np.asarray(im.convert("RGBA"))
            return np.ascontiguousarray(rgba[..., :3]), rgba[..., 3] / np.float32(255.0)
        return np.asarray(im.convert("RGB")), None


def image_size(uri: str) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding its pixels."""
    with _opened(uri) as im:
        return im.size


@contextlib.contextmanager
def _opened(uri: str) -> Iterator[Image.Image]:
    """The image at ``uri`` opened by Pillow; any failure is one line naming the file."""
    try:
        with storage.open_input(uri) as f, Image.open(io.BytesIO(f.read())) as im:
            yield im
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


def _area(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Mean of ``x`` over torch's adaptive-pooling windows along ``axis``, [floor(i n / size),
    ceil((i + 1) n / size)): torch's "area" resize, the one the demo model was scored with."""
    n = x.shape[axis]
    i = np.arange(size)
    lo, hi = i * n // size, -(-(i + 1) * n // size)
    c = np.insert(np.cumsum(x, axis=axis, dtype=np.float64), 0, 0.0, axis=axis)
    sums = np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = size
    return (sums / (hi - lo).reshape(shape)).astype(np.float32)


def model_input(rgb: np.ndarray, model_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB (H, W, 3) -> (its L* (H, W) float32, normalised L at model resolution
    (1, 1, h, w) float32: short side ``model_size``, area-averaged)."""
    L = cie.lstar_of_rgb(np.ascontiguousarray(rgb[..., :3]))
    h, w = model_resolution(*L.shape, short_side=model_size)
    return L, _area(_area(cie.normalize_l(L), h, 0), w, 1)[None, None]


def merge_l_ab(l_full: np.ndarray, ab_small: np.ndarray, *, dtype: type = np.uint8) -> np.ndarray:
    """The colouriser's output: full-res L* (H, W) + normalised ab (2, h, w) at model resolution
    -> RGB (H, W, 3), uint8 (or uint16). ab is upsampled bicubically; colours out of gamut lose
    chroma rather than lightness (:func:`vidcolor.cie.fit_to_gamut`), so L stays the input's."""
    L = np.asarray(l_full, np.float32)
    ab = np.asarray(ab_small, np.float32)
    if ab.shape[1:] != L.shape:
        size = (L.shape[1], L.shape[0])
        ab = np.stack([cv2.resize(c, size, interpolation=cv2.INTER_CUBIC) for c in ab])
    _, lin = cie.fit_to_gamut(np.stack((L, *(ab.clip(-1.0, 1.0) * cie.AB_SCALE)), axis=-1))
    if dtype == np.uint8:
        return cie.linear_to_srgb_uint8(lin)
    return (cie.linear_to_srgb(lin).clip(0.0, 1.0) * 65535.0).round().astype(np.uint16)
