"""How many CPUs each Ray Train worker takes, so that Ray Data's loading tasks can still run.

Ray Data's budget is the cluster minus what the Train workers reserve: workers that take every CPU
leave it 0 CPU and training waits forever for its first batch, silently. So ``DATA_CPUS`` is always
left free, the loading tasks are sized to fit in what is left, and a request that cannot fit is
refused at once with one line. The check is against the cluster as it is when training starts (an
autoscaling cluster that would grow later is not waited for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vidcolor.errors import UsageError

DATA_CPUS = 0.5  # kept free for Ray Data's decode/crop tasks
MIN_WORKER_CPUS = 0.25  # below this a worker would crawl: refuse rather than size that small
DEFAULT_WORKER_CPUS = 1.0  # what a worker takes when --cpus-per-worker is not given and it fits


@dataclass(frozen=True)
class ResourcePlan:
    cpus_per_worker: float  # reserved by each Train worker
    data_task_cpus: float  # reserved by each Ray Data loading task (<= 1)


def plan_resources(
    workers: int, cpus_per_worker: float | None, gpu: bool, cluster: dict[str, float]
) -> ResourcePlan:
    """Resources for ``workers`` workers on a cluster with ``cluster`` totals (ray.cluster_resources).

    ``cpus_per_worker`` None: 1 CPU each, or less when that would leave under ``DATA_CPUS`` for
    data (2 workers on 2 CPUs get 0.75 each). Given explicitly, it is kept or refused.
    """
    total_cpus = float(cluster.get("CPU", 0.0))
    if gpu and cluster.get("GPU", 0.0) < workers:
        raise UsageError(
            f"--workers {workers} --gpu needs {workers} GPU(s); "
            f"the Ray cluster has {cluster.get('GPU', 0.0):g}"
        )
    if cpus_per_worker is None:
        fits = math.floor((total_cpus - DATA_CPUS) / workers * 100) / 100  # whole 0.01s
        cpus = min(DEFAULT_WORKER_CPUS, fits)
        if cpus < MIN_WORKER_CPUS:
            raise UsageError(
                f"--workers {workers}: the Ray cluster has {total_cpus:g} CPU(s), too few for "
                f"{workers} workers of >= {MIN_WORKER_CPUS:g} CPU plus {DATA_CPUS:g} for data "
                "loading; use fewer --workers"
            )
    else:
        cpus = cpus_per_worker
        needed = workers * cpus + DATA_CPUS
        if cpus <= 0 or needed > total_cpus + 1e-9:
            raise UsageError(
                f"--workers {workers} x --cpus-per-worker {cpus:g} + {DATA_CPUS:g} CPU for data "
                f"loading needs {needed:g} CPU(s) but the Ray cluster has {total_cpus:g}; "
                "lower --cpus-per-worker or --workers (or leave --cpus-per-worker out)"
            )
    spare = total_cpus - workers * cpus
    # Two loading tasks at once at least; one CPU each when there is room.
    return ResourcePlan(cpus_per_worker=cpus, data_task_cpus=min(1.0, spare / 2))
