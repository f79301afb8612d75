"""Read the photos inside jigzo's puzzle files (``.pzl``), as the Debian package jigzo-data ships
them: twelve real photos (a kookaburra in a gum tree, blackberries, a gorilla on grass, a castle
above trees, a steam train, a windmill...).

Format (jigzo 0.6): four text lines (``PzlF``, the format version, the puzzle's id, a URL), then
entries, each a name line, a decimal size line and that many bytes: ``ID.map`` (the texture map,
text), ``ID-t.jpg`` (a thumbnail), ``ID.png`` (the pieces' alpha mask) and ``ID.jpg`` (the
texture: the whole picture, framed by a black pixel, at the rectangle the map's ``image X Y W H``
line names, the pieces beside it).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

JIGZO_ROOT = "/usr/share/games/jigzo/puzzles"
JIGZO_COPYRIGHT = "/usr/share/doc/jigzo-data/copyright"
# Left out: a non-commercial licence (CC-BY-NC-SA-1.0) is not one the demo's weights can carry.
JIGZO_EXCLUDED = {"non-commercial licence": ("penguin-3x2",)}
_IMAGE_RECT = re.compile(rb"^image (\d+) (\d+) (\d+) (\d+)", re.MULTILINE)


def read_entries(blob: bytes, where: str = "puzzle file") -> dict[str, bytes]:
    """Every entry of the puzzle file ``blob`` as {name: bytes}; a file that is not one (or is
    cut short) is a ValueError naming ``where``."""
    lines = blob.split(b"\n", 4)
    if len(lines) < 5 or lines[0] != b"PzlF":
        raise ValueError(f"{where}: not a jigzo puzzle file")
    entries, rest = {}, lines[4]
    while rest:
        name, size, tail = (rest.split(b"\n", 2) + [b"", b""])[:3]
        if not size.isdigit() or len(tail) < int(size):
            label = name[:40].decode("latin-1")
            raise ValueError(f"{where}: entry {label!r} is cut short or malformed")
        entries[name.decode("latin-1")] = tail[: int(size)]
        rest = tail[int(size) :]
    return entries


def read_puzzle(blob: bytes, where: str = "puzzle file") -> np.ndarray:
    """The whole picture of a puzzle file as uint8 RGB (H, W, 3)."""
    from vidcolor.train.data import decode_image

    entries = read_entries(blob, where)
    maps = [data for name, data in entries.items() if name.endswith(".map")]
    textures = [
        data
        for name, data in entries.items()
        if name.endswith(".jpg") and not name.endswith("-t.jpg")
    ]
    rect = _IMAGE_RECT.search(maps[0]) if maps else None
    if rect is None or len(textures) != 1:
        raise ValueError(f"{where}: no texture map with an image rectangle, or no single texture")
    x, y, w, h = (int(v) for v in rect.groups())
    texture = decode_image(textures[0], where, max_side=1 << 16)  # full size: pixel coordinates
    if y + h > texture.shape[0] or x + w > texture.shape[1]:
        raise ValueError(f"{where}: the image rectangle lies outside the texture")
    # The rectangle's outermost pixels are a black frame the game draws around the picture.
    return np.ascontiguousarray(texture[y + 1 : y + h - 1, x + 1 : x + w - 1])


def jigzo_photos(root: str = JIGZO_ROOT) -> list[tuple[dict, np.ndarray]]:
    """(SOURCES.json entry, uint8 RGB) of every puzzle under ``root`` but JIGZO_EXCLUDED's, with
    the licence the package's Debian copyright file gives it; empty when jigzo-data is not
    installed."""
    from vidcolor.demo_data.debian_copyright import package_licences

    excluded = {stem for stems in JIGZO_EXCLUDED.values() for stem in stems}
    licence_of = package_licences(JIGZO_COPYRIGHT)
    photos = []
    for path in sorted(Path(root).glob("*/*.pzl")):
        if path.stem in excluded:
            continue
        inner = str(path.relative_to(Path(root).parent))  # puzzles/00_default/x.pzl
        entry = {
            "name": f"jigzo-{path.stem.rsplit('-', 1)[0]}",
            "group": "jigzo-data",
            "origin": str(path),
            "author": "see the package's copyright file",
            "licence": licence_of(inner),
        }
        photos.append((entry, read_puzzle(path.read_bytes(), str(path))))
    return photos
