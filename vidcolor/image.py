"""Still images and the frames of a sequence: read (local or S3) any 8/16-bit grey/RGB/palette
file, or a DPX scan, as RGB codes at its own bit depth (:class:`Picture`); its L* and the model's
input; the merge of that L* with predicted ab; write in the input's format and bit depth (a DPX
under the source's header), atomically.

8-bit files go through Pillow; 16-bit PNG and every TIFF through OpenCV, since Pillow reads 16-bit
RGB as 8 bits; DPX through :mod:`vidcolor.dpx`. No model here, nor torch (numpy, OpenCV and
:mod:`vidcolor.cie`): a photo's pipeline tasks, the sequence stages and the report's thumbnails use
it, and :class:`vidcolor.infer.Colouriser` gives the same pixels."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vidcolor import cie, dpx, storage
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


@dataclass
class Picture:
    """A still image's pixels as stored, and what writing it back in its own format needs."""

    rgb: np.ndarray  # (H, W, 3): uint8, or uint16 holding ``bits``-bit codes
    bits: int = 8
    dpx: dpx.DpxHeader | None = None  # a DPX file's header, kept for writing

    def lstar(self) -> np.ndarray:
        return cie.lstar_of_rgb(self.rgb, self.bits if self.bits > 8 else None)

    def to_uint8(self) -> np.ndarray:
        """uint8 RGB (the same picture rounded to 8 bits)."""
        if self.rgb.dtype == np.uint8:
            return self.rgb
        top = (1 << self.bits) - 1
        return (self.rgb.astype(np.float32) * (255.0 / top)).round().astype(np.uint8)


def read_picture(uri: str) -> Picture:
    """Any 8/16-bit grey/RGB/RGBA/palette image or DPX scan, at its own bit depth."""
    return decode_picture(storage.read_bytes(uri), uri)


def decode_picture(data: bytes, uri: str) -> Picture:
    """The :class:`Picture` in a file's bytes (its format from ``uri``'s suffix)."""
    suffix = storage.suffix_of(uri)
    if suffix == ".dpx":
        rgb, bits, header = dpx.decode(data, uri)
        return Picture(rgb, bits, header)
    if suffix in (".tif", ".tiff") or (suffix == ".png" and data[24:25] == b"\x10"):
        _size_of(data, uri)  # Pillow's header read refuses decompression bombs before OpenCV
        deep = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if deep is not None and deep.dtype in (np.uint8, np.uint16):
            return Picture(_rgb_of_cv2(deep), 16 if deep.dtype == np.uint16 else 8)
    return Picture(_read_with_pillow(data, uri)[0])


def _size_of(data: bytes, uri: str) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
        raise VidcolorError(f"{uri}: not a readable image ({err})") from err


def _rgb_of_cv2(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., 2::-1])  # BGR(A) -> RGB


def _read_with_pillow(data: bytes, uri: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(uint8 RGB, its transparency as float32 alpha in [0, 1], or None when it has none)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I"):
                grey = np.asarray(im, dtype=np.float64)
                grey = (grey / max(grey.max(), 1.0) * 255.0).round().astype(np.uint8)
                return np.repeat(grey[..., None], 3, axis=2), None
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                rgba = np.asarray(im.convert("RGBA"))
                return np.ascontiguousarray(rgba[..., :3]), rgba[..., 3] / np.float32(255.0)
            return np.asarray(im.convert("RGB")), None
    except UnidentifiedImageError as err:
        raise VidcolorError(f"{uri}: not an image file (unrecognised format)") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise VidcolorError(f"{uri}: not a readable image ({err})") from err


def read_rgba(uri: str) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 RGB of any image :func:`read_picture` reads, and its transparency (alpha (H, W)
    float32 in [0, 1]) when an 8-bit file has one: references mark hint strokes with it."""
    data = storage.read_bytes(uri)
    if storage.suffix_of(uri) in (".png", ".webp") and data[24:25] != b"\x10":
        return _read_with_pillow(data, uri)
    return decode_picture(data, uri).to_uint8(), None


def image_size(uri: str) -> tuple[int, int]:
    """(width, height) of an image (from its header where Pillow reads one)."""
    if storage.suffix_of(uri) == ".dpx":
        h, w = read_picture(uri).rgb.shape[:2]
        return w, h
    return _size_of(storage.read_bytes(uri), uri)


def read_image(uri: str) -> np.ndarray:
    """Any image :func:`read_picture` reads -> uint8 RGB (H, W, 3)."""
    return read_picture(uri).to_uint8()


def write_image(uri: str, rgb: np.ndarray) -> None:
    """An 8-bit RGB image in the format ``uri``'s suffix names."""
    write_picture(uri, rgb, Picture(rgb))


def encode_picture(uri: str, rgb: np.ndarray, like: Picture) -> bytes | bytearray:
    """``rgb`` (codes at ``like.bits``) as a file of ``uri``'s format, like the source ``like``."""
    suffix = storage.suffix_of(uri)
    if suffix == ".dpx":
        if like.dpx is None:
            raise VidcolorError(f"{uri}: a DPX needs its source's header")
        return dpx.encode(rgb, like.bits, like.dpx)
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        raise VidcolorError(f"{uri}: unsupported image format {Path(uri).suffix!r}")
    if like.bits > 8:
        ok, buf = cv2.imencode(suffix, np.ascontiguousarray(rgb[..., ::-1]))
        if not ok:
            raise VidcolorError(f"{uri}: cannot write a {like.bits}-bit {fmt}")
        return buf.tobytes()
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
    return out.getvalue()


def write_picture(uri: str, rgb: np.ndarray, like: Picture) -> None:
    """``rgb`` written to ``uri`` (atomically) in its format, at the bit depth of ``like``."""
    storage.write_bytes_atomic(uri, encode_picture(uri, rgb, like))


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
    return L, model_l(L, model_size)


def model_l(L: np.ndarray, model_size: int = 256) -> np.ndarray:
    """L* (H, W) -> the model's normalised L (1, 1, h, w) float32: short side ``model_size``,
    area-averaged."""
    h, w = model_resolution(*L.shape, short_side=model_size)
    return _area(_area(cie.normalize_l(L), h, 0), w, 1)[None, None]


def merge_l_ab(l_full: np.ndarray, ab_small: np.ndarray, *, bits: int = 8) -> np.ndarray:
    """The colouriser's output: full-res L* (H, W) + normalised ab (2, h, w) at model resolution
    -> RGB (H, W, 3) codes at ``bits``: uint8, or uint16 above 8 bits. ab is upsampled
    bicubically; colours out of gamut lose chroma rather than lightness
    (:func:`vidcolor.cie.fit_to_gamut`), so L stays the input's."""
    L = np.asarray(l_full, np.float32)
    ab = np.asarray(ab_small, np.float32)
    if ab.shape[1:] != L.shape:
        size = (L.shape[1], L.shape[0])
        ab = np.stack([cv2.resize(c, size, interpolation=cv2.INTER_CUBIC) for c in ab])
    lab = np.stack((L, *(ab.clip(-1.0, 1.0) * cie.AB_SCALE)), axis=-1)
    _, lin = cie.fit_to_gamut(lab, eps=1e-4 if bits == 8 else 1e-7)  # below a code of ``bits``
    if bits == 8:
        return cie.linear_to_srgb_uint8(lin)
    top = float((1 << bits) - 1)
    return (cie.linear_to_srgb(lin).clip(0.0, 1.0) * top).round().astype(np.uint16)
