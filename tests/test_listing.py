"""Listing inputs lazily and safely: symlink loops, directories reached twice, odd names."""

from __future__ import annotations

import os
from itertools import islice

from vidcolor.listing import Lister
from vidcolor.pipeline import PipelineConfig
from vidcolor.pipeline.plan import input_rows


def _tree(root):
    """root/a.mp4, root/sub/b.png, root/sub/c.mkv and root/sub/loop -> ../.. (its grandparent)."""
    (root / "sub").mkdir(parents=True)
    for name in ("a.mp4", "sub/b.png", "sub/c.mkv"):
        (root / name).write_bytes(b"0")
    os.symlink("../..", root / "sub" / "loop")
    return root


def test_a_symlink_loop_is_listed_once_and_reported(tmp_path):
    root = _tree(tmp_path / "films")
    items = list(Lister().iter_inputs([str(root)]))
    files = [i.relpath for i in items if not i.note]
    notes = [i.note for i in items if i.note]
    # The loop reaches tmp_path, which holds films/ again: films/ is not walked a second time.
    assert files == ["a.mp4", "sub/b.png", "sub/c.mkv"]
    assert any("directory already listed" in n and "films" in n for n in notes), notes


def test_a_directory_named_twice_is_listed_once(tmp_path):
    root = tmp_path / "films"
    (root / "x").mkdir(parents=True)
    (root / "x" / "a.mp4").write_bytes(b"0")
    os.symlink(root / "x", tmp_path / "alias")
    items = list(Lister().iter_inputs([str(root), str(tmp_path / "alias")]))
    assert [i.uri for i in items if not i.note and not i.problem] == [str(root / "x" / "a.mp4")]
    assert sum(bool(i.note) for i in items) == 1  # the alias, reported as skipped


def test_listing_is_lazy(tmp_path):
    """The first file comes before the rest of a large tree is read."""
    for d in range(50):
        (tmp_path / f"d{d:02d}").mkdir()
        (tmp_path / f"d{d:02d}" / "v.mp4").write_bytes(b"0")
    lister = Lister()
    first = list(islice(lister.iter_inputs([str(tmp_path)]), 1))
    assert first[0].relpath == "d00/v.mp4"
    assert len(lister.dirs) == 2  # the root and d00 only


def test_control_characters_in_names_stay_on_one_line(tmp_path):
    bad = tmp_path / "evil\nname\r.mp4"
    bad.write_bytes(b"not a video")
    os.mkfifo(tmp_path / "pipe.mp4")
    rows = list(input_rows([str(tmp_path), str(tmp_path / "gone\n.mp4")], "out", PipelineConfig()))
    notes = [r["error"] for r in rows if r["status"] == "note"]
    failed = [r["error"] for r in rows if r["status"] == "failed"]
    assert any("pipe.mp4: not a regular file" in n for n in notes)
    assert failed == [f"{tmp_path}/gone\\n.mp4: no such file or directory"]
    assert all("\n" not in line and "\r" not in line for line in notes + failed)
    assert [r["input"] for r in rows if r["status"] == "todo"] == [str(bad)]
