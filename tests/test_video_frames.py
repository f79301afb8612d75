"""Frames as displayed (seek + rotation, one home): preview, training frames, evaluate."""

from __future__ import annotations

import numpy as np
from PIL import Image
from test_video_support import ffmpeg, round_trip, synthetic_clip


def test_frames_at_and_iteration_are_upright_and_match_ffmpeg(tmp_path):
    from vidcolor.video.frames import frames_at, iter_display_frames
    from vidcolor.video.probe import probe

    src = synthetic_clip("rotated")  # coded 160x96, displayed 96x160
    info = probe(src)
    upright = tmp_path / "upright.mkv"  # ffmpeg applies the display matrix when transcoding
    ffmpeg("-i", src, "-c:v", "ffv1", "-pix_fmt", "rgb24", upright)
    theirs = list(iter_display_frames(str(upright)))
    ours = list(iter_display_frames(str(src)))
    assert len(ours) == len(theirs) == 50 and ours[0].shape == (160, 96, 3)
    assert np.abs(ours[7].astype(int) - theirs[7]).mean() < 6  # same picture (source is lossy)
    assert np.abs(np.rot90(ours[7], 2).astype(int) - theirs[7]).mean() > 30  # not upside down

    (seeked,) = frames_at(str(src), [info.frame_pts[30]])
    assert np.array_equal(seeked, ours[30])
    half = frames_at(str(src), fractions=[0.5], fit=lambda w, h: (w // 2, h // 2))
    assert half[0].shape == (80, 48, 3)


def test_rotated_video_gets_its_preview(tmp_path):
    from vidcolor.pipeline.preview import SHEET_HEIGHT, write_preview

    src = synthetic_clip("rotated")
    out, _ = round_trip(src, tmp_path / "out.mp4")
    png, clip = write_preview(str(src), out)
    sheet = np.asarray(Image.open(png))
    thumb_w = round(96 * SHEET_HEIGHT / 160 / 2) * 2  # portrait thumbnails, both rows
    assert sheet.shape == (2 * SHEET_HEIGHT, 4 * thumb_w, 3)
    top, bottom = sheet[:SHEET_HEIGHT].astype(int), sheet[SHEET_HEIGHT:].astype(int)
    assert np.abs(top - bottom).mean() < 12  # same moments, same orientation (ab = 0 here)

    import av

    with av.open(clip) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (2 * round(96 * 240 / 160 / 2) * 2, 240)


def test_training_frames_of_a_rotated_video_are_upright():
    from vidcolor.train.data import sample_video_frames

    frames = sample_video_frames(str(synthetic_clip("rotated")), 3, max_side=80)
    assert [f.shape for f in frames] == [(80, 48, 3)] * 3
