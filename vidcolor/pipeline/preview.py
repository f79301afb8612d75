"""``--preview``: per video, a before/after contact sheet (PNG) and a short side-by-side clip."""

from __future__ import annotations

from fractions import Fraction
from pathlib import PurePosixPath

import av
import numpy as np
from PIL import Image

from vidcolor import storage
from vidcolor.video.frames import fit_height, frames_at, iter_display_frames
from vidcolor.video.probe import open_media, pick_video_stream

SHEET_FRAMES = 4
SHEET_HEIGHT = 180  # thumbnail height in the contact sheet
CLIP_HEIGHT = 240  # each half of the side-by-side clip
CLIP_SECONDS = 3.0


def preview_uris(output_uri: str) -> tuple[str, str]:
    stem = output_uri[: len(output_uri) - len(PurePosixPath(output_uri).suffix)]
    return f"{stem}.preview.png", f"{stem}.preview.mp4"


def contact_sheet(before_uri: str, after_uri: str, n: int = SHEET_FRAMES) -> np.ndarray:
    """Top row: input frames; bottom row: the same moments colourised."""
    fractions = [(i + 0.5) / n for i in range(n)]
    before = frames_at(before_uri, fractions=fractions, fit=fit_height(SHEET_HEIGHT))
    after = frames_at(after_uri, fractions=fractions, fit=fit_height(SHEET_HEIGHT))
    k = min(len(before), len(after))
    return np.concatenate([np.hstack(before[:k]), np.hstack(after[:k])], axis=0)


def side_by_side_clip(before_uri: str, after_uri: str, dst: str) -> None:
    """The first seconds, input left and output right (both as displayed), as H.264."""
    with open_media(before_uri) as a:
        rate = pick_video_stream(a, before_uri).average_rate or Fraction(25)
    limit = max(1, int(CLIP_SECONDS * rate))
    fit = fit_height(CLIP_HEIGHT)
    pairs = zip(
        iter_display_frames(before_uri, fit), iter_display_frames(after_uri, fit), strict=False
    )
    with storage.atomic_output(dst) as tmp, av.open(str(tmp), mode="w") as out:
        stream = None
        for _, (fa, fb) in zip(range(limit), pairs, strict=False):
            pair = np.hstack([fa, fb])
            if stream is None:
                stream = out.add_stream("libx264", rate=rate, options={"crf": "23"})
                stream.width, stream.height, stream.pix_fmt = (
                    pair.shape[1],
                    pair.shape[0],
                    "yuv420p",
                )
            for packet in stream.encode(av.VideoFrame.from_ndarray(pair, format="rgb24")):
                out.mux(packet)
        if stream is not None:
            for packet in stream.encode(None):
                out.mux(packet)


def write_preview(before_uri: str, after_uri: str) -> tuple[str, str]:
    """Write ``<output stem>.preview.png`` and ``.preview.mp4`` next to the output."""
    png, clip = preview_uris(after_uri)
    with storage.atomic_output(png) as tmp:
        Image.fromarray(contact_sheet(before_uri, after_uri)).save(tmp, format="PNG")
    side_by_side_clip(before_uri, after_uri, clip)
    return png, clip
