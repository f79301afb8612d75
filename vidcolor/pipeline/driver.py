"""The driver's side of a run, shared by the Ray plan and the sequential loop: plan each input,
skip finished work, store what the workers return, finalise each video as soon as its last segment
arrives, and keep the report. Only the driver writes under the output root."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from vidcolor import storage
from vidcolor.errors import VidcolorError
from vidcolor.pipeline import plan
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.report import InputResult, Progress, Report
from vidcolor.pipeline.thumbnails import existing_thumbnail

log = logging.getLogger(__name__)


def probe_input(uri: str, segment_seconds: float, overlap: int):
    """(VideoInfo, segments) or the one-line error; a plain function so Ray can run it anywhere."""
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    try:
        info = probe(uri)
        return info, plan_segments(info, segment_seconds=segment_seconds, overlap=overlap), None
    except VidcolorError as err:
        return None, [], str(err)
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the others
        return None, [], f"{uri}: {type(err).__name__}: {' '.join(str(err).split())[:300]}"


class Run:
    """State of one run over many inputs."""

    def __init__(self, inputs: list[str], output: str, config: PipelineConfig):
        self.output = str(output)
        self.config = config
        self.settings = config.encode_settings()
        self.started = time.monotonic()
        self.report = Report(output=self.output, config=asdict(config))
        self.jobs = plan.plan_inputs(inputs, self.output, config)
        self.results = {
            j.id: InputResult(input=j.uri, output=j.output or None, kind=j.kind) for j in self.jobs
        }
        self.config_key = config.output_key(plan.checkpoint_id(config))
        self.states: dict[int, plan.StateDir] = {}
        self.cuts: dict[int, list[int]] = {}
        self.progress: Progress | None = None
        self.completed: set[int] = set()  # written or failed
        for job in self.jobs:
            if job.error:
                self.fail(job, job.error)
            elif not config.overwrite and (done := plan.finished_output(job)):
                r = self.results[job.id]
                r.status, r.output = "skipped", done
                r.thumbnail = existing_thumbnail(self.output, job.relpath)

    # --- planning -------------------------------------------------------------------------------

    def pending(self, kind: str) -> list[plan.InputJob]:
        return [
            j
            for j in self.jobs
            if j.kind == kind and self.results[j.id].status == "ok" and not j.error
        ]

    def add_probe(self, job: plan.InputJob, info, segments, error: str | None) -> None:
        if error:
            self.fail(job, error)
            return
        job.info, job.segments = info, segments
        r = self.results[job.id]
        r.frames, r.duration, r.segments = info.frame_count, round(info.duration, 3), len(segments)
        try:
            job.state_key = plan.state_key(job.uri, self.config_key)
            state = plan.StateDir(self.output, job.state_key, self.settings.segment_suffix())
            self.states[job.id] = state
            if self.config.overwrite:
                state.remove()
            job.done_segments = state.done(len(segments))
            self.cuts[job.id] = [c for i in sorted(job.done_segments) for c in state.cuts(i)]
        except VidcolorError as err:
            self.fail(job, str(err))
            return
        r.segments_resumed = len(job.done_segments)
        if len(job.done_segments) == len(segments):
            self.finalise(job)  # a crash after the last segment: nothing left but the join

    def rows(self) -> list[dict]:
        """Segment rows of every pending video plus one row per pending image."""
        rows = []
        for job in self.pending("video"):
            if job.info is not None and job.id not in self.finished:
                rows += plan.segment_rows(job, self.config)
        rows += [plan.image_row(job, self.config) for job in self.pending("image")]
        return rows

    @property
    def finished(self) -> set[int]:
        return self.completed | {i for i, r in self.results.items() if r.status != "ok"}

    def start_progress(self, rows: list[dict]) -> None:
        self.progress = Progress(sum(r["n_frames"] for r in rows), enabled=self.config.progress)

    # --- what comes back from the workers ------------------------------------------------------

    def consume(self, row: dict) -> None:
        job = self.jobs[row["job"]]
        result = self.results[job.id]
        if self.progress:
            self.progress.update(row["n_frames"])
        if row["error"]:
            self.fail(job, row["error"])
            return
        try:
            if job.kind == "image":
                storage.write_bytes_atomic(job.output, row["data"])
                self.extras(job, result)
                result.frames = 1
                result.segments_encoded = 1
                self.done(job)
                return
            cuts = json.loads(row["cuts"])
            self.states[job.id].write_segment(row["seg_index"], row["data"], cuts)
            job.done_segments.add(row["seg_index"])
            self.cuts[job.id] += cuts
            result.segments_encoded += 1
            if result.status == "ok" and len(job.done_segments) == len(job.segments):
                self.finalise(job)
        except VidcolorError as err:
            self.fail(job, str(err))

    def finalise(self, job: plan.InputJob) -> None:
        from vidcolor.video.mux import finalise

        state = self.states[job.id]
        result = self.results[job.id]
        try:
            with tempfile.TemporaryDirectory(prefix="vidcolor-join-") as tmp:
                files = [state.local_segment(i, Path(tmp)) for i in range(len(job.segments))]
                result.output = finalise(job.uri, files, job.output, self.settings, job.info)
            info = job.info
            t0 = info.frame_pts[0]
            result.scene_cuts = [
                {"frame": c, "time": round(float((info.frame_pts[c] - t0) * info.time_base), 3)}
                for c in sorted(set(self.cuts.get(job.id, [])))
            ]
            state.remove()
        except VidcolorError as err:
            self.fail(job, str(err))
            return
        self.extras(job, result)
        self.done(job)

    def extras(self, job: plan.InputJob, result: InputResult) -> None:
        """The report's before/after thumbnail and, with --preview, a video's contact sheet and
        clip. Bonuses: the output is done, so a failure here is a warning."""
        from vidcolor.pipeline.html_report import relative_to
        from vidcolor.pipeline.preview import write_preview
        from vidcolor.pipeline.thumbnails import write_thumbnail

        out = result.output
        result.thumbnail = _bonus(out, write_thumbnail, job.uri, out, self.output, job.relpath)
        if self.config.preview and job.kind == "video":
            links = _bonus(out, write_preview, job.uri, out) or (None, None)
            result.preview_png, result.preview_mp4 = (relative_to(self.output, u) for u in links)

    def done(self, job: plan.InputJob) -> None:
        result = self.results[job.id]
        result.finish(self.started)
        self.completed.add(job.id)
        if self.progress:
            self.progress.note(f"done: {result.output}")

    def fail(self, job: plan.InputJob, error: str) -> None:
        result = self.results[job.id]
        if not error.startswith(f"{job.uri}:"):  # e.g. a full disk names the file it wrote
            error = f"{job.uri}: {error}"
        if result.status != "failed":  # the first error is the one that matters
            result.status, result.error = "failed", error
            result.finish(self.started)
            self.completed.add(job.id)
            log.error("%s", error)
            if self.progress:
                self.progress.note(f"failed: {error}")

    def close(self) -> Report:
        """Mark anything unfinished as failed, write the report, return it."""
        for job in self.jobs:
            r = self.results[job.id]
            if r.status == "ok" and job.id not in self.completed:
                self.fail(job, f"{job.uri}: not all segments came back from the workers")
        if self.progress:
            self.progress.close()
        self.report.inputs = list(self.results.values())
        self.report.wall_time = time.monotonic() - self.started
        self.report.write(storage.safe_join(self.output, plan.REPORT_NAME))
        return self.report


def _bonus(output: str, make, *args):
    """``make(*args)``, or None with a warning: the output is done, its extras are bonuses."""
    try:
        return make(*args)
    except Exception as err:  # noqa: BLE001
        log.warning("%s: %s failed (%s)", output, make.__name__, " ".join(str(err).split())[:200])
        return None
