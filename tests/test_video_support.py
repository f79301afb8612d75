"""Shared helpers for the video tests: tiny clips made with the ffmpeg CLI / PyAV, ffprobe judges.

No tests here; test_video_*.py modules import these helpers and fixtures.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

FFMPEG = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
# Keyframe every second: a 2-3 s clip plans into 2-3 segments of 1 s.
KEYS_EVERY_SECOND = ["-force_key_frames", "expr:gte(t,n_forced*1)", "-sc_threshold", "0"]


def ffmpeg(*args: str) -> None:
    r = subprocess.run([*FFMPEG, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"ffmpeg {' '.join(map(str, args))} failed: {r.stderr.strip()}"


def ffprobe_json(path, *args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def streams(path) -> list[dict]:
    return ffprobe_json(path, "-show_streams")["streams"]


def packets(path, select: str) -> list[dict]:
    """ffprobe packets of the selected streams (e.g. 'v:0', 'a'), with MD5 payload hashes."""
    return ffprobe_json(
        path,
        "-select_streams",
        select,
        "-show_data_hash",
        "MD5",
        "-show_entries",
        "packet=stream_index,pts,dts,pts_time,dts_time,data_hash",
    )["packets"]


def video_pts_seconds(path) -> list[Fraction]:
    """Sorted video frame pts in seconds, exact, from ffprobe."""
    info = streams(path)
    v = next(s for s in info if s["codec_type"] == "video")
    tb = Fraction(v["time_base"])
    return sorted(Fraction(int(p["pts"])) * tb for p in packets(path, "v:0"))


def decode_errors(path) -> str:
    """What ffmpeg says when decoding every stream of ``path`` (empty = clean)."""
    out = subprocess.run(
        [*FFMPEG, "-i", str(path), "-map", "0:v", "-map", "0:a?", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    return out.stderr.strip() + ("" if out.returncode == 0 else f" (rc {out.returncode})")


def y_planes(path) -> list[np.ndarray]:
    """Luma planes as stored (8-bit), via PyAV, in presentation order."""
    import av

    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            plane = f.planes[0]
            y = np.frombuffer(plane, np.uint8).reshape(f.height, plane.line_size)[:, : f.width]
            out.append(y.astype(np.int16))
    return out


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b, strict=True)])
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def round_trip(
    src,
    out_uri,
    *,
    codec="h264",
    segment_seconds=1.0,
    overlap=2,
    model_size=32,
    colour=False,
    deinterlace=False,
):
    """decode -> merge with ab = 0 (or a smooth colourful ab when ``colour``) -> encode ->
    finalise, segment by segment. Returns (uri, plan)."""
    from vidcolor.video.decode import decode_segment
    from vidcolor.video.encode import EncodeSettings, encode_segment
    from vidcolor.video.mux import finalise
    from vidcolor.video.probe import probe
    from vidcolor.video.segments import plan_segments
    from vidcolor.video.timeline import Timeline

    src = str(src)
    info = probe(src)
    plan = plan_segments(info, segment_seconds=segment_seconds, overlap=overlap)
    settings = EncodeSettings(codec=codec, deinterlace=deinterlace)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for seg in plan:
            dec = decode_segment(
                src, seg, model_size, deinterlace=deinterlace, timeline=Timeline.of(info)
            )
            assert len(dec.pts) == seg.n_decoded
            owned = dec.l_small[dec.own]
            assert len(owned) == seg.n_frames
            ab = np.zeros((len(owned), 2, *owned.shape[-2:]), np.float32)
            if colour:  # saturated enough that some colours leave the gamut
                ramp = np.linspace(-0.6, 0.6, owned.shape[-1], dtype=np.float32)
                ab += np.stack([ramp, ramp[::-1]])[None, :, None, :]
            path = Path(tmp) / f"seg{seg.index:05d}{settings.segment_suffix()}"
            files.append(encode_segment(src, seg, ab, path, settings, info))
        written = finalise(src, files, str(out_uri), settings, info)
    return written, plan


def assert_streams_intact(src, out, *, size: tuple[int, int] | None = None) -> None:
    """Same frames at the same times, monotonic DTS, every audio/subtitle packet bit-identical.
    ``size``: the output's (width, height) when it is not the source's display size (padding)."""
    s_in, s_out = streams(src), streams(out)
    assert [s["codec_type"] for s in s_in] == [s["codec_type"] for s in s_out]
    v_in = next(s for s in s_in if s["codec_type"] == "video")
    v_out = next(s for s in s_out if s["codec_type"] == "video")
    rot_in = _rotation(v_in)
    w, h = (
        (v_in["height"], v_in["width"]) if rot_in in (90, 270) else (v_in["width"], v_in["height"])
    )
    assert (v_out["width"], v_out["height"]) == (size or (w, h))

    pts_in, pts_out = video_pts_seconds(src), video_pts_seconds(out)
    assert len(pts_out) == len(pts_in)
    # mkv stores milliseconds; mp4/mov keep the source time base exactly.
    tol = Fraction(1, 1000) if str(out).endswith(".mkv") else Fraction(0)
    assert max(abs(a - b) for a, b in zip(pts_in, pts_out, strict=True)) <= tol

    dts = [int(p["dts"]) for p in packets(out, "v:0")]
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False)), (
        "video DTS not strictly increasing"
    )

    for kind in ("a", "s"):
        n = sum(1 for s in s_in if s["codec_type"] == {"a": "audio", "s": "subtitle"}[kind])
        for i in range(n):
            a, b = packets(src, f"{kind}:{i}"), packets(out, f"{kind}:{i}")
            assert [p["data_hash"] for p in a] == [p["data_hash"] for p in b]
            times_a = [float(p["pts_time"]) for p in a]
            times_b = [float(p["pts_time"]) for p in b]
            assert np.allclose(times_a, times_b, atol=float(tol) + 1e-6)
    assert decode_errors(out) == ""


def _rotation(stream: dict) -> int:
    for sd in stream.get("side_data_list", []):
        if "rotation" in sd:
            return int(sd["rotation"]) % 360
    return 0


# ---- clips: made once per test process (cached), shared by every test_video_* module ---------


@functools.cache
def clip_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="vidcolor-clips-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


@functools.cache
def grey_clip(bigbuckbunny: Path) -> Path:
    """3 s of bigbuckbunny, 320x180, grey (B&W film), luma kept in range, stored losslessly;
    keyframe each second (3 segments); the AAC audio stream-copied from the real clip."""
    out = clip_dir() / "grey.mp4"
    ffmpeg(
        "-i", bigbuckbunny, "-t", "3",
        "-vf", "scale=320:180,format=gray,lutyuv=y='clip(val,16,235)',format=yuv420p",
        "-c:v", "libx264", "-qp", "0", "-preset", "veryfast", *KEYS_EVERY_SECOND,
        "-c:a", "copy", out,
    )  # fmt: skip
    return out


def make_testsrc(
    out: Path, *, size="160x96", seconds=2, vf=None, pix_fmt="yuv420p", extra=()
) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    if vf:
        args += ["-vf", vf]
    ffmpeg(*args, "-pix_fmt", pix_fmt, *extra, *KEYS_EVERY_SECOND, out)
    return out


X264 = ["-c:v", "libx264", "-preset", "veryfast"]


@functools.cache
def synthetic_clip(name: str) -> Path:
    """The awkward cases the issue names, each 2 s and tiny."""
    d = clip_dir()
    if name == "vfr":  # 25 fps for the first second, then 12.5 fps
        return make_testsrc(
            d / "vfr.mp4",
            vf="setpts='if(lt(N,25),N/25,1+(N-25)*2/25)/TB'",
            extra=["-fps_mode", "passthrough", *X264],
        )
    if name == "10bit":
        return make_testsrc(d / "10bit.mp4", pix_fmt="yuv422p10le", extra=X264)
    if name == "odd_grey":
        return make_testsrc(
            d / "odd.mkv",
            size="174x98",
            vf="format=gray,crop=173:97:0:0",
            pix_fmt="gray",
            extra=["-c:v", "ffv1"],
        )
    if name == "rotated":
        return _rotated_clip(d / "rotated.mp4")
    if name == "no_audio":
        return make_testsrc(d / "no_audio.mp4", extra=X264)
    if name == "two_audio":
        out = d / "two_audio.mp4"
        ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25:duration=2",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
            "-f", "lavfi", "-i", "sine=frequency=660:duration=2:sample_rate=22050",
            "-map", "0", "-map", "1", "-map", "2", *X264, "-pix_fmt", "yuv420p",
            *KEYS_EVERY_SECOND, "-c:a:0", "aac", "-c:a:1", "aac",
            "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra", out,
        )  # fmt: skip
        return out
    if name == "subtitled":  # SRT cannot go in mp4: the output must fall back to mkv
        srt = d / "subs.srt"
        srt.write_text(
            "1\n00:00:00,200 --> 00:00:01,000\nhello\n\n2\n00:00:01,200 --> 00:00:01,800\nworld\n"
        )
        out = d / "subs.mkv"
        ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25:duration=2",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-i", srt,
            "-map", "0", "-map", "1", "-map", "2", *X264, "-pix_fmt", "yuv420p",
            *KEYS_EVERY_SECOND, "-c:a", "aac", "-c:s", "srt", out,
        )  # fmt: skip
        return out
    raise KeyError(name)


def _rotated_clip(out: Path) -> Path:
    """160x96 coded, display matrix 90 degrees counter-clockwise (ffmpeg 5.1's CLI can't set it)."""
    import av

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (96, 160, 3), dtype=np.uint8)
    base[:20, :40] = 255  # a bright corner: orientation mistakes move it
    with av.open(str(out), "w") as c:
        s = c.add_stream("libx264", rate=25, options={"preset": "veryfast", "g": "25"})
        s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
        s.set_display_rotation(90)
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")
            frame.pts = i
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return out
