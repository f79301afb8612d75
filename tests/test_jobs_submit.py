"""A real Ray client: start a local head, `ray job submit` jobs/colourise.py, check the output.

The head runs in its own process group (``ray start --block``) so the test stops exactly what it
started and never touches the session's other Ray instance. Bounded in time; cleans up.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, free_port
from pipeline_helpers import check_video, cut_clip

BIN = Path(sys.executable).parent


@pytest.fixture
def ray_head(tmp_path):
    """A local Ray head with its job API on a free loopback port; stopped by the test. Yields
    (job API url, env for Ray CLI clients). Token authentication is on (Ray's default for
    `ray start`), with a token made for this test; clients run as subprocesses because Ray caches
    its auth settings per process."""
    token = tmp_path / "auth_token"
    token.write_text(secrets.token_hex(32))
    temp_dir = Path(f"/tmp/vcj{os.getpid()}")  # short: Ray's unix socket paths have a length limit
    # RAY_TMPDIR keeps this cluster's address file out of /tmp/ray, where a plain ray.init() of
    # another test would find it and try to join.
    env = dict(
        os.environ,
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
        RAY_TMPDIR=str(temp_dir),
    )
    # the job's `python` is whatever the head's PATH finds first: this venv, as on an installed node
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    gcs, dash = free_port(), free_port()
    proc = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={gcs}", "--num-cpus=2",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
         f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}",
         f"--temp-dir={temp_dir}", "--disable-usage-stats"],
        stdout=open(tmp_path / "head.log", "w"), stderr=subprocess.STDOUT,
        start_new_session=True, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{dash}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/version", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # answering (Ray 2.60 asks for its auth token): the job API is up
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "ray head did not start: " + (tmp_path / "head.log").read_text()[-2000:]
                    ) from None
                time.sleep(1)
        yield url, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)  # a head drains for up to 30 s; nothing here needs draining
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):  # the whole group: raylet, GCS, workers
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _agent_log(env: dict) -> str:
    logs = sorted(Path(env["RAY_TMPDIR"]).glob("session_*/logs/dashboard_agent*"))
    return "".join(f"\n--- {p}\n" + p.read_text()[-3000:] for p in logs)


def test_ray_job_submit_colourise(ray_head, tmp_path, bigbuckbunny):
    url, env = ray_head
    clip = cut_clip(bigbuckbunny, tmp_path / "reel.mp4", seconds=1.2, width=320, gop=10, audio=True)
    out = tmp_path / "colour"
    job_id = f"vidcolor-test-{secrets.token_hex(4)}"
    submit = [str(BIN / "ray"), "job", "submit", f"--address={url}", f"--submission-id={job_id}",
              f"--working-dir={ROOT}", "--no-wait", "--",
              "python", "jobs/colourise.py", str(clip), "-o", str(out),
              "--segment-seconds", "0.5", "--quiet"]  # fmt: skip
    deadline = time.monotonic() + 240  # generous: the agent is slow to start on a loaded machine
    while True:  # the job API answers a little before the node's job agent is ready
        res = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=120)
        if res.returncode == 0 or time.monotonic() > deadline:
            break
        assert "No available agent" in res.stdout + res.stderr, res.stdout + res.stderr
        time.sleep(2)
    assert res.returncode == 0, res.stdout + res.stderr + _agent_log(env)

    def ray_job(*args: str) -> str:
        cmd = [str(BIN / "ray"), "job", *args, f"--address={url}", job_id]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        return res.stdout + res.stderr  # Ray's CLI logs its answers to stderr

    def final_state() -> str | None:  # `ray job status` ends with "Job '<id>' succeeded" etc.
        text = ray_job("status").lower()
        return next(
            (w for w in ("succeeded", "failed", "stopped") if f"'{job_id}' {w}" in text), None
        )

    deadline = time.monotonic() + 420
    while (state := final_state()) is None:
        assert time.monotonic() < deadline, "job did not finish in 7 minutes:\n" + ray_job("logs")
        time.sleep(2)
    assert state == "succeeded", "job " + state + ", log tail:\n" + ray_job("logs")[-4000:]
    check_video(clip, out / "reel.mp4", audio=True)  # ffprobe: frames, times, audio, L, chroma
    report = json.loads((out / "vidcolor-report.json").read_text())
    assert [r["status"] for r in report["inputs"]] == ["ok"]
