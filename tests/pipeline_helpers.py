"""Shared helpers for the pipeline tests: short real clips, a tiny checkpoint, ffprobe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from skimage import color as skcolor

from vidcolor.checkpoint import save_generator
from vidcolor.models import ModelConfig, build_generator


def cut_clip(src: Path, dst: Path, *, seconds: float, width: int, gop: int, audio: bool) -> Path:
    """First ``seconds`` of a real clip, downscaled, keyframe every ``gop`` frames."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-t", str(seconds)]
    cmd += ["-vf", f"scale={width}:-2", "-c:v", "libx264", "-preset", "veryfast"]
    cmd += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    cmd += ["-c:a", "aac"] if audio else ["-an"]
    subprocess.run([*cmd, str(dst)], check=True)
    return dst


def tiny_checkpoint(path: Path) -> Path:
    """A width-4 generator biased towards a moderate colour, so chroma is present untrained."""
    torch.manual_seed(0)
    config = ModelConfig(width=4)
    g = build_generator(config)
    with torch.no_grad():
        g.decoder.layers[-1].bias.copy_(torch.tensor([0.12, 0.18]))
    save_generator(str(path), g.eval(), config)
    return path


def write_photo(rgb: np.ndarray, path: Path, width: int = 160) -> Path:
    im = Image.fromarray(rgb)
    im.resize((width, round(im.height * width / im.width))).save(path)
    return path


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def frame_times(path: Path) -> list[float]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries"]
        + ["frame=best_effort_timestamp_time", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [float(x.strip(",")) for x in out.split() if x.strip(",")]


def framemd5(path: Path) -> list[str]:
    """Per-frame MD5 of the decoded video, by ffmpeg (identical pixels <=> identical list)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [
        line.rsplit(",", 1)[-1].strip() for line in out.splitlines() if not line.startswith("#")
    ]


def packet_count(path: Path, selector: str) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", selector, "-count_packets"]
        + ["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[0])


def decoded_frames(path: Path) -> int:
    """Frames ffprobe actually decodes from the first video stream (stronger than counting packets:
    a corrupt file fails here)."""
    out = (
        subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"]
            + ["-show_entries", "stream=codec_type,nb_read_frames", "-of", "csv=p=0", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .strip(",")
        .split(",")
    )
    assert out[0] == "video", out
    return int(out[1])


def luma_frames(path: Path) -> np.ndarray:
    """The stored luma (Y') of every frame, int16 (N, H, W), through PyAV's own decode."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)])


def lab_frames(path: Path) -> np.ndarray:
    """Every frame of a video as CIE Lab (N, H, W, 3), through our independent reader: skimage."""
    with av.open(str(path)) as c:
        rgb = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return skcolor.rgb2lab(np.stack(rgb))


def check_video(src: Path, out: Path, *, audio: bool) -> dict:
    """The output is a valid, colourised copy of ``src``: frames, times, audio, L kept, chroma."""
    info = ffprobe(out)
    kinds = [s["codec_type"] for s in info["streams"]]
    assert kinds.count("video") == 1
    assert frame_times(out) == frame_times(src)  # every frame, same presentation times
    if audio:
        src_audio = next(s for s in ffprobe(src)["streams"] if s["codec_type"] == "audio")
        out_audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
        assert out_audio["codec_name"] == src_audio["codec_name"]
        assert packet_count(out, "a:0") == packet_count(src, "a:0")  # stream-copied
    else:
        assert "audio" not in kinds
    # The source's luma is what is kept (merge in Y'CbCr; bit-exact through FFV1, tested in
    # test_video_ycbcr.py); here only x264's own loss at CRF 18 moves it.
    dy = np.abs(luma_frames(out) - luma_frames(src))
    assert dy.mean() < 2.0 and np.percentile(dy, 99) <= 10, (dy.mean(), np.percentile(dy, 99))
    lab_in, lab_out = lab_frames(src), lab_frames(out)
    assert lab_out.shape == lab_in.shape
    # CIE L* follows, up to non-constant luminance: saturated colour moves L* off the grey's
    # (README, Output format); measured 0.8-2.0 mean with the tiny test model's strong chroma.
    dl = np.abs(lab_out[..., 0] - lab_in[..., 0])
    assert dl.mean() < 3.0 and np.percentile(dl, 99) < 8, (dl.mean(), np.percentile(dl, 99))
    chroma = np.hypot(lab_out[..., 1], lab_out[..., 2])
    assert chroma.mean() > 5, chroma.mean()  # colour present, not grey
    return info


def grey_clip(frames: np.ndarray, dst: Path, *, fps: int = 25, gop: int = 10) -> Path:
    """A grey H.264 clip of uint8 RGB ``frames`` (N, H, W, 3), made by ffmpeg from PNGs (what an
    archive's black-and-white film is: the true colours stay known to the test)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    pngs = dst.parent / f".{dst.stem}-frames"
    pngs.mkdir(exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(pngs / f"{i:05d}.png")
    cmd = ["ffmpeg", "-v", "error", "-y", "-framerate", str(fps), "-i", str(pngs / "%05d.png")]
    cmd += ["-vf", "format=gray,format=yuv420p", "-c:v", "libx264", "-crf", "12"]
    cmd += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    subprocess.run([*cmd, str(dst)], check=True)
    for png in pngs.iterdir():
        png.unlink()
    pngs.rmdir()
    return dst


def kill_when(cmd: list[str], ready, *, timeout: float = 240, **popen) -> None:
    """Start ``cmd`` in its own process group and SIGKILL the group (Ray's processes too) as
    soon as ``ready()`` holds; fails if the process ends first or ``timeout`` passes."""
    proc = subprocess.Popen(cmd, start_new_session=True, **popen)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and not ready():
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        assert ready(), f"not ready to be killed within {timeout} s"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
