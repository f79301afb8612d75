"""``--preview``: per video, a before/after contact sheet (PNG) and a short side-by-side clip."""

from __future__ import annotations

from fractions import Fraction
from pathlib import PurePosixPath

import av
import numpy as np
from PIL import Image

from vidcolor import storage
from vidcolor.video.probe import open_media, pick_video_stream

SHEET_FRAMES = 4
SHEET_HEIGHT = 180  # thumbnail height in the contact sheet
CLIP_HEIGHT = 240  # each half of the side-by-side clip
CLIP_SECONDS = 3.0


def preview_uris(output_uri: str) -> tuple[str, str]:
    stem = output_uri[: len(output_uri) - len(PurePosixPath(output_uri).suffix)]
    return f"{stem}.preview.png", f"{stem}.preview.mp4"


def _size(width: int, height: int, target_h: int) -> tuple[int, int]:
    w = max(2, round(width * target_h / height / 2) * 2)  # even, for yuv420p
    return w, target_h


def frames_at(uri: str, fractions: list[float], height: int) -> list[np.ndarray]:
    """RGB frames at the given fractions of the duration (first frame at or after each time)."""
    out = []
    with open_media(uri) as container:
        stream = pick_video_stream(container, uri)
        duration = (container.duration or 0) / 1e6
        tb = Fraction(stream.time_base)
        start = stream.start_time or 0
        for f in fractions:
            target = start + int(duration * f / tb)
            container.seek(target, stream=stream)
            frame = None
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= target:
                    break
            if frame is not None:
                w, h = _size(frame.width, frame.height, height)
                out.append(frame.to_ndarray(format="rgb24", width=w, height=h))
    return out


def contact_sheet(before_uri: str, after_uri: str, n: int = SHEET_FRAMES) -> np.ndarray:
    """Top row: input frames; bottom row: the same moments colourised."""
    fractions = [(i + 0.5) / n for i in range(n)]
    before = frames_at(before_uri, fractions, SHEET_HEIGHT)
    after = frames_at(after_uri, fractions, SHEET_HEIGHT)
    k = min(len(before), len(after))
    return np.concatenate([np.hstack(before[:k]), np.hstack(after[:k])], axis=0)


def side_by_side_clip(before_uri: str, after_uri: str, dst: str) -> None:
    """The first seconds, input left and output right, as H.264."""
    with open_media(before_uri) as a, open_media(after_uri) as b:
        sa, sb = pick_video_stream(a, before_uri), pick_video_stream(b, after_uri)
        rate = sa.average_rate or Fraction(25)
        limit = max(1, int(CLIP_SECONDS * rate))
        with storage.atomic_output(dst) as tmp, av.open(str(tmp), mode="w") as out:
            stream = None
            for i, (fa, fb) in enumerate(zip(a.decode(sa), b.decode(sb), strict=False)):
                if i >= limit:
                    break
                w, h = _size(fa.width, fa.height, CLIP_HEIGHT)
                pair = np.hstack(
                    [
                        fa.to_ndarray(format="rgb24", width=w, height=h),
                        fb.to_ndarray(format="rgb24", width=w, height=h),
                    ]
                )
                if stream is None:
                    stream = out.add_stream("libx264", rate=rate, options={"crf": "23"})
                    stream.width, stream.height, stream.pix_fmt = 2 * w, h, "yuv420p"
                frame = av.VideoFrame.from_ndarray(pair, format="rgb24")
                for packet in stream.encode(frame):
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
