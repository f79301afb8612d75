"""Training pieces: data preprocessing and its Ray data path, held-out split, checkpoint state,
reports (the shipped checkpoint: tests/test_demo_checkpoint.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vidcolor.models import ModelConfig, ViTDiscriminator, build_generator
from vidcolor.train import data, report
from vidcolor.train.state import Position, load_training_state, save_training_state
from vidcolor.train.step import GANConfig, gan_step, make_optimizers


def _png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_heldout_split_is_deterministic_and_by_relpath():
    paths = [f"photos/{i:03d}.jpg" for i in range(400)]
    first = [p for p in paths if data.is_heldout(p, 0.1)]
    assert first == [p for p in paths if data.is_heldout(p, 0.1)]
    assert 20 <= len(first) <= 60  # about 10 %
    sources = [data.Source(uri=f"s3://b/{p}", relpath=p, kind="image") for p in paths]
    train, heldout = data.split_sources(sources, 0.1)
    assert [s.relpath for s in heldout] == first
    assert not {s.relpath for s in train} & set(first)


def test_chroma_filter_separates_photos_from_grey_and_sepia(real_photos):
    for name, rgb in real_photos.items():
        assert data.chroma_std(rgb) > 8.0, name
    grey = np.repeat(real_photos["astronaut"].mean(axis=2, keepdims=True), 3, axis=2)
    assert data.chroma_std(grey.astype(np.uint8)) < 0.5
    # A toned (sepia) print: the photo's L with one brown a*, b* everywhere.
    from vidcolor.color import rgb_uint8_to_lab
    from vidcolor.image import merge_l_ab

    L = rgb_uint8_to_lab(torch.from_numpy(real_photos["astronaut"]))[0].numpy()
    brown = np.stack([np.full_like(L, 3.0), np.full_like(L, 9.0)]) / 128.0
    sepia = merge_l_ab(L, brown)
    assert data.chroma_std(sepia) < 6.0


def test_pictures_are_decoded_then_cropped_normalised_and_grey_dropped(real_photos, tmp_path):
    coffee = tmp_path / "coffee.png"
    coffee.write_bytes(_png_bytes(real_photos["coffee"]))
    grey_rgb = np.repeat(real_photos["coffee"].mean(axis=2, keepdims=True), 3, axis=2)
    grey = tmp_path / "grey.png"
    grey.write_bytes(_png_bytes(grey_rgb.astype(np.uint8)))
    cfg = data.DataConfig(image_size=64, crops_per_image=3)
    decode = data.DecodePictures(cfg)
    pictures = decode({"uri": str(coffee), "relpath": "coffee.png", "kind": "image"})
    assert len(pictures) == 1 and np.array_equal(pictures[0]["rgb"], real_photos["coffee"])
    assert decode({"uri": str(grey), "relpath": "grey.png", "kind": "image"}) == []
    rows = data.CropExamples(cfg, train=True)(pictures[0])
    assert len(rows) == 3
    for row in rows:
        assert row["l"].shape == (1, 64, 64) and row["ab"].shape == (2, 64, 64)
        assert row["l"].dtype == np.float32
        assert -1.0 <= row["l"].min() and row["l"].max() <= 1.0
        assert np.abs(row["ab"]).max() <= 1.0 and row["ab"].std() > 0.01
    assert not np.allclose(rows[0]["l"], rows[1]["l"])  # random crops differ
    held = data.CropExamples(cfg, train=False)
    a, b = held(pictures[0]), held(pictures[0])
    assert len(a) == 1 and np.array_equal(a[0]["ab"], b[0]["ab"])  # held-out: fixed centre crop


def test_video_frames_are_decoded_once_per_run_and_cropped_anew_every_epoch(carphone, ray_local):
    cfg = data.DataConfig(image_size=32, frames_per_video=3, crops_per_image=2, task_cpus=0.5)
    decoded = data.decoded_pictures([data.Source(str(carphone), "carphone.mp4", "video")], cfg)
    crops = decoded.flat_map(data.CropExamples(cfg, train=True))
    from ray.data.dataset import MaterializedDataset

    # Materialised: each epoch reads the decoded frames from the object store (no decode again).
    assert isinstance(decoded, MaterializedDataset) and decoded.count() == 3
    first = crops.take_all()
    assert len(first) == 6
    second = crops.take_all()
    assert len(second) == 6
    assert not all(np.array_equal(a["l"], b["l"]) for a, b in zip(first, second, strict=True))


def test_validation_sources_replace_the_heldout_split(carphone, real_photos, tmp_path, ray_local):
    Image.fromarray(real_photos["chelsea"]).save(tmp_path / "chelsea.png")
    cfg = data.DataConfig(image_size=32, frames_per_video=3, heldout_fraction=0.5, task_cpus=0.5)
    train = [data.Source(str(carphone), "carphone.mp4", "video")]
    validation = [data.Source(str(tmp_path / "chelsea.png"), "chelsea.png", "image")]
    datasets = data.build_datasets(train, cfg, validation)
    # All of the training video trains (no 50 % split); validation is the one photo, centre crop.
    assert datasets["train"].count() == 3 and datasets["heldout"].count() == 1
    expected = data.to_example(data.center_crop(real_photos["chelsea"], 32))
    assert np.array_equal(datasets["heldout"].take(1)[0]["ab"], expected["ab"])


def test_video_frames_are_sampled_through_the_video_engine(carphone):
    frames = data.sample_video_frames(str(carphone), 4)
    assert len(frames) == 4
    assert frames[0].shape == (144, 176, 3) and frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[-1])


def test_bad_image_is_a_one_line_error_naming_the_file(tmp_path):
    from vidcolor.errors import VidcolorError

    with pytest.raises(VidcolorError, match="broken.png: not a readable image"):
        data.decode_image(b"not an image", "broken.png")


def _tiny_models(image_size: int = 32):
    cfg = ModelConfig(variant="vit-gan", width=4, image_size=image_size)
    g = build_generator(cfg)
    disc_kwargs = dict(
        image_size=image_size, patch_size=16, dim=32, depth=1, heads=2, dim_head=8, mlp_dim=32
    )
    d = ViTDiscriminator(**disc_kwargs)
    return cfg, g, d, disc_kwargs


def test_training_state_round_trips_through_safetensors(tmp_path, real_photos):
    torch.manual_seed(0)
    cfg, g, d, disc_kwargs = _tiny_models()
    opt_g, opt_d = make_optimizers(g, d, GANConfig())
    rgb = data.center_crop(real_photos["chelsea"], 32)[None]
    from vidcolor.color import rgb_to_model_input

    l_norm, ab = rgb_to_model_input(rgb)
    gan_step(g, d, opt_g, opt_d, l_norm, ab)
    save_training_state(
        str(tmp_path),
        generator=g,
        model_config=cfg,
        discriminator=d,
        disc_kwargs=disc_kwargs,
        opt_g=opt_g,
        opt_d=opt_d,
        position=Position(step=7, epoch=1, batch=3),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "discriminator.safetensors",
        "generator.safetensors",
        "optimizer.safetensors",
    ]
    for p in tmp_path.iterdir():  # safetensors: 8-byte header length then a JSON header
        header_len = int.from_bytes(p.read_bytes()[:8], "little")
        json.loads(p.read_bytes()[8 : 8 + header_len])
    state = load_training_state(str(tmp_path))
    assert state.position == Position(step=7, epoch=1, batch=3)
    assert state.disc_kwargs == disc_kwargs and state.model_config.width == 4

    _, g2, d2, _ = _tiny_models()
    opt_g2, opt_d2 = make_optimizers(g2, d2, GANConfig())
    g2.load_state_dict(state.generator)
    d2.load_state_dict(state.discriminator)
    opt_g2.load_state_dict(state.opt_g)
    opt_d2.load_state_dict(state.opt_d)
    before, after = opt_g.state_dict()["state"], opt_g2.state_dict()["state"]
    assert before.keys() == after.keys()
    for key, a in before.items():
        assert torch.equal(a["exp_avg"], after[key]["exp_avg"])
        assert torch.equal(a["step"], after[key]["step"])
    # The restored pair takes the same next step as the original.
    torch.manual_seed(1)
    out1 = gan_step(g, d, opt_g, opt_d, l_norm, ab)
    torch.manual_seed(1)
    out2 = gan_step(g2, d2, opt_g2, opt_d2, l_norm, ab)
    assert out1 == pytest.approx(out2, rel=1e-5)


def test_moving_average_follows_the_generator_and_is_saved_beside_it(tmp_path):
    from vidcolor.train.ema import GeneratorEMA

    torch.manual_seed(0)
    cfg, g, d, disc_kwargs = _tiny_models()
    start = {k: v.clone() for k, v in g.state_dict().items()}
    ema = GeneratorEMA(g, decay=0.75)
    opt_g, opt_d = make_optimizers(g, d, GANConfig())
    l_norm = torch.rand(2, 1, 32, 32) * 2 - 1
    ab = torch.rand(2, 2, 32, 32) * 0.2
    trained = []
    for _ in range(3):
        gan_step(g, d, opt_g, opt_d, l_norm, ab)
        ema.update(g)
        trained.append({k: v.clone() for k, v in g.state_dict().items()})
    # avg_3 = 0.75^3 start + 0.25 (0.75^2 w1 + 0.75 w2 + w3), for weights and BatchNorm statistics.
    name = next(k for k, v in start.items() if v.dtype.is_floating_point and "weight" in k)
    for key in (name, next(k for k in start if k.endswith("running_mean"))):
        w1, w2, w3 = (t[key] for t in trained)
        expected = 0.75**3 * start[key] + 0.25 * (0.75**2 * w1 + 0.75 * w2 + w3)
        assert torch.allclose(ema.module.state_dict()[key], expected, atol=1e-6), key
        assert not torch.allclose(expected, w3)  # the average is not the last step
    batches = next(k for k in start if k.endswith("num_batches_tracked"))
    assert torch.equal(ema.module.state_dict()[batches], g.state_dict()[batches])
    assert not any(p.requires_grad for p in ema.module.parameters())

    save_training_state(
        str(tmp_path),
        generator=g,
        model_config=cfg,
        discriminator=d,
        disc_kwargs=disc_kwargs,
        opt_g=opt_g,
        opt_d=opt_d,
        position=Position(step=3),
        averaged_generator=ema.module,
    )
    state = load_training_state(str(tmp_path))
    # generator.safetensors (what is exported and loaded for inference) holds the average; the
    # optimiser's generator is kept beside it for --resume.
    assert torch.equal(state.averaged_generator[name], ema.module.state_dict()[name])
    assert torch.equal(state.generator[name], g.state_dict()[name])
    from vidcolor.checkpoint import load_generator

    exported, _ = load_generator(str(tmp_path / "generator.safetensors"))
    assert torch.equal(exported.state_dict()[name], ema.module.state_dict()[name])


def test_report_metrics_and_sample_grid(real_photos):
    from vidcolor.color import rgb_to_model_input

    rgb = torch.stack([data.center_crop(real_photos[n], 64) for n in ("coffee", "astronaut")])
    l_norm, ab = rgb_to_model_input(rgb)
    perfect = report.heldout_metrics(l_norm, ab, ab)
    grey = report.heldout_metrics(l_norm, ab, torch.zeros_like(ab))
    assert perfect["heldout_ab_psnr"] > 40 > grey["heldout_ab_psnr"]
    assert grey["heldout_ab_psnr"] == pytest.approx(grey["heldout_ab_psnr_grey"])
    assert perfect["heldout_colourfulness_ratio"] == pytest.approx(1.0, abs=0.02)
    assert perfect["heldout_hue_agreement"] == 1.0 and grey["heldout_hue_agreement"] == 0.0
    assert grey["heldout_colourfulness"] < 1.0
    grid = Image.open(io.BytesIO(report.sample_grid_png(l_norm, ab, ab * 0.5)))
    assert grid.size == (3 * 64, 2 * 64)


def test_cli_and_job_share_options_and_build_the_config():
    import importlib.util
    from dataclasses import replace

    from vidcolor.cli import build_parser
    from vidcolor.commands.train import config_from_args

    argv = ["--data", "a/", "--data", "s3://b/p", "--output", "out", "--workers", "2",
            "--variant", "vit-gan", "--width", "16", "--disc-dim", "128", "--disc-depth", "2",
            "--lr-drop-step", "500", "--max-steps", "7", "--validation", "v/",
            "--ema-decay", "0.999", "--dark-fraction", "0.25",
            "--colour-rebalance", "0.5"]  # fmt: skip
    args = build_parser().parse_args(["train", *argv])
    cfg = config_from_args(args)
    assert cfg.data == ["a/", "s3://b/p"] and cfg.workers == 2 and cfg.max_steps == 7
    assert cfg.validation == ["v/"] and cfg.ema_decay == 0.999 and cfg.dark_fraction == 0.25
    assert cfg.colour_rebalance == 0.5
    assert cfg.disc_dim == 128 and cfg.disc_depth == 2 and cfg.disc_heads is None
    assert cfg.betas == (0.5, 0.9) and cfg.lr == 2e-4
    assert cfg.disc_kwargs() == {"image_size": 256, "dim": 128, "depth": 2}
    assert args.address is None  # the CLI starts/joins a local Ray
    jobs_train = Path(__file__).resolve().parents[1] / "jobs" / "train.py"
    spec = importlib.util.spec_from_file_location("jobs_train", jobs_train)
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    parser = __import__("argparse").ArgumentParser()
    job.add_arguments(parser, default_address="auto")
    job_args = parser.parse_args(argv)
    # The same config but for the cluster joined: the job joins the one it runs on.
    assert job_args.address == "auto" and config_from_args(job_args) == replace(cfg, address="auto")
    from vidcolor.errors import UsageError

    # Every default is TrainConfig's: the CLI keeps no copy of its own.
    from vidcolor.train.config import TrainConfig

    plain = build_parser().parse_args(["train", "--data", "a/", "--output", "o"])
    assert config_from_args(plain) == TrainConfig(data=["a/"], output="o")
    bad = build_parser().parse_args(["train", "--data", "a/", "--output", "o", "--ema-decay", "1"])
    with pytest.raises(UsageError, match="--ema-decay must be in"):
        config_from_args(bad)
    bad = build_parser().parse_args(
        ["train", "--data", "a/", "--output", "o", "--dark-fraction", "2"]
    )
    with pytest.raises(UsageError, match="--dark-fraction must be in"):
        config_from_args(bad)
    # above 1 the weights' mixing term turns negative: refused, not trained on
    bad = build_parser().parse_args(
        ["train", "--data", "a/", "--output", "o", "--colour-rebalance", "2"]
    )
    with pytest.raises(UsageError, match=r"--colour-rebalance must be in \[0, 1\], got 2.0"):
        config_from_args(bad)


def test_moving_average_shares_the_frozen_inception():
    """vit-i-gan's Inception never trains: the average holds the generator's own copy (~100 MB
    saved, no per-step arithmetic on it); the trainable weights are its own and follow."""
    from vidcolor.train.ema import GeneratorEMA

    torch.manual_seed(0)
    g = build_generator(ModelConfig(variant="vit-i-gan", width=4), random_inception=True)
    ema = GeneratorEMA(g, decay=0.5)
    assert ema.module.embedder is g.embedder
    assert ema.module.encoder is not g.encoder and ema.shared_names
    assert all(name.startswith("embedder.") for name in ema.shared_names)
    frozen = {k: v.clone() for k, v in g.embedder.state_dict().items()}
    with torch.no_grad():
        for p in g.decoder.parameters():
            p.add_(1.0)
    ema.update(g)
    name, before = next(iter(g.decoder.state_dict().items()))
    assert torch.allclose(ema.module.decoder.state_dict()[name], before - 0.5)
    assert all(torch.equal(v, g.embedder.state_dict()[k]) for k, v in frozen.items())


def test_underexposed_crops_are_darker_with_the_same_hues(real_photos):
    """--dark-fraction: a crop darkened in linear light keeps its hues (a* b* angle) where it has
    colour, and its L drops; with dark_fraction 1 every training crop is darker than without."""
    from vidcolor import color

    gen = torch.Generator().manual_seed(0)
    crop = data.center_crop(real_photos["chelsea"], 64)
    dark = data.underexpose(crop, gen)
    (L, a, b), (dark_L, dark_a, dark_b) = (color.rgb_to_lab(x) for x in (crop, dark))
    assert dark_L.mean() < 0.75 * L.mean()
    coloured = (dark_a.hypot(dark_b) > 5) & (a.hypot(b) > 5)
    angle = torch.atan2(b, a) - torch.atan2(dark_b, dark_a)
    angle = torch.remainder(angle + torch.pi, 2 * torch.pi) - torch.pi
    assert coloured.float().mean() > 0.3 and angle[coloured].abs().median() < 0.1  # radians

    picture = {"rgb": real_photos["chelsea"], "relpath": "c.png"}
    plain = data.CropExamples(data.DataConfig(image_size=64, crops_per_image=8), train=True)
    darkened = data.CropExamples(
        data.DataConfig(image_size=64, crops_per_image=8, dark_fraction=1.0), train=True
    )
    l_plain = np.mean([r["l"].mean() for r in plain(picture)])
    l_dark = np.mean([r["l"].mean() for r in darkened(picture)])
    assert l_dark < l_plain - 0.2  # normalised L in [-1, 1]
