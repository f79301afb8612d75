"""Reference photos that are not frames (a still of the set, a postcard of the street): their
colours brought onto a frame by correspondence, and the model's colours corrected toward them.

Three steps, each measured against the others in ``benchmarks/RESULTS.md`` (references):

1. **Where the reference shows the same scene**: SIFT keypoints (Lowe 2004) matched with the ratio
   test, a homography by RANSAC, the reference warped onto the frame, then refined by DIS optical
   flow between the warped reference and the frame (parallax, lens); a pixel is matched where the
   flow passes its forward-backward check, lands inside the reference and the lightness agrees
   (after a gain/offset fit: another exposure of the scene is still the scene). Matched pixels
   take the reference's colours.
2. **Everywhere else**: the model's colours are corrected by what the matched pixels show of its
   errors on this frame: per lightness band, a least-squares map from the model's ab to the
   reference's (ridge toward "no change"), fitted on the matched pixels and applied to the rest.
   A model that paints the sky orange where the reference shows it blue repaints the rest of the
   sky too; one that was right stays right.
3. **When nothing matches** (another viewpoint, another place): texture correspondence after Welsh
   et al. (2002), "Transferring color to greyscale images": each pixel's lightness and the mean and
   spread of its neighbourhood at two sizes, nearest neighbours in the reference, those close in
   feature space count as matches for step 2; with too few of those, a global palette match (per
   lightness band, the model's ab mean and spread moved to the reference's; Reinhard et al. 2001).

Keyframe references far from their frame use step 1 (and 2) only ("gated"): the colours of a
frame of one shot must not reach another shot through a texture or palette match.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidcolor import flow
from vidcolor.guide.reference import GuideImage

SIFT_SIDE = 256  # longer side at which keypoints are found (frames and references alike)
RATIO = 0.75  # Lowe's ratio test
MIN_INLIERS = 12  # homography inliers for the reference to count as the same scene
RANSAC_PX = 3.0  # at SIFT_SIDE
LUMA_TOLERANCE = 0.16  # normalised L (8 L*): a matched pixel's lightness must agree this well
MIN_MATCHED = 0.01  # share of the frame's pixels matched for the correction to be fitted
BANDS = 4  # lightness bands of the correction and of the palette
RIDGE = 20.0  # pull of each band's map toward identity, in matched pixels' worth
TEXTURE_SIDE = 128  # longer side of the texture correspondence
TEXTURE_MATCH = 0.05  # feature distance under which a texture neighbour counts as a match
FEATHER = 5  # px: matched areas blend into the corrected model over this width
LIKE_FULL, LIKE_NONE = 0.3, 0.5  # lightness-histogram distances: same scene .. another scene
CHECKER = 16  # px: blocks of the two halves a correction is fitted on and checked against


@dataclass
class Match:
    """A reference's colours brought onto a frame: ``ab`` (2, h, w) where ``conf`` (h, w) > 0."""

    ab: np.ndarray
    conf: np.ndarray
    method: str  # "geometry" | "texture" | "none"

    @property
    def coverage(self) -> float:
        return float(self.conf.mean())


class PhotoMatcher:
    """A reference photo prepared once (keypoints, texture features, palette) and matched to any
    number of frames."""

    def __init__(self, ref: GuideImage) -> None:
        self.ref = ref
        scale = SIFT_SIDE / max(ref.size)
        self.sift = cv2.SIFT_create()
        self.keypoints, self.descriptors = _keypoints(self.sift, ref.l, scale)
        self.scale = scale
        self.texture = _TextureIndex(ref)
        self.palette_stats = _band_stats(ref.l, ref.ab)
        self.histogram = _l_histogram(ref.l)

    def match(self, l: np.ndarray, *, texture: bool = True) -> Match:  # noqa: E741
        """Correspondences for a frame's normalised L (h, w): geometry first, else texture."""
        found = self._geometry(l)
        if found is not None and found.coverage >= MIN_MATCHED:
            return found
        if texture:
            found = self.texture.match(l)
            if found.coverage >= MIN_MATCHED:
                return found
        return Match(np.zeros((2, *l.shape), np.float32), np.zeros(l.shape, np.float32), "none")

    def apply(self, l: np.ndarray, ab: np.ndarray, *, gated: bool = False) -> np.ndarray:  # noqa: E741
        """The frame's ab (2, h, w) steered by this reference (module docstring). ``gated``: only
        a match of the same scene changes anything. Without one, texture and palette steer a
        frame only as far as its lightness histogram resembles the reference's (``likeness``):
        a frame of another scene keeps the model's colours."""
        found = self.match(l, texture=not gated)
        if found.method == "geometry":
            conf = feather(found.conf)
            return conf * found.ab + (1.0 - conf) * correct_toward(l, ab, found)
        if gated:
            return ab
        if found.method == "texture":
            steered = found.conf * found.ab + (1.0 - found.conf) * correct_toward(l, ab, found)
        else:
            steered = palette_match(l, ab, self.palette_stats)
        weight = self.likeness(l)
        return (weight * steered + (1.0 - weight) * ab).astype(np.float32)

    def likeness(self, l: np.ndarray) -> float:  # noqa: E741
        """1 when the frame's L histogram is as close to the reference's as another crop of the
        same scene (total variation <= LIKE_FULL), falling to 0 at LIKE_NONE (unrelated photos
        measured 0.38-0.88, crops of one scene 0.07-0.38)."""
        tv = 0.5 * float(np.abs(_l_histogram(l) - self.histogram).sum())
        return float(np.clip((LIKE_NONE - tv) / (LIKE_NONE - LIKE_FULL), 0.0, 1.0))

    def _geometry(self, l: np.ndarray) -> Match | None:  # noqa: E741
        if self.descriptors is None:
            return None
        scale = SIFT_SIDE / max(l.shape)
        points, desc = _keypoints(self.sift, l, scale)
        if desc is None:
            return None
        pairs = cv2.BFMatcher().knnMatch(desc, self.descriptors, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
        if len(good) < MIN_INLIERS:
            return None
        src = np.float32([self.keypoints[g.trainIdx].pt for g in good]) / self.scale
        dst = np.float32([points[g.queryIdx].pt for g in good]) / scale
        homography, inliers = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX / scale)
        if homography is None or int(inliers.sum()) < MIN_INLIERS:
            return None
        return _warp_and_refine(self.ref, homography, l)


def _keypoints(sift, l: np.ndarray, scale: float):  # noqa: E741
    image = flow.l_to_uint8(l)
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return sift.detectAndCompute(image, None)


def _warp_and_refine(ref: GuideImage, homography: np.ndarray, l: np.ndarray) -> Match:  # noqa: E741
    """The reference warped onto the frame by ``homography``, refined by DIS flow."""
    h, w = l.shape
    planes = cv2.merge([ref.ab[0], ref.ab[1], ref.l, np.ones_like(ref.l)])
    warped = cv2.warpPerspective(planes, homography, (w, h), flags=cv2.INTER_LINEAR)
    inside = warped[..., 3] > 0.999
    if inside.mean() < MIN_MATCHED:
        return Match(np.zeros((2, h, w), np.float32), np.zeros((h, w), np.float32), "none")
    # Another exposure of the same scene: fit the reference's lightness to the frame's first.
    gain, offset = np.polyfit(warped[..., 2][inside], l[inside], 1)
    warped[..., 2] = np.where(inside, warped[..., 2] * gain + offset, warped[..., 2])
    estimate = flow.FlowEstimator()
    frame8, ref8 = flow.l_to_uint8(l), flow.l_to_uint8(warped[..., 2])
    there, back = estimate(frame8, ref8), estimate(ref8, frame8)
    grid = flow.pixel_grid(h, w)
    trust = flow.trusted(there, back, grid)
    sampled = flow.sample(warped, grid[0] + there[..., 0], grid[1] + there[..., 1])
    a, b, ref_l, valid = cv2.split(sampled)
    agree = np.abs(ref_l - l) < LUMA_TOLERANCE
    conf = trust * (valid > 0.999) * agree
    return Match(np.stack([a, b]), conf.astype(np.float32), "geometry")


def feather(conf: np.ndarray) -> np.ndarray:
    """``conf`` softened over FEATHER px, never above what it was: no seam where a match ends."""
    return np.minimum(conf, cv2.blur(conf, (FEATHER, FEATHER)))


def _l_histogram(l: np.ndarray, bins: int = 32) -> np.ndarray:  # noqa: E741
    counts = np.histogram(np.clip(l, -1.0, 1.0), bins=bins, range=(-1.0, 1.0))[0]
    return counts / max(1, counts.sum())


def _bands(l: np.ndarray) -> np.ndarray:  # noqa: E741
    return np.clip(((l + 1.0) * (BANDS / 2.0)).astype(np.int64), 0, BANDS - 1)


def correct_toward(l: np.ndarray, ab: np.ndarray, found: Match) -> np.ndarray:  # noqa: E741
    """``ab`` (2, h, w) mapped, per lightness band, by the affine map from ab to ``found.ab``
    that fits the matched pixels best (weighted by confidence, ridge toward identity), as far as
    that map holds beyond the pixels it was fitted on: fitted on one half of the matches (a
    checkerboard of CHECKER px blocks) and scored on the other, both ways, a band's map is applied
    in proportion to how much it cut the error there. A map learnt on a bike's frame does not
    repaint the street; one that finds the model's sky orange everywhere repaints all of it."""
    h, w = l.shape
    bands = _bands(l).ravel()
    x = np.stack([ab[0].ravel(), ab[1].ravel(), np.ones(h * w, np.float32)])
    y = np.stack([found.ab[0].ravel(), found.ab[1].ravel()])
    conf = found.conf.ravel()
    yy, xx = np.mgrid[0:h, 0:w]
    half = (((yy // CHECKER) + (xx // CHECKER)) % 2).ravel().astype(bool)
    whole = _band_maps(bands, x, y, conf)
    gain = np.zeros(BANDS)
    for fit_on in (half, ~half):
        maps = _band_maps(bands, x, y, conf * fit_on)
        test = conf * ~fit_on
        err_fit = _band_error(bands, _mapped(maps, bands, x), y, test)
        err_model = _band_error(bands, x[:2], y, test)
        gain += 0.5 * np.clip(1.0 - err_fit / np.maximum(err_model, 1e-9), 0.0, 1.0)
    out = x[:2] + gain[bands] * (_mapped(whole, bands, x) - x[:2])
    return out.reshape(ab.shape).astype(np.float32).clip(-1.0, 1.0)


def _band_maps(bands: np.ndarray, x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(BANDS, 3, 2): per band, the weighted ridge least-squares affine map x -> y. The normal
    equations are summed with bincount: one pass over the frame."""

    def per_band(values: np.ndarray) -> np.ndarray:
        return np.bincount(bands, weights=weight * values, minlength=BANDS)

    xtx, xty = np.empty((BANDS, 3, 3)), np.empty((BANDS, 3, 2))
    for i in range(3):
        for j in range(i, 3):
            xtx[:, i, j] = xtx[:, j, i] = per_band(x[i] * x[j])
        for j in range(2):
            xty[:, i, j] = per_band(x[i] * y[j])
    identity = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    ridge = RIDGE * np.diag([1.0, 1.0, 0.1])  # the offset is cheaper to move than the gains
    return np.linalg.solve(xtx + ridge, xty + ridge @ identity).astype(np.float32)


def _mapped(maps: np.ndarray, bands: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(2, n): each pixel's ab through its band's map."""
    return np.stack(
        [x[0] * maps[bands, 0, k] + x[1] * maps[bands, 1, k] + maps[bands, 2, k] for k in (0, 1)]
    )


def _band_error(
    bands: np.ndarray, pred: np.ndarray, y: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """(BANDS,) weighted mean |pred - y| (both channels) per band."""
    err = np.abs(pred - y).sum(axis=0)
    total = np.bincount(bands, weights=weight, minlength=BANDS)
    return np.bincount(bands, weights=weight * err, minlength=BANDS) / np.maximum(total, 1e-9)


def _band_stats(l: np.ndarray, ab: np.ndarray) -> np.ndarray:  # noqa: E741
    """(BANDS, 2 [mean, std], 2 [a, b]) of ab per lightness band (the whole image's where a band
    has few pixels)."""
    bands = _bands(l)
    flat = ab.reshape(2, -1)
    whole = np.stack([flat.mean(axis=1), flat.std(axis=1)])
    stats = np.repeat(whole[None], BANDS, axis=0)
    for band in range(BANDS):
        inside = bands == band
        if inside.sum() >= 50:
            stats[band] = [ab[:, inside].mean(axis=1), ab[:, inside].std(axis=1)]
    return stats


def palette_match(l: np.ndarray, ab: np.ndarray, ref_stats: np.ndarray) -> np.ndarray:  # noqa: E741
    """The fallback: per lightness band, ab's mean and spread moved to the reference's."""
    own = _band_stats(l, ab)
    bands = _bands(l)

    def per_pixel(stats: np.ndarray, which: int) -> np.ndarray:  # (2, h, w) of each band's
        return np.moveaxis(stats[bands, which], -1, 0)

    gain = per_pixel(ref_stats, 1) / np.maximum(per_pixel(own, 1), 1e-3)
    out = (ab - per_pixel(own, 0)) * np.minimum(gain, 4.0) + per_pixel(ref_stats, 0)
    return out.astype(np.float32).clip(-1.0, 1.0)


def _texture_features(l: np.ndarray) -> np.ndarray:  # noqa: E741
    """(h, w, 5) float32: L and the mean and spread of L over 5 and 11 px (Welsh et al.)."""
    l = np.asarray(l, np.float32)  # noqa: E741
    feats = [l]
    for k in (5, 11):
        mean = cv2.blur(l, (k, k))
        spread = np.sqrt(np.maximum(cv2.blur(l * l, (k, k)) - mean * mean, 0.0))
        feats += [mean, 2.0 * spread]  # spread counts double: texture tells more than level
    return np.stack(feats, axis=-1)


def _resized(x: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(x.shape[:2])
    if scale >= 1.0:
        return x
    size = (max(1, round(x.shape[1] * scale)), max(1, round(x.shape[0] * scale)))
    return cv2.resize(x, size, interpolation=cv2.INTER_AREA)


class _TextureIndex:
    """Welsh et al.'s luminance-and-texture correspondence, nearest neighbours by FLANN."""

    def __init__(self, ref: GuideImage) -> None:
        feats = _texture_features(_resized(ref.l, TEXTURE_SIDE))
        self.ab = _resized(np.moveaxis(ref.ab, 0, -1), TEXTURE_SIDE).reshape(-1, 2)
        self.points = np.ascontiguousarray(feats.reshape(-1, feats.shape[-1]))
        self.index = cv2.flann_Index(self.points, {"algorithm": 1, "trees": 4})

    def match(self, l: np.ndarray) -> Match:  # noqa: E741
        h, w = l.shape
        small = _resized(l, TEXTURE_SIDE)
        feats = _texture_features(small).reshape(-1, self.points.shape[1])
        idx, dist = self.index.knnSearch(np.ascontiguousarray(feats), 4, params={"checks": 32})
        weights = np.exp(-dist / TEXTURE_MATCH**2)  # FLANN returns squared distances
        total = weights.sum(axis=1, keepdims=True)
        ab = (self.ab[idx] * weights[..., None]).sum(axis=1) / np.maximum(total, 1e-12)
        conf = (dist[:, 0] < TEXTURE_MATCH**2).astype(np.float32)
        ab = ab.reshape(*small.shape, 2)
        conf = conf.reshape(small.shape)
        if small.shape != (h, w):
            ab = cv2.resize(ab, (w, h), interpolation=cv2.INTER_LINEAR)
            conf = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
        return Match(np.ascontiguousarray(np.moveaxis(ab, -1, 0), np.float32), conf, "texture")
