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
def ray_head(tmp_path, monkeypatch):
    """A local Ray head with its job API on a free loopback port; stopped by the test.
    Token authentication on (Ray's default for `ray start`), with a token made for this test and
    handed to both the head and this client."""
    token = tmp_path / "auth_token"
    token.write_text(secrets.token_hex(32))
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    # the job's `python` is whatever the head's PATH finds first: this venv, as on an installed node
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    gcs, dash = free_port(), free_port()
    temp_dir = Path(f"/tmp/vcj{os.getpid()}")  # short: Ray's unix socket paths have a length limit
    proc = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={gcs}", "--num-cpus=2",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
         f"--temp-dir={temp_dir}", "--disable-usage-stats"],
        stdout=open(tmp_path / "head.log", "w"), stderr=subprocess.STDOUT,
        start_new_session=True,
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
        yield url
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


def test_ray_job_submit_colourise(ray_head, tmp_path, bigbuckbunny):
    from ray.job_submission import JobStatus, JobSubmissionClient

    clip = cut_clip(bigbuckbunny, tmp_path / "reel.mp4", seconds=1.2, width=320, gop=10, audio=True)
    out = tmp_path / "colour"
    client = JobSubmissionClient(ray_head)
    submit_deadline = time.monotonic() + 90
    while True:  # the job API answers a little before the node's job agent is ready
        try:
            job = client.submit_job(
                entrypoint=f"python jobs/colourise.py {clip} -o {out} --segment-seconds 0.5 --quiet",
                runtime_env={"working_dir": str(ROOT), "excludes": ["benchmarks/", "docs/"]},
            )
            break
        except RuntimeError as err:
            if "No available agent" not in str(err) or time.monotonic() > submit_deadline:
                raise
            time.sleep(2)
    deadline = time.monotonic() + 420
    status = client.get_job_status(job)
    while status not in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}:
        assert time.monotonic() < deadline, "job did not finish in 7 minutes"
        time.sleep(2)
        status = client.get_job_status(job)
    logs = client.get_job_logs(job)
    assert status == JobStatus.SUCCEEDED, "job failed, log tail:\n" + logs[-4000:]
    check_video(clip, out / "reel.mp4", audio=True)  # ffprobe: frames, times, audio, L, chroma
    report = json.loads((out / "vidcolor-report.json").read_text())
    assert [r["status"] for r in report["inputs"]] == ["ok"]
