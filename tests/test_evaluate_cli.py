"""`vidcolor evaluate` end to end: images, folders and videos, table and JSON, one-line errors."""

from __future__ import annotations

import json
import subprocess

import av
import numpy as np
import pytest
from skimage import io

from vidcolor.cli import main
from vidcolor.metrics import ab_psnr, colourfulness, psnr, ssim


def write_video(path, frames, fps: int = 25) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())


def ffprobe_frames(path) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(out.stdout.strip())


def grey(rgb: np.ndarray) -> np.ndarray:
    y = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.repeat(y.round().astype(np.uint8)[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def clips(carphone, tmp_path_factory):
    """12 real frames of carphone as a colour reference video and its grey version."""
    root = tmp_path_factory.mktemp("clips")
    with av.open(str(carphone)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24", width=88, height=72))
            if len(frames) == 12:
                break
    write_video(root / "ref.mp4", frames)
    write_video(root / "grey.mp4", [grey(f) for f in frames])
    write_video(root / "short.mp4", frames[:9])
    return root


@pytest.fixture
def photo_files(real_photos, tmp_path):
    ref = real_photos["astronaut"][:128, :128]
    rng = np.random.default_rng(0)
    cand = np.clip(ref.astype(np.int16) + rng.integers(-10, 11, ref.shape) + [5, 0, -5], 0, 255)
    cand = cand.astype(np.uint8)
    io.imsave(tmp_path / "ref.png", ref, check_contrast=False)
    io.imsave(tmp_path / "cand.png", cand, check_contrast=False)
    return tmp_path / "ref.png", tmp_path / "cand.png", ref, cand


def test_two_images_json(photo_files, capsys):
    # In-process (the video test below goes through a real subprocess): saves an interpreter start.
    ref_path, cand_path, ref, cand = photo_files
    code = main(["evaluate", "--reference", str(ref_path), "--candidate", str(cand_path), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "image" and report["frames"] == 1
    m = report["metrics"]
    assert m["psnr"] == pytest.approx(psnr(ref, cand), abs=1e-9)
    assert m["ssim"] == pytest.approx(ssim(ref, cand), abs=1e-9)
    assert m["ab_psnr"] == pytest.approx(ab_psnr(ref, cand), abs=1e-9)
    assert m["colourfulness"] == pytest.approx(colourfulness(cand), abs=1e-9)
    assert m["colourfulness_ratio"] == pytest.approx(colourfulness(cand) / colourfulness(ref))
    assert m["cdc"] is None and m["flicker"] is None  # one image: no temporal pairs


def test_folders_matched_by_relative_path(photo_files, real_photos, tmp_path, capsys):
    _, _, ref, cand = photo_files
    other = real_photos["coffee"][:96, :160]
    for root, first, second in (("R", ref, other), ("C", cand, grey(other))):
        (tmp_path / root / "shot1").mkdir(parents=True)
        io.imsave(tmp_path / root / "shot1" / "a.png", first, check_contrast=False)
        io.imsave(tmp_path / root / "b.png", second, check_contrast=False)
    code = main(["evaluate", "-r", str(tmp_path / "R"), "-c", str(tmp_path / "C"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["frames"] == 2
    # Sorted relative paths: b.png then shot1/a.png; means over the two pairs.
    expected = (psnr(other, grey(other)) + psnr(ref, cand)) / 2
    assert report["metrics"]["psnr"] == pytest.approx(expected, abs=1e-9)
    (tmp_path / "C" / "b.png").unlink()
    code = main(["evaluate", "-r", str(tmp_path / "R"), "-c", str(tmp_path / "C")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "b.png" in err and str(tmp_path / "C") in err and "\n" not in err


def test_videos_frame_by_frame(run_cli, clips):
    assert ffprobe_frames(clips / "grey.mp4") == 12
    res = run_cli("evaluate", "-r", clips / "ref.mp4", "-c", clips / "grey.mp4", "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["kind"] == "video" and report["frames"] == 12
    m = report["metrics"]
    assert m["colourfulness"] < 2 and m["colourfulness_ratio"] < 0.1  # the grey copy has no colour
    assert 15 < m["psnr"] < 60 and 0 < m["ssim"] < 1 and m["ab_psnr"] < 40
    assert m["cdc"] >= 0 and m["flicker"] < 1 and report["cuts"] == []
    assert 0 <= m["warping_error"] <= m["flicker"]  # a default metric, next to flicker
    # No reference: the no-reference metrics on the colour clip, printed as a table.
    res = run_cli("evaluate", "-c", clips / "ref.mp4", "--metrics", "colourfulness,cdc", "flicker")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert "12 frame" in lines[0] and len(lines) == 4
    values = {line.split()[0]: float(line.split()[1]) for line in lines[1:]}
    assert set(values) == {"colourfulness", "cdc", "flicker"}
    assert values["colourfulness"] > 10 * m["colourfulness"] and values["flicker"] > m["flicker"]


def test_one_line_errors(run_cli, clips, photo_files, tmp_path, capsys):
    res = run_cli("evaluate", "-r", tmp_path / "missing.mp4", "-c", clips / "ref.mp4")
    assert res.returncode == 1 and res.stdout == ""
    assert (
        res.stderr.strip()
        == f"vidcolor: error: {tmp_path / 'missing.mp4'}: no such file or folder (--reference)"
    )

    def fails(*argv, env=None):
        code = main(["evaluate", *map(str, argv)])
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith("vidcolor: error: "), err
        return code, err

    code, err = fails("-r", clips / "ref.mp4", "-c", clips / "short.mp4")
    assert code == 1 and "short.mp4: ends after 9 frames" in err
    small = tmp_path / "small.png"
    io.imsave(small, photo_files[2][:64, :64], check_contrast=False)
    code, err = fails("-r", photo_files[0], "-c", small)
    assert code == 1 and "small.png" in err and "64x64" in err and "128x128" in err
    code, err = fails("-c", clips / "ref.mp4", "--metrics", "psnr")
    assert code == 2 and "needs --reference" in err
    code, err = fails("-r", photo_files[0], "-c", clips / "ref.mp4")
    assert code == 2 and "is an image but --candidate" in err
    code, err = fails("-c", clips / "ref.mp4", "--metrics", "sharpness")
    assert code == 2 and "unknown metric 'sharpness'" in err
    code, err = fails("-c", photo_files[0], "-r", photo_files[0], "--metrics", "fid",
                      "--inception-weights", tmp_path / "none.pth")  # fmt: skip
    assert code == 1 and "Inception-v3 weights not found" in err and "none.pth" in err
    not_video = tmp_path / "notes.txt"
    not_video.write_text("not a video")
    code, err = fails("-c", not_video)
    assert code == 1 and "notes.txt: not a readable video" in err
    broken = tmp_path / "broken.png"  # an image name, not an image: one line naming it
    broken.write_bytes(b"\x89PNG not really")
    code, err = fails("-c", broken)
    assert code == 1 and "broken.png: not an image file" in err
