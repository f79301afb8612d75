"""Ray Train end to end on CPU: 2 workers on real photos, checkpoints on a real S3
server (moto_server), a worker killed mid-run and recovered, resume at the right step, and the
exported generator colouring a photo.

One 2-worker run (with the injected failure) and one resumed run are shared by the assertions:
Ray Train start-up costs ~20 s a run on this machine.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest
import torch
from PIL import Image

from vidcolor.train.config import TrainConfig

BUCKET = "vidcolor-train"
TINY = dict(
    image_size=64,
    width=4,
    batch_size=2,
    cpus_per_worker=0.5,  # 2 workers + Ray Data tasks on the 2-CPU test cluster
    disc_patch=16,
    disc_dim=32,
    disc_depth=1,
    disc_heads=2,
    disc_dim_head=8,
    disc_mlp_dim=32,
    heldout_fraction=0.2,
    crops_per_image=3,
    report_every=2,
    keep_checkpoints=5,
)


@pytest.fixture(scope="module")
def s3_module_env(moto_server):
    """AWS variables for the whole module (the run is module-scoped); a fresh bucket."""
    import boto3
    from conftest import S3_KEY, S3_SECRET

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", moto_server)
        mp.setenv("AWS_ACCESS_KEY_ID", S3_KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_REGION", "us-east-1")
        client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory, real_photos):
    root = tmp_path_factory.mktemp("train-data")
    for name, rgb in real_photos.items():
        Image.fromarray(rgb).save(root / f"{name}.png")
    # A grey scan: must be filtered out, not trained on.
    grey = real_photos["coffee"].mean(axis=2).astype(np.uint8)
    Image.fromarray(grey).convert("RGB").save(root / "grey_scan.png")
    return root


def fail_once(marker: str, at_step: int):
    """A step hook for the worker's loop: the last rank exits hard once at ``at_step`` (the marker
    file makes it once across Ray Train's restart of the worker group)."""

    # Nested, so cloudpickle sends it by value: Ray's workers cannot import this test module.
    def after_step(step: int, rank: int, world: int) -> None:
        import os
        import time

        if step == at_step and rank == world - 1 and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(f"rank {rank} exited at step {step}\n")
            # Let the controller poll the last report first (health check every 2 s): a crash
            # right after a report can lose it, and Ray would then restore the one before.
            time.sleep(3)
            os._exit(1)

    return after_step


@pytest.fixture(scope="module")
def runs(ray_local, s3_module_env, photo_dir, tmp_path_factory):
    """Run 1: 2 workers, last rank dies once at step 3, FailureConfig(max_failures=1), 4 steps.
    Run 2: --resume of the same run up to step 6, keeping a moving average of the generator
    from the resumed weights on."""
    from vidcolor.train.trainer import run_training
    from vidcolor.train.worker import train_loop_per_worker

    marker = tmp_path_factory.mktemp("fault") / "worker-died"
    output = f"s3://{BUCKET}/runs/tiny"
    first = run_training(
        TrainConfig(
            data=[str(photo_dir)],
            output=output,
            name="gan",
            workers=2,
            max_steps=4,
            epochs=50,
            max_failures=1,
            **TINY,
        ),
        train_loop=functools.partial(
            train_loop_per_worker, after_step=fail_once(str(marker), at_step=3)
        ),
    )
    second = run_training(
        TrainConfig(
            data=[str(photo_dir)], output=output, name="gan", workers=1, max_steps=6, epochs=50,
            resume=True, ema_decay=0.5, **TINY,
        )
    )  # fmt: skip
    return {"first": first, "second": second, "marker": marker, "output": output}


def _keys(client, prefix: str) -> list[str]:
    resp = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def test_two_workers_train_and_write_checkpoints_to_s3(runs, s3_module_env):
    metrics = runs["first"].metrics
    assert metrics["step"] == 4
    for key in ("loss_d", "loss_g", "loss_l1", "heldout_ab_psnr", "heldout_colourfulness"):
        assert np.isfinite(metrics[key]), key
    keys = _keys(s3_module_env, "runs/tiny/")
    for step in (2, 4):
        for f in ("generator", "discriminator", "optimizer"):
            assert f"runs/tiny/gan/checkpoint_step_{step:07d}/{f}.safetensors" in keys
    assert "runs/tiny/samples/step_0000004.png" in keys
    grid = s3_module_env.get_object(Bucket=BUCKET, Key="runs/tiny/samples/step_0000004.png")
    img = Image.open(io.BytesIO(grid["Body"].read()))
    assert img.size[0] == 3 * 64  # grey | predicted | truth


def test_killed_worker_is_recovered_from_the_last_checkpoint(runs):
    assert "exited at step 3" in runs["marker"].read_text()  # the failure really happened
    # The restarted worker group restored step 2's checkpoint, not a fresh start.
    assert runs["first"].metrics["resumed_from"] == 2
    assert runs["first"].metrics["step"] == 4


def test_resume_continues_at_the_saved_step(runs, s3_module_env):
    from vidcolor.train.state import load_training_state

    assert runs["second"].metrics["resumed_from"] == 4
    assert runs["second"].metrics["step"] == 6
    keys = _keys(s3_module_env, "runs/tiny/gan/")
    assert "runs/tiny/gan/checkpoint_step_0000006/optimizer.safetensors" in keys
    import pyarrow.fs as pafs

    from vidcolor import storage

    fs, path = storage.filesystem_for(f"s3://{BUCKET}/runs/tiny/gan/checkpoint_step_0000006")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pafs.copy_files(path, tmp, source_filesystem=fs)
        state = load_training_state(tmp)
    assert state.position.step == 6
    assert all(v["step"].item() == 6 for v in state.opt_g["state"].values())  # Adam steps too
    # --ema-decay: generator.safetensors is the average, the trained generator is kept beside it.
    assert state.averaged_generator is not None
    assert any(
        not torch.equal(state.averaged_generator[k], v)
        for k, v in state.generator.items()
        if v.dtype.is_floating_point
    )


def test_resume_is_explicit(runs, photo_dir):
    from vidcolor.errors import VidcolorError
    from vidcolor.train.trainer import build_trainer

    with pytest.raises(VidcolorError, match="already holds a training run; pass --resume"):
        build_trainer(TrainConfig(data=[str(photo_dir)], output=runs["output"], name="gan"))
    with pytest.raises(VidcolorError, match="--resume given but no checkpoint"):
        build_trainer(
            TrainConfig(data=[str(photo_dir)], output=runs["output"], name="new", resume=True)
        )


def test_exported_generator_loads_and_colourises(runs, real_photos, tmp_path, run_cli):
    from vidcolor import storage
    from vidcolor.checkpoint import load_generator
    from vidcolor.infer import Colouriser

    uri = runs["second"].generator_uri
    assert uri == f"s3://{BUCKET}/runs/tiny/generator.safetensors"
    generator, config = load_generator(uri)
    assert (config.variant, config.width, config.image_size) == ("vit-gan", 4, 64)
    local = tmp_path / "generator.safetensors"
    local.write_bytes(storage.read_bytes(uri))
    out = Colouriser(str(local), device="cpu").colourise_rgb(real_photos["chelsea"])
    assert out.shape == real_photos["chelsea"].shape and out.dtype == np.uint8
    # The command a user runs, with the exported file as --checkpoint.
    src = tmp_path / "in"
    src.mkdir()
    grey = real_photos["chelsea"].mean(axis=2).astype(np.uint8)
    Image.fromarray(grey).save(src / "cat.png")
    result = run_cli(
        "colourise", src, "-o", tmp_path / "out", "--checkpoint", local, "--device", "cpu",
        "--model-size", "64",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    coloured = np.asarray(Image.open(tmp_path / "out" / "cat.png"))
    assert coloured.shape == (*grey.shape, 3)
