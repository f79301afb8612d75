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


class MemorySampler:
    """RSS of this process and all its children (the local Ray) every 50 ms, with how many
    outputs existed at that moment."""

    def __init__(self, out: Path):
        self.out, self.samples = out, []  # (outputs done, *rss()) in bytes
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def rss(self) -> tuple[int, int, int]:
        """(RSS per process of the driver and its Ray, largest single Ray process, driver)."""
        me = psutil.Process()
        driver = total = me.memory_info().rss
        sizes = []
        for child in me.children(recursive=True):
            try:
                sizes.append(child.memory_info().rss)
            except psutil.Error:
                pass  # a worker that just exited
        total += sum(sizes)
        return total // (1 + len(sizes)), max(sizes, default=0), driver

    def run(self) -> None:
        while not self.stop.is_set():
            done = len(list(self.out.glob("clip-*.mp4"))) if self.out.exists() else 0
            self.samples.append((done, *self.rss()))
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

    # Flat memory: the peak once three quarters are done is within an allowance of the peak at
    # one quarter, for the driver alone (which holds the run's state), the largest Ray process
    # (the model actor) and the mean over all processes. Not the sum: Ray starts and retires
    # workers (~250 MiB each, torch loaded) for the 0-CPU probe and join tasks and the half-CPU
    # decode/finish tasks, so the number of processes moves by one or two whatever the clip count.
    # Growth per clip would scale with n_clips; the allowances do not.
    quarter = [s for s in mem.samples if s[0] <= n_clips // 4]
    late = [s for s in mem.samples if s[0] >= 3 * n_clips // 4]
    assert quarter and late, mem.samples[-5:]
    checks = ((1, "mean per process", 50), (2, "largest Ray process", 150), (3, "driver", 100))
    for col, name, allowance in checks:
        q, lt = max(s[col] for s in quarter) / MiB, max(s[col] for s in late) / MiB
        print(f"{n_clips} clips, {name}: peak RSS {q:.0f} MiB at 1/4, {lt:.0f} MiB after 3/4")
        assert lt - q < allowance, (name, q, lt)
