"""The photos of GCompris's photo activities, read from the Qt resource files the Debian package
gcompris-qt-data installs, each with the licence the package's copyright file gives it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

GCOMPRIS = "gcompris-qt-data"
GCOMPRIS_ROOT = "/usr/share/gcompris-qt/rcc"
GCOMPRIS_COPYRIGHT = "/usr/share/doc/gcompris-qt-data/copyright"
# GCompris's photo activities, (resource file, folder inside it): every photo there trains (the
# educational game's pictures of animals on grass, monuments under sky: what the demo lacked;
# objects, underwater scenes and musicians from the last three),
# except the ones named in GCOMPRIS_EXCLUDED. Each photo's licence is what the package's Debian
# copyright file says for its path.
GCOMPRIS_FOLDERS = (
    ("erase.rcc", "erase/resource"),
    ("explore_farm_animals.rcc", "explore_farm_animals/resource/animals"),
    ("explore_world_animals.rcc", "explore_world_animals/resource/animals"),
    ("explore_monuments.rcc", "explore_monuments/resource"),
    ("details.rcc", "details/resource/image"),
    ("categorization.rcc", "categorization/resource/images"),
    ("clickgame.rcc", "clickgame/resource"),
    ("explore_world_music.rcc", "explore_world_music/resource/music"),
)
GCOMPRIS_EXCLUDED = {
    "paintings": (
        "Eglise_dAuvers-sur-Oise_background", "Gogh4_background", "PortraitOfPereTanguy_background",
        "Van_Gogh_The_Night_Cafe_background", "VincentVanGogh0012_background",
        "VincentVanGogh0013_background", "VincentVanGogh0019_background",
        "VincentVanGoghBridge_background",
    ),
    "black and white": ("castleClinton",),
}  # fmt: skip
_RASTER = (".jpg", ".jpeg", ".png", ".webp")


def gcompris_photos(root: str = GCOMPRIS_ROOT) -> list[tuple[dict, np.ndarray]]:
    """(SOURCES.json entry, uint8 RGB) of the photos of GCOMPRIS_FOLDERS, empty when
    gcompris-qt-data is not installed."""
    from vidcolor.demo_data.debian_copyright import package_licences
    from vidcolor.demo_data.qt_resources import read_rcc
    from vidcolor.train.data import decode_image

    excluded = {stem for stems in GCOMPRIS_EXCLUDED.values() for stem in stems}
    licence_of = package_licences(GCOMPRIS_COPYRIGHT)
    photos = []
    for rcc, folder in GCOMPRIS_FOLDERS:
        path = Path(root) / rcc
        if not path.is_file():
            continue
        for name, blob in sorted(read_rcc(path.read_bytes(), str(path)).items()):
            inner = name.removeprefix("gcompris/")
            stem, suffix = Path(inner).stem, Path(inner).suffix.lower()
            wanted = inner.startswith(f"src/activities/{folder}/") and suffix in _RASTER
            if not wanted or stem in excluded:
                continue
            rgb = decode_image(blob, f"{path}:{inner}")
            if min(rgb.shape[:2]) < 256:  # icons and buttons are small
                continue
            entry = {
                "name": f"{folder.split('/')[0]}-{stem}",
                "group": GCOMPRIS,
                "origin": f"{path}:{inner}",
                "author": "GCompris contributors (see the package's copyright file)",
                "licence": licence_of(inner),
            }
            photos.append((entry, rgb))
    return photos
