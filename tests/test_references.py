"""Colour you can steer, without Ray: keyframes carried through a shot (both ways, stopped by a
cut), hint strokes that stay inside their object, reference photos by correspondence, and the
seam property with references; names, sidecars and bad references.

Real photos throughout (skimage), coloured by the shipped demo model; pans move 2 px per frame,
so the true colours of every frame are known."""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import measure

from vidcolor.cie import lab_of_rgb, normalize_l
from vidcolor.errors import VidcolorError
from vidcolor.guide.load import guides_for
from vidcolor.guide.match import PhotoMatcher, palette_match
from vidcolor.guide.reference import GuideImage, guide_image
from vidcolor.guide.sidecars import (
    FILM_PHOTO,
    HINTS,
    KEYFRAME,
    SHOT_PHOTO,
    RefSpec,
    find_references,
    is_sidecar,
    parse_name,
    resolve,
)
from vidcolor.guide.steer import Guide, needed, steer_photo, steer_segment
from vidcolor.image import merge_l_ab
from vidcolor.infer import Colouriser
from vidcolor.listing import list_inputs
from vidcolor.metrics.hue import hue_agreement
from vidcolor.metrics.image import ab_channels, psnr_of_ab
from vidcolor.smooth import SEAM_TOLERANCE, SmoothingConfig, context_frames, detect_cuts, smooth_ab
from vidcolor.video.probe import StreamInfo, VideoInfo
from vidcolor.video.segments import plan_segments

PAN_PX = 2  # per frame
SMOOTHING = SmoothingConfig(radius=3)
# Set to a path (relative to the checkout) to write README's before/after picture from the tests.
PICTURE_ENV = "VIDCOLOR_STEERING_PICTURE"
ROOT = Path(__file__).resolve().parents[1]


def save_picture(name: str, panels: list[np.ndarray]) -> None:
    """One row of the README picture (panels side by side, 2 px apart), when PICTURE_ENV is
    set: rows written by different tests are stacked in the file, in test order."""
    target = os.environ.get(PICTURE_ENV)
    if not target:
        return
    height = 192
    scaled = [
        cv2.resize(
            p, (round(p.shape[1] * height / p.shape[0]), height), interpolation=cv2.INTER_AREA
        )
        for p in panels
    ]
    gap = np.full((height, 2, 3), 255, np.uint8)
    row = np.hstack([x for p in scaled for x in (p, gap)][:-1])
    rows_dir = Path(tempfile.gettempdir()) / "vidcolor-steering-rows"
    rows_dir.mkdir(exist_ok=True)
    Image.fromarray(row).save(rows_dir / f"{name}.png")
    rows = [np.asarray(Image.open(p)) for p in sorted(rows_dir.glob("*.png"))]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.vstack(rows)[:-2]).save(ROOT / target)


def grey(rgb: np.ndarray) -> np.ndarray:
    return np.repeat(lab_of_rgb(rgb)[..., :1] * 2.55, 3, axis=2).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module", autouse=True)
def one_opencv_thread():
    """One OpenCV thread, as the pipeline's finish tasks run it (two cores shared with Ray and
    the other tests: more threads only contend)."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(before)


@pytest.fixture(scope="module")
def demo_model():
    return Colouriser(device="cpu")


def pan(photo: np.ndarray, n: int, top: int, left: int, size=(256, 384)) -> np.ndarray:
    """``n`` crops of ``photo``, the window moving PAN_PX to the right per frame (a camera pan)."""
    h, w = size
    return np.stack(
        [photo[top : top + h, left + PAN_PX * t : left + w + PAN_PX * t] for t in range(n)]
    )


def lightness(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L* (N, h, w), normalised L (N, 1, h, w)) of uint8 RGB frames."""
    big_l = lab_of_rgb(crops)[..., 0]
    return big_l, normalize_l(big_l)[:, None]


def scores(crops, big_l, ab, frames) -> tuple[float, float]:
    """Mean hue agreement and pooled ab-PSNR (dB) of ``ab`` against the true colours."""
    outs = [merge_l_ab(big_l[t], ab[t]) for t in frames]
    hue = float(np.mean([hue_agreement(crops[t], o) for t, o in zip(frames, outs, strict=True)]))
    truth = np.concatenate([ab_channels(crops[t]) for t in frames], axis=1)
    return hue, psnr_of_ab(truth, np.concatenate([ab_channels(o) for o in outs], axis=1))


@pytest.fixture(scope="module")
def astronaut_pan(real_photos, demo_model):
    """40 frames (1.6 s at 25 fps) of a pan over skimage's astronaut, held out from the demo
    model's training; the model's own ab for each."""
    crops = pan(real_photos["astronaut"], 40, top=150, left=20)
    big_l, l_norm = lightness(crops)
    return crops, big_l, l_norm, demo_model.predict_ab(l_norm)


def smoother(l_norm: np.ndarray, cuts: list[int]):
    return lambda ab: smooth_ab(ab, l_norm, SMOOTHING, cuts)


@pytest.mark.parametrize("key", [0, 39], ids=["first-frame", "last-frame"])
def test_keyframe_reference_carries_through_the_shot(astronaut_pan, key):
    """The first (or, backwards, the last) frame in colour as the keyframe reference: hue right on
    >= 0.9 of the pixels over the second nearest it and >= 0.8 over the 40-frame shot, 0.2 more
    than the model alone; ab-PSNR 6 dB above the model near the keyframe; at the keyframe the
    reference's own a*b* (mean |dab| <= 1 at model resolution)."""
    crops, big_l, l_norm, ab = astronaut_pan
    n = len(crops)
    guide = Guide(KEYFRAME, key, guide_image(crops[key]))
    smooth = smoother(l_norm, [])
    out = steer_segment(l_norm, ab, np.zeros(n, int), 0, [guide], 100, smooth)
    alone = smooth(ab)
    second = range(25) if key == 0 else range(n - 25, n)
    near = range(5) if key == 0 else range(n - 5, n)
    assert scores(crops, big_l, out, second)[0] >= 0.9
    hue, hue_alone = (
        scores(crops, big_l, out, range(n))[0],
        scores(crops, big_l, alone, range(n))[0],
    )
    assert hue >= 0.8 and hue >= hue_alone + 0.2, (hue, hue_alone)
    assert scores(crops, big_l, out, near)[1] >= scores(crops, big_l, alone, near)[1] + 6.0
    assert np.abs(out[key] - guide.image.ab).mean() * 128 <= 1.0
    assert guide.reached == set(range(n))
    if key == 0:  # README: the reference, the grey frame 1.2 s later, the model alone, steered
        t = 30
        panels = [
            crops[0],
            grey(crops[t]),
            merge_l_ab(big_l[t], alone[t]),
            merge_l_ab(big_l[t], out[t]),
        ]
        save_picture("1-keyframe", panels)


def test_keyframe_reaches_beyond_its_chain_by_correspondence(tmp_path, astronaut_pan):
    """A shot longer than the keyframe's reach (8 frames here, seconds in a film): the frames
    beyond it get the keyframe's colours by correspondence (the same scene, moved), loaded as the
    finish stage loads them, and score far above the model alone."""
    crops, big_l, l_norm, ab = astronaut_pan
    Image.fromarray(crops[0]).save(tmp_path / "frame-000000.png")
    specs = [RefSpec(str(tmp_path / "frame-000000.png"), "frame-000000.png", KEYFRAME, 0)]
    guides = guides_for(specs, l_norm.shape[2:], needed(specs, 0, 40, 8))
    smooth = smoother(l_norm, [])
    out = steer_segment(l_norm, ab, np.zeros(40, int), 0, guides, 8, smooth)
    far = range(20, 40)
    hue, alone = scores(crops, big_l, out, far)[0], scores(crops, big_l, smooth(ab), far)[0]
    assert hue >= alone + 0.2, (hue, alone)
    assert set(far) <= guides[0].reached


def test_reference_colours_do_not_cross_a_cut(real_photos, demo_model, astronaut_pan):
    """Shot A (the astronaut pan) cut to shot B (a pan over the coffee photo): a keyframe at A's
    first frame changes nothing in B, neither by its chain nor, with a reach so short that B lies
    beyond it, by correspondence (B shows another scene). Without the cut its colours leak."""
    crops_a, _, l_a, ab_a = astronaut_pan
    crops_b = pan(real_photos["coffee"], 20, top=60, left=20)
    l_norm = np.concatenate([l_a[:20], lightness(crops_b)[1]])
    ab = np.concatenate([ab_a[:20], demo_model.predict_ab(lightness(crops_b)[1])])
    cuts = detect_cuts(l_norm)
    assert cuts == [20]
    shot = np.repeat([0, 1], 20)
    for reach in (100, 12):
        guide = Guide(
            KEYFRAME, 0, guide_image(crops_a[0]), matcher=PhotoMatcher(guide_image(crops_a[0]))
        )
        out = steer_segment(l_norm, ab, shot, 0, [guide], reach, smoother(l_norm, cuts))
        np.testing.assert_array_equal(out[20:], smoother(l_norm, cuts)(ab)[20:])
        assert max(guide.reached) < 20
    leak = steer_segment(l_norm, ab, np.zeros(40, int), 0, [guide], 100, smoother(l_norm, []))
    assert np.abs(leak[20:] - smoother(l_norm, [])(ab)[20:]).max() > 0.05


def coffee_crema(real_photos):
    """Skimage's coffee at 384x256: its L, the crema inside the cup, and the red cup and saucer
    across the cup's white lip (an edge of ~40 L*), as masks from the true colours."""
    rgb = cv2.resize(real_photos["coffee"], (384, 256), interpolation=cv2.INTER_AREA)
    lab = lab_of_rgb(rgb)
    big_l, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    box = np.zeros(big_l.shape, bool)
    box[15:120, 110:260] = True
    crema = box & (np.hypot(a, b) > 20) & (big_l > 40) & (big_l < 80) & (b > 20)
    parts = measure.label(crema)
    crema = parts == np.argmax(np.bincount(parts.ravel())[1:]) + 1
    red = (
        (a > 30) & (big_l < 60) & ~cv2.dilate(crema.astype(np.uint8), np.ones((9, 9))).astype(bool)
    )
    return big_l, crema, red


def test_hint_stroke_colours_its_object_not_the_neighbour(real_photos, demo_model):
    """One green stroke on the crema: the crema turns green, the red cup and saucer across the
    white lip keep the model's colours."""
    big_l, crema, red = coffee_crema(real_photos)
    l_norm = normalize_l(big_l)
    ab = demo_model.predict_ab(l_norm[None, None])[0]
    ys, xs = np.nonzero(cv2.erode(crema.astype(np.uint8), np.ones((15, 15), np.uint8)))
    cy, cx = int(np.median(ys)), int(np.median(xs))
    alpha = np.zeros(big_l.shape, np.float32)
    alpha[cy - 2 : cy + 3, cx - 12 : cx + 13] = 1.0
    green = np.array([-50.0, 40.0]) / 128
    hints = GuideImage(
        l_norm, np.broadcast_to(green[:, None, None], ab.shape).astype(np.float32), alpha
    )
    guide = Guide(HINTS, 0, hints)
    out = steer_photo(l_norm, ab, [guide])
    hue = np.degrees(np.arctan2(out[1], out[0]) - np.arctan2(green[1], green[0]))
    off = np.abs((hue + 180.0) % 360.0 - 180.0)
    assert (off[crema] < 30.0).mean() >= 0.9
    assert np.hypot(*out[:, crema]).mean() * 128 > 30  # really green, not a grey tint
    assert np.abs(out - ab)[:, red].mean() * 128 < 2.0  # Lab units
    assert guide.reached == {0}
    rgb = merge_l_ab(big_l, ab)
    marked = grey(rgb)
    marked[alpha > 0.5] = (40, 170, 60)
    save_picture("2-hints", [marked, rgb, merge_l_ab(big_l, out)])


def test_reference_photo_of_another_crop_lifts_hue_agreement(real_photos, demo_model):
    """A reference photo that is another crop of the same scene (shifted, a different size):
    hue agreement over the model alone, by geometry; mirrored (no homography can match it), by
    texture correspondence. Both above the model alone."""
    photo = real_photos["astronaut"]
    truth, reference = photo[0:320, 0:416], photo[150:512, 80:512]  # model size: 32 px steps
    big_l, l_norm = lightness(truth[None])
    ab = demo_model.predict_ab(l_norm)[0]
    alone = hue_agreement(truth, merge_l_ab(big_l[0], ab))
    for ref, method, lift in ((reference, "geometry", 0.15), (reference[:, ::-1], "texture", 0.05)):
        matcher = PhotoMatcher(guide_image(np.ascontiguousarray(ref), None, (256, 304)))
        assert matcher.match(l_norm[0, 0]).method == method
        out = matcher.apply(l_norm[0, 0], ab)
        assert hue_agreement(truth, merge_l_ab(big_l[0], out)) >= alone + lift, method


def test_palette_fallback_moves_each_lightness_band_to_the_reference():
    l_norm = np.linspace(-1, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    ab = np.zeros((2, 64, 64), np.float32)
    ab[0] = 0.01 * np.sin(np.arange(64))  # the model: nearly grey
    ref_ab = np.stack([np.full((64, 64), 0.3), np.where(l_norm > 0, 0.4, -0.2)]).astype(np.float32)
    stats = PhotoMatcher(GuideImage(l_norm, ref_ab)).palette_stats
    out = palette_match(l_norm, ab, stats)
    np.testing.assert_allclose(out[0].mean(), 0.3, atol=1e-3)
    assert out[1][l_norm > 0.5].mean() == pytest.approx(0.4, abs=1e-3)
    assert out[1][l_norm < -0.5].mean() == pytest.approx(-0.2, abs=1e-3)


def fake_video(n: int, gop: int, fps: int = 25) -> VideoInfo:
    """The probe's description of an n-frame clip with a keyframe every ``gop`` frames."""
    stream = StreamInfo(
        0, "video", "h264", f"1/{fps}", width=384, height=256, frame_rate=f"{fps}/1"
    )
    pts = list(range(n))
    return VideoInfo(
        "clip.mp4", "mp4", n / fps, [stream], 0, pts, pts[::gop], Fraction(1, fps), 384, 256
    )


def test_segments_with_references_give_the_same_ab(real_photos, demo_model):
    """The seam property with references, as the pipeline cuts a film: segments of 10 frames,
    smoothing context each side, a keyframe at frame 27 reaching 30 frames and a film-wide
    reference photo; each segment steers its own frames (the references it needs, no more) and
    the owned frames match the whole shot steered at once. Without the context the planner adds
    around the keyframe they do not."""
    small = cv2.resize(real_photos["astronaut"], (320, 320), interpolation=cv2.INTER_AREA)
    crops = pan(small, 40, top=64, left=10, size=(128, 192))  # half size: a quarter of the cost
    l_norm = lightness(crops)[1]
    ab = demo_model.predict_ab(l_norm)
    n, reach = 40, 30
    smoothing = SmoothingConfig(radius=1)
    matcher = PhotoMatcher(guide_image(small[0:190, 60:320], None, (128, 192)))
    refs = [
        RefSpec("key.png", "key.png", KEYFRAME, 27),
        RefSpec("photo.png", "photo.png", FILM_PHOTO),
    ]
    images = {KEYFRAME: guide_image(crops[27])}

    overlap = context_frames(smoothing)

    def steer(lo: int, hi: int, window: tuple[int, int]) -> np.ndarray:
        """As the finish stage does: the model's ab only in ``window`` (zeros elsewhere, as the
        model actor leaves them), cuts found on every decoded frame, smoothing in the window."""
        guides = [Guide(r.kind, r.frame) for r in refs]
        for i in needed(refs, lo, hi, reach):
            guides[i].image = images.get(refs[i].kind)
            guides[i].matcher = matcher if refs[i].kind == FILM_PHOTO else None
        model_ab = np.zeros_like(ab[lo:hi])
        model_ab[window[0] : window[1]] = ab[lo + window[0] : lo + window[1]]
        win_l = l_norm[lo + window[0] : lo + window[1]]
        smooth = lambda x: smooth_ab(x, win_l, smoothing, detect_cuts(win_l))  # noqa: E731
        shot = np.zeros(hi - lo, int)
        return steer_segment(l_norm[lo:hi], model_ab, shot, lo, guides, reach, smooth, window)

    whole = steer(0, n, (0, n))

    def in_segments(anchors: list[int]) -> np.ndarray:
        parts = []
        for seg in plan_segments(fake_video(n, 10), 0.4, overlap, anchors=anchors, reach=reach):
            lo, hi = seg.start_pts - seg.n_before, seg.start_pts + seg.n_frames + seg.n_after
            own = (seg.n_before, seg.n_before + seg.n_frames)
            window = (max(0, own[0] - overlap), min(hi - lo, own[1] + overlap))
            out = steer(lo, hi, window)
            parts.append(out[own[0] - window[0] : own[1] - window[0]])
        return np.concatenate(parts)

    assert np.abs(in_segments([27]) - whole).max() < SEAM_TOLERANCE
    assert np.abs(in_segments([]) - whole).max() > SEAM_TOLERANCE


def test_reference_names():
    assert parse_name("frame-000120.png") == (KEYFRAME, 120, None)
    assert parse_name("frame-7.jpg") == (KEYFRAME, 7, None)
    assert parse_name("00-01-02.500.png") == (KEYFRAME, None, 62.5)
    assert parse_name("shot-000120-set.jpg") == (SHOT_PHOTO, 120, None)
    assert parse_name("shot-01-00-00.040 costume.jpg") == (SHOT_PHOTO, None, 3600.04)
    assert parse_name("postcard.jpg") == (FILM_PHOTO, None, None)
    assert is_sidecar("a/reel.refs/frame-1.png") and is_sidecar("a/photo.hints.png")
    assert is_sidecar("s3://b/x/REEL.REFS/y.jpg") and not is_sidecar("a/photo.png")


def test_sidecars_are_references_not_inputs(tmp_path):
    """reel.mp4 + reel.refs/ and photo.jpg + photo.hints.png: two inputs, with their references;
    the same layout under a mirror tree; a run-wide reference only for inputs without their own."""
    (tmp_path / "in" / "reel.refs").mkdir(parents=True)
    for name in ("reel.mp4", "reel.refs/frame-000003.png", "reel.refs/postcard.jpg", "photo.jpg"):
        (tmp_path / "in" / name).write_bytes(b"x")
    (tmp_path / "in" / "photo.hints.png").write_bytes(b"x")
    (tmp_path / "mirror" / "sub" / "other.refs").mkdir(parents=True)
    (tmp_path / "mirror" / "sub" / "other.refs" / "00-00-01.000.png").write_bytes(b"x")
    listed = [x.relpath for x in list_inputs([str(tmp_path / "in")])]
    assert listed == ["photo.jpg", "reel.mp4"]
    reel = find_references(str(tmp_path / "in" / "reel.mp4"), "reel.mp4", "video")
    assert [(r.name, r.kind, r.frame) for r in reel] == [
        ("frame-000003.png", KEYFRAME, 3),
        ("postcard.jpg", FILM_PHOTO, None),
    ]
    photo = find_references(str(tmp_path / "in" / "photo.jpg"), "photo.jpg", "image")
    assert [(r.name, r.kind) for r in photo] == [("photo.hints.png", HINTS)]
    other = find_references(
        "/elsewhere/sub/other.mov", "sub/other.mov", "video", mirror=str(tmp_path / "mirror")
    )
    assert [(r.name, r.time) for r in other] == [("00-00-01.000.png", 1.0)]
    wide = find_references("/elsewhere/x.mp4", "x.mp4", "video", run_wide="/refs/street.jpg")
    assert [(r.uri, r.kind) for r in wide] == [("/refs/street.jpg", FILM_PHOTO)]
    assert (
        find_references(str(tmp_path / "in" / "reel.mp4"), "reel.mp4", "video", run_wide="/r.jpg")
        == reel
    )


def test_bad_references_are_one_line_each(tmp_path):
    """Wrong aspect, a time or frame past the end, an unreadable file: each a VidcolorError that
    names the input, the reference and the reason. A keyframe with transparency is hints."""
    Image.new("RGB", (384, 256), (200, 30, 30)).save(tmp_path / "good.png")
    Image.new("RGB", (300, 300), (200, 30, 30)).save(tmp_path / "square.png")
    stroke = Image.new("RGBA", (192, 128), (0, 0, 0, 0))
    stroke.putpixel((10, 10), (0, 200, 0, 255))
    stroke.save(tmp_path / "strokes.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    times = [t / 25 for t in range(50)]  # 2 s at 25 fps
    shapes = [(384, 256)]

    def one(name: str, **kw) -> list[RefSpec]:
        return resolve([RefSpec(str(tmp_path / name), name, **kw)], "film.mp4", times, shapes)

    assert one("good.png", kind=KEYFRAME, time=1.0)[0].frame == 25
    assert one("good.png", kind=KEYFRAME, time=1.013)[0].frame == 25  # nearest frame
    assert one("strokes.png", kind=KEYFRAME, frame=3)[0].kind == HINTS
    cases = {
        "square.png": ({"kind": KEYFRAME, "frame": 0}, "does not have the frame's aspect"),
        "good.png": ({"kind": KEYFRAME, "time": 2.5}, "past the end"),
        "broken.png": ({"kind": FILM_PHOTO}, "not an image file"),
    }
    for name, (kw, reason) in cases.items():
        with pytest.raises(VidcolorError) as err:
            one(name, **kw)
        message = str(err.value)
        assert message.startswith("film.mp4: ") and reason in message and "\n" not in message
    with pytest.raises(VidcolorError, match="frame 50 is past the end"):
        one("good.png", kind=KEYFRAME, frame=50)


def test_loaded_guides_are_at_model_resolution(tmp_path, real_photos):
    Image.fromarray(real_photos["chelsea"]).save(tmp_path / "key.png")
    specs = [
        RefSpec(str(tmp_path / "key.png"), "key.png", KEYFRAME, 0),
        RefSpec(str(tmp_path / "key.png"), "p", FILM_PHOTO),
    ]
    key, photo = guides_for(specs, (256, 384))
    assert key.image.ab.shape == (2, 256, 384) and key.matcher.ref is key.image
    assert min(photo.matcher.ref.size) == 256 and photo.image is None
    assert guides_for(specs, (256, 384), use=[1])[0].image is None
