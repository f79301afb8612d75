"""The Ray Data plan: the one place where the stages are wired onto a cluster.

    list inputs (one task, streaming) ─ plan: probe + segments (tasks) ─ load L (tasks)
      ─ model (actor pool: GPUs when there are, or may be) ─ finish: smooth + encode + write (tasks)
      ─ driver: counts small rows, starts each video's join as a task, keeps the report

Workers list, probe, read and write everything; the driver holds one counter per video in flight.
Listing and planning are stages, so the first segment decodes while the listing goes on.
A short run on this machine alone (``small_local_run``) goes in-process instead (``local.py``).
"""

from __future__ import annotations

import logging
from itertools import islice

from vidcolor.errors import VidcolorError, one_line
from vidcolor.pipeline import config as limits
from vidcolor.pipeline.books import Books
from vidcolor.pipeline.cluster import (
    ModelPool,
    check_shared_output,
    cluster_gpus,
    model_pool,
    side_tasks,
    task_cpus,
)
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.model import ColouriseActor, actor_arguments
from vidcolor.pipeline.ray_logs import init_ray
from vidcolor.pipeline.report import Report
from vidcolor.pipeline.rows import plain
from vidcolor.pipeline.stages import finish_row, join_row, list_batches, load_row, plan_batches
from vidcolor.pipeline.state import config_key

log = logging.getLogger(__name__)

GiB = 1024**3
# Memory hints for the stages that hold frames. They also keep Ray Data from fusing decode into
# the model actor (it would then decode in the model's process, serially with inference).
DECODE_MEMORY = 1 * GiB  # a segment's model-resolution L, decoder buffers, torch
FINISH_MEMORY = 1.5 * GiB  # full-resolution frames of one segment being merged and encoded
JOIN_MEMORY = 0.5 * GiB  # packets stream through; segments of an S3 state are copied to disk
PLAN_ROWS = 4  # files per probe task: a listing of a million files still fans out
LISTING_BLOCK = 64 * 1024


def colourise(inputs: list[str], output: str, config: PipelineConfig | None = None) -> Report:
    """Colourise videos and images named by ``inputs`` into ``output`` on Ray; returns the report
    (also written to ``output/vidcolor-report.json``). Joins ``config.address`` or starts a local
    Ray (and stops it again) when none is running in this process."""
    import ray

    config = config or PipelineConfig()
    check_checkpoint(config)  # a bad checkpoint is one clear error, before any Ray starts
    if not ray.is_initialized() and (why := small_local_run(inputs, config)):
        from vidcolor.pipeline.local import colourise_local

        return colourise_local(inputs, output, config, why=why)
    started_ray = not ray.is_initialized()
    if started_ray:
        # "local": a new local Ray even when /tmp/ray/ray_current_cluster names another (or a
        # dead) cluster; plain ray.init() would try to join that one.
        stop_ray = init_ray(config.address or "local", verbose=config.verbose)
    try:
        check_shared_output(output)
        pool = model_pool(config, *cluster_gpus())
        books = Books(output, config, model=pool.describe())
        books.progress.note(pool.describe())
        try:
            _drive(build_dataset(inputs, output, config, pool), books, config)
        finally:
            report = books.close()
    except VidcolorError:
        raise
    except Exception as err:  # Ray's errors are pages long: one line here, the rest in the log
        log.debug("pipeline failure", exc_info=True)
        lines = [x for x in str(err).splitlines() if x.strip()]
        raise VidcolorError(
            one_line(f"pipeline failed: {type(err).__name__}: {lines[-1] if lines else ''}")
        ) from err
    finally:
        if started_ray:
            stop_ray()  # and Ray's logging back as it was
    return report


def small_local_run(inputs: list[str], config: PipelineConfig) -> str:
    """Why the run goes in-process ('' when it goes on Ray): no cluster asked for (``--address``),
    a few local photos, videos and frame sequences, short in all. Peeks at the start of the
    listing only (a prefix of a million files costs one page) and at the videos' headers."""
    from vidcolor.listing import Lister
    from vidcolor.storage import is_s3, kind_of

    if config.address is not None:
        return ""
    lister = Lister(sequences=config.sequences == "on")
    first = list(islice(lister.iter_inputs(inputs), limits.LOCAL_FILES + 1))
    files = [x for x in first if not x.note and not x.problem]
    if len(first) > limits.LOCAL_FILES or any(is_s3(x.uri) for x in files):
        return ""
    films = [x for x in files if x.sequence or kind_of(x.uri) == "video"]
    seconds = sum(
        x.sequence.length / float(config.sequence_rate())
        if x.sequence
        else _container_seconds(x.uri)
        for x in films
    )  # a sequence's own rate (a DPX header's) is read later; --sequence-fps is near enough
    if seconds > limits.LOCAL_SECONDS:
        return ""
    what = f"{len(films)} film(s) of {seconds:.0f} s, {len(files) - len(films)} photo(s)"
    return f"{what}: in-process, Ray would take longer to start (--address local runs on Ray)"


def _container_seconds(uri: str) -> float:
    """The duration a video's container states: infinite when it states none (it could be
    long), 0 when the file will not open (its probe fails it with one line, here as on Ray)."""
    import av

    try:
        with av.open(uri) as container:
            return container.duration / 1_000_000 if container.duration else float("inf")
    except (av.FFmpegError, OSError):
        return 0.0


def check_checkpoint(config: PipelineConfig) -> None:
    """Read the checkpoint's header and config once on the driver (actors load the weights)."""
    from vidcolor.checkpoint import default_checkpoint, read_config, read_metadata

    uri = config.checkpoint or default_checkpoint()
    read_config(read_metadata(uri), uri)


def build_dataset(
    inputs: list[str],
    output: str,
    config: PipelineConfig,
    pool: ModelPool | None = None,
    *,
    until: str = "write",
):
    """The lazy Ray Dataset of the run (see the module docstring). ``until="plan"`` stops after
    planning, ``"smooth"`` after smoothing (rows then hold the smoothed ab)."""
    import ray

    _configure_ray_data()
    pool = pool or model_pool(config, *cluster_gpus())
    ds = ray.data.range(1)
    # Small blocks: the listing's rows leave it every LISTING_BLOCK bytes (~200 files) instead of
    # at 128 MiB; rows that carry frames are one per block anyway. This dataset's context only.
    ds.context.target_max_block_size = LISTING_BLOCK
    ds = ds.map_batches(
        list_batches,
        fn_kwargs={"inputs": [str(x) for x in inputs], "output": str(output), "config": config},
        batch_size=1,
        batch_format="numpy",
        num_cpus=0,  # waits on storage and on backpressure; must never hold a core
    )
    ds = ds.repartition(target_num_rows_per_block=PLAN_ROWS)  # a probe task per PLAN_ROWS files
    ds = ds.map_batches(
        plan_batches,
        fn_kwargs={"output_root": str(output), "config": config, "config_key": config_key(config)},
        batch_size=1,
        batch_format="numpy",
        # Probing reads packets, not pixels. A logical CPU per probe task would let cheap probes
        # take every CPU the model actor leaves (measured: 1,000 clips all probed before the
        # first decode); instead a few run beside the others, always.
        num_cpus=0,
        compute=ray.data.TaskPoolStrategy(size=side_tasks()),
    )
    ds = ds.repartition(target_num_rows_per_block=1)  # fused: a block (and a task) per segment
    if until == "plan":
        return ds
    cpus = task_cpus(pool, config)
    ds = ds.map(load_row, fn_kwargs={"config": config}, num_cpus=cpus, memory=DECODE_MEMORY)
    ds = ds.map_batches(
        ColouriseActor,
        fn_constructor_kwargs=actor_arguments(config, pool.device, threads=pool.threads),
        compute=ray.data.ActorPoolStrategy(min_size=pool.min_size, max_size=pool.max_size),
        batch_size=1,  # one segment per call: already hundreds of frames, batched inside
        batch_format="numpy",
        num_gpus=pool.gpus,
        num_cpus=1 if pool.gpus else config.cpus_per_actor,
        runtime_env=pool.runtime_env,
    )
    kwargs = {"config": config, "output_root": str(output), "until": until}
    return ds.map(finish_row, fn_kwargs=kwargs, num_cpus=cpus, memory=FINISH_MEMORY)


def _drive(ds, books: Books, config: PipelineConfig) -> None:
    """Consume the small rows; start each video's join as a Ray task as soon as it is ready and
    collect joins as they finish, so the driver never waits on one film while rows queue."""
    import ray

    # Joins copy packets (I/O, little CPU): no logical CPU, or Ray Data's tasks would queue them
    # until the whole dataset is done; at most side_tasks() at once instead.
    join = ray.remote(num_cpus=0, memory=JOIN_MEMORY, max_retries=2)(join_row)
    pending: dict = {}
    limit = side_tasks()
    for row in ds.iter_rows():
        ready = books.consume(plain(row))
        if ready is not None:
            _collect(pending, books, keep=limit - 1)
            pending[join.remote(ready, config, books.output)] = ready["input"]
        _collect(pending, books, keep=len(pending))
    _collect(pending, books, keep=0)


def _collect(pending: dict, books: Books, *, keep: int) -> None:
    """Record finished joins; wait for more while over ``keep`` still running."""
    import ray

    while pending:
        done, _ = ray.wait(list(pending), num_returns=1, timeout=None if len(pending) > keep else 0)
        if not done:
            return
        for ref in done:
            books.joined(pending.pop(ref), ray.get(ref))


def _configure_ray_data() -> None:
    from ray.data import DataContext

    ctx = DataContext.get_current()
    # The driver's tqdm shows frames and fps; Ray Data's per-operator bars would fight it.
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
