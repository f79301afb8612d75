"""Film scans: frame sequences (DPX, TIFF, PNG) found while listing and colourised as films.

Inputs are made here by ffmpeg from a real clip (bigbuckbunny, turned grey); a DPX scan's film
and television headers (frame rate, timecode, edge code) are added the way a scanner writes them.
Judged by our own independent readers (skimage's L*, ffmpeg's DPX decoder, ffprobe).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import kill_when, tiny_checkpoint
from test_video_support import ffmpeg, ffprobe_json

from vidcolor import cie
from vidcolor.image import read_picture
from vidcolor.pipeline import PipelineConfig, colourise_sequential

ROOT = Path(__file__).resolve().parents[1]
EDGE = b"KU" + b"05" + b"07" + b"123456" + b"7890"  # film maker, type, perfs, prefix, count


def grey_frames(src, pattern: Path, *, frames: int, pix_fmt: str, start: int, width=96, at=0.0):
    pattern.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg(
        "-ss", at, "-i", src, "-frames:v", frames, "-vf", f"scale={width}:-2,format=gray",
        "-pix_fmt", pix_fmt, "-start_number", start, pattern,
    )  # fmt: skip
    return sorted(pattern.parent.glob(pattern.name.replace("%07d", "*").replace("%04d", "*")))


def scanner_header(path: Path, *, fps: float, timecode: int) -> None:
    """Give an ffmpeg-written DPX (1,664-byte header, no industry headers) the film and TV
    headers a scanner writes: frame rate, SMPTE timecode (BCD), edge code."""
    data = path.read_bytes()
    offset = struct.unpack_from("<I", data, 4)[0]
    assert data[:4] == b"XPDS" and offset == 1664
    industry = bytearray(b"\xff" * 384)
    industry[0 : len(EDGE)] = EDGE
    struct.pack_into("<f", industry, 1724 - 1664, fps)
    struct.pack_into("<I", industry, 1920 - 1664, timecode)
    struct.pack_into("<f", industry, 1940 - 1664, fps)
    header = bytearray(data[:offset]) + industry
    struct.pack_into("<I", header, 4, 2048)  # image data offset
    struct.pack_into("<I", header, 16, 2048 + len(data) - offset)  # file size
    struct.pack_into("<I", header, 28, 384)  # industry header length
    struct.pack_into("<I", header, 808, 2048)  # element 1 data offset
    path.write_bytes(bytes(header) + data[offset:])


def lstar_in_codes(src: np.ndarray, out: np.ndarray, bits: int) -> float:
    """max |L*(out) - L*(src)| in units of the L* step one code makes at the source's grey."""
    top = (1 << bits) - 1
    l_src = cie.lstar_of_rgb(src, bits).astype(np.float64)
    l_out = cie.lstar_of_rgb(out, bits).astype(np.float64)
    curve = cie.lstar_from_luma(np.arange(top + 2) / top)
    grey = src[..., 1].astype(np.int64)
    step = curve[np.minimum(grey + 1, top)] - curve[grey]
    return float((np.abs(l_out - l_src) / np.maximum(step, 1e-6)).max())


def chroma(rgb: np.ndarray) -> float:
    return float(np.abs(rgb[..., 0].astype(np.int64) - rgb[..., 2]).mean())


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "g.safetensors")


@pytest.fixture(scope="module")
def scans(tmp_path_factory, bigbuckbunny):
    """A folder as an archive has it: a 10-bit DPX reel from frame 86400 (12 frames, 86405
    missing, 25 fps and a timecode in its headers), a 16-bit TIFF reel (shot_0006 damaged), and
    loose photos: an
    8-bit PNG, a 16-bit PNG and a one-frame "sequence" (a 16-bit TIFF)."""
    root = tmp_path_factory.mktemp("scans") / "in"
    dpx = grey_frames(
        bigbuckbunny, root / "reel1/reel1_%07d.dpx", frames=12, pix_fmt="gbrp10le", start=86400
    )
    for i, path in enumerate(dpx):
        scanner_header(path, fps=25.0, timecode=0x10000000 + i)
    (root / "reel1/reel1_0086405.dpx").unlink()
    grey_frames(
        bigbuckbunny, root / "reel2/shot_%04d.tif", frames=8, pix_fmt="rgb48le", start=1, at=2
    )
    (root / "reel2/shot_0006.tif").write_bytes(b"II*\x00" + b"a damaged scan " * 50)
    grey_frames(
        bigbuckbunny, root / "photos/cat_%04d.png", frames=1, pix_fmt="rgb24", start=7, at=1
    )
    grey_frames(
        bigbuckbunny, root / "photos/deep_%04d.png", frames=1, pix_fmt="rgb48be", start=3, at=3
    )
    grey_frames(
        bigbuckbunny, root / "photos/single_%04d.tif", frames=1, pix_fmt="rgb48le", start=1, at=4
    )
    return root


def test_listing_groups_sequences_per_directory(scans):
    from vidcolor.listing import Lister

    items = list(Lister(sequences=True).iter_inputs([str(scans)]))
    seqs = {i.relpath: i.sequence for i in items if i.sequence}
    assert set(seqs) == {"reel1/reel1_%07d.dpx", "reel2/shot_%04d.tif"}
    reel1 = seqs["reel1/reel1_%07d.dpx"]
    assert (reel1.first, reel1.last, reel1.count, reel1.gaps()) == (
        86400,
        86411,
        11,
        [(86405, 86405)],
    )
    photos = sorted(i.relpath for i in items if not i.sequence)
    assert photos == ["photos/cat_0007.png", "photos/deep_0003.png", "photos/single_0001.tif"]
    # --sequences off: every file a photo
    assert len(list(Lister(sequences=False).iter_inputs([str(scans)]))) == 11 + 8 + 3


def test_dpx_header_fields_and_pixels_round_trip(scans):
    from vidcolor import dpx

    path = scans / "reel1/reel1_0086401.dpx"
    data = path.read_bytes()
    rgb, bits, header = dpx.decode(data, str(path))
    assert (bits, rgb.dtype, header.frame_rate, header.timecode) == (
        10,
        np.uint16,
        25,
        "10:00:00:01",
    )
    import av

    ffmpeg_rgb = av.CodecContext.create("dpx", "r").decode(av.Packet(data))[0].to_ndarray()
    assert np.array_equal(rgb, ffmpeg_rgb)  # our unpacking is ffmpeg's decoding
    again = dpx.encode(rgb, bits, header)
    assert again == data  # the same picture under the same header: the same file


def test_decode_reads_only_its_ranges_files(scans, monkeypatch):
    from vidcolor import storage
    from vidcolor.listing import Lister
    from vidcolor.sequences.frames import decode_sequence_segment
    from vidcolor.sequences.probe import probe_sequence
    from vidcolor.video.segments import plan_segments

    [seq] = [i.sequence for i in Lister(sequences=True).iter_inputs([str(scans / "reel1")])]
    info = probe_sequence(seq, 24)
    assert info.frame_rate == 25 and info.frame_count == 12  # the header's rate; the gap a frame
    segments = plan_segments(info, segment_seconds=0.16, overlap=1)
    middle = segments[1]
    read = []
    real = storage.read_bytes
    monkeypatch.setattr(storage, "read_bytes", lambda uri: read.append(uri) or real(uri))
    decoded = decode_sequence_segment(seq, middle, (info.height, info.width), 32)
    lo, hi = middle.context_start_pts, middle.context_end_pts
    wanted = {seq.uri(seq.first + i) for i in range(lo, hi) if seq.present(seq.first + i)}
    assert set(read) == wanted and len(read) == len(wanted)
    assert len(decoded.pts) == hi - lo and decoded.concealed == [5]  # 86405, filled


def test_folder_of_scans_on_ray(scans, ckpt, ray_local, tmp_path):
    from vidcolor.pipeline import colourise

    out = tmp_path / "out"
    config = PipelineConfig(
        checkpoint=str(ckpt), model_size=32, segment_seconds=0.2, progress=False
    )
    report = colourise([str(scans)], str(out), config)
    rows = {Path(r.input).parent.name + "/" + Path(r.input).name: r for r in report.inputs}
    assert all(r.status == "ok" for r in rows.values()), [r.error for r in rows.values()]
    reel1, reel2 = rows["reel1/reel1_%07d.dpx"], rows["reel2/shot_%04d.tif"]
    assert [r.kind for r in rows.values()].count("sequence") == 2 and len(rows) == 5
    assert reel1.frames == 12 and reel1.segments == 3 and reel1.thumbnail
    assert reel1.gaps == [{"first": 86405, "last": 86405, "reason": "missing"}]
    assert reel2.frames == 8 and reel2.gaps == [{"first": 6, "last": 6, "reason": "unreadable"}]

    names_in = {p.relative_to(scans) for p in scans.rglob("*") if p.is_file()}
    names_out = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    names_out = {p for p in names_out if p.parts[0] in ("reel1", "reel2", "photos")}
    assert names_out == names_in  # every input has its output, no file invented for the gap
    damaged = Path("reel2/shot_0006.tif")
    assert (out / damaged).read_bytes() == (scans / damaged).read_bytes()  # copied as it came
    for rel in names_in - {damaged}:
        src, got = read_picture(str(scans / rel)), read_picture(str(out / rel))
        assert got.bits == src.bits and got.rgb.shape == src.rgb.shape, rel
        assert lstar_in_codes(src.rgb, got.rgb, src.bits) <= 1.0, rel  # L kept to a code
        assert chroma(got.rgb) > chroma(src.rgb) + 1, rel  # and colour added
    assert {read_picture(str(out / r)).bits for r in names_in - {damaged}} == {8, 10, 16}
    header = read_picture(str(out / "reel1/reel1_0086401.dpx")).dpx
    assert (header.frame_rate, header.timecode) == (25, "10:00:00:01")
    assert header.raw[1664 : 1664 + len(EDGE)] == EDGE  # film edge code kept
    saved = json.loads((out / "vidcolor-report.json").read_text())
    assert {r["kind"] for r in saved["inputs"]} == {"sequence", "image"}
    assert "gaps: 86405 missing" in (out / "vidcolor-report.html").read_text()


def test_png_sequence_to_ffv1_video_with_its_sound(tmp_path, bigbuckbunny, ckpt):
    """--sequence-output video --codec ffv1: one film at --sequence-fps, the gap filled by the
    frame before (timing exact), the sidecar reel.wav muxed."""
    src = tmp_path / "in" / "reel"
    frames = grey_frames(bigbuckbunny, src / "reel_%04d.png", frames=10, pix_fmt="rgb24", start=1)
    frames[4].unlink()
    ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "0.4", src / "reel.wav"
    )
    config = PipelineConfig(
        checkpoint=str(ckpt), model_size=32, segment_seconds=0.2, codec="ffv1",
        sequence_output="video", sequence_fps="25", progress=False,
    )  # fmt: skip
    [entry] = colourise_sequential([str(tmp_path / "in")], str(tmp_path / "out"), config).inputs
    assert entry.status == "ok", entry.error
    assert entry.output == str(tmp_path / "out" / "reel" / "reel.mkv")
    assert entry.gaps == [{"first": 5, "last": 5, "reason": "missing"}]
    info = ffprobe_json(entry.output, "-show_streams", "-count_frames")["streams"]
    video = next(s for s in info if s["codec_type"] == "video")
    audio = next(s for s in info if s["codec_type"] == "audio")
    assert (video["codec_name"], video["nb_read_frames"], video["r_frame_rate"]) == (
        "ffv1",
        "10",
        "25/1",
    )
    assert audio["codec_name"] == "pcm_s16le" and audio["sample_rate"] == "48000"
    import av

    with av.open(entry.output) as c:
        y = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert np.array_equal(y[4], y[3])  # the gap is its neighbour
    assert not np.array_equal(y[5], y[3])


def test_sequence_on_s3(tmp_path, bigbuckbunny, ckpt, s3_env):
    frames = grey_frames(
        bigbuckbunny, tmp_path / "r/scan_%07d.dpx", frames=6, pix_fmt="gbrp10le", start=100
    )
    s3_env.create_bucket(Bucket="films")
    for path in frames:
        s3_env.upload_file(str(path), "films", f"scans/r/{path.name}")
    s3_env.put_object(Bucket="films", Key="scans/r/notes.txt", Body=b"not a frame")
    config = PipelineConfig(
        checkpoint=str(ckpt), model_size=32, segment_seconds=0.1, progress=False
    )
    [entry] = colourise_sequential(["s3://films/scans/"], "s3://films/colour", config).inputs
    assert entry.status == "ok" and entry.kind == "sequence" and entry.frames == 6, entry.error
    keys = {
        o["Key"] for o in s3_env.list_objects_v2(Bucket="films", Prefix="colour/r/")["Contents"]
    }
    assert keys == {f"colour/r/{p.name}" for p in frames}
    got = read_picture(f"s3://films/colour/r/{frames[2].name}")
    assert got.bits == 10 and lstar_in_codes(read_picture(str(frames[2])).rgb, got.rgb, 10) <= 1.0


_SLOW_RUN = """
import sys, time
from vidcolor.pipeline import PipelineConfig, colourise_sequential, sequences
write = sequences._write_frames
def slow(row, **kw):
    out = write(row, **kw)
    time.sleep(0.7)  # the test's fault injection: time for the kill to land mid-run
    return out
sequences.write_frames_row = sequences.guarded(slow, produces=())
config = PipelineConfig(checkpoint=sys.argv[3], model_size=32, segment_seconds=0.1, progress=False)
colourise_sequential([sys.argv[1]], sys.argv[2], config)
"""


def test_killed_sequence_resumes_without_redoing_segments(tmp_path, bigbuckbunny, ckpt):
    src = tmp_path / "in"
    grey_frames(bigbuckbunny, src / "r/f_%04d.tif", frames=18, pix_fmt="rgb48le", start=1)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", _SLOW_RUN, str(src), str(out), str(ckpt)]
    marks = ".vidcolor-state/*/seg-*.done"
    kill_when(args, lambda: len(list(out.glob(marks))) >= 2, env=env, stderr=subprocess.DEVNULL)
    done = sorted(out.glob(".vidcolor-state/*/seg-*.done"))
    written = {p: p.stat().st_mtime_ns for p in (out / "r").glob("*.tif")}
    assert len(done) >= 2 and len(written) < 18

    config = PipelineConfig(
        checkpoint=str(ckpt), model_size=32, segment_seconds=0.1, progress=False
    )
    [entry] = colourise_sequential([str(src)], str(out), config).inputs
    assert entry.status == "ok" and entry.segments_resumed >= len(done), entry.error
    assert entry.segments_resumed + entry.segments_encoded == entry.segments
    assert len(list((out / "r").glob("*.tif"))) == 18
    finished = int(3 * len(done))  # 0.1 s at 24 fps: 3 frames a segment
    first = sorted(written)[:finished]
    assert all(p.stat().st_mtime_ns == written[p] for p in first)  # not written again
    assert colourise_sequential([str(src)], str(out), config).inputs[0].status == "skipped"


def test_sequence_options_reach_the_config():
    import argparse

    from vidcolor.commands.colourise import add_pipeline_arguments, config_from_args
    from vidcolor.errors import UsageError

    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, default_address=None)
    plain = config_from_args(parser.parse_args(["in", "-o", "out"]))
    assert (plain.sequences, plain.sequence_fps, plain.sequence_output) == ("on", "24", "frames")
    args = ["in", "-o", "out", "--sequences", "off", "--sequence-fps", "23.976"]
    custom = config_from_args(parser.parse_args([*args, "--sequence-output", "video"]))
    assert custom.sequences == "off" and custom.sequence_output == "video"
    assert custom.sequence_rate() == Fraction(24000, 1001)
    for bad in ({"sequence_fps": "fast"}, {"sequence_fps": "0"}, {"sequence_output": "gif"}):
        with pytest.raises(UsageError):
            PipelineConfig(**bad)


def test_sorted_listing_yields_each_sequence_as_soon_as_the_keys_pass_it():
    """S3 keys come sorted: a reel is complete (and leaves the listing) at the first key past
    its prefix, not at the end of a million-object listing."""
    from vidcolor.sequences.names import SequenceGrouper

    grouper = SequenceGrouper(lambda uri, rel, seq=None: (uri, seq))
    keys = [f"s3://b/scans/reel1/reel1_{n:07d}.dpx" for n in range(86400, 86410) if n != 86403]
    keys += ["s3://b/scans/reel1/reel1_notes.txt", "s3://b/scans/reel2/a_0001.png"]
    out = []
    for i, key in enumerate(keys):
        out += [(i, item) for item in grouper.passed(key)]
        if key.endswith((".dpx", ".png")):
            assert grouper.add(key, key.removeprefix("s3://b/scans/"))
    [(at, (uri, seq))] = out
    assert at == len(keys) - 1 and uri == "s3://b/scans/reel1/reel1_%07d.dpx"
    assert seq.runs == ((86400, 86402), (86404, 86409)) and seq.rel_dir == "reel1/"
    assert [item for item in grouper.flush()] == [("s3://b/scans/reel2/a_0001.png", None)]


@pytest.mark.parametrize("pix_fmt", ["gray16le", "gray", "rgb48be", "rgb24"])
def test_other_dpx_layouts_read_as_ffmpeg_reads_them_and_write_back(pix_fmt, tmp_path):
    """Luma-only (FFmpeg's decoder), big-endian 16-bit and 8-bit (our unpacking): the pixels
    ffmpeg decodes, written back as RGB at the same depth and byte order, read back the same."""
    import av

    from vidcolor import dpx

    path = tmp_path / f"f_{pix_fmt}.dpx"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x36", "-frames:v", 1, "-vf", "format=gray",
           "-pix_fmt", pix_fmt, path)  # fmt: skip
    data = path.read_bytes()
    rgb, bits, header = dpx.decode(data, str(path))
    ref = av.CodecContext.create("dpx", "r").decode(av.Packet(data))[0].to_ndarray()
    ref = ref if ref.ndim == 3 else np.repeat(ref[..., None], 3, axis=2)
    assert np.array_equal(rgb, ref) and bits == (8 if pix_fmt in ("gray", "rgb24") else 16)
    again = dpx.encode(rgb, bits, header)
    assert again[:4] == data[:4]  # the same byte order
    back = av.CodecContext.create("dpx", "r").decode(av.Packet(bytes(again)))[0].to_ndarray()
    assert np.array_equal(back, rgb)
