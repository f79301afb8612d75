"""The Ray Data pipeline end to end on local Ray: outputs judged by ffprobe, seams, cuts, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import check_video, cut_clip, tiny_checkpoint, write_photo
from skimage import color as skcolor

from vidcolor.pipeline import PipelineConfig, colourise
from vidcolor.pipeline.run import build_dataset

BIKES_CUT = 30  # bikes.mp4 has a hard cut at frame 30 (1.2 s)


@pytest.fixture(scope="module")
def media(tmp_path_factory, bigbuckbunny, bikes, real_photos):
    root = tmp_path_factory.mktemp("media")
    src = root / "in"
    cut_clip(bigbuckbunny, src / "bbb.mp4", seconds=1.6, width=192, gop=10, audio=True)
    cut_clip(bikes, src / "reels" / "bikes.mp4", seconds=2.0, width=160, gop=10, audio=False)
    write_photo(real_photos["chelsea"], src / "cat.png")
    return {"root": root, "src": src, "ckpt": tiny_checkpoint(root / "g.safetensors")}


def test_directory_of_videos_and_image(media, ray_local, tmp_path):
    src = media["src"]
    garbage = tmp_path / "in"
    garbage.mkdir()
    (garbage / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    out = tmp_path / "out"
    config = PipelineConfig(
        checkpoint=str(media["ckpt"]), model_size=64, segment_seconds=0.4, progress=False
    )
    report = colourise([str(src), str(garbage / "broken.mp4")], str(out), config)

    by_name = {r.input.rsplit("/", 1)[-1]: r for r in report.inputs}
    assert report.exit_code == 1  # the broken file failed, the rest finished
    assert report.model.startswith(
        "model on CPU: 1 actor(s) of 2 torch threads, --device auto: the cluster has no GPU"
    )
    bad = by_name["broken.mp4"]
    assert bad.status == "failed" and "broken.mp4" in bad.error and "\n" not in bad.error
    for name in ("bbb.mp4", "bikes.mp4", "cat.png"):
        assert by_name[name].status == "ok", by_name[name].error

    check_video(src / "bbb.mp4", out / "bbb.mp4", audio=True)
    check_video(src / "reels" / "bikes.mp4", out / "reels" / "bikes.mp4", audio=False)
    assert by_name["bbb.mp4"].frames == 40 and by_name["bbb.mp4"].segments == 4
    # Each of the 4 segments decodes all 40 frames (its smoothing context): inferred once.
    assert by_name["bbb.mp4"].frames_inferred == 40 and by_name["cat.png"].frames_inferred == 1
    assert by_name["bikes.mp4"].scene_cuts == [{"frame": BIKES_CUT, "time": 1.2}]
    assert by_name["bbb.mp4"].scene_cuts == []

    cat_in = np.asarray(Image.open(src / "cat.png"))
    cat_out = np.asarray(Image.open(out / "cat.png"))
    assert cat_out.shape == cat_in.shape
    lab_in, lab_out = skcolor.rgb2lab(cat_in), skcolor.rgb2lab(cat_out)
    assert np.abs(lab_out[..., 0] - lab_in[..., 0]).max() < 1.0
    assert np.hypot(lab_out[..., 1], lab_out[..., 2]).mean() > 5

    saved = json.loads((out / "vidcolor-report.json").read_text())
    assert saved["model"] == report.model
    assert saved["totals"]["ok"] == 3 and saved["totals"]["failed"] == 1
    assert saved["totals"]["frames"] == 40 + 50 + 1
    assert not list((out / ".vidcolor-state").glob("*/seg-*"))  # state cleaned after finalise
    assert not (out / "broken.mp4").exists()

    # Rerun: every finished output is skipped, nothing recomputed.
    again = colourise([str(src)], str(out), config)
    assert {r.status for r in again.inputs} == {"skipped"}


def _smoothed_ab(src, config: PipelineConfig, out) -> tuple[np.ndarray, list[int]]:
    """ab after smoothing, as the pipeline produces it, re-assembled in frame order."""
    rows = build_dataset([str(src)], str(out), config, until="smooth").iter_rows()
    rows = sorted(rows, key=lambda r: r["segment"])
    assert all(not r["error"] for r in rows)
    cuts = [int(c) for r in rows for c in r["cut_frames"]]
    return np.concatenate([np.asarray(r["ab"], np.float32) for r in rows]), cuts


def test_segments_give_the_same_ab_as_one_segment(media, ray_local, tmp_path):
    src = media["src"] / "reels" / "bikes.mp4"  # has a scene cut: smoothing resets across it
    common = dict(checkpoint=str(media["ckpt"]), model_size=64, smoothing=4, progress=False)
    many, cuts_many = _smoothed_ab(
        src, PipelineConfig(segment_seconds=0.4, **common), tmp_path / "a"
    )
    one, cuts_one = _smoothed_ab(src, PipelineConfig(segment_seconds=100, **common), tmp_path / "b")
    assert many.shape == one.shape == (50, 2, 64, 160)
    assert np.abs(many - one).max() < 1e-3
    assert cuts_many == cuts_one == [BIKES_CUT]
