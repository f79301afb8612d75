"""The bad-input corpus of the reliability tests, made here from real clips (nothing downloaded).

``build_corpus(dir, bigbuckbunny, bikes)`` writes every awkward or broken input the issue names next
to one good clip and one good photo and returns ``{name: path}``. ``EXPECTED`` says what vidcolor
must do with each: ``"ok"`` (a valid output, judged by ffprobe) or ``"failed"`` (one line in the
report naming the file). docs/reliability.md is the same table in prose.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from test_video_support import synthetic_clip

FFMPEG = ["ffmpeg", "-v", "error", "-nostdin", "-y"]

# name -> expected status in the report
EXPECTED = {
    "good.mp4": "ok",
    "good.png": "ok",
    "random.mp4": "failed",  # random bytes
    "text.mp4": "failed",  # a text file named .mp4
    "empty.mp4": "failed",
    "truncated30.mp4": "failed",  # moov up front, mdat cut at 30 %: probe says truncated
    "truncated99.mp4": "failed",  # moov at the end, cut at 99 %: the index is gone
    "zero_frames.mkv": "failed",  # a video track with no frames at all
    "audio_only.mp4": "failed",
    "odd.mkv": "ok",  # 173x97 grey FFV1
    "10bit.mp4": "ok",  # yuv422p10le H.264
    "vfr.mp4": "ok",  # 25 fps then 12.5 fps
    "rotated.mp4": "ok",  # display matrix 90 degrees
    "huge.y4m": "failed",  # header declares 30000x30000, 200 bytes of data
    "huge.png": "failed",  # PNG IHDR declares 30000x30000
    "dangling.mp4": "failed",  # symlink to nothing: unreadable even for root
    "fifo.mp4": "failed",
    "locked.mp4": "failed",  # chmod 000 (the run drops root's CAP_DAC_OVERRIDE: see the test)  # a named pipe: opening it for reading would block forever
    "corrupt_packet.mp4": "ok",  # 4 KiB of garbage in the H.264 data: frames concealed (issue 13)
}


def ffmpeg(*args) -> None:
    r = subprocess.run([*FFMPEG, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def good_clip(src: Path, out: Path, *, seconds: float = 1.2, width: int = 128, faststart=False):
    """A short real clip, H.264, keyframe every 10 frames, no audio."""
    extra = ["-movflags", "+faststart"] if faststart else []
    ffmpeg(
        "-i", src, "-t", seconds, "-vf", f"scale={width}:-2", "-c:v", "libx264",
        "-preset", "veryfast", "-g", 10, "-keyint_min", 10, "-sc_threshold", 0, "-an",
        *extra, out,
    )  # fmt: skip
    return out


def truncate(src: Path, out: Path, fraction: float) -> Path:
    data = src.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(out: Path) -> Path:
    """A valid PNG signature and IHDR (correct CRC) declaring 30000x30000 RGB, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    out.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )
    return out


def huge_y4m(out: Path) -> Path:
    """A YUV4MPEG2 header declaring 30000x30000 frames followed by 200 bytes: tiny on disk."""
    out.write_bytes(b"YUV4MPEG2 W30000 H30000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + b"\x80" * 200)
    return out


def zero_frame_video(out: Path) -> Path:
    """A Matroska file with a 128x96 FFV1 video track and not one frame."""
    import av

    with av.open(str(out), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
        c.start_encoding()  # writes the header; closing without a packet leaves the track empty
    return out


def corrupt_middle(src: Path, out: Path, *, size: int = 4096) -> Path:
    """Overwrite ``size`` bytes in the middle of the file (inside mdat) with seeded garbage."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid : mid + size] = np.random.default_rng(1).integers(0, 256, size, np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out


def build_corpus(root: Path, bigbuckbunny: Path, bikes: Path, photo: np.ndarray) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    c: dict[str, Path] = {}
    c["good.mp4"] = good_clip(bikes, root / "good.mp4")
    Image.fromarray(photo).resize((128, 96)).save(root / "good.png")
    c["good.png"] = root / "good.png"
    rng = np.random.default_rng(0)
    (root / "random.mp4").write_bytes(rng.integers(0, 256, 50_000, np.uint8).tobytes())
    (root / "text.mp4").write_text("This is a shot list, not a film.\n" * 50)
    (root / "empty.mp4").write_bytes(b"")
    c.update({n: root / n for n in ("random.mp4", "text.mp4", "empty.mp4")})
    fast = good_clip(bigbuckbunny, root.parent / "bbb-faststart.mp4", seconds=2, faststart=True)
    c["truncated30.mp4"] = truncate(fast, root / "truncated30.mp4", 0.30)
    tail = good_clip(bigbuckbunny, root.parent / "bbb-moov-last.mp4", seconds=2)
    c["truncated99.mp4"] = truncate(tail, root / "truncated99.mp4", 0.99)
    ffmpeg("-i", bigbuckbunny, "-t", 1, "-vn", "-c:a", "copy", root / "audio_only.mp4")
    c["zero_frames.mkv"] = zero_frame_video(root / "zero_frames.mkv")
    c["audio_only.mp4"] = root / "audio_only.mp4"
    for name, key in (("odd.mkv", "odd_grey"), ("10bit.mp4", "10bit"), ("vfr.mp4", "vfr")):
        c[name] = Path(shutil.copy(synthetic_clip(key), root / name))
    c["rotated.mp4"] = Path(shutil.copy(synthetic_clip("rotated"), root / "rotated.mp4"))
    c["huge.y4m"] = huge_y4m(root / "huge.y4m")
    c["huge.png"] = huge_png(root / "huge.png")
    os.symlink(root / "no-such-target.mp4", root / "dangling.mp4")
    c["dangling.mp4"] = root / "dangling.mp4"
    c["locked.mp4"] = Path(shutil.copy(c["good.mp4"], root / "locked.mp4"))
    os.chmod(root / "locked.mp4", 0)
    os.mkfifo(root / "fifo.mp4")
    c["fifo.mp4"] = root / "fifo.mp4"
    c["corrupt_packet.mp4"] = corrupt_middle(tail, root / "corrupt_packet.mp4")
    assert set(c) == set(EXPECTED), set(c) ^ set(EXPECTED)
    return c
