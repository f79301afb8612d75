"""Training that scales without traps: worker sizing on small clusters, no held-out set, strict
resume, the generator step leaving D's gradients alone (no second all-reduce), lr vs world size,
and one log line per report."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from vidcolor.errors import CheckpointError, UsageError
from vidcolor.models import ModelConfig, ViTDiscriminator, build_generator
from vidcolor.train.config import TrainConfig
from vidcolor.train.resources import DATA_CPUS, plan_resources
from vidcolor.train.state import (
    Position,
    load_training_state,
    restore_training_state,
    save_training_state,
)
from vidcolor.train.step import GANConfig, gan_step, make_optimizers

TINY_DISC = dict(patch_size=16, dim=32, depth=1, heads=2, dim_head=8, mlp_dim=32)


def _tiny(size: int = 32):
    cfg = ModelConfig(variant="vit-gan", width=4, image_size=size)
    g, d = build_generator(cfg), ViTDiscriminator(image_size=size, **TINY_DISC)
    return cfg, g, d, {"image_size": size, **TINY_DISC}


def _batch(real_photos, size: int = 32):
    from vidcolor.color import rgb_to_model_input
    from vidcolor.train.data import center_crop

    rgb = torch.stack([center_crop(real_photos[n], size) for n in ("coffee", "chelsea")])
    return rgb_to_model_input(rgb)


def test_workers_are_sized_to_leave_cpu_for_data_or_refused():
    two_cpus = {"CPU": 2.0}
    one = plan_resources(1, None, False, two_cpus)
    assert one.cpus_per_worker == 1.0 and one.data_task_cpus == pytest.approx(0.5)
    two = plan_resources(2, None, False, two_cpus)  # the case that used to hang
    assert two.cpus_per_worker == 0.75
    assert 2 * two.cpus_per_worker + DATA_CPUS <= 2.0 and two.data_task_cpus == 0.25
    assert plan_resources(4, None, False, {"CPU": 64.0}).data_task_cpus == 1.0
    assert plan_resources(2, 0.5, False, two_cpus).cpus_per_worker == 0.5  # explicit, fits
    with pytest.raises(UsageError, match=r"--cpus-per-worker 1 .* needs 2.5 CPU\(s\)") as err:
        plan_resources(2, 1.0, False, two_cpus)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="too few for 8 workers"):
        plan_resources(8, None, False, two_cpus)
    with pytest.raises(UsageError, match="needs 2 GPU"):
        plan_resources(2, None, True, {"CPU": 16.0, "GPU": 1.0})


def test_lr_follows_the_world_size():
    cfg = TrainConfig(lr=1e-4, lr_drop_step=10, lr_drop_factor=0.1)
    assert cfg.lr_at(0, 1) == pytest.approx(1e-4)
    assert cfg.lr_at(0, 4) == pytest.approx(2e-4)  # sqrt(4) by default
    assert cfg.lr_at(10, 4) == pytest.approx(2e-5)
    assert TrainConfig(lr=1e-4, lr_scaling="linear").lr_at(0, 4) == pytest.approx(4e-4)
    assert TrainConfig(lr=1e-4, lr_scaling="none").lr_at(0, 4) == pytest.approx(1e-4)


def _saved_run(tmp_path, real_photos):
    torch.manual_seed(0)
    cfg, g, d, disc_kwargs = _tiny()
    opt_g, opt_d = make_optimizers(g, d, GANConfig())
    gan_step(g, d, opt_g, opt_d, *_batch(real_photos))
    save_training_state(
        str(tmp_path), generator=g, model_config=cfg, discriminator=d, disc_kwargs=disc_kwargs,
        opt_g=opt_g, opt_d=opt_d, position=Position(step=1),
    )  # fmt: skip
    return g


def _restore_fresh(directory: str):
    _, g, d, _ = _tiny()
    opt_g, opt_d = make_optimizers(g, d, GANConfig())
    state = load_training_state(directory)
    restore_training_state(
        state, generator=g, discriminator=d, opt_g=opt_g, opt_d=opt_d, where=directory
    )
    return g


def test_resume_refuses_a_checkpoint_missing_a_key(tmp_path, real_photos):
    original = _saved_run(tmp_path, real_photos)
    restored = _restore_fresh(str(tmp_path))  # complete: loads, identical weights
    for key, value in original.trainable_state_dict().items():
        assert torch.equal(value, restored.trainable_state_dict()[key]), key

    for name in ("generator", "discriminator"):
        path = tmp_path / f"{name}.safetensors"
        backup = path.read_bytes()
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            metadata = f.metadata()
        tensors = load_file(str(path))
        dropped = sorted(tensors)[-1]
        del tensors[dropped]
        save_file(tensors, str(path), metadata=metadata)
        with pytest.raises(CheckpointError) as err:
            _restore_fresh(str(tmp_path))
        message = str(err.value)
        assert "\n" not in message and str(tmp_path) in message
        assert f"{name} weights do not match" in message and dropped in message
        path.write_bytes(backup)


def test_resume_at_a_larger_image_size_resizes_only_the_position_grid(tmp_path, real_photos):
    """128 px warm-up, then 256: the discriminator's position embedding (and Adam's moments for
    it) follow the new patch grid; the generator is fully convolutional and loads as it was."""
    from vidcolor.models.discriminator import resize_positions

    original = _saved_run(tmp_path, real_photos)  # 32 px: a 2x2 patch grid
    cfg, g, d, _ = _tiny(64)  # 4x4
    opt_g, opt_d = make_optimizers(g, d, GANConfig())
    state = load_training_state(str(tmp_path))
    saved_pos = state.discriminator["pos_embedding"].clone()
    restore_training_state(state, generator=g, discriminator=d, opt_g=opt_g, opt_d=opt_d, where="x")
    assert d.pos_embedding.shape == (1, 17, TINY_DISC["dim"])
    assert torch.equal(d.pos_embedding[:, 0], saved_pos[:, 0])  # the class token's is kept
    assert torch.allclose(d.pos_embedding[:, 1:].mean(1), saved_pos[:, 1:].mean(1), atol=1e-6)
    moments = opt_d.state[d.pos_embedding]
    assert moments["exp_avg"].shape == d.pos_embedding.shape and moments["exp_avg_sq"].min() >= 0
    for key, value in original.trainable_state_dict().items():
        assert torch.equal(value, g.trainable_state_dict()[key]), key
    gan_step(g, d, opt_g, opt_d, *_batch(real_photos, 64))  # trains on at the new size

    ramp = torch.arange(4.0).reshape(1, 2, 2, 1).expand(1, 2, 2, 3).reshape(1, 4, 3)
    resized = resize_positions(torch.cat([torch.full((1, 1, 3), 9.0), ramp], 1), 16)
    grid = resized[0, 1:, 0].reshape(4, 4)
    assert resized[0, 0].tolist() == [9.0] * 3 and torch.all(grid.diff(dim=1) >= 0)
    with pytest.raises(ValueError, match="not square"):
        resize_positions(torch.zeros(1, 7, 3), 16)

    other_patch = ViTDiscriminator(image_size=64, **{**TINY_DISC, "patch_size": 32})
    opt_g, opt_d = make_optimizers(g, other_patch, GANConfig())
    with pytest.raises(CheckpointError, match="discriminator weights do not match"):
        restore_training_state(
            load_training_state(str(tmp_path)), generator=g, discriminator=other_patch,
            opt_g=opt_g, opt_d=opt_d, where="x",
        )  # fmt: skip


def _dist_gloo(tmp_path):
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path}/rendezvous", rank=0, world_size=1
    )
    return dist


def test_generator_step_leaves_d_grads_alone_and_all_reduces_d_once(tmp_path, real_photos):
    from torch.nn.parallel import DistributedDataParallel as DDP

    dist = _dist_gloo(tmp_path)
    try:
        l_norm, ab = _batch(real_photos)
        counts = {}
        for mode in ("plain D for G", "DDP D for G (the old way)"):
            torch.manual_seed(0)
            _, g, d, _ = _tiny()
            ddp_d = DDP(d, broadcast_buffers=False)
            calls = []

            def count_allreduce(state, bucket, calls=calls):
                calls.append(bucket.index())
                fut = torch.futures.Future()
                fut.set_result(bucket.buffer())
                return fut

            ddp_d.register_comm_hook(None, count_allreduce)
            opt_g, opt_d = make_optimizers(g, d, GANConfig())
            after_d_step = {}
            opt_d.register_step_post_hook(
                lambda opt, args, kwargs, snap=after_d_step, d=d: snap.update(
                    {n: p.grad.clone() for n, p in d.named_parameters()}
                )
            )
            plain = d if mode.startswith("plain") else None
            # The old way: G's loss through the DDP wrapper with D trainable (no freezing).
            old_way = (
                contextlib.nullcontext()
                if plain is not None
                else mock.patch("vidcolor.train.step.frozen", lambda m: contextlib.nullcontext())
            )
            with old_way:
                gan_step(g, ddp_d, opt_g, opt_d, l_norm, ab, discriminator_for_g=plain)
            counts[mode] = len(calls)
            touched = [
                n for n, p in d.named_parameters() if not torch.equal(p.grad, after_d_step[n])
            ]
            if plain is not None:
                assert touched == []  # the G step added nothing to D's gradients
                assert all(p.requires_grad for p in d.parameters())  # unfrozen again
                assert all(p.grad is not None for p in g.parameters() if p.requires_grad)
            else:
                assert touched  # the old way: G's backward accumulated into D's gradients
        assert counts["plain D for G"] >= 1
        assert counts["DDP D for G (the old way)"] == 2 * counts["plain D for G"]
    finally:
        dist.destroy_process_group()


def test_report_line_is_one_line_with_the_heldout_metrics():
    from vidcolor.train.report import report_line

    metrics = {"step": 20, "epoch": 1, "loss_d": 0.69, "loss_g": 12.5, "loss_adv": 0.7,
               "loss_l1": 0.118, "samples_per_s": 31.4, "lr": 2.83e-4, "heldout_ab_psnr": 24.5,
               "heldout_ab_psnr_grey": 25.25, "heldout_hue_agreement": 0.412,
               "heldout_colourfulness_ratio": 0.87}  # fmt: skip
    line = report_line(metrics)
    assert "\n" not in line
    for part in ("step 20", "loss_d 0.69", "31.4 samples/s", "ab_psnr 24.50 dB (grey 25.25)",
                 "hue_agreement 0.412", "colourfulness x0.87"):  # fmt: skip
        assert part in line, line
    del metrics["heldout_ab_psnr"]
    assert "held-out" not in report_line(metrics)


@pytest.fixture
def photo_dir(tmp_path, real_photos):
    root = tmp_path / "photos"
    root.mkdir()
    for name, rgb in real_photos.items():
        Image.fromarray(rgb).save(root / f"{name}.png")
    return root


# `vidcolor train` as a user runs it, on a Ray of exactly 2 CPUs (this machine's size).
TRAIN_ON_TWO_CPUS = """
import os, sys, ray
from vidcolor.train.data import QUIET_RAY_DATA_ENV
os.environ.update(QUIET_RAY_DATA_ENV)  # what `vidcolor train` does before it starts a local Ray
ray.init(address="local", num_cpus=2, include_dashboard=False)
from vidcolor.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # a fresh 2-CPU Ray and Ray Train for 3 steps: ~50 s (make test-full)
def test_two_workers_with_default_resources_on_two_cpus_without_heldout(photo_dir, tmp_path):
    """The configuration that hung forever: `--workers 2`, default CPUs, a 2-CPU Ray. Also
    --heldout-fraction 0 (used to be KeyError: Dataset shard for 'heldout' not found). A hang is
    killed (the whole process group: driver and its Ray) and fails the test."""
    out = tmp_path / "out"
    argv = ["train", "--data", photo_dir, "--output", out, "--workers", "2",
            "--heldout-fraction", "0", "--max-steps", "3", "--epochs", "100", "--report-every",
            "2", "--image-size", "64", "--width", "4", "--batch-size", "2", "--crops-per-image",
            "2", "--disc-dim", "32", "--disc-depth", "1", "--disc-heads", "2", "--disc-dim-head",
            "8", "--disc-mlp-dim", "32", "--disc-patch", "16"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", TRAIN_ON_TWO_CPUS, *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        stdout, stderr = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("vidcolor train --workers 2 on 2 CPUs hung (killed after 420 s)")
    assert proc.returncode == 0, stderr[-3000:]
    # The summary is the driver's last JSON line (workers' lines reach the driver's log too).
    summary = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    assert summary["step"] == 3 and np.isfinite(summary["loss_g"])
    assert not any(k.startswith("heldout_") for k in summary)
    assert summary["lr"] == pytest.approx(2e-4 * 2**0.5)
    assert (out / "generator.safetensors").is_file()
    assert not (out / "samples").exists()  # no held-out set, no sample grids
    # One line per report (not echoed twice), no Ray Data progress or per-report metrics dicts.
    logs = stderr.splitlines() + stdout.splitlines()
    assert len([line for line in logs if "step 2 epoch" in line and "samples/s" in line]) == 1
    assert "Reporting training result" not in stderr + stdout
    assert "execution finished" not in stderr + stdout


def test_a_request_the_cluster_cannot_run_is_refused_in_seconds(ray_local, photo_dir, tmp_path):
    from vidcolor.train.trainer import build_trainer

    assert ray_local.cluster_resources()["CPU"] == 2
    start = time.perf_counter()
    with pytest.raises(UsageError, match="needs 2.5 CPU"):  # explicit 1 CPU each cannot fit
        build_trainer(TrainConfig(data=[str(photo_dir)], output=str(tmp_path / "r"), workers=2,
                                  cpus_per_worker=1.0))  # fmt: skip
    with pytest.raises(UsageError, match="too few for 8 workers"):
        build_trainer(TrainConfig(data=[str(photo_dir)], output=str(tmp_path / "r"), workers=8))
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "r").exists()  # refused before anything was written
