"""The encode stage's half of ``benchmarks.stages``: the stage (stored luma decoded again, Y'CbCr
merge, x264) against x264 alone on the same frames, its parts alone, the final join, the merge's
first-call cost, and the colour error of the Y'CbCr merge against the old exact Lab/RGB merge.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np

from benchmarks.common import checkout_env, cpu_rate_row, rate_row, timed


def x264_alone(groups: list[list], settings, rate) -> tuple[float, float, int]:
    """(seconds, CPU seconds, frames) x264 alone takes for frames already in memory, one encoder
    per group (a keyframe and a lookahead flush each), with the stage's encoder thread count."""
    import av

    from vidcolor.video.threads import codec_threads

    seconds = cpu = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for frames in groups:
            with av.open(f"{tmp}/x.mov", mode="w") as out:
                enc = out.add_stream("libx264", rate=rate, options=settings.encoder_options())
                enc.thread_count = codec_threads()
                enc.width, enc.height, enc.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
                t0, c0 = time.perf_counter(), time.process_time()
                for i, frame in enumerate(frames):
                    frame.pts = i
                    for packet in enc.encode(frame):
                        out.mux(packet)
                for packet in enc.encode(None):
                    out.mux(packet)
                seconds += time.perf_counter() - t0
                cpu += time.process_time() - c0
    return seconds, cpu, sum(len(g) for g in groups)


def decoded_outputs(segment_files: list[Path]) -> list[list]:
    """The frames the encode stage wrote, decoded back (per segment file): x264 codes these
    ~20 % cheaper than the stage's own input (already quantised once by x264)."""
    import av

    groups = []
    for path in segment_files:
        with av.open(str(path)) as seg:
            groups.append([f.reformat(format="yuv420p") for f in seg.decode(video=0)])
    return groups


def encode_parts(clip: Path, segments, ab: list[np.ndarray], info) -> tuple[dict, list[list]]:
    """(seconds, CPU seconds, frames) of the encode stage's own parts alone, no encoder:
    decoding the stored luma (``iter_luma``) and the Y'CbCr merge (``ChromaMerger``) of the
    same frames and ab; and, untimed, the frames the stage hands its encoder (per segment)."""
    from vidcolor.video.chroma import ChromaMerger
    from vidcolor.video.decode import iter_luma
    from vidcolor.video.encode import EncodeSettings
    from vidcolor.video.planes import make_frame
    from vidcolor.video.tags import output_tags

    tags = output_tags(info.video)
    pix_fmt = EncodeSettings().pix_fmt(info.bit_depth)
    merge = ChromaMerger(tags.ycbcr(8), pix_fmt, (info.height, info.width))
    t0, c0 = time.perf_counter(), time.process_time()
    lumas = [[f.y.copy() for f in iter_luma(str(clip), s, matrix=tags.matrix)] for s in segments]
    n = sum(len(ys) for ys in lumas)
    parts = {"luma decode": (time.perf_counter() - t0, time.process_time() - c0, n)}
    merge(lumas[0][0], ab[0][0])  # compiled (or loaded from numba's cache) before timing
    t0, c0 = time.perf_counter(), time.process_time()
    for ys, abs_ in zip(lumas, ab, strict=True):
        for y, a in zip(ys, abs_, strict=True):
            merge(y, a)
    parts["Y'CbCr merge"] = (time.perf_counter() - t0, time.process_time() - c0, n)
    frames = [
        [make_frame(y, merge(y, a), pix_fmt) for y, a in zip(ys, abs_, strict=True)]
        for ys, abs_ in zip(lumas, ab, strict=True)
    ]
    return parts, frames


def merge_first_call() -> tuple[float, float]:
    """Wall seconds of the first ChromaMerger call in a fresh process: with an empty numba
    cache (the compile, once per machine) and again with the cache it left (once per process)."""
    code = (
        "import time, numpy as np; from vidcolor.cie import YCbCrFormat; "
        "from vidcolor.video.chroma import ChromaMerger; "
        "m = ChromaMerger(YCbCrFormat(0.2126, 0.0722), 'yuv420p', (16, 16)); "
        "y, ab = np.full((16, 16), 100, np.uint8), np.zeros((2, 8, 8), np.float32); "
        "t = time.perf_counter(); m(y, ab); print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = checkout_env(NUMBA_CACHE_DIR=cache)
        cold, warm = (
            float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, check=True).stdout)
            for _ in range(2)
        )  # fmt: skip
    return cold, warm


def encode_rows(clip: Path, segments, ab: list, info, workdir: Path) -> tuple[list[dict], dict]:
    """Rows for the encode stage, x264 alone and the stage's parts on the same frames, and the
    join; and the ratios that matter (CPU time per frame of the stage / x264 alone)."""
    from vidcolor.video.encode import EncodeSettings, encode_segment
    from vidcolor.video.mux import finalise

    settings = EncodeSettings()  # h264, crf 18, veryfast: the pipeline's default
    rate = info.frame_rate or 25
    n = sum(len(a) for a in ab)
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        files = [Path(tmp) / f"seg{s.index}{settings.segment_suffix()}" for s in segments]
        # Warm-up: tables and the merge's compiled code load once per process (see notes).
        encode_segment(str(clip), segments[0], ab[0], files[0], settings, info)
        c0 = time.process_time()
        _, seconds = timed(
            lambda: [
                encode_segment(str(clip), seg, a, f, settings, info)
                for seg, a, f in zip(segments, ab, files, strict=True)
            ]
        )
        encode_cpu = time.process_time() - c0
        label = f"encode (luma decode + Y'CbCr merge + x264 {settings.preset}) {info.width}x{info.height}"
        rows.append(cpu_rate_row(label, n, seconds, encode_cpu))
        parts, stage_frames = encode_parts(clip, segments, ab, info)
        runs = {
            f"  x264 {settings.preset} alone, the stage's input frames (in memory)": [
                [f for group in stage_frames for f in group]
            ],
            "  x264 alone, the same, one encoder per segment as the stage": stage_frames,
            "  x264 alone, the stage's output decoded back (earlier runs' reference)": [
                [f for group in decoded_outputs(files) for f in group]
            ],
        }
        x264 = {}
        for label, groups in runs.items():
            wall, cpu, frames = x264_alone(groups, settings, rate)
            x264[label] = (wall / frames, cpu / frames)
            rows.append(cpu_rate_row(label, frames, wall, cpu))
        for label, (wall, cpu, frames) in parts.items():
            rows.append(cpu_rate_row(f"  {label} alone, same frames", frames, wall, cpu))
        _, join_s = timed(finalise, str(clip), files, str(Path(tmp) / "out.mp4"), settings, info)
        rows.append(rate_row("join segments + copy audio", n, join_s))
    one, per_seg, decoded = x264.values()
    compile_s, load_s = merge_first_call()
    ratios = {
        "cpu": encode_cpu / n / one[1],
        "wall": seconds / n / one[0],
        "cpu_seg": encode_cpu / n / per_seg[1],
        "cpu_decoded": encode_cpu / n / decoded[1],
        "compile_s": compile_s,
        "load_s": load_s,
    }
    return rows, ratios


def merge_colour_error(clip: Path, n_frames: int, model_hw: tuple[int, int]) -> dict:
    """Mean CIEDE2000 of the Y'CbCr merge (4:2:0, as encoded and decoded) against the old exact
    merge (full-res L* from RGB + bicubic ab -> RGB), on the clip's grey luma with its own real
    colours as the 'prediction'; the old merge's own 4:2:0 output gives the scale."""
    import av
    import torch
    import torch.nn.functional as F
    from skimage import color as skcolor

    from vidcolor import cie, color
    from vidcolor.image import merge_l_ab
    from vidcolor.video.chroma import merge_chroma
    from vidcolor.video.planes import luma_plane, make_frame

    fmt, new_err, old_err = cie.YCbCrFormat(0.2126, 0.0722), [], []

    def rgb_of(frame):  # BT.709 limited, as tagged
        return frame.reformat(format="rgb24", src_colorspace=1, dst_colorspace=1).to_ndarray()

    with av.open(str(clip)) as c:
        for f in islice(c.decode(video=0), n_frames):
            rgb = f.to_ndarray(format="rgb24")
            lab = color.rgb_uint8_to_lab(torch.from_numpy(rgb))
            ab = F.interpolate(color.normalize_ab(lab[1:])[None], size=model_hw, mode="area")[0]
            grey = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=1, dst_color_range=1
            )
            y = np.ascontiguousarray(luma_plane(grey))
            l_full = color.rgb_uint8_to_lab(torch.from_numpy(rgb_of(grey)))[0]
            old = merge_l_ab(l_full.numpy(), ab.numpy())
            chroma = merge_chroma(y, ab.numpy(), fmt, "yuv420p")
            new = rgb_of(make_frame(y, chroma, "yuv420p"))
            old420 = rgb_of(av.VideoFrame.from_ndarray(old, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=1, dst_color_range=1, interpolation="BICUBIC"
            ))  # fmt: skip
            ref = skcolor.rgb2lab(old)
            new_err.append(skcolor.deltaE_ciede2000(ref, skcolor.rgb2lab(new)).mean())
            old_err.append(skcolor.deltaE_ciede2000(ref, skcolor.rgb2lab(old420)).mean())
    return {
        "frames": len(new_err),
        "new": float(np.mean(new_err)),
        "old420": float(np.mean(old_err)),
    }
