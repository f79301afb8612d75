"""The model stage on a GPU: frames/s of the generator as the pipeline's model actor runs it
(``ColouriseActor`` on numpy rows: upload, fp16 channels_last forward, download), for the shipped
demo model and the paper-size vit-i-gan (Inception-v3 with random weights: same FLOPs), at the
pipeline's 16:9 model resolution, and how far the GPU's ab is from the CPU's fp32 ab.

Needs a CUDA device; on a machine without one it stops with one line. No Ray, no PyAV: it runs on
a bare GPU node with torch, safetensors and pyarrow.

Run: ``vidcolor bench gpu`` (or ``python -m benchmarks.gpu``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.common import BenchResult, main_for, start_result

SIZE = (256, 448)  # model resolution of 16:9 footage at the default model size
FRAMES = 240  # one 10 s segment at 24 fps


def run(workdir: Path, *, smoke: bool = False) -> BenchResult:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("bench gpu: no CUDA device on this machine (run it on a GPU node)")
    result = start_result("gpu", "Model stage on a GPU", smoke)
    result.machine["gpu"] = torch.cuda.get_device_name(0)
    t0 = time.perf_counter()
    frames = 32 if smoke else FRAMES
    l_seg = np.random.default_rng(0).uniform(-1, 1, (frames, 1, *SIZE)).astype(np.float16)
    rows = []
    inception = _random_inception(workdir)
    for name, ckpt in _checkpoints(workdir, smoke):
        for batch in (16, 64):
            rows.append(_rate(name, ckpt, inception, l_seg, batch))
    result.tables[f"{frames} frames at {SIZE[1]}x{SIZE[0]}, one segment row per call"] = rows
    result.tables["GPU fp16 vs CPU fp32, demo model, 16 frames"] = [_agreement(workdir, smoke)]
    demo = next(r for r in rows if r["batch"] == 16)
    result.headline = {"metric": f"{demo['model']} frames/s (batch 16)", "value": demo["frames/s"]}
    result.wall_s = time.perf_counter() - t0
    return result


def _checkpoints(workdir: Path, smoke: bool) -> list[tuple[str, str]]:
    from vidcolor.checkpoint import default_checkpoint, save_generator
    from vidcolor.models import ModelConfig, build_generator

    out = [("vit-gan w16 (demo)", default_checkpoint())]
    paper = workdir / "vit-i-gan-w64-random.safetensors"
    config = ModelConfig(variant="vit-i-gan", width=8 if smoke else 64)
    save_generator(str(paper), build_generator(config, random_inception=True).eval(), config)
    return [*out, (f"vit-i-gan w{config.width} (paper size, random weights)", str(paper))]


def _rate(name: str, ckpt: str, inception: str, l_seg: np.ndarray, batch: int) -> dict:
    import torch

    from vidcolor.pipeline.model import ColouriseActor
    from vidcolor.pipeline.rows import new_row, with_payloads

    # reuse_context=False (a GPU default too): the repeats below are the same frames.
    actor = ColouriseActor(
        ckpt, device="cuda", inception_weights=inception, batch_size=batch, reuse_context=False
    )
    row = with_payloads(new_row("bench"), l=l_seg, times=None, concealed=None)
    warm = actor.predict_row(row)  # warm-up: cuDNN autotuning, allocator
    if warm["error"]:
        raise RuntimeError(warm["error"])
    torch.cuda.synchronize()
    t = time.perf_counter()
    repeats = 3
    for _ in range(repeats):
        out = actor.predict_row(row)
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - t) / repeats
    assert out["ab"].shape == (len(l_seg), 2, *SIZE), out["ab"].shape
    return {
        "model": name,
        "batch": batch,
        "ms/frame": round(1000 * seconds / len(l_seg), 3),
        "frames/s": round(len(l_seg) / seconds, 1),
        "peak GPU MiB": round(torch.cuda.max_memory_allocated() / 2**20),
    }


def _agreement(workdir: Path, smoke: bool) -> dict:
    from vidcolor.checkpoint import default_checkpoint
    from vidcolor.infer import Colouriser

    l16 = np.random.default_rng(1).uniform(-1, 1, (16, 1, *SIZE)).astype(np.float32)
    gpu = Colouriser(default_checkpoint(), device="cuda").predict_ab(l16)
    cpu = Colouriser(default_checkpoint(), device="cpu").predict_ab(l16)
    diff = np.abs(gpu - cpu)
    return {"max abs ab diff": round(float(diff.max()), 5), "mean": round(float(diff.mean()), 6)}


def _random_inception(workdir: Path) -> str:
    """Inception-v3 weights in the format vit-i-gan loads, random (none can be downloaded here):
    the same FLOPs as ImageNet's, which is all a rate needs."""
    from safetensors.torch import save_file

    from vidcolor.models.inception import build_inception_v3

    path = workdir / "inception-v3-random.safetensors"
    state = {k: v.contiguous() for k, v in build_inception_v3().state_dict().items()}
    save_file(state, str(path))
    return str(path)


if __name__ == "__main__":
    main_for(run)
