"""A reference image as the guide modules see it: normalised L, ab and (for hint strokes) alpha,
at the size the model runs at. numpy and OpenCV only: the workers that read references never load
torch."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidcolor import cie


@dataclass
class GuideImage:
    """A reference at one size. ``alpha`` is None for an opaque image; where it is 0 the image
    says nothing (hint strokes mark only some pixels)."""

    l: np.ndarray  # noqa: E741 (h, w) float32, normalised L in [-1, 1]
    ab: np.ndarray  # (2, h, w) float32, normalised ab in [-1, 1]
    alpha: np.ndarray | None = None  # (h, w) float32 in [0, 1]

    @property
    def size(self) -> tuple[int, int]:
        """(h, w)."""
        return self.l.shape


def guide_image(
    rgb: np.ndarray, alpha: np.ndarray | None = None, size: tuple[int, int] | None = None
) -> GuideImage:
    """uint8 RGB (H, W, 3) (+ alpha (H, W)) -> a :class:`GuideImage`, area-resized to ``size``
    (h, w) when given. A hint's colour is averaged over its own pixels only (premultiplied), so a
    stroke's edge keeps its colour instead of mixing with the transparent pixels around it."""
    lab = cie.lab_of_rgb(np.ascontiguousarray(rgb[..., :3]))
    l_norm = cie.normalize_l(lab[..., 0])
    ab = lab[..., 1:] / np.float32(cie.AB_SCALE)
    if alpha is not None:
        alpha = np.asarray(alpha, np.float32)
        ab = ab * alpha[..., None]
    if size is not None and size != l_norm.shape:
        dsize = (size[1], size[0])
        l_norm = cv2.resize(l_norm, dsize, interpolation=cv2.INTER_AREA)
        ab = cv2.resize(ab, dsize, interpolation=cv2.INTER_AREA)
        if alpha is not None:
            alpha = cv2.resize(alpha, dsize, interpolation=cv2.INTER_AREA)
    if alpha is not None:
        ab = ab / np.maximum(alpha, 1e-6)[..., None]
    ab = np.ascontiguousarray(np.moveaxis(ab, -1, 0)).clip(-1.0, 1.0)
    return GuideImage(l=np.ascontiguousarray(l_norm, np.float32), ab=ab, alpha=alpha)


def is_hints(alpha: np.ndarray | None) -> bool:
    """Whether an image with this alpha marks only some pixels (hint strokes) rather than being a
    whole coloured frame: any pixel at least half transparent makes it hints."""
    return alpha is not None and bool((alpha < 0.5).any())
