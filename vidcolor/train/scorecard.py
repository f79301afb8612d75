"""Score a generator checkpoint on held-out photos the way a user meets it: whole photos through
``Colouriser.colourise_rgb`` (model short side 256, the photo's own L).

``python -m vidcolor.train.scorecard CHECKPOINT DIR [--grid FILE.png]`` prints one line per photo
and the means the demo card and its test use: hue agreement, colourfulness ratio, a*b* PSNR of the
model and of leaving the photo grey. ``--grid`` writes grey | predicted | truth rows.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class PhotoScore:
    name: str
    hue_agreement: float
    colourfulness_ratio: float
    ab_psnr: float
    ab_psnr_grey: float


def read_photos(root: str | Path) -> dict[str, np.ndarray]:
    """Every image under ``root`` (recursively, sorted) as uint8 RGB, keyed by relative path."""
    from vidcolor import storage
    from vidcolor.image import read_image

    root = Path(root)
    return {
        str(path.relative_to(root)): np.array(read_image(str(path)))  # writable: torch reads it
        for path in sorted(root.rglob("*"))
        if path.is_file() and storage.kind_of(str(path)) == "image"
    }


def colourise_photos(colouriser, photos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each photo through ``colouriser`` (an ``infer.Colouriser``): its own L, predicted ab."""
    return {name: colouriser.colourise_rgb(truth) for name, truth in photos.items()}


def score_photos(
    photos: dict[str, np.ndarray], outputs: dict[str, np.ndarray]
) -> tuple[list[PhotoScore], dict]:
    """Per-photo scores of ``outputs`` against the true ``photos``, and their means."""
    from vidcolor.metrics import ab_psnr, colourfulness_ratio, hue_agreement
    from vidcolor.metrics.hue import ab_psnr_grey

    scores = []
    for name, truth in photos.items():
        out = outputs[name]
        scores.append(
            PhotoScore(
                name,
                hue_agreement(truth, out),
                colourfulness_ratio(truth, out),
                ab_psnr(truth, out),
                ab_psnr_grey(truth),
            )
        )
    means = {
        key: float(np.nanmean([getattr(s, key) for s in scores]))
        for key in ("hue_agreement", "colourfulness_ratio", "ab_psnr", "ab_psnr_grey")
    }
    return scores, means


def sample_grid(colouriser, photos: dict[str, np.ndarray], height: int = 160) -> np.ndarray:
    """grey | predicted | truth, one row per photo, each ``height`` pixels tall (uint8 RGB)."""
    import torch
    from PIL import Image

    from vidcolor import color

    rows = []
    for truth in photos.values():
        width = max(2, round(truth.shape[1] * height / truth.shape[0]))
        small = np.asarray(Image.fromarray(truth).resize((width, height), Image.Resampling.LANCZOS))
        out = colouriser.colourise_rgb(small)
        grey_l = color.rgb_uint8_to_lab(torch.tensor(small))[0].numpy()
        grey = np.repeat((grey_l * 2.55).clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
        rows.append(np.concatenate([grey, out, small], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> None:
    from PIL import Image

    from vidcolor.infer import Colouriser

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="generator .safetensors")
    parser.add_argument("photos", help="folder of held-out photos")
    parser.add_argument("--grid", help="write a grey | predicted | truth grid here (PNG)")
    args = parser.parse_args(argv)
    colouriser = Colouriser(args.checkpoint, device="cpu")
    photos = read_photos(args.photos)
    scores, means = score_photos(photos, colourise_photos(colouriser, photos))
    for s in scores:
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else v for k, v in asdict(s).items()))
    print("mean " + " ".join(f"{k}={v:.3f}" for k, v in means.items()))
    if args.grid:
        Image.fromarray(sample_grid(colouriser, photos)).save(args.grid)


if __name__ == "__main__":
    main()
