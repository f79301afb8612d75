"""A short run on this machine alone: the same stages on threads of this process, no Ray.

    reader thread: list -> plan -> load (decode)  ─ model (this thread)
      ─ finish threads: smooth + encode + write, then each video's join ─ books (this thread)

A local Ray costs ~4 s to start, ~1.5 s to stop and ~5 s more of worker and actor start-up on a
2-core machine (benchmarks/RESULTS.md, ``sizing``): more than colourising a clip. PyAV, OpenCV,
torch and the compiled kernels release the GIL, so the stages overlap here as Ray's processes
would. Outputs, state directory and report are the Ray plan's (the same stage functions).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from vidcolor.pipeline.books import Books
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.model import ColouriseActor, actor_arguments
from vidcolor.pipeline.plan import input_rows, plan_input
from vidcolor.pipeline.report import Report
from vidcolor.pipeline.rows import TODO
from vidcolor.pipeline.stages import finish_row, join_row, load_row
from vidcolor.pipeline.state import config_key, read_plan
from vidcolor.video.threads import codec_threads_set

_END = object()  # the reader's last item
# Luma a segment may hold from decode to encode: 2 s of 1080p (up to cores + 4 segments are in
# flight: the reader's, the queued one, the model's, the finish pool's); a larger one is decoded
# again by its encoder.
LUMA_BYTES = 128 * 1024**2
SHORT_SEGMENT_SECONDS = 2.0


def colourise_local(
    inputs: list[str], output: str, config: PipelineConfig | None = None, *, why: str = ""
) -> Report:
    """Like :func:`vidcolor.pipeline.colourise` (same outputs, state and report), on threads of
    this process: one reads and decodes, this one runs the model, ``cpus`` finish and join.
    ``why``: the first line the user sees (``run.small_local_run``)."""
    config = short_segments(config or PipelineConfig())
    cpus = len(os.sched_getaffinity(0))
    # The model's threads wait passively, as a Ray CPU actor's do (cluster.ModelPool): spinning
    # ones would hold cores the finish threads need. OpenMP reads it when torch first loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _import_stages()
    books = Books(output, config, model=f"in-process on {cpus} cores, --device {config.device}")
    books.progress.note(why or books.report.model)
    loaded: queue.Queue = queue.Queue(maxsize=1)  # one decoded segment waits for the model
    stop = threading.Event()
    reader = threading.Thread(
        target=_read,
        args=(inputs, str(output), config, loaded, stop),
        name="vidcolor-reader",
        daemon=True,
    )
    try:
        # Every codec and OpenCV call on one thread, as in a 1-CPU Ray task: the stages'
        # threads are the parallelism (a codec's own threads cost 20-30 % more CPU per frame).
        with codec_threads_set(1), ThreadPoolExecutor(cpus, "vidcolor-finish") as pool:
            reader.start()
            try:
                _drive(loaded, pool, books, config, str(output), cpus)
            finally:
                stop.set()
                _drain(loaded)
                pool.shutdown(cancel_futures=True)
                reader.join(timeout=60)  # it sees ``stop`` within a frame's decode
    finally:
        report = books.close()
    return report


def _import_stages() -> None:
    """Import what the stages import lazily, here, before the threads start: two threads that
    import torch at once can see it half initialised (measured: "partially initialized module
    'torch' has no attribute 'Tensor'" from a photo's finish while the model loaded)."""
    import cv2  # noqa: F401
    import torch  # noqa: F401

    import vidcolor.guide.steer  # noqa: F401
    import vidcolor.image  # noqa: F401
    import vidcolor.infer  # noqa: F401
    import vidcolor.pipeline.thumbnails  # noqa: F401
    import vidcolor.smooth  # noqa: F401
    import vidcolor.video.decode  # noqa: F401
    import vidcolor.video.encode  # noqa: F401
    import vidcolor.video.mux  # noqa: F401


def short_segments(config: PipelineConfig) -> PipelineConfig:
    """``config`` with the segments of a short run: the last segment's finish runs alone, so
    they are short (2 s; the 21 s reel on 2 cores: 10.4 s against 13.6 with 10 s ones), but at
    least 4x the smoothing context each side (decoded and smoothed, not written), and no longer
    than ``--segment-seconds``."""
    seconds = max(SHORT_SEGMENT_SECONDS, 4 * config.overlap / 25)  # context frames at 25 fps
    return replace(config, segment_seconds=min(config.segment_seconds, seconds))


def _read(inputs, output: str, config: PipelineConfig, out: queue.Queue, stop) -> None:
    """The reader thread: (planned row, its owned frames' luma or None), each segment to do
    decoded first; ``_END`` (or the exception that stopped it) last."""
    try:
        key = config_key(config)
        for listed in input_rows([str(x) for x in inputs], output, config):
            for row in plan_input(listed, output_root=output, config=config, config_key=key):
                if stop.is_set():
                    return
                if row["status"] != TODO:
                    _put(out, (row, None), stop)
                    continue
                luma = _luma_list(row)
                _put(out, (load_row(row, config=config, luma=luma), luma), stop)
        _put(out, _END, stop)
    except BaseException as err:  # noqa: BLE001 - handed to the driving thread, raised there
        _put(out, err, stop)


def _luma_list(row: dict) -> list | None:
    """A list for the luma of a video segment's owned frames when it fits in LUMA_BYTES: the
    encoder then takes it instead of decoding the frames again (2.6 of 29 CPU ms per 720p frame,
    benchmarks/RESULTS.md ``sizing``). None: a frame sequence (its files are read again)."""
    if row["kind"] != "video":
        return None
    plan = read_plan(row["state"])
    source, seg = plan.source, plan.segments[row["segment"]]
    size = seg.n_frames * source.width * source.height * (2 if source.bit_depth > 8 else 1)
    return [] if size <= LUMA_BYTES else None


def _put(out: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _rows(loaded: queue.Queue) -> Iterator[tuple[dict, list | None]]:
    while (item := loaded.get()) is not _END:
        if isinstance(item, BaseException):
            raise item
        yield item


def _drive(loaded, pool, books: Books, config: PipelineConfig, output: str, cpus: int) -> None:
    """Model each decoded row here, finish it on the pool (at most ``cpus`` waiting or running),
    book the rows as they come back and start each video's join when its last segment is in."""
    model: ColouriseActor | None = None
    threads = None if config.device == "cuda" else config.cpu_model_threads()
    finishing: set[Future] = set()
    joining: dict[Future, str] = {}
    for row, luma in _rows(loaded):
        if row["status"] == TODO:  # decoded (a failed load, a skip or a note goes straight on)
            model = model or ColouriseActor(
                **actor_arguments(config, config.device, threads=threads)
            )
            row = model.predict_row(row)
            kw = {"config": config, "output_root": output, "luma": luma}
            finishing.add(pool.submit(finish_row, row, **kw))
        else:
            finishing.add(_done(row))
        _book(finishing, joining, pool, books, config, output, keep=cpus)
    _book(finishing, joining, pool, books, config, output, keep=0)


def _book(finishing: set, joining: dict, pool, books, config, output: str, *, keep: int) -> None:
    """Book finished rows and joins; wait while more than ``keep`` finishes are in flight."""
    while finishing or (joining and keep == 0):
        busy = len(finishing) > keep or (keep == 0)
        done, _ = wait(
            finishing | set(joining), timeout=None if busy else 0, return_when=FIRST_COMPLETED
        )
        if not done:
            return
        for future in done:
            if future in joining:
                books.joined(joining.pop(future), future.result())
                continue
            finishing.discard(future)
            if (ready := books.consume(future.result())) is not None:
                joining[pool.submit(join_row, ready, config, output)] = ready["input"]


def _done(row: dict) -> Future:
    future: Future = Future()
    future.set_result(row)
    return future


def _drain(loaded: queue.Queue) -> None:
    """Empty the queue so a reader blocked on it sees ``stop`` and ends."""
    try:
        while True:
            loaded.get_nowait()
    except queue.Empty:
        pass
