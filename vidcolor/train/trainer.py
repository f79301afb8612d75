"""The driver side: data sets, a Ray Train ``TorchTrainer`` run, and the exported generator.

Checkpoints live under ``OUTPUT/NAME/`` (Ray Train's run directory, local or S3); a run with the
same output and name continues from its latest checkpoint (``--resume``; Ray Train restores it), and
``FailureConfig(max_failures)`` restarts crashed workers from the latest checkpoint within one run.
The final generator is copied to ``OUTPUT/generator.safetensors``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlparse

import pyarrow.fs as pafs

from vidcolor import storage
from vidcolor.errors import UsageError, VidcolorError
from vidcolor.train.config import TrainConfig
from vidcolor.train.state import GENERATOR_FILE
from vidcolor.train.worker import train_loop_per_worker

EXPORT_FILE = "generator.safetensors"
# Forwarded to workers so they reach the same S3 endpoint as the driver (values never printed).
_FORWARDED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


@dataclass
class TrainResult:
    generator_uri: str  # OUTPUT/generator.safetensors
    checkpoint_path: str  # the latest Ray Train checkpoint (path inside its filesystem)
    metrics: dict


def run_storage(output: str) -> tuple[str, pafs.FileSystem | None]:
    """(storage_path, storage_filesystem) for RunConfig: S3 goes through our filesystem so an
    ``AWS_ENDPOINT_URL`` (MinIO, moto) is honoured; local paths are made absolute."""
    if storage.is_s3(output):
        _, path = storage.filesystem_for(output)
        return path.rstrip("/"), _explicit_s3_filesystem()
    return os.path.abspath(os.path.expanduser(output)), None


def _explicit_s3_filesystem() -> pafs.S3FileSystem:
    # Ray pickles this filesystem into its controller and workers, which may have been started
    # before the driver's AWS environment was set: carry endpoint and keys in the object itself
    # (never printed) rather than relying on each process's default credential chain.
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    kwargs: dict = {
        "region": os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    }
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        kwargs.update(endpoint_override=parsed.netloc, scheme=parsed.scheme)
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        kwargs.update(
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            session_token=os.environ.get("AWS_SESSION_TOKEN"),
        )
    return pafs.S3FileSystem(**kwargs)


def _run_has_checkpoints(output: str, name: str) -> bool:
    fs, path = storage.filesystem_for(storage.safe_join(output, name))
    try:
        entries = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    except OSError as err:
        raise VidcolorError(f"{output}: cannot list ({err})") from err
    return any(e.base_name.startswith("checkpoint_") for e in entries)


def _forwarded_env() -> dict[str, str]:
    from vidcolor.train.data import QUIET_RAY_DATA_ENV

    return {**QUIET_RAY_DATA_ENV, **{k: os.environ[k] for k in _FORWARDED_ENV if os.environ.get(k)}}


def _check_resume(cfg: TrainConfig) -> None:
    """A run directory with checkpoints is continued only on --resume, and --resume needs one."""
    existing = _run_has_checkpoints(cfg.output, cfg.name)
    if existing and not cfg.resume:
        raise VidcolorError(
            f"{storage.safe_join(cfg.output, cfg.name)}: already holds a training run; "
            "pass --resume to continue it or choose another --name"
        )
    if cfg.resume and not existing:
        raise VidcolorError(
            f"{storage.safe_join(cfg.output, cfg.name)}: --resume given but no checkpoint found"
        )


def _run_config(cfg: TrainConfig):
    import ray.train

    storage_path, storage_fs = run_storage(cfg.output)
    return ray.train.RunConfig(
        name=cfg.name,
        storage_path=storage_path,
        storage_filesystem=storage_fs,
        failure_config=ray.train.FailureConfig(max_failures=cfg.max_failures),
        checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.keep_checkpoints),
        worker_runtime_env={"env_vars": _forwarded_env()},
        # Ray Train's INFO lines repeat each report's whole metrics dict per rank; rank 0's
        # one line per report (worker.py) says it shorter. Warnings and errors still show.
        logging_config=ray.train.LoggingConfig(log_level="WARNING"),
    )


def build_trainer(cfg: TrainConfig, train_loop: Callable[[dict], None] = train_loop_per_worker):
    """A ready ``TorchTrainer`` for ``cfg`` (data sets listed and split; nothing trained yet).
    ``train_loop`` is what each worker runs (tests wrap the worker's loop, e.g. to kill a worker)."""
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    from vidcolor.train.data import DataConfig, build_datasets, list_sources, quiet_ray_data
    from vidcolor.train.resources import plan_resources

    if not cfg.data:
        raise UsageError("train: give at least one --data source")
    # First, before any listing or decoding: a request the cluster cannot run is refused in
    # seconds instead of waiting forever for data (see vidcolor/train/resources.py).
    plan = plan_resources(cfg.workers, cfg.cpus_per_worker, cfg.gpu, ray.cluster_resources())
    cfg = replace(cfg, cpus_per_worker=plan.cpus_per_worker)
    quiet_ray_data()
    _check_resume(cfg)
    data_config = DataConfig(
        image_size=cfg.image_size,
        heldout_fraction=cfg.heldout_fraction,
        min_chroma_std=cfg.min_chroma_std,
        frames_per_video=cfg.frames_per_video,
        crops_per_image=cfg.crops_per_image,
        dark_fraction=cfg.dark_fraction,
        task_cpus=plan.data_task_cpus,
    )
    validation = list_sources(cfg.validation) if cfg.validation else None
    datasets = build_datasets(list_sources(cfg.data), data_config, validation)
    resources = {"CPU": cfg.cpus_per_worker}
    if cfg.gpu:
        resources["GPU"] = 1
    return TorchTrainer(
        train_loop,
        train_loop_config=cfg.to_dict(),
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.workers, use_gpu=cfg.gpu, resources_per_worker=resources
        ),
        run_config=_run_config(cfg),
        datasets=datasets,
        # Held-out rows are scored whole on rank 0; only the training set is split across workers.
        dataset_config=ray.train.DataConfig(datasets_to_split=["train"]),
    )


def export_generator(checkpoint, output: str) -> str:
    """Copy the checkpoint's standalone generator to ``OUTPUT/generator.safetensors``."""
    uri = storage.safe_join(output, EXPORT_FILE)
    with checkpoint.as_directory() as directory:
        with open(os.path.join(directory, GENERATOR_FILE), "rb") as f:
            storage.write_bytes_atomic(uri, f.read())
    return uri


def run_training(
    cfg: TrainConfig, train_loop: Callable[[dict], None] = train_loop_per_worker
) -> TrainResult:
    """Train per ``cfg`` on the Ray cluster this process is connected to; export the generator.
    ``train_loop``: as for ``build_trainer``."""
    trainer = build_trainer(cfg, train_loop)
    try:
        result = trainer.fit()
    except Exception as err:  # ray.train.TrainingFailedError wraps the worker's exception
        raise VidcolorError(f"training failed: {' '.join(str(err).split())[:500]}") from err
    if result.checkpoint is None:
        raise VidcolorError("training produced no checkpoint (no training batch: too little data?)")
    uri = export_generator(result.checkpoint, cfg.output)
    return TrainResult(
        generator_uri=uri, checkpoint_path=result.checkpoint.path, metrics=dict(result.metrics)
    )
