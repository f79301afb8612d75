"""`--address` to a cluster that cannot be joined: one line naming the address and the reason, exit
status 2, within 30 s; SIGTERM while waiting to join stops the command within seconds.

The refusing cluster is a real Ray head (``ray start --head --block`` with token authentication, in
its own process group, stopped by the fixture) joined with a wrong token. Every command runs as a
subprocess under its own timeout, so a hang fails the test instead of blocking the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, free_port

BIN = Path(sys.executable).parent
LIMIT_S = 30  # the promise: a refusal is reported within this
HEAD_START_S = 120


def _cli(command: str, address: str, tmp: Path) -> list[str]:
    if command == "colourise":
        args = ["colourise", str(tmp / "film.mp4"), "-o", str(tmp / "out")]
    else:
        args = ["train", "--data", str(tmp), "--output", str(tmp / "run")]
    return [sys.executable, "-m", "vidcolor", *args, "--address", address]


def _client_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _refused(command: str, address: str, tmp: Path, env: dict) -> tuple[str, float]:
    """Run the command against ``address``; the one stderr line and the seconds it took."""
    start = time.monotonic()
    res = subprocess.run(
        _cli(command, address, tmp), capture_output=True, text=True, timeout=90, env=env, cwd=ROOT
    )
    took = time.monotonic() - start
    lines = res.stderr.splitlines()
    assert res.returncode == 2, res.stderr[-3000:]
    assert len(lines) == 1, res.stderr[-3000:]  # Ray's own lines are not on the terminal
    assert lines[0].startswith(f"vidcolor: error: cannot join the Ray cluster at {address}: ")
    assert res.stdout == ""
    assert took < LIMIT_S, f"{took:.1f} s: {lines[0]}"
    return lines[0], took


def _log_named(line: str) -> str:
    match = re.search(r"Ray's messages: (\S+)$", line)
    assert match, line
    path = Path(match.group(1))
    text = path.read_text()
    path.unlink()
    return text


@pytest.mark.parametrize("command", ["colourise", "train"])
def test_dead_address_is_one_line_and_exit_2(command, tmp_path):
    address = f"127.0.0.1:{free_port()}"  # bound and released: nothing listens there
    line, _ = _refused(command, address, tmp_path, _client_env())
    assert "nothing answers there" in line and "Connection refused" in line


@pytest.fixture(scope="module")
def token_head(tmp_path_factory):
    """A local Ray head with token authentication on a free port; yields (address, its token)."""
    tmp = tmp_path_factory.mktemp("head")
    token = secrets.token_hex(32)
    (tmp / "token").write_text(token)
    temp_dir = Path(f"/tmp/vcjoin{os.getpid()}")  # short: Ray's socket paths have a length limit
    env = _client_env(
        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(tmp / "token"), RAY_TMPDIR=str(temp_dir)
    )
    port = free_port()
    log = tmp / "head.log"
    proc = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
         "--include-dashboard=false", f"--temp-dir={temp_dir}", "--disable-usage-stats"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + HEAD_START_S
        while "--block" not in log.read_text():  # printed once the head is up
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray head did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)  # a head drains for up to 30 s; nothing here needs draining
        with contextlib.suppress(ProcessLookupError):  # the whole group: raylet, GCS, workers
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.parametrize("command", ["colourise", "train"])
def test_cluster_refusing_the_token_is_one_line_and_exit_2(command, token_head, tmp_path):
    address, token = token_head
    wrong = secrets.token_hex(32)
    assert wrong != token
    env = _client_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=wrong)
    line, _ = _refused(command, address, tmp_path, env)
    assert "refused this client's auth token" in line
    assert "InvalidAuthToken" in _log_named(line)  # Ray's own words are kept, in the log


def _set_cluster_ray_version(address: str, token: str, version: str) -> str:
    """Rewrite the Ray version the head recorded for joining clients to check; returns the old."""
    code = """if True:
        import json, sys
        import ray._common.usage.usage_constants as usage
        from ray._private import ray_constants
        from ray._raylet import GcsClient
        gcs = GcsClient(address=sys.argv[1])
        key, ns = usage.CLUSTER_METADATA_KEY, ray_constants.KV_NAMESPACE_CLUSTER
        meta = json.loads(gcs.internal_kv_get(key, namespace=ns))
        old, meta["ray_version"] = meta["ray_version"], sys.argv[2]
        gcs.internal_kv_put(key, json.dumps(meta).encode(), True, namespace=ns)
        print(json.dumps(old))
    """
    env = _client_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    res = subprocess.run(
        [sys.executable, "-c", code, address, version],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.splitlines()[-1])


def test_cluster_of_another_ray_version_is_one_line_and_exit_2(token_head, tmp_path):
    address, token = token_head
    old = _set_cluster_ray_version(address, token, "2.59.0")
    try:
        env = _client_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
        line, _ = _refused("colourise", address, tmp_path, env)
    finally:
        _set_cluster_ray_version(address, token, old)
    assert "it runs Ray 2.59.0 on Python" in line and f"this client Ray {old}" in line


class SilentServer:
    """Accepts TCP connections on every interface (Ray dials the machine's own IP for 127.0.0.1)
    and never answers: the GCS handshake waits. Counts connections and sees them closed."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("0.0.0.0", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.conns.append(self.sock.accept()[0])

    def all_closed_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        for conn in list(self.conns):
            while True:
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    if not conn.recv(65536):
                        break  # the peer closed it
                except TimeoutError:
                    return False
                except OSError:
                    break  # reset by the peer
        return True

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def test_address_that_speaks_no_ray_is_one_line_and_exit_2(silent_server, tmp_path):
    address = f"127.0.0.1:{silent_server.port}"
    line, _ = _refused("colourise", address, tmp_path, _client_env())
    assert "it accepts connections but no Ray GCS answers" in line
    assert "Failed to connect to GCS" in _log_named(line)  # Ray's warnings, not on the terminal


def test_sigterm_while_waiting_to_join_stops_within_seconds(silent_server, tmp_path):
    address = f"127.0.0.1:{silent_server.port}"
    proc = subprocess.Popen(
        _cli("colourise", address, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=_client_env(), cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # the TCP check's connection, then the GCS probe's: the command now waits for an answer
        while len(silent_server.conns) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - start
        closed = silent_server.all_closed_within(5)  # the probe's child went with it
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert took < 5, f"{took:.1f} s"
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.splitlines() == ["vidcolor: stopped (SIGTERM)"]
    assert closed, "a connection of the stopped command is still open"


def test_sigterm_raises_keyboard_interrupt_and_the_old_handler_comes_back():
    from vidcolor.cli import StopOnSigterm

    def before(signum, frame):
        raise AssertionError("the old handler ran inside")

    old = signal.signal(signal.SIGTERM, before)
    try:
        stop = StopOnSigterm()
        with pytest.raises(KeyboardInterrupt), stop:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs here, long before the sleep ends
        assert stop.received
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, old)


def test_ray_init_failing_after_the_gcs_answered_is_one_line(monkeypatch):
    import ray

    from vidcolor.pipeline.join import ClusterJoinError, ray_init

    def refuse(**kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.9:6379\nmore lines")

    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(ClusterJoinError) as caught:
        ray_init(address="10.0.0.9:6379")
    assert str(caught.value) == (
        "cannot join the Ray cluster at 10.0.0.9:6379: ray.init failed after its GCS answered "
        "(ConnectionError: Failed to connect to Ray cluster at 10.0.0.9:6379)"
    )
    assert caught.value.exit_code == 2
    with pytest.raises(ConnectionError):  # starting a local Ray is not joining: Ray's own error
        ray_init(address="local")
