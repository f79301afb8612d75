"""Issue 12: the archive-scale data path. Workers write every output byte, S3 outages are ridden
out, and planning a long film does not grow the driver."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_helpers import check_video, cut_clip, tiny_checkpoint, write_photo
from tcp_proxy import FlakyProxy

from vidcolor import storage
from vidcolor.pipeline import PipelineConfig, colourise
from vidcolor.pipeline.run import build_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "g.safetensors")


def _written_bytes() -> int:
    """Bytes this process passed to write(2) and friends so far (files, pipes, terminals)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no wchar line")


def _own_ray_log_bytes() -> int:
    """Bytes in the Ray log files this process writes (its core worker's log): Ray's own lines,
    which grow with the run's length (under load, by tens of kilobytes), not output."""
    import ray

    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    return sum(p.stat().st_size for p in logs.glob(f"*_{os.getpid()}.log"))


def test_workers_write_every_output_byte(
    tmp_path, bikes, real_photos, ckpt, ray_local, monkeypatch, capfd
):
    src = tmp_path / "in"
    for i in range(3):
        cut_clip(bikes, src / f"reel{i}.mp4", seconds=1.2, width=320, gop=10, audio=False)
    write_photo(real_photos["coffee"], src / "photo.png", width=600)
    published = []  # every output the driver itself publishes
    real = storage.atomic_output

    def spy(uri):
        published.append(uri)
        return real(uri)

    monkeypatch.setattr(storage, "atomic_output", spy)
    out = tmp_path / "out"
    config = PipelineConfig(
        checkpoint=str(ckpt), model_size=64, segment_seconds=0.4, progress=False
    )
    capfd.readouterr()
    before, logs_before = _written_bytes(), _own_ray_log_bytes()
    report = colourise([str(src)], str(out), config)
    # Log lines are not output: Ray's own log and warnings grow with how long the run takes (a
    # full suite under load once put the driver at 5.1 %, a run beside 2 busy loops at 8 %).
    terminal = sum(len(text.encode()) for text in capfd.readouterr())
    logs = _own_ray_log_bytes() - logs_before
    driver_bytes = _written_bytes() - before - terminal - logs

    assert report.totals()["ok"] == 4, [r.error for r in report.inputs]
    output_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    # the driver wrote the report only (JSON and its page); thumbnails come from the workers
    assert published == [str(out / "vidcolor-report.json"), str(out / "vidcolor-report.html")]
    assert len(list((out / "vidcolor-report" / "thumbs").glob("*.jpg"))) == 4
    report_bytes = (out / "vidcolor-report.json").stat().st_size
    assert driver_bytes < 0.05 * output_bytes, (driver_bytes, output_bytes)
    assert output_bytes > 20 * report_bytes  # so the 5 % above means something
    check_video(src / "reel0.mp4", out / "reel0.mp4", audio=False)


def test_s3_outage_mid_run_still_completes(tmp_path, bikes, ckpt, s3_env, moto_server):
    """The S3 endpoint goes away for 4 s (connections refused and reset) once the first segment is
    in the state directory; retries with backoff carry the run through."""
    clips = [
        cut_clip(bikes, tmp_path / f"c{i}.mp4", seconds=1.2, width=160, gop=6, audio=False)
        for i in range(2)
    ]
    s3_env.create_bucket(Bucket="films")
    for clip in clips:
        s3_env.upload_file(str(clip), "films", f"bw/{clip.name}")
    proxy = FlakyProxy(int(moto_server.rsplit(":", 1)[1]))
    env = {**dict(__import__("os").environ), "AWS_ENDPOINT_URL": proxy.url}
    args = ["colourise", "s3://films/bw/", "-o", "s3://films/colour", "--checkpoint", str(ckpt)]
    args += ["--model-size", "64", "--segment-seconds", "0.24", "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidcolor", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            listed = s3_env.list_objects_v2(Bucket="films", Prefix="colour/.vidcolor-state/")
            if any("/seg-" in o["Key"] for o in listed.get("Contents", [])):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before the outage"
        proxy.outage(4.0)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()
    assert proxy.outages == 1
    assert proc.returncode == 0, stderr[-2000:]
    assert "2 ok, 0 skipped, 0 failed" in stdout
    for clip in clips:
        local = tmp_path / f"out-{clip.name}"
        s3_env.download_file("films", f"colour/{clip.name}", str(local))
        check_video(clip, local, audio=False)


def _count_rows(ds) -> int:
    return sum(1 for _ in ds.iter_rows())


def plan_rows_peaks(films: list[str], outs: list[str], gcs_address: str) -> list[list[int]]:
    """Run by traced.in_child, a driver joined to the test session's Ray: for each film, the
    rows of its plan and the peak bytes the driver held while they streamed through it. The
    first film is planned once before, unmeasured: Ray Data's first-call allocations."""
    import functools

    import ray
    from traced import peak

    ray.init(address=gcs_address, log_to_driver=False)
    config = PipelineConfig(model_size=64, segment_seconds=10, progress=False)
    _count_rows(build_dataset([films[0]], f"{outs[0]}-warm-up", config, until="plan"))
    found = []
    for src, out in zip(films, outs, strict=True):
        ds = build_dataset([src], out, config, until="plan")
        found.append(list(peak(functools.partial(_count_rows, ds))))
    return found


def test_planning_a_two_hour_film_does_not_grow_the_driver(tmp_path, ray_local):
    from traced import in_child

    films = {}
    for name, seconds in (("short", 120), ("long", 7200)):
        films[name] = tmp_path / f"{name}.mp4"
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi"]
        cmd += ["-i", f"testsrc2=size=32x32:rate=24:duration={seconds}", "-c:v", "libx264"]
        cmd += ["-preset", "ultrafast", "-g", "240", "-pix_fmt", "yuv420p", str(films[name])]
        subprocess.run(cmd, check=True, timeout=300)
    gcs = ray_local.get_runtime_context().gcs_address
    sources = [str(films["short"]), str(films["long"])]
    outs = [str(tmp_path / "o1"), str(tmp_path / "o2")]
    found = in_child("test_pipeline_scale:plan_rows_peaks", sources, outs, gcs)
    (short_rows, short_peak), (long_rows, long_peak) = found
    assert (short_rows, long_rows) == (12, 720)  # one row per 10 s segment
    # 60x the frames (172,800): the driver's peak stays about the same (rows stream through).
    assert long_peak < 1.5 * short_peak + (1 << 20), (short_peak, long_peak)
