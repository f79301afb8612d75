"""Issue 9.4: a batch of short clips cut from a real clip. Every output valid (ffprobe), the report
totals add up, and memory stays flat: the driver and its Ray workers use no more memory per process
at the end of the batch than a quarter of the way in (beyond a fixed allowance), so it does not
grow per clip.

20 clips run by default; the 200-clip batch is ``slow`` (``make test-full``)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import psutil
import pytest
from pipeline_helpers import cut_clip, decoded_frames, tiny_checkpoint

from vidcolor.pipeline import PipelineConfig, colourise

FRAMES_PER_CLIP = 10  # 0.4 s at 25 fps
MiB = 1 << 20


def private_bytes(process: psutil.Process) -> int:
    """Resident memory that is the process's own: RSS less its shared pages. A leak grows this.
    The shared part does not say: it counts the pages of Ray's object store (one shared-memory
    file) and of shared libraries that the process has touched so far, which rise towards the
    store's fixed size as more frames pass through it (the model actor's RSS rose 115-155 MiB
    between a quarter and three quarters of 20 clips while its own memory stayed within 6 MiB)."""
    info = process.memory_info()
    return info.rss - info.shared


class MemorySampler:
    """Private memory of this process and all its children (the local Ray) every 50 ms, with how
    many outputs existed at that moment."""

    def __init__(self, out: Path):
        self.out, self.samples = out, []  # (outputs done, *private()) in bytes
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def private(self) -> tuple[int, int | None, int]:
        """Private resident memory: (per process of the driver and its Ray, the model actor or
        None while there is none, driver)."""
        me = psutil.Process()
        driver = total = private_bytes(me)
        sizes, actor = [], None
        for child in me.children(recursive=True):
            try:
                size = private_bytes(child)
                if "ColouriseActor" in " ".join(child.cmdline()):
                    actor = max(actor or 0, size)
            except psutil.Error:
                continue  # a worker that just exited
            sizes.append(size)
        total += sum(sizes)
        return total // (1 + len(sizes)), actor, driver

    def run(self) -> None:
        while not self.stop.is_set():
            done = len(list(self.out.glob("clip-*.mp4"))) if self.out.exists() else 0
            self.samples.append((done, *self.private()))
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)


@pytest.mark.parametrize("n_clips", [20, pytest.param(200, marks=pytest.mark.slow)])
def test_batch_of_short_clips(n_clips, bikes, ray_local, tmp_path):
    base = cut_clip(bikes, tmp_path / "base.mp4", seconds=0.4, width=64, gop=10, audio=False)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(n_clips):
        shutil.copy(base, src / f"clip-{i:03d}.mp4")
    out = tmp_path / "out"
    config = PipelineConfig(checkpoint=str(tiny_checkpoint(tmp_path / "g.safetensors")),
                            model_size=64, progress=False)  # fmt: skip
    with MemorySampler(out) as mem:
        report = colourise([str(src)], str(out), config)

    totals = report.totals()
    assert report.exit_code == 0, [r.error for r in report.failed]
    assert totals["inputs"] == totals["ok"] == n_clips and totals["failed"] == 0
    assert totals["frames"] == n_clips * FRAMES_PER_CLIP
    assert totals["duration"] == pytest.approx(n_clips * 0.4)
    assert all(r.segments_encoded == r.segments == 1 for r in report.inputs)
    outputs = sorted(out.glob("clip-*.mp4"))
    assert [p.name for p in outputs] == sorted(p.name for p in src.iterdir())
    assert all(decoded_frames(p) == FRAMES_PER_CLIP for p in outputs)  # ffprobe decodes each
    assert not list(out.glob(".vidcolor-state/*/*"))  # state cleaned after each finished clip

    # Flat memory (private pages, see private_bytes): the peak late in the run is within an
    # allowance of the peak early on, for the driver alone (which holds the run's state), the model
    # actor and the mean over all processes. Not the sum: Ray starts and retires workers (~250 MiB
    # each, torch loaded) for the 0-CPU probe and join tasks and the half-CPU decode/finish tasks,
    # so the number of processes moves by one or two whatever the clip count. Growth per clip would
    # scale with n_clips; the allowances do not. Early and late are a quarter and three quarters of
    # the outputs written, except for the actor: it runs ahead of the writing (and may be gone
    # before three quarters are written), so its windows are the first and last quarter of its life.
    quarter = [s for s in mem.samples if s[0] <= n_clips // 4]
    late = [s for s in mem.samples if s[0] >= 3 * n_clips // 4]
    actor = [s[2] for s in mem.samples if s[2] is not None]
    assert quarter and late and len(actor) >= 8, mem.samples[-5:]
    windows = {
        "mean per process": ([s[1] for s in quarter], [s[1] for s in late], 50),
        "model actor": (actor[: len(actor) // 4], actor[-(len(actor) // 4) :], 150),
        "driver": ([s[3] for s in quarter], [s[3] for s in late], 100),
    }
    for name, (early, end, allowance) in windows.items():
        q, lt = max(early) / MiB, max(end) / MiB
        print(f"{n_clips} clips, {name}: peak private {q:.0f} MiB early, {lt:.0f} late")
        assert lt - q < allowance, (name, q, lt)
