"""Issue 9.2: faults survived. Every fault runs in its own subprocess (its own Ray, killed by a
timeout if it hangs) so the session's shared ``ray_local`` is never disturbed.

Covered elsewhere, not repeated here (docs/reliability.md points at them):
- driver killed mid-run, rerun redoes no finished segment: tests/test_pipeline_cli.py
  ``test_killed_run_resumes_without_redoing_segments``
- training worker killed, training resumes from the last checkpoint: tests/test_train_ray.py
  ``test_killed_worker_is_recovered_from_the_last_checkpoint``
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from pipeline_helpers import cut_clip, ffprobe, framemd5, tiny_checkpoint, write_photo

from vidcolor.pipeline import PipelineConfig, colourise

ROOT = Path(__file__).resolve().parents[1]

# Runs colourise under a fault. argv: mode src out ckpt. A watcher thread waits until the first
# segment is stored in the resume state (so the fault lands mid-run), injects the fault once, and
# records when; the run must then finish on its own. Prints one JSON line with what happened.
FAULT_SCRIPT = r"""
import json, os, sys, threading, time
from pathlib import Path
import psutil, ray
from vidcolor.pipeline import PipelineConfig, colourise

mode, src, out, ckpt = sys.argv[1:5]
if mode == "kill-actor":
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
else:  # remove-node: a head and one worker node, in this process
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    worker = cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
fault = {}

def stored():
    return len(list(Path(out).glob(".vidcolor-state/*/seg-*.mkv")))

def inject():
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not fault:
        if stored() >= 1:
            if mode == "kill-actor":
                for p in psutil.Process().children(recursive=True):  # only our own Ray's processes
                    try:
                        title = " ".join(p.cmdline())
                    except psutil.Error:
                        continue
                    if "ColouriseActor" in title:
                        p.kill()
                        fault.setdefault("killed", []).append(title)
            else:
                cluster.remove_node(worker)
                fault["removed"] = worker.node_id
            if fault:
                fault["stored_before"] = stored()
        time.sleep(0.02)

threading.Thread(target=inject, daemon=True).start()
config = PipelineConfig(checkpoint=ckpt, model_size=64, segment_seconds=0.4, codec="ffv1",
                        progress=False)
report = colourise([src], out, config)
fault["alive_nodes"] = sum(n["Alive"] for n in ray.nodes())
print(json.dumps({"fault": fault, "report": report.to_dict()}), flush=True)
ray.shutdown()
if mode == "remove-node":
    cluster.shutdown()
os._exit(0)  # the interpreter's own exit after a node removal returns 1: the JSON line decides
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory, bikes):
    root = tmp_path_factory.mktemp("faults")
    src = cut_clip(bikes, root / "in" / "bikes.mp4", seconds=2, width=128, gop=10, audio=False)
    return {"src": src, "ckpt": tiny_checkpoint(root / "g.safetensors")}


@contextlib.contextmanager
def own_ray_tmpdir():
    """A private RAY_TMPDIR: a Cluster writes its address to <tmp>/ray/ray_current_cluster, which a
    plain ray.init() elsewhere on this machine (other test sessions) would then try to join."""
    d = tempfile.mkdtemp(prefix="vc-ray-", dir="/tmp")  # short: Ray's socket paths have a limit
    try:
        yield {**os.environ, "RAY_TMPDIR": d}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_fault(mode: str, src: Path, out: Path, ckpt: Path) -> dict:
    with own_ray_tmpdir() as env:
        res = subprocess.run(
            [sys.executable, "-c", FAULT_SCRIPT, mode, str(src), str(out), str(ckpt)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            start_new_session=True,
        )
    assert res.returncode == 0, res.stderr[-3000:]
    # The script's JSON line; Ray may print its own lines (a lost node's) around it under load.
    lines = [x for x in res.stdout.splitlines() if x.startswith('{"fault"')]
    assert lines, (res.stdout[-2000:], res.stderr[-2000:])
    return json.loads(lines[-1])


def test_killed_colouriser_actor_gives_identical_output(clip, ray_local, tmp_path):
    undisturbed = tmp_path / "calm"
    config = PipelineConfig(
        checkpoint=str(clip["ckpt"]),
        model_size=64,
        segment_seconds=0.4,
        codec="ffv1",
        progress=False,
    )
    assert colourise([str(clip["src"])], str(undisturbed), config).exit_code == 0

    out = tmp_path / "killed"
    result = run_fault("kill-actor", clip["src"], out, clip["ckpt"])
    fault, entry = result["fault"], result["report"]["inputs"][0]
    assert fault.get("killed"), "no colouriser actor was found to kill"
    assert fault["stored_before"] < entry["segments"]  # the kill landed mid-run
    assert entry["status"] == "ok", entry["error"]
    calm, hit = framemd5(undisturbed / "bikes.mkv"), framemd5(out / "bikes.mkv")
    assert len(hit) == 50 and hit == calm  # every frame, bit-identical pixels


def test_worker_node_removed_mid_run(clip, tmp_path):
    out = tmp_path / "out"
    result = run_fault("remove-node", clip["src"], out, clip["ckpt"])
    fault, entry = result["fault"], result["report"]["inputs"][0]
    assert fault.get("removed") and fault["alive_nodes"] == 1  # really gone
    assert fault["stored_before"] < entry["segments"]  # removed mid-run
    assert entry["status"] == "ok", entry["error"]
    assert entry["segments_encoded"] == entry["segments"]
    assert len(framemd5(out / "bikes.mkv")) == 50  # every frame, decodable


def _mount_tmpfs(path: Path, size: str) -> bool:
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    return r.returncode == 0


def _cap_file_size() -> None:  # preexec_fn of the fallback: any file over 1 MiB fails (EFBIG)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_disk_full_fails_that_output_cleanly(clip, real_photos, tmp_path, run_cli):
    """A 256 KiB tmpfs as the output (mount works here: we are root). Where mount is not permitted,
    the fallback caps the file size with RLIMIT_FSIZE instead; Ray cannot start under that cap, so
    the fallback run holds photos only (they run in-process)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    small = write_photo(real_photos["coffee"], tmp_path / "small.png", width=96)
    mounted = _mount_tmpfs(disk, "256k")
    try:
        out = disk / "out"
        if (
            mounted
        ):  # the lossless video (~0.4 MiB, held twice while joined) cannot fit; the photo can
            big, preexec = clip["src"], None
        else:
            big = write_photo(real_photos["astronaut"], tmp_path / "big.png", width=2048)
            preexec = _cap_file_size
        args = [sys.executable, "-m", "vidcolor", "colourise", str(big), str(small), "-o", str(out)]
        args += ["--checkpoint", str(clip["ckpt"]), "--model-size", "64", "--codec", "ffv1"]
        res = subprocess.run(
            [*args, "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300,
            preexec_fn=preexec,
        )  # fmt: skip
        assert res.returncode == 1, res.stderr
        assert "Traceback" not in res.stderr
        report = json.loads((out / "vidcolor-report.json").read_text())
        status = {Path(r["input"]).name: r for r in report["inputs"]}
        failed, ok = status[big.name], status["small.png"]
        assert failed["status"] == "failed" and "\n" not in failed["error"]
        assert failed["error"].startswith(f"{failed['input']}: ")  # names the input first
        assert "cannot write" in failed["error"] and (
            "No space left" in failed["error"] or "too large" in failed["error"]
        ), failed["error"]
        assert f"vidcolor: error: {failed['error']}" in res.stderr
        assert ok["status"] == "ok" and ffprobe(out / "small.png")["streams"][0]["width"] == 96
        # Nothing corrupt: no final output for the failed input, no temp files anywhere.
        written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
        finals = {w for w in written if not w.startswith(".vidcolor-state/")}
        report_files = {"vidcolor-report.json", "vidcolor-report.html"}
        assert finals == {"small.png", "vidcolor-report/thumbs/small.png.jpg"} | report_files
        assert not [w for w in written if ".tmp" in w], written
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)
    assert not mounted or not os.listdir(disk)  # unmounted: the mount point is empty again
