"""Training data: image files and frames sampled from videos, as (L, ab) crops through Ray Data.

Every stage is a plain function testable without Ray; :func:`build_datasets` wires them into
``ray.data``: one row per image / per video -> decoded pictures (once per run, materialised) ->
normalised random crops (every epoch).
Preprocessing follows the paper (4.1): random crop/resize to the training size, RGB -> CIE Lab,
L and ab normalised to [-1, 1]. Grey and near-grey sources (old scans, sepia prints) are dropped:
trained on, they teach the model that brown is a safe answer.

The held-out split is a hash of each source's path relative to its input root, so it is the same on
every machine and for every ``--data`` spelling of the same tree (local dir or S3 copy).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vidcolor import color, storage
from vidcolor.errors import VidcolorError
from vidcolor.listing import list_inputs


@dataclass
class DataConfig:
    image_size: int = 256  # paper: 256x256 crops
    heldout_fraction: float = 0.1
    min_chroma_std: float = 6.0  # Lab units; below this a source counts as grey/sepia
    frames_per_video: int = 8  # evenly spaced frames sampled from each video
    crops_per_image: int = 1  # random crops per source per epoch (small data sets)
    dark_fraction: float = 0.0  # share of training crops underexposed (see underexpose)
    min_crop_scale: float = 0.3  # RandomResizedCrop area range (min_crop_scale, 1)
    task_cpus: float = 1.0  # CPUs each loading task reserves (see vidcolor/train/resources.py)


def is_heldout(relpath: str, fraction: float) -> bool:
    """Deterministic held-out membership from the source's relative path."""
    digest = hashlib.sha256(relpath.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < fraction


def chroma_std(rgb: np.ndarray, size: int = 128) -> float:
    """Spread of the colour (sqrt(var a* + var b*), Lab units) of a uint8 (H, W, 3) image.

    Grey is 0; a sepia or tinted print is near 0 too (one hue everywhere), natural photos 10-30.
    Computed on a downscaled copy: the statistic does not need the pixels, and wallpapers are 4K.
    """
    x = torch.as_tensor(np.array(rgb[..., :3])).permute(2, 0, 1).float()[None] / 255.0  # a copy
    scale = size / max(x.shape[-2:])
    if scale < 1:
        x = F.interpolate(x, scale_factor=scale, mode="area")
    ab = color.rgb_to_lab(x)[0, 1:].flatten(1)
    return float(ab.var(dim=1).sum().sqrt())


def decode_image(data: bytes, uri: str, max_side: int = 1024) -> np.ndarray:
    """Image bytes -> uint8 RGB (H, W, 3). JPEG is decoded at a reduced size when it is huge."""
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data))
        img.draft("RGB", (max_side, max_side))  # JPEG: DCT-domain downscale, cheap
        img = img.convert("RGB")
        if max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
        return np.array(img)  # writable: torch.from_numpy later
    except Exception as err:  # PIL raises many types for bad files
        raise VidcolorError(f"{uri}: not a readable image ({err})") from err


def sample_video_frames(uri: str, count: int, max_side: int = 1024) -> list[np.ndarray]:
    """``count`` evenly spaced frames of a video as uint8 RGB, through the video engine's probe."""
    from vidcolor.video.frames import frames_at
    from vidcolor.video.probe import probe

    info = probe(uri)
    pts = info.frame_pts
    if not pts:
        raise VidcolorError(f"{uri}: no video frames")
    count = min(count, len(pts))
    targets = [pts[int((i + 0.5) * len(pts) / count)] for i in range(count)]
    scale = min(1.0, max_side / max(info.width, info.height))

    def fit(width: int, height: int) -> tuple[int, int]:
        return max(2, int(width * scale)), max(2, int(height * scale))

    return frames_at(uri, targets, fit=fit)


def random_resized_crop(
    rgb: np.ndarray, size: int, generator: torch.Generator, min_scale: float = 0.3
) -> torch.Tensor:
    """Random area/aspect crop resized to size x size, random horizontal flip -> float (3, S, S)."""
    from torchvision.transforms.v2 import RandomResizedCrop

    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        i, j, h, w = RandomResizedCrop.get_params(x, scale=(min_scale, 1.0), ratio=(3 / 4, 4 / 3))
    crop = F.interpolate(
        x[None, :, i : i + h, j : j + w], size=(size, size), mode="bilinear", antialias=True
    )[0]
    if torch.rand((), generator=generator) < 0.5:
        crop = crop.flip(-1)
    return crop.clamp(0.0, 1.0)


def underexpose(
    crop: torch.Tensor, generator: torch.Generator, lo: float = 0.1, hi: float = 0.5
) -> torch.Tensor:
    """sRGB (3, S, S) in [0, 1] with its light scaled by a random factor in [lo, hi], in linear
    light: the same scene photographed darker, hues kept. Photo collections are shot in good
    light; films are full of dusk and forest shade, which a model that never saw dark greens
    paints blue."""
    factor = lo + (hi - lo) * float(torch.rand((), generator=generator))
    return color.linear_to_srgb(color.srgb_to_linear(crop) * factor).clamp(0.0, 1.0)


def center_crop(rgb: np.ndarray, size: int) -> torch.Tensor:
    """Short side -> size, centre square -> float (3, S, S). Deterministic, for held-out data."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()[None] / 255.0
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True)
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[0, :, top : top + size, left : left + size].clamp(0.0, 1.0)


def to_example(rgb_crop: torch.Tensor) -> dict[str, np.ndarray]:
    """float RGB (3, S, S) -> the row the trainer reads: normalised L (1, S, S) and ab (2, S, S)."""
    l_norm, ab_norm = color.rgb_to_model_input(rgb_crop)
    return {"l": l_norm.numpy().astype(np.float32), "ab": ab_norm.numpy().astype(np.float32)}


@dataclass
class Source:
    uri: str
    relpath: str
    kind: str  # 'image' | 'video'


def list_sources(data: list[str]) -> list[Source]:
    """Image and video files under ``--data`` entries (dirs, globs, files, s3:// prefixes)."""
    files = list_inputs(list(data))
    out = []
    for f in files:
        out.append(Source(f.uri, f.relpath, storage.kind_of(f.uri)))
    return out


def split_sources(sources: list[Source], fraction: float) -> tuple[list[Source], list[Source]]:
    """(train, held-out) by hash of relpath. Falls back to the last source when the hash picks
    none, so a held-out metric always exists (unless there is only one source)."""
    heldout = [s for s in sources if is_heldout(s.relpath, fraction)]
    if not heldout and len(sources) > 1 and fraction > 0:
        heldout = [min(sources, key=lambda s: hashlib.sha256(s.relpath.encode()).digest())]
    train = [s for s in sources if s not in heldout]
    return train, heldout


class DecodePictures:
    """One source row -> its pictures (the photo, or frames sampled from the video) as rows
    ``{"rgb", "relpath"}`` (``flat_map`` callable). Grey and near-grey pictures are dropped here.

    Runs once per training run: :func:`build_datasets` materialises its output, so every epoch
    crops from decoded pictures instead of decoding each video again.
    """

    def __init__(self, config: DataConfig):
        self.config = config

    def __call__(self, row: dict) -> list[dict]:
        if row["kind"] == "video":
            pictures = sample_video_frames(row["uri"], self.config.frames_per_video)
        else:
            pictures = [decode_image(storage.read_bytes(row["uri"]), row["uri"])]
        return [
            {"rgb": rgb, "relpath": row["relpath"]}
            for rgb in pictures
            if chroma_std(rgb) >= self.config.min_chroma_std
        ]


class CropExamples:
    """One decoded picture -> normalised (L, ab) crops (``flat_map`` callable): fresh random crops
    every epoch for training, the same centre crop every time for held-out."""

    def __init__(self, config: DataConfig, *, train: bool):
        self.config = config
        self.train = train

    def __call__(self, row: dict) -> list[dict]:
        cfg = self.config
        rgb = np.array(row["rgb"])  # a writable copy: torch warns on Ray's read-only arrays
        if not self.train:
            return [to_example(center_crop(rgb, cfg.image_size))]
        gen = torch.Generator()
        gen.seed()
        crops = [
            random_resized_crop(rgb, cfg.image_size, gen, cfg.min_crop_scale)
            for _ in range(cfg.crops_per_image)
        ]
        return [
            to_example(
                underexpose(c, gen) if torch.rand((), generator=gen) < cfg.dark_fraction else c
            )
            for c in crops
        ]


def decoded_pictures(sources: list[Source], config: DataConfig):
    """The pictures of ``sources`` decoded once and kept in Ray's object store (spilled to disk
    when they outgrow it), one block per source so the block order can be shuffled per epoch."""
    import ray.data

    items = [{"uri": s.uri, "relpath": s.relpath, "kind": s.kind} for s in sources]
    return (
        ray.data.from_items(items, override_num_blocks=len(items))
        .flat_map(DecodePictures(config), num_cpus=config.task_cpus)
        .materialize()
    )


def build_datasets(
    sources: list[Source], config: DataConfig, validation: list[Source] | None = None
):
    """``{"train": Dataset, "heldout": Dataset}`` of rows {l, ab} for TorchTrainer. The held-out
    (validation) pictures are ``validation`` when given, else the hash split of ``sources``.

    Both are decoded once (:func:`decoded_pictures`). Training crops are drawn again every epoch
    from the pictures in a new random block order (seedless ``randomize_block_order`` reshuffles on
    each execution); the trainer's local shuffle buffer then mixes crops of different pictures.
    """
    if validation is None:
        train, heldout = split_sources(sources, config.heldout_fraction)
    else:
        train, heldout = sources, validation
    if not train:
        raise VidcolorError("no training data left after the held-out split; add more --data")
    datasets = {
        "train": decoded_pictures(train, config)
        .randomize_block_order()
        .flat_map(CropExamples(config, train=True), num_cpus=config.task_cpus),
    }
    if heldout:
        # Small and fixed: crop once, keep in the object store for every report.
        datasets["heldout"] = (
            decoded_pictures(heldout, config)
            .flat_map(CropExamples(config, train=False), num_cpus=config.task_cpus)
            .materialize()
        )
    return datasets


QUIET_RAY_DATA_ENV = {"RAY_DATA_LOG_LEVEL": "WARNING"}  # for processes started after this one


def quiet_ray_data() -> None:
    """No Ray Data progress bars or per-execution banners ("Dataset ... execution finished", one
    per epoch) in this process: a training log is one line per report, not loading progress.
    Processes Ray starts get ``QUIET_RAY_DATA_ENV`` (trainer.py, commands/train.py)."""
    import logging

    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    # "Progress bars disabled. To enable, ..." is a warning about the line above: not news.
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
