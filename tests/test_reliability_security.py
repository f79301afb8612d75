"""Issue 9.3: pickle checkpoints refused at the CLI, outputs never escape the output root, secrets
never echoed, and S3 credentials really checked (a moto_server with authentication on).

The library-level pickle refusal is tests/test_checkpoint.py ``test_pickle_renamed_safetensors_is_
refused``; here the same payload goes through ``vidcolor colourise --checkpoint``."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import free_port
from pipeline_helpers import cut_clip, tiny_checkpoint, write_photo

ROOT = Path(__file__).resolve().parents[1]
FAKE_SECRET = "FAKE-SECRET-vidcolor-7f3a9c1e-do-not-print"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "g.safetensors")


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


class TouchPayload:
    """Unpickling this creates a file: proof of code execution, harmless otherwise."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_checkpoint_is_refused_by_the_cli(tmp_path, real_photos, run_cli):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(TouchPayload(marker)))
    photo = write_photo(real_photos["coffee"], tmp_path / "in.png", width=96)
    res = run_cli("colourise", photo, "-o", tmp_path / "out", "--checkpoint", evil)
    assert res.returncode == 1
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith(f"vidcolor: error: {evil}: not a safetensors checkpoint")
    ), res.stderr
    assert "Traceback" not in res.stderr
    assert not marker.exists()  # the payload never ran
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_local_inputs_with_dotdot_stay_inside_the_output(tmp_path, real_photos, ckpt, run_cli):
    """A glob whose match climbs out of its base with '..' would map to '../outside/x.png' under
    OUT: refused in the report; an explicit 'a/../b' path is just a file and lands inside OUT."""
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    write_photo(real_photos["coffee"], tmp_path / "outside" / "x.png", width=64)
    write_photo(real_photos["chelsea"], tmp_path / "in" / "cat.png", width=64)
    out = tmp_path / "work" / "out"
    before = files_under(tmp_path)
    glob_escape = f"{tmp_path}/in/*/../../outside/*.png"
    dotted = f"{tmp_path}/in/sub/../cat.png"
    res = run_cli("colourise", glob_escape, dotted, "-o", out, "--checkpoint", ckpt)
    assert res.returncode == 1, res.stderr
    report = json.loads((out / "vidcolor-report.json").read_text())
    by_status = {r["status"]: r for r in report["inputs"]}
    assert set(by_status) == {"ok", "failed"}
    assert "escapes the output root" in by_status["failed"]["error"]
    assert by_status["ok"]["output"] == str(out / "cat.png")
    new = files_under(tmp_path) - before
    report = {"work/out/vidcolor-report.json", "work/out/vidcolor-report.html"}
    assert new == {"work/out/cat.png", "work/out/vidcolor-report/thumbs/cat.png.jpg"} | report, new


def test_s3_keys_with_dotdot_or_leading_slash_stay_inside_the_prefix(
    tmp_path, real_photos, ckpt, s3_env, run_cli
):
    s3 = s3_env
    s3.create_bucket(Bucket="films")
    s3.create_bucket(Bucket="coloured")
    photo = write_photo(real_photos["coffee"], tmp_path / "p.png", width=64)
    body = photo.read_bytes()
    keys = ["bw/good.png", "bw/a/../../escape.png", "bw//abs.png"]
    for key in keys:
        s3.put_object(Bucket="films", Key=key, Body=body)
    stored = {o["Key"] for o in s3.list_objects_v2(Bucket="films")["Contents"]}
    assert stored == set(keys)  # moto keeps the keys verbatim: the test really has them

    res = run_cli("colourise", "s3://films/bw/", "-o", "s3://coloured/run/", "--checkpoint", ckpt)
    assert res.returncode == 1, res.stderr
    report = json.loads(
        s3.get_object(Bucket="coloured", Key="run/vidcolor-report.json")["Body"].read()
    )
    status = {r["input"]: (r["status"], r["error"]) for r in report["inputs"]}
    assert status["s3://films/bw/good.png"] == ("ok", None)
    assert status["s3://films/bw/a/../../escape.png"][0] == "failed"
    assert "escapes the output root" in status["s3://films/bw/a/../../escape.png"][1]
    assert status["s3://films/bw//abs.png"][0] == "failed"
    assert "must be relative" in status["s3://films/bw//abs.png"][1]
    out_keys = {o["Key"] for o in s3.list_objects_v2(Bucket="coloured")["Contents"]}
    report_keys = {"run/vidcolor-report.json", "run/vidcolor-report.html"}
    assert out_keys == {"run/good.png", "run/vidcolor-report/thumbs/good.png.jpg"} | report_keys
    assert {o["Key"] for o in s3.list_objects_v2(Bucket="films")["Contents"]} == set(keys)


# --- a moto_server that checks credentials ----------------------------------------------------


@pytest.fixture(scope="module")
def auth_s3(tmp_path_factory):
    """A second moto_server whose first 3 requests are unauthenticated (they create an IAM user,
    its s3:* policy and its access key); every later request must be signed with that key."""
    import boto3

    port = free_port()
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        anon = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", **anon)
        iam.create_user(UserName="archivist")
        iam.put_user_policy(
            UserName="archivist",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="archivist")["AccessKey"]
        creds = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=creds["id"],
            aws_secret_access_key=creds["secret"],
        )
        s3.create_bucket(Bucket="vault")
        yield {"url": url, "s3": s3, **creds}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def s3_env_for(url: str, key_id: str, secret: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


def test_moto_really_checks_credentials(auth_s3):
    import boto3
    from botocore.exceptions import ClientError

    bad = boto3.client(
        "s3",
        endpoint_url=auth_s3["url"],
        region_name="us-east-1",
        aws_access_key_id=auth_s3["id"],
        aws_secret_access_key=FAKE_SECRET,
    )
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        bad.list_objects_v2(Bucket="vault")
    auth_s3["s3"].list_objects_v2(Bucket="vault")  # the right secret works


def test_right_secret_works_through_colourise(auth_s3, real_photos, ckpt, tmp_path):
    photo = write_photo(real_photos["chelsea"], tmp_path / "cat.png", width=64)
    auth_s3["s3"].upload_file(str(photo), "vault", "ok/cat.png")
    env = s3_env_for(auth_s3["url"], auth_s3["id"], auth_s3["secret"])
    res = subprocess.run(
        [sys.executable, "-m", "vidcolor", "colourise", "s3://vault/ok/", "-o", "s3://vault/out/"]
        + ["--checkpoint", str(ckpt), "--model-size", "64"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    keys = {o["Key"] for o in auth_s3["s3"].list_objects_v2(Bucket="vault")["Contents"]}
    assert {"out/cat.png", "out/vidcolor-report.json"} <= keys


def test_wrong_secret_is_refused_and_never_echoed(auth_s3, bikes, ckpt, tmp_path):
    """A wrong secret in AWS_SECRET_ACCESS_KEY: the S3 input fails with a clear one-line error, the
    local video beside it still finishes on Ray, and the secret appears nowhere: not in stdout,
    stderr, the report, the output tree, nor any Ray log of the run (a private RAY_TMPDIR)."""
    auth_s3["s3"].put_object(Bucket="vault", Key="reels/r1.mp4", Body=b"x" * 100)
    clip = cut_clip(
        bikes, tmp_path / "in" / "bikes.mp4", seconds=0.8, width=96, gop=10, audio=False
    )
    out = tmp_path / "out"
    ray_tmp = tempfile.mkdtemp(prefix="vc-ray-", dir="/tmp")
    env = s3_env_for(auth_s3["url"], auth_s3["id"], FAKE_SECRET) | {"RAY_TMPDIR": ray_tmp}
    try:
        cmd = [sys.executable, "-m", "vidcolor", "colourise", "--checkpoint", str(ckpt)]
        cmd += ["--model-size", "64", "s3://vault/reels/"]
        runs = [  # local output, a local video beside, on Ray; then S3 output (report fails)
            subprocess.run(
                cmd + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
            )
            for args in (
                [str(clip), "-o", str(out), "--address", "local"],  # else in-process: short
                ["-o", "s3://vault/colour/"],
            )
        ]
        local_run, s3_run = runs
        assert local_run.returncode == 1, local_run.stderr
        report = json.loads((out / "vidcolor-report.json").read_text())
        status = {r["input"]: r for r in report["inputs"]}
        assert status[str(clip)]["status"] == "ok"
        error = status["s3://vault/reels/"]["error"]
        assert error.startswith("s3://vault/reels/: cannot list") and "\n" not in error, error
        # HeadObject replies carry no body, so the reason reads ACCESS_DENIED (not the signature)
        assert "ACCESS_DENIED" in error or "SignatureDoesNotMatch" in error, error
        assert f"vidcolor: error: {error}" in local_run.stderr

        assert s3_run.returncode == 1
        last = s3_run.stderr.strip().splitlines()[-1]
        assert last.startswith("vidcolor: error: s3://vault/colour/"), s3_run.stderr

        texts = [r.stdout + r.stderr for r in runs]
        texts += [p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()]
        ray_logs = [p for p in Path(ray_tmp).rglob("*") if p.is_file() and not p.is_socket()]
        assert any(p.suffix in (".log", ".out", ".err") for p in ray_logs)  # Ray did log
        texts += [p.read_bytes().decode(errors="replace") for p in ray_logs]
        assert not [t for t in texts if FAKE_SECRET in t]
        assert not any(FAKE_SECRET[:16] in t for t in texts)  # not even a prefix
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
