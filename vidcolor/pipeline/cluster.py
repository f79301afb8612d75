"""What the run asks of the Ray cluster: the model actor pool (GPU or CPU, how many), the CPUs of
the decode and finish tasks, how many probe and join tasks run at once, and a check that a local
output directory is one every node writes to."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from vidcolor import storage
from vidcolor.errors import UsageError
from vidcolor.pipeline.config import MAX_GPU_ACTORS, PipelineConfig


@dataclass
class ModelPool:
    gpus: int  # per actor: 1 or 0
    min_size: int
    max_size: int
    why: str  # one line for the user and the report
    threads: int | None = None  # torch threads per CPU actor (None: a GPU pool)

    @property
    def device(self) -> str:
        return "cuda" if self.gpus else "cpu"

    @property
    def runtime_env(self) -> dict | None:
        """A CPU actor's threads wait for each other passively (OpenMP's default spins): they
        share the cores with decode and encode, and a spinning thread holds a core another stage
        could use (2-CPU machine: the run ~5 % faster). The user's own setting wins."""
        if self.gpus:
            return None
        return {"env_vars": {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}}

    def describe(self) -> str:
        lo, hi = self.min_size, self.max_size
        size = f"{lo}" if lo == hi else f"{lo}-{hi}"
        threads = f" of {self.threads} torch threads" if self.threads else ""
        return f"model on {self.device.upper()}: {size} actor(s){threads}, {self.why}"


def model_pool(config: PipelineConfig, gpus_now: float, gpus_possible: float | None) -> ModelPool:
    """The pool for ``config`` on a cluster with ``gpus_now`` GPUs that its autoscaler can grow to
    ``gpus_possible`` (None: no autoscaler). A GPU pool asks for one GPU per actor even when no GPU
    node is up yet: the autoscaler starts them for the pending actors."""
    growable = max(gpus_now, gpus_possible or 0)
    if config.device == "cpu":
        why = "--device cpu"
    elif config.device == "cuda":
        why = "--device cuda"
    elif gpus_now:
        why = f"--device auto: the cluster has {gpus_now:g} GPU(s)"
    elif growable:
        why = f"--device auto: the cluster's autoscaler can start up to {growable:g} GPU(s)"
    else:
        why = "--device auto: the cluster has no GPU and its autoscaler offers none"
    use_gpu = config.device == "cuda" or (config.device == "auto" and growable > 0)
    if config.num_actors is not None:
        lo = hi = config.num_actors
    else:
        lo = config.min_actors
        default_hi = MAX_GPU_ACTORS if use_gpu else lo
        hi = config.max_actors or max(lo, default_hi)
    threads = None if use_gpu else config.cpu_model_threads()
    return ModelPool(gpus=1 if use_gpu else 0, min_size=lo, max_size=hi, why=why, threads=threads)


def task_cpus(pool: ModelPool, config: PipelineConfig) -> float:
    """CPUs per decode and per finish task. Ray Data reserves resources upstream first: when
    the CPUs the model actors leave cannot hold one decode and one finish task at once, finish
    waits until every segment is decoded, and the first output comes at the very end (measured on
    2 CPUs: 61 s into a 100 s run). Half a CPU each lets both run from the start."""
    import ray

    actor_cpus = pool.min_size * (1 if pool.gpus else config.cpus_per_actor)
    return 1.0 if ray.cluster_resources().get("CPU", 0) - actor_cpus >= 2 else 0.5


def side_tasks() -> int:
    """How many probe and join tasks run at once: a quarter of the cluster's CPUs, at least 1."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)) // 4)


def cluster_gpus() -> tuple[float, float | None]:
    """(GPUs in the cluster now, GPUs its autoscaler config allows; None without one)."""
    import ray

    now = float(ray.cluster_resources().get("GPU", 0))
    try:  # the autoscaler's config, as Ray Data reads it itself (no public API in Ray 2.60)
        from ray._private.state import state

        limits = state.get_max_resources_from_cluster_config()
    except Exception:  # noqa: BLE001 - no config, an older/newer Ray: treat as no autoscaler
        limits = None
    return now, (float(limits.get("GPU", 0)) if limits else None)


def check_shared_output(output: str) -> None:
    """A local OUT on a cluster of several nodes must be one filesystem that every node sees
    (NFS, EFS, ...): workers write segments and outputs there. One line when a node cannot."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if storage.is_s3(output) or len(nodes) < 2:
        return
    marker = storage.safe_join(output, f".vidcolor-state/node-check-{uuid.uuid4().hex}")
    storage.write_bytes_atomic(marker, b"")
    try:
        sees = ray.remote(num_cpus=0)(_exists)
        refs = {
            n["NodeManagerAddress"]: sees.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(marker)
            for n in nodes
        }
        blind = [addr for addr, ref in refs.items() if not ray.get(ref, timeout=60)]
    finally:
        _remove(marker)
    if blind:
        raise UsageError(
            f"{output}: a local output directory must be shared by every node of the cluster, "
            f"and node(s) {', '.join(sorted(blind))} do not see it; use s3:// or a shared filesystem"
        )


def _exists(uri: str) -> bool:
    return storage.exists(uri)


def _remove(uri: str) -> None:
    import os

    try:
        os.remove(storage.filesystem_for(uri)[1])
    except OSError:
        pass
