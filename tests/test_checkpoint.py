"""Checkpoint round trip (bit-identical outputs), refusal of pickles and junk, S3 round trip."""

import pickle
import subprocess
import sys

import pytest
import torch

from vidcolor.checkpoint import load_generator, load_tensors, read_metadata, save_generator
from vidcolor.errors import CheckpointError
from vidcolor.models import ModelConfig, build_generator


def _trained_looking_generator(width=4):
    torch.manual_seed(1)
    g = build_generator(ModelConfig(width=width, image_size=64))
    # populate BatchNorm running stats so they are part of what must round-trip
    g.train()
    with torch.no_grad():
        g(torch.rand(4, 1, 64, 64) * 2 - 1)
    return g.eval()


def test_round_trip_bit_identical(tmp_path):
    g = _trained_looking_generator()
    path = tmp_path / "g.safetensors"
    save_generator(str(path), g, ModelConfig(width=4, image_size=64))
    g2, cfg = load_generator(str(path))
    assert cfg.width == 4 and cfg.variant == "vit-gan" and cfg.image_size == 64
    x = torch.rand(2, 1, 64, 96) * 2 - 1
    with torch.no_grad():
        assert torch.equal(g(x), g2(x))
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp files left


class Payload:
    def __reduce__(self):
        return (print, ("pickle payload executed",))


def test_pickle_renamed_safetensors_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="evil.safetensors: not a safetensors checkpoint"):
        load_generator(str(path))
    torch.save({"x": torch.zeros(2)}, path)  # a torch zip-pickle too
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        load_generator(str(path))
    assert "pickle payload executed" not in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"12345678", b"hello world, not a checkpoint"])
def test_junk_files_are_refused(tmp_path, content):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_generator(str(path))


def test_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "g.safetensors"
    save_generator(str(path), _trained_looking_generator(), ModelConfig(width=4))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="g.safetensors"):
        load_generator(str(path))


def test_the_driver_s_check_reads_the_whole_file_without_torch(tmp_path):
    """``read_metadata`` (the driver's check before any worker loads weights) refuses what
    ``load_tensors`` refuses, and neither it nor reading the config imports torch."""
    path = tmp_path / "g.safetensors"
    save_generator(str(path), _trained_looking_generator(), ModelConfig(width=4))
    assert read_metadata(str(path)) == load_tensors(str(path))[1]
    data = path.read_bytes()
    path.write_bytes(data[:-16])  # the header is whole, the last tensor is not
    with pytest.raises(CheckpointError, match="g.safetensors: not a safetensors checkpoint"):
        read_metadata(str(path))
    check = (
        "import sys; from vidcolor.pipeline.config import PipelineConfig; "
        "from vidcolor.pipeline.run import check_checkpoint; "
        "from vidcolor.pipeline.state import config_key; "
        "c = PipelineConfig(); check_checkpoint(c); config_key(c); print('torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "False", run.stderr[-2000:]


def test_safetensors_without_config_or_wrong_shapes(tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError, match="no vidcolor model config"):
        load_generator(str(plain))
    g = _trained_looking_generator(width=4)
    path = tmp_path / "w.safetensors"
    save_generator(str(path), g, ModelConfig(width=8))  # config lies about the width
    with pytest.raises(CheckpointError, match="do not match"):
        load_generator(str(path))


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(Exception, match="nope.safetensors"):
        load_generator(str(tmp_path / "nope.safetensors"))


def test_s3_round_trip(s3_env):
    s3_env.create_bucket(Bucket="models")
    g = _trained_looking_generator()
    save_generator("s3://models/runs/g.safetensors", g, ModelConfig(width=4))
    keys = [o["Key"] for o in s3_env.list_objects_v2(Bucket="models")["Contents"]]
    assert keys == ["runs/g.safetensors"]
    g2, _ = load_generator("s3://models/runs/g.safetensors")
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(g(x), g2(x))
    tensors, meta = load_tensors("s3://models/runs/g.safetensors")
    assert "vidcolor" in meta and tensors


def test_averaged_generator_is_the_mean_of_the_checkpoints_and_loads(tmp_path):
    from vidcolor.errors import VidcolorError
    from vidcolor.train.average import average_generators, main

    paths = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        g = build_generator(ModelConfig(width=4, image_size=64))
        paths.append(str(tmp_path / f"checkpoint_step_{seed}" / "generator.safetensors"))
        (tmp_path / f"checkpoint_step_{seed}").mkdir()
        save_generator(paths[-1], g, ModelConfig(width=4, image_size=64))
    tensors = [load_tensors(p)[0] for p in paths]
    mean, metadata = average_generators(paths)
    name = next(k for k, v in mean.items() if v.is_floating_point())
    assert torch.allclose(mean[name], sum(t[name] for t in tensors) / 3, atol=1e-7)
    assert "checkpoint_step_2/generator.safetensors" in metadata["averaged_from"]
    assert str(tmp_path) not in metadata["averaged_from"]  # no machine paths in the file
    main([str(tmp_path / "avg.safetensors"), *paths])
    g, cfg = load_generator(str(tmp_path / "avg.safetensors"))
    assert cfg.width == 4
    other = str(tmp_path / "other.safetensors")
    save_generator(
        other, build_generator(ModelConfig(width=8, image_size=64)), ModelConfig(width=8)
    )
    with pytest.raises(VidcolorError, match="other.safetensors: not the same model"):
        average_generators([paths[0], other])


def test_batchnorm_recalibration_measures_statistics_on_training_crops(tmp_path):
    import numpy as np
    import skimage.data
    from PIL import Image

    from vidcolor.train.average import recalibrate_batchnorm

    data = tmp_path / "photos"
    data.mkdir()
    for name in ("coffee", "chelsea"):
        Image.fromarray(getattr(skimage.data, name)()).save(data / f"{name}.png")
    uri = str(tmp_path / "g.safetensors")
    save_generator(uri, build_generator(ModelConfig(width=4, image_size=32)), ModelConfig(width=4))
    before = load_tensors(uri)[0]
    recalibrate_batchnorm(uri, str(data), image_size=32, batches=2, seed=0)
    after, metadata = load_tensors(uri)
    assert metadata["batchnorm_recalibrated"] == "2x16 crops"
    name = next(k for k in before if k.endswith("running_mean"))
    # A fresh generator's running means are 0; measured on photos they are not.
    assert np.abs(before[name].numpy()).max() == 0 and np.abs(after[name].numpy()).max() > 1e-3
    weight = next(k for k in before if k.endswith("conv.weight") or k.endswith("0.weight"))
    assert torch.equal(before[weight], after[weight])  # only the statistics change
    load_generator(uri)  # still a valid checkpoint
