"""Steering the colours through the real pipeline: sidecar references beside the inputs, on Ray
and in-process, local and on S3; the report lists them; bad references fail their input only."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import av
import numpy as np
from PIL import Image
from pipeline_helpers import grey_clip, luma_frames
from test_references import coffee_crema, pan

from vidcolor.metrics.hue import hue_agreement
from vidcolor.pipeline import PipelineConfig, colourise, colourise_sequential

GREEN = (40, 170, 60)  # sRGB of the hint stroke


def decoded_rgb(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def crema_hints(real_photos, path) -> None:
    """photo.hints.png: transparent but for one green stroke on the coffee's crema."""
    _, crema, _ = coffee_crema(real_photos)
    ys, xs = np.nonzero(crema)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    rgba = np.zeros((*crema.shape, 4), np.uint8)
    rgba[cy - 2 : cy + 3, cx - 12 : cx + 13] = (*GREEN, 255)
    Image.fromarray(rgba).save(path)


def test_sidecar_references_steer_a_film_and_a_photo_on_ray(real_photos, ray_local, tmp_path):
    """A 40-frame pan with its first frame in colour as pan.refs/frame-000000.png, cut into
    segments of 10 frames; a photo with a hint stroke; a film whose reference has the wrong
    aspect. The pan's colours hold through the shot (hue agreement >= 0.9 over its first second,
    in the encoded file) with the source's luma kept; the stroke colours the crema; the bad
    reference fails its film with one line naming it; the report lists each reference with the
    shots it reached and its thumbnail; a second run skips everything."""
    src = tmp_path / "in"
    crops = pan(real_photos["astronaut"], 40, top=150, left=20)
    grey_clip(crops, src / "pan.mp4")
    (src / "pan.refs").mkdir()
    Image.fromarray(crops[0]).save(src / "pan.refs" / "frame-000000.png")
    grey_clip(crops[:12, ::2, ::2], src / "bad.mp4")
    (src / "bad.refs").mkdir()
    Image.new("RGB", (64, 64), (200, 20, 20)).save(src / "bad.refs" / "00-00-00.200.png")
    coffee = np.asarray(Image.fromarray(real_photos["coffee"]).resize((384, 256)).convert("L"))
    Image.fromarray(coffee).save(src / "photo.png")
    Image.fromarray(coffee).save(src / "same.png")  # the same photo without hints
    crema_hints(real_photos, src / "photo.hints.png")
    out = tmp_path / "out"
    config = PipelineConfig(segment_seconds=0.4, progress=False)
    report = colourise([str(src)], str(out), config)

    by_name = {r.input.rsplit("/", 1)[-1]: r for r in report.inputs}
    assert sorted(by_name) == ["bad.mp4", "pan.mp4", "photo.png", "same.png"]  # no sidecars
    assert by_name["bad.mp4"].status == "failed"
    assert by_name["bad.mp4"].error == (
        f"{src / 'bad.mp4'}: reference 00-00-00.200.png: 64x64 does not have the frame's "
        "aspect (192x128)"
    )
    film = by_name["pan.mp4"]
    assert film.status == "ok" and film.segments == 4
    frames = decoded_rgb(out / "pan.mp4")
    assert np.mean([hue_agreement(c, f) for c, f in zip(crops[:25], frames, strict=False)]) >= 0.9
    dy = np.abs(luma_frames(out / "pan.mp4") - luma_frames(src / "pan.mp4"))
    assert dy.mean() < 2.0  # the source's luma (x264's own loss only)
    [ref] = film.references
    assert (ref["name"], ref["kind"], ref["frame"]) == ("frame-000000.png", "keyframe", 0)
    assert ref["shots"] == [{"shot": 0, "start": 0.0, "frames": 40}]
    assert (out / ref["thumbnail"]).is_file()
    photo = by_name["photo.png"]
    assert [r["kind"] for r in photo.references] == ["hints"]
    _, crema, red = coffee_crema(real_photos)
    result = np.asarray(Image.open(out / "photo.png").convert("RGB")).astype(int)
    unsteered = np.asarray(Image.open(out / "same.png").convert("RGB")).astype(int)
    green = (result[..., 1] > result[..., 0] + 10) & (result[..., 1] > result[..., 2])
    assert green[crema].mean() > 0.8
    assert np.abs(result - unsteered)[red].mean() < 3  # codes: the red china kept its colours
    page = (out / "vidcolor-report.html").read_text()
    assert ref["thumbnail"] in page and "frame-000000.png (keyframe at 0:00.0)" in page
    saved = json.loads((out / "vidcolor-report.json").read_text())
    assert {r["input"]: len(r["references"]) for r in saved["inputs"]}[str(src / "pan.mp4")] == 1

    again = colourise([str(src)], str(out), config)
    assert [r.status for r in again.inputs if r.kind == "image"] == ["skipped"] * 2
    assert [r.status for r in again.inputs if r.input.endswith("pan.mp4")] == ["skipped"]


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    body = io.BytesIO()
    image.save(body, format=fmt)
    return body.getvalue()


def test_references_mirrored_on_s3(s3_env, real_photos, tmp_path):
    """Photos on S3 with their hints under --references s3://.../refs/ (the same relative paths),
    colourised in-process; a run-wide --reference for the photo that has none of its own."""
    s3 = s3_env
    s3.create_bucket(Bucket="archive")
    coffee = Image.fromarray(real_photos["coffee"]).resize((384, 256))
    for key in ("bw/a/photo.png", "bw/plain.png"):
        s3.put_object(Bucket="archive", Key=key, Body=encoded(coffee.convert("L")))
    crema_hints(real_photos, tmp_path / "hints.png")
    hints = (tmp_path / "hints.png").read_bytes()
    s3.put_object(Bucket="archive", Key="refs/a/photo.hints.png", Body=hints)
    s3.put_object(Bucket="archive", Key="refs/run-wide.jpg", Body=encoded(coffee, "JPEG"))
    config = PipelineConfig(
        references="s3://archive/refs", reference="s3://archive/refs/run-wide.jpg", progress=False
    )
    report = colourise_sequential(["s3://archive/bw/"], "s3://archive/colour/", config)
    by_name = {r.input.rsplit("/", 1)[-1]: r for r in report.inputs}
    assert [r["kind"] for r in by_name["photo.png"].references] == ["hints"]
    assert [(r["kind"], r["name"]) for r in by_name["plain.png"].references] == [
        ("film-photo", "run-wide.jpg")
    ]

    def result(key: str) -> np.ndarray:
        body = s3.get_object(Bucket="archive", Key=key)["Body"].read()
        return np.asarray(Image.open(io.BytesIO(body)).convert("RGB")).astype(int)

    _, crema, _ = coffee_crema(real_photos)
    steered = result("colour/a/photo.png")
    assert ((steered[..., 1] > steered[..., 0] + 10)[crema]).mean() > 0.8
    # the run-wide reference is the scene itself: its colours come back
    assert hue_agreement(np.asarray(coffee), result("colour/plain.png").astype(np.uint8)) > 0.9


def test_bad_reference_fails_its_input_with_one_line(run_cli, tmp_path, real_photos):
    """From the command line: an unreadable hints file fails its photo (one line, exit 1); the
    other photo is written."""
    src = tmp_path / "in"
    src.mkdir()
    coffee = Image.fromarray(real_photos["coffee"]).resize((192, 128)).convert("L")
    coffee.save(src / "good.png")
    coffee.save(src / "broken.png")
    (src / "broken.hints.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    done = run_cli("colourise", src, "-o", tmp_path / "out", "--quiet", timeout=300)
    assert done.returncode == 1, done.stderr
    errors = [x for x in done.stderr.splitlines() if x.startswith("vidcolor: error:")]
    assert errors == [
        f"vidcolor: error: {src / 'broken.png'}: reference broken.hints.png: not a readable "
        "image (Truncated File Read)"
    ]
    assert (tmp_path / "out" / "good.png").is_file()
    assert not (tmp_path / "out" / "broken.png").exists()


def test_plan_with_references_resumes_and_a_changed_reference_starts_afresh(tmp_path, bikes):
    """A film's plan holds its references (checked, anchors as frames); its segments near the
    keyframe decode back to it; finished segments are kept on a rerun; a reference that changes
    is a new resume key, so no segment made without it is reused."""
    from pipeline_helpers import cut_clip

    from vidcolor.pipeline.plan import input_rows, plan_input
    from vidcolor.pipeline.state import config_key, read_plan

    src = cut_clip(
        bikes, tmp_path / "in" / "bikes.mp4", seconds=1.6, width=128, gop=10, audio=False
    )
    (tmp_path / "in" / "bikes.refs").mkdir()
    key = tmp_path / "in" / "bikes.refs" / "00-00-01.200.png"  # frame 30
    Image.new("RGB", (256, 108), (30, 160, 30)).save(key)  # twice the size
    config = PipelineConfig(model_size=64, segment_seconds=0.4, smoothing=1, reference_reach=0.5)
    out = str(tmp_path / "out")

    def plan():
        [listed] = input_rows([str(src)], out, config)
        return list(
            plan_input(listed, output_root=out, config=config, config_key=config_key(config))
        )

    rows = plan()
    saved = read_plan(rows[0]["state"])
    assert [(r.kind, r.frame, r.time) for r in saved.references] == [("keyframe", 30, 1.2)]
    assert saved.reach == round(0.5 * 25)
    # owned 0-9 lies within reach (12) + smoothing context (12) of frame 30: decoded up to it
    first = saved.segments[0]
    assert first.n_frames + first.n_after == 31
    state = Path(rows[0]["state"])
    (state / "seg-00001.mov").write_bytes(b"done")
    again = plan()
    assert [r["segment"] for r in again] == [0, 2, 3] and again[0]["state"] == str(state)
    Image.new("RGB", (256, 108), (160, 30, 30)).save(key)  # the colourist changed their mind
    os.utime(key, (1, 1))
    changed = plan()
    assert changed[0]["state"] != str(state) and [r["segment"] for r in changed] == [0, 1, 2, 3]


def test_a_frame_sequence_takes_keyframes_from_its_refs_folder(real_photos, tmp_path):
    """A PNG scan sequence reel1/reel1_000100.png ... (a pan, grey) with reel1/reel1.refs/
    frame-000000.png (its first frame in colour): the sidecar folder is not a second film, the
    keyframe is read as a keyframe (by its name, as for a video), and the frames come out in its
    colours (hue agreement >= 0.9 over the shot), against well below that without it."""
    crops = pan(real_photos["astronaut"], 16, top=150, left=20)
    reel = tmp_path / "in" / "reel1"
    reel.mkdir(parents=True)
    for i, frame in enumerate(crops):
        grey = np.asarray(Image.fromarray(frame).convert("L"))
        Image.fromarray(grey).save(reel / f"reel1_{100 + i:06d}.png")
    config = PipelineConfig(progress=False)
    plain = colourise_sequential([str(tmp_path / "in")], str(tmp_path / "plain"), config)
    (reel / "reel1.refs").mkdir()
    Image.fromarray(crops[0]).save(reel / "reel1.refs" / "frame-000000.png")
    report = colourise_sequential([str(tmp_path / "in")], str(tmp_path / "out"), config)
    [film] = report.inputs
    assert film.kind == "sequence" and film.status == "ok", film.error
    [ref] = film.references
    assert (ref["name"], ref["kind"], ref["frame"]) == ("frame-000000.png", "keyframe", 0)
    assert [r.status for r in plain.inputs] == ["ok"] and not plain.inputs[0].references

    def agreement(root: Path) -> float:
        frames = [np.asarray(Image.open(root / "reel1" / f"reel1_{100 + i:06d}.png").convert("RGB"))
                  for i in range(len(crops))]  # fmt: skip
        return float(np.mean([hue_agreement(c, f) for c, f in zip(crops, frames, strict=True)]))

    steered, alone = agreement(tmp_path / "out"), agreement(tmp_path / "plain")
    assert steered >= 0.9 and steered >= alone + 0.2, (steered, alone)
