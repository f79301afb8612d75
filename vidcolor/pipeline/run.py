"""The Ray Data plan: the one place where the stages are wired onto a cluster.

    segment rows ─ decode (tasks) ─ colourise (actor pool, model loaded once per actor)
                 ─ smooth + encode (tasks, fused) ─ driver: store segment, finalise finished videos

Rows carry one segment's model-resolution L/ab (float16) and then its encoded bytes, so memory is
flat in the length of a film; videos are finished by counting their segments, never by grouping.
"""

from __future__ import annotations

import logging

from vidcolor.errors import UsageError, VidcolorError
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.driver import Run, probe_input
from vidcolor.pipeline.ray_logs import init_ray
from vidcolor.pipeline.report import Report
from vidcolor.pipeline.stages import ColouriseActor, decode_row, encode_row, smooth_row

log = logging.getLogger(__name__)

DECODE_MEMORY = 1024**3  # a decode worker (torch imported, 720p frames) peaks around 600 MiB


def colourise(inputs: list[str], output: str, config: PipelineConfig | None = None) -> Report:
    """Colourise videos and images named by ``inputs`` into ``output`` on Ray; returns the report
    (also written to ``output/vidcolor-report.json``). Joins ``config.address`` or starts a local
    Ray (and stops it again) when none is running in this process."""
    import ray

    config = config or PipelineConfig()
    check_checkpoint(config)  # a bad checkpoint is one clear error, before any Ray starts
    run = Run(inputs, output, config)  # lists inputs first: bad paths fail before Ray starts
    if _few_images_only(run) and not ray.is_initialized():
        # A handful of photos: starting Ray would cost more than colourising them here.
        from vidcolor.pipeline.sequential import execute_in_process

        try:
            execute_in_process(run)
        finally:
            report = run.close()
        return report
    started_ray = not ray.is_initialized()
    if started_ray:
        # "local": a new local Ray even when /tmp/ray/ray_current_cluster names another (or a
        # dead) cluster; plain ray.init() would try to join that one.
        stop_ray = init_ray(config.address or "local", verbose=config.verbose)
    try:
        _configure_ray_data()
        _probe_videos(run)
        rows = run.rows()
        if rows:
            run.start_progress(rows)
            for row in build_dataset(rows, config).iter_rows():
                run.consume(dict(row))
    except VidcolorError:
        raise
    except Exception as err:  # Ray's errors are pages long: one line here, the rest in the log
        log.debug("pipeline failure", exc_info=True)
        lines = [x for x in str(err).splitlines() if x.strip()]
        raise VidcolorError(
            f"pipeline failed: {type(err).__name__}: {lines[-1] if lines else ''}"[:500]
        ) from err
    finally:
        report = run.close()
        if started_ray:
            stop_ray()  # and Ray's logging back as it was
    return report


SMALL_IMAGE_RUN = 8  # at most this many images and no video: no Ray needed


def _few_images_only(run: Run) -> bool:
    return (
        run.config.address is None
        and not run.pending("video")
        and len(run.pending("image")) <= SMALL_IMAGE_RUN
    )


def check_checkpoint(config: PipelineConfig) -> None:
    """Read the checkpoint's header and config once on the driver (actors load the weights)."""
    from vidcolor.checkpoint import default_checkpoint, load_tensors, read_config

    uri = config.checkpoint or default_checkpoint()
    _, metadata = load_tensors(uri)
    read_config(metadata, uri)


def _configure_ray_data() -> None:
    from ray.data import DataContext

    ctx = DataContext.get_current()
    # The driver's tqdm shows frames, fps and ETA; Ray Data's per-operator bars would fight it.
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _probe_videos(run: Run) -> None:
    """Probe every pending video in parallel as Ray tasks (reads packets, not pixels)."""
    import ray

    jobs = run.pending("video")
    probe = ray.remote(num_cpus=1)(probe_input)
    refs = [probe.remote(job.uri, run.config.segment_seconds, run.config.overlap) for job in jobs]
    for job, ref in zip(jobs, refs, strict=True):
        run.add_probe(job, *ray.get(ref))


def actor_pool(config: PipelineConfig) -> tuple[int, int, int]:
    """(min actors, max actors, GPUs per actor) for this cluster and config."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0))
    if config.device == "cuda" and gpus == 0:
        raise UsageError("--device cuda: the Ray cluster has no GPUs")
    use_gpu = config.device != "cpu" and gpus > 0
    if config.num_actors is not None:
        lo = hi = config.num_actors
    else:
        lo = config.min_actors
        hi = config.max_actors or max(lo, gpus if use_gpu else 1)
    return lo, hi, 1 if use_gpu else 0


def build_dataset(rows: list[dict], config: PipelineConfig, *, encode: bool = True):
    """The lazy Ray Dataset over ``rows`` (see module docstring); ``encode=False`` stops after
    smoothing (rows then hold the smoothed ab, which the seam test compares)."""
    import ray

    lo, hi, gpus = actor_pool(config)
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))  # a block per segment
    # The memory hint (about one segment's model-res L plus decoder buffers) also makes decode's
    # remote args differ from the actor's, so Ray Data does not fuse decode into the actor (it
    # would then decode inside the model's process, serially with inference).
    ds = ds.map(decode_row, num_cpus=1, memory=DECODE_MEMORY)
    ds = ds.map_batches(
        ColouriseActor,
        fn_constructor_kwargs={
            "checkpoint": config.checkpoint,
            "device": "cuda" if gpus else "cpu",
            "inception_weights": config.inception_weights,
            "batch_size": config.batch_size,
        },
        compute=ray.data.ActorPoolStrategy(min_size=lo, max_size=hi),
        batch_size=1,  # one segment per call: already hundreds of frames, batched inside
        batch_format="pyarrow",
        num_gpus=gpus,
        num_cpus=1 if gpus else config.cpus_per_actor,
    )
    ds = ds.map(smooth_row, fn_kwargs={"radius": config.smoothing}, num_cpus=1)
    if encode:
        ds = ds.map(
            encode_row,
            fn_kwargs={"codec": config.codec, "crf": config.crf, "preset": config.preset},
            num_cpus=1,
        )
    return ds
