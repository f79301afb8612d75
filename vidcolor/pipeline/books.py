"""The driver's books: small rows in, join requests and the report out.

The driver writes no media. It counts each video's segment rows as they come back and asks for
the join when the last one is in; it keeps one counter per video in flight and one report entry
per input, nothing per frame.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict

from vidcolor import storage
from vidcolor.errors import one_line
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.plan import REPORT_NAME
from vidcolor.pipeline.report import InputResult, Progress, Report
from vidcolor.pipeline.rows import FAILED, NOTE, SKIPPED, error_line

log = logging.getLogger(__name__)


class Books:
    def __init__(self, output: str, config: PipelineConfig, model: str = ""):
        self.output = str(output)
        self.started = time.monotonic()
        self.report = Report(output=self.output, config=asdict(config), model=model)
        self.results: dict[str, InputResult] = {}
        self.arrived: dict[str, int] = {}  # segment rows back, per video still in flight
        self.finished: set[str] = set()  # written or failed
        self.progress = Progress(enabled=config.progress)

    def consume(self, row: dict) -> dict | None:
        """Record one row; returns it when it completes a video that is now ready to join."""
        if row["status"] == NOTE:
            self.report.notes.append(row["error"])
            return None
        uri = row["input"]
        result = self.results.get(uri)
        if result is None:
            result = InputResult(input=uri, output=row["output"] or None, kind=row["kind"])
            self.results[uri] = result
        self.progress.update(row["frames"])
        result.frames_inferred += row["inferred"]
        if row["status"] == FAILED:
            self.fail(uri, row["error"])
        elif row["status"] == SKIPPED:
            result.status, result.output = "skipped", row["output"]
            result.thumbnail = row["thumbnail"] or None
        elif row["kind"] == "image":
            result.frames = result.segments = result.segments_encoded = 1
            result.thumbnail = row["thumbnail"] or None
            result.references = json.loads(row["references"]) if row["references"] else []
            self.done(uri)
        else:
            return self._segment_back(row, result)
        return None

    def _segment_back(self, row: dict, result: InputResult) -> dict | None:
        uri = row["input"]
        result.frames, result.duration = row["video_frames"], row["duration"]
        result.segments, result.segments_resumed = row["n_segments"], row["resumed"]
        if result.status != "ok":
            return None  # an earlier segment failed: the video will not be joined
        arrived = self.arrived.get(uri, 0) + (row["segment"] >= 0)
        result.segments_encoded = arrived
        if arrived < row["todo"]:
            self.arrived[uri] = arrived
            return None
        self.arrived.pop(uri, None)
        return row

    def joined(self, uri: str, outcome: dict) -> None:
        """The join of ``uri`` finished (``outcome`` from ``stages.join_row``)."""
        if outcome.get("error"):
            self.fail(uri, outcome["error"])
            return
        result = self.results[uri]
        result.output, result.scene_cuts = outcome["output"], outcome["scene_cuts"]
        result.concealed = outcome["concealed"]
        result.jumps, result.gaps = outcome.get("jumps", []), outcome.get("gaps", [])
        result.thumbnail = outcome["thumbnail"] or None
        result.preview_png, result.preview_mp4 = outcome["preview_png"], outcome["preview_mp4"]
        result.references = outcome["references"]
        self.done(uri)

    def done(self, uri: str) -> None:
        result = self.results[uri]
        result.finish(self.started)
        self.finished.add(uri)
        self.progress.note(one_line(f"done: {result.output}"))

    def fail(self, uri: str, error: str) -> None:
        result = self.results[uri]
        self.arrived.pop(uri, None)
        if result.status != "failed":  # the first error is the one that matters
            error = error_line(uri, error)
            result.status, result.error = "failed", error
            result.finish(self.started)
            self.finished.add(uri)
            log.error("%s", error)
            self.progress.note(f"failed: {error}")

    def close(self) -> Report:
        """Fail what never finished, write the report, return it."""
        for uri, result in self.results.items():
            if result.status == "ok" and uri not in self.finished:
                self.fail(uri, f"{uri}: not all segments came back from the workers")
        self.progress.close()
        self.report.inputs = list(self.results.values())
        self.report.wall_time = time.monotonic() - self.started
        self.report.write(storage.safe_join(self.output, REPORT_NAME))
        return self.report
