"""URIs, listing, safe joins and atomic writes: local and against a real moto_server."""

from __future__ import annotations

import os

import pytest

from vidcolor import storage
from vidcolor.errors import VidcolorError
from vidcolor.listing import list_inputs


def test_safe_join_rejects_escapes(tmp_path):
    root = str(tmp_path / "out")
    assert storage.safe_join(root, "a/b.mp4") == os.path.join(root, "a", "b.mp4")
    assert storage.safe_join("s3://bucket/out/", "a/./b.mp4") == "s3://bucket/out/a/b.mp4"
    for bad in [
        "../x.mp4",
        "a/../../x.mp4",
        "/etc/passwd",
        "",
        "..",
        "a/..",
        "C:/x",
        "\\\\x\\..\\y",
    ]:
        with pytest.raises(VidcolorError):
            storage.safe_join(root, bad)
        with pytest.raises(VidcolorError):
            storage.safe_join("s3://bucket/out", bad)


def test_atomic_output_publishes_only_on_success(tmp_path):
    target = tmp_path / "sub" / "video.mp4"
    with storage.atomic_output(str(target)) as tmp:
        assert tmp.suffix == ".mp4" and tmp.parent == target.parent
        tmp.write_bytes(b"first")
        assert not target.exists()
    assert target.read_bytes() == b"first"

    with pytest.raises(RuntimeError):
        with storage.atomic_output(str(target)) as tmp:
            tmp.write_bytes(b"half-written")
            raise RuntimeError("encoder died")
    assert target.read_bytes() == b"first"  # untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["video.mp4"]  # no temp left


def test_atomic_output_gets_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        storage.write_bytes_atomic(str(tmp_path / "report.json"), b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o644


def test_list_inputs_local(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ["a/x.mp4", "a/deep/y.MOV", "a/deep/p.png", "a/notes.txt", "b.mkv"]:
        (tmp_path / name).write_bytes(b"0")
    found = list_inputs([str(tmp_path / "a")])
    assert [f.relpath for f in found] == ["deep/p.png", "deep/y.MOV", "x.mp4"]
    found = list_inputs([str(tmp_path / "b.mkv"), str(tmp_path / "a" / "*.mp4")])
    assert [(os.path.basename(f.uri), f.relpath) for f in found] == [
        ("x.mp4", "x.mp4"),
        ("b.mkv", "b.mkv"),
    ]
    with pytest.raises(VidcolorError, match="missing"):
        list_inputs([str(tmp_path / "missing")])
    with pytest.raises(VidcolorError, match="notes.txt: no video or image"):
        list_inputs([str(tmp_path / "a" / "notes.txt")])


def test_open_input_errors_name_the_file(tmp_path):
    with pytest.raises(VidcolorError, match="nope.mp4: no such file"):
        storage.open_input(str(tmp_path / "nope.mp4"))
    with pytest.raises(VidcolorError, match="is a directory"):
        storage.open_input(str(tmp_path))


def test_fingerprint_changes_with_content(tmp_path):
    f = tmp_path / "v.mp4"
    f.write_bytes(b"abc")
    before = storage.fingerprint(str(f))
    assert storage.fingerprint(str(f)) == before
    f.write_bytes(b"abcd")
    assert storage.fingerprint(str(f)) != before


def test_s3_read_list_write_and_video_io(s3_env, carphone, tmp_path):
    """Probe/decode from S3 (seekable reads), list prefixes, write the result back atomically."""
    import numpy as np
    from test_video_support import round_trip, streams, synthetic_clip

    from vidcolor.video.decode import decode_segment
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments

    s3 = s3_env
    s3.create_bucket(Bucket="films")
    s3.upload_file(str(carphone), "films", "in/reel1/carphone.mp4")
    s3.upload_file(str(synthetic_clip("two_audio")), "films", "in/two.mp4")
    s3.put_object(Bucket="films", Key="in/readme.txt", Body=b"x")

    found = list_inputs(["s3://films/in"])
    assert [(f.uri, f.relpath) for f in found] == [
        ("s3://films/in/reel1/carphone.mp4", "reel1/carphone.mp4"),
        ("s3://films/in/two.mp4", "two.mp4"),
    ]
    assert [f.relpath for f in list_inputs(["s3://films/in/*.mp4"])] == ["two.mp4"]
    with pytest.raises(VidcolorError, match="s3://films/nothing"):
        list_inputs(["s3://films/nothing/"])

    uri = "s3://films/in/reel1/carphone.mp4"
    info = probe(uri)
    assert info.frame_count == 120 and info.video.frame_rate == "30000/1001"
    dec = decode_segment(uri, plan_segments(info)[0], model_size=32)
    assert dec.l_small.shape == (120, 1, 32, 32) and np.isfinite(dec.l_small).all()
    assert storage.exists(uri) and not storage.exists("s3://films/in/none.mp4")
    assert len(storage.fingerprint(uri)) == 32

    out_uri = storage.safe_join("s3://films/out", "two.mp4")
    written, _ = round_trip("s3://films/in/two.mp4", out_uri)
    assert written == "s3://films/out/two.mp4"
    local = tmp_path / "two.mp4"
    s3.download_file("films", "out/two.mp4", str(local))
    assert [s["codec_type"] for s in streams(local)] == ["video", "audio", "audio"]

    storage.write_bytes_atomic("s3://films/out/x.json", b"{}")
    assert storage.read_bytes("s3://films/out/x.json") == b"{}"
    with pytest.raises(RuntimeError):
        with storage.atomic_output("s3://films/out/failed.mp4") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="films", Prefix="out/")["Contents"]}
    assert keys == {"out/two.mp4", "out/x.json"}
    with pytest.raises(VidcolorError, match="s3://films/in/none.mp4"):
        storage.read_bytes("s3://films/in/none.mp4")
