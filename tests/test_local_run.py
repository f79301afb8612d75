"""A short run on this machine alone goes in-process (pipeline/local.py): which runs do, that they
write what the Ray plan writes, that a segment's luma decoded once encodes as the re-decoded
one, and that a failing stage ends the run with its error instead of a hang."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import cut_clip, framemd5, tiny_checkpoint, write_photo
from test_video_support import synthetic_clip

from vidcolor.pipeline import PipelineConfig, colourise, run
from vidcolor.pipeline import config as limits
from vidcolor.pipeline.local import colourise_local, short_segments
from vidcolor.video.decode import decode_segment, iter_luma
from vidcolor.video.probe import probe
from vidcolor.video.segments import plan_segments
from vidcolor.video.tags import output_tags


def test_short_local_runs_go_in_process_the_others_on_ray(tmp_path, bikes, s3_env, monkeypatch):
    clip = cut_clip(bikes, tmp_path / "clip.mp4", seconds=2, width=160, gop=10, audio=False)
    config = PipelineConfig()
    assert "1 film(s) of 2 s, 0 photo(s): in-process" in run.small_local_run([str(clip)], config)
    assert run.small_local_run([str(clip)], PipelineConfig(address="auto")) == ""
    photos = tmp_path / "photos"
    photos.mkdir()
    rgb = np.zeros((32, 48, 3), np.uint8)
    for i in range(limits.LOCAL_FILES):
        write_photo(rgb, photos / f"{'abcdefgh'[i]}.png", width=48)  # not numbered: photos
    assert "0 film(s) of 0 s, 8 photo(s)" in run.small_local_run([str(photos)], config)
    write_photo(rgb, photos / "one-more.png", width=48)
    assert run.small_local_run([str(photos)], config) == ""  # a folder of many: Ray
    scans = tmp_path / "scans"  # a frame sequence is one film: its frames at --sequence-fps
    scans.mkdir()
    for i in range(12):
        write_photo(rgb, scans / f"reel_{86400 + i:07d}.png", width=48)
    assert "1 film(s) of 0 s, 0 photo(s)" in run.small_local_run([str(scans)], config)
    assert run.small_local_run([str(scans)], PipelineConfig(sequences="off")) == ""  # 12 photos
    s3_env.create_bucket(Bucket="films")
    s3_env.upload_file(str(clip), "films", "clip.mp4")
    assert run.small_local_run(["s3://films/"], config) == ""  # the archive's bucket: Ray
    monkeypatch.setattr(limits, "LOCAL_SECONDS", 1.5)
    assert run.small_local_run([str(clip)], config) == ""  # longer in all: Ray
    assert run.small_local_run([str(scans)], config) != ""  # 12 frames at 24 fps: 0.5 s
    assert run.small_local_run([str(scans)], PipelineConfig(sequence_fps="6")) == ""  # 2 s


def test_short_segments_keep_the_context_a_small_share():
    assert short_segments(PipelineConfig(smoothing=0)).segment_seconds == 2.0
    default = short_segments(PipelineConfig())  # 32 context frames each side
    assert default.segment_seconds >= 4 * default.overlap / 25
    assert short_segments(PipelineConfig(segment_seconds=1)).segment_seconds == 1  # the user's cap


@pytest.mark.parametrize("name", ["rotated", "10bit"])
def test_luma_kept_at_decode_is_the_encoder_s_own(name):
    """The owned frames' luma that decode keeps (context decoded around them) is what the
    encoder would decode again, code for code, rotated and 10-bit alike."""
    src = str(synthetic_clip(name))
    info = probe(src)
    tags = output_tags(info.video)
    segments = plan_segments(info, segment_seconds=0.5, overlap=4)  # context after, then before
    assert len(segments) == 2
    for seg in segments:
        kept = decode_segment(src, seg, 64, luma=(tags.matrix, tags.full_range)).luma
        again = list(iter_luma(src, seg, matrix=tags.matrix, full_range=tags.full_range))
        assert len(kept) == len(again) == seg.n_frames
        for a, b in zip(kept, again, strict=True):
            assert (a.pts, a.duration, a.bits, a.concealed) == (
                b.pts,
                b.duration,
                b.bits,
                b.concealed,
            )
            assert a.y.dtype == b.y.dtype and np.array_equal(a.y, b.y)
            assert a.y.base is None  # a copy: it does not keep the decoded frame alive


def test_in_process_run_writes_what_the_ray_plan_writes(tmp_path, bikes, ray_local):
    """Same segments (0.8 s, under the short-run cap), smoothing context, one torch thread and one
    frame per forward pass each (a frame's ab then cannot depend on which frames share its batch,
    which differs when Ray hands an actor the segments in another order and it reuses fewer
    context frames): the in-process run's video is the Ray run's frame for frame, its report
    the same."""
    clip = cut_clip(bikes, tmp_path / "clip.mp4", seconds=2, width=160, gop=10, audio=True)
    ckpt = str(tiny_checkpoint(tmp_path / "g.safetensors"))
    config = PipelineConfig(
        checkpoint=ckpt,
        model_size=64,
        smoothing=1,
        segment_seconds=0.5,  # cut at the next keyframe: 0.8 s
        model_threads=1,
        batch_size=1,
    )
    local = colourise_local([str(clip)], str(tmp_path / "local"), config).inputs[0]
    on_ray = colourise([str(clip)], str(tmp_path / "ray"), config).inputs[0]  # Ray is up: Ray
    assert local.status == on_ray.status == "ok"
    assert (local.frames, local.segments, local.scene_cuts) == (
        on_ray.frames,
        on_ray.segments,
        on_ray.scene_cuts,
    )
    assert local.segments >= 3
    frames = framemd5(Path(local.output))
    assert len(frames) == local.frames and frames == framemd5(Path(on_ray.output))


def test_a_failing_stage_ends_the_run_with_its_error(tmp_path, bikes, monkeypatch):
    """An unexpected error in the reader thread or in a finish thread reaches the caller, the
    threads stop, and nothing is left running (a hang would be the bug)."""
    from vidcolor.pipeline import local

    clip = cut_clip(bikes, tmp_path / "clip.mp4", seconds=2, width=160, gop=10, audio=False)
    config = PipelineConfig(
        checkpoint=str(tiny_checkpoint(tmp_path / "g.safetensors")), model_size=64, smoothing=0
    )

    def broken(*args, **kwargs):
        raise RuntimeError("injected")

    for stage in ("load_row", "finish_row"):
        with monkeypatch.context() as patch:
            patch.setattr(local, stage, broken)
            with pytest.raises(RuntimeError, match="injected"):
                colourise_local([str(clip)], str(tmp_path / stage), config)
            assert not [t.name for t in threading.enumerate() if t.name.startswith("vidcolor-")]
