"""The run report (``OUT/vidcolor-report.json`` and ``.html`` beside it) and the driver's progress
bar."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field

from vidcolor import storage


@dataclass
class InputResult:
    input: str
    output: str | None
    kind: str  # 'video' | 'sequence' | 'image'
    status: str = "ok"  # 'ok' | 'skipped' | 'failed'
    error: str | None = None
    frames: int = 0
    duration: float = 0.0  # seconds of video
    scene_cuts: list[dict] = field(default_factory=list)  # {'frame': i, 'time': seconds}
    # frames the decoder could not decode (a broken or lost packet): shown as their neighbour
    concealed: list[dict] = field(default_factory=list)  # {'frame': i, 'time': seconds}
    # where the source's timestamps jumped (joined recordings, PTS wrap), repaired as ffmpeg does
    jumps: list[dict] = field(default_factory=list)  # {'time': seconds in the output, 'by': s}
    # a frame sequence's missing or unreadable frames, by number: {'first', 'last', 'reason'}
    gaps: list[dict] = field(default_factory=list)
    wall_time: float = 0.0  # seconds from the run's start until this output was written
    fps: float = 0.0  # frames / wall_time
    segments: int = 0
    segments_resumed: int = 0  # found finished in the state from an earlier run
    segments_encoded: int = 0  # computed by this run
    # frames through the model, smoothing context included (each frame once when segments
    # reach a CPU model actor in order: vidcolor.pipeline.model.ColouriseActor)
    frames_inferred: int = 0
    # Paths relative to the output root (the report links them with relative URLs).
    thumbnail: str | None = None  # before/after JPEG, see vidcolor.pipeline.thumbnails
    preview_png: str | None = None  # --preview contact sheet
    preview_mp4: str | None = None  # --preview side-by-side clip
    # the references that steered it: name, kind, frame, time, shots reached, thumbnail
    references: list[dict] = field(default_factory=list)

    def finish(self, started: float) -> None:
        self.wall_time = round(time.monotonic() - started, 3)
        self.fps = round(self.frames / self.wall_time, 3) if self.wall_time > 0 else 0.0


@dataclass
class Report:
    output: str
    config: dict
    inputs: list[InputResult] = field(default_factory=list)
    wall_time: float = 0.0
    model: str = ""  # what the model stage ran on and why (--device auto says what it chose)
    notes: list[str] = field(default_factory=list)  # what the listing passed over, one line each

    @property
    def failed(self) -> list[InputResult]:
        return [r for r in self.inputs if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def totals(self) -> dict:
        done = [r for r in self.inputs if r.status == "ok"]
        frames = sum(r.frames for r in done)
        return {
            "inputs": len(self.inputs),
            "ok": len(done),
            "skipped": sum(r.status == "skipped" for r in self.inputs),
            "failed": len(self.failed),
            "frames": frames,
            "duration": round(sum(r.duration for r in done), 3),
            "scene_cuts": sum(len(r.scene_cuts) for r in done),
            "segments_resumed": sum(r.segments_resumed for r in self.inputs),
            "wall_time": round(self.wall_time, 3),
            "fps": round(frames / self.wall_time, 3) if self.wall_time > 0 else 0.0,
        }

    def to_dict(self) -> dict:
        return {
            "output": self.output,
            "config": self.config,
            "model": self.model,
            "inputs": [asdict(r) for r in sorted(self.inputs, key=lambda r: r.input)],
            "notes": self.notes,
            "totals": self.totals(),
        }

    def write(self, uri: str) -> None:
        """The JSON at ``uri`` and the HTML page beside it (same name, ``.html``), each atomic."""
        data = self.to_dict()
        storage.write_bytes_atomic(uri, json.dumps(data, indent=2).encode())
        write_html(html_uri(uri), data)

    def summary(self) -> str:
        t = self.totals()
        return (
            f"{t['ok']} ok, {t['skipped']} skipped, {t['failed']} failed; {t['frames']} frames "
            f"in {t['wall_time']:.1f} s ({t['fps']:.1f} frames/s)"
        )


def html_uri(json_uri: str) -> str:
    return json_uri.removesuffix(".json") + ".html"


def write_html(uri: str, report: dict) -> None:
    from vidcolor.pipeline.html_report import render_html

    storage.write_bytes_atomic(uri, render_html(report).encode())


class Progress:
    """Frames done (and frames/s) on the driver only. The plan streams, so there is no total to
    count down from."""

    def __init__(self, enabled: bool = True):
        from tqdm import tqdm

        self.enabled = enabled
        self.bar = tqdm(
            unit="frame",
            desc="colourise",
            dynamic_ncols=True,
            disable=not enabled or None,  # None: off when stderr is not a terminal
            smoothing=0.1,
        )

    def update(self, frames: int) -> None:
        self.bar.update(frames)

    def note(self, text: str) -> None:
        """A line above the bar; without a terminal (job logs), a plain line on stderr."""
        if not self.bar.disable:
            self.bar.write(text)
        elif self.enabled:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()
