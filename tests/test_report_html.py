"""vidcolor-report.html: rendered from a real run (a black-and-white film, a broken file, a photo),
looked at in headless Chromium; hostile file names stay text; `vidcolor report OUT` rebuilds it
(local and S3); `--quiet` prints only errors and the summary line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import cut_clip, tiny_checkpoint
from skimage import color as skcolor

from vidcolor.pipeline import PipelineConfig, colourise_sequential
from vidcolor.pipeline.html_report import render_html
from vidcolor.pipeline.thumbnails import THUMB_HEIGHT, write_thumbnail

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "<img src=x onerror=alert(1)>.mp4"
# Set to a path (e.g. docs/report-screenshot.png) to keep the screenshot for the README.
SCREENSHOT_ENV = "VIDCOLOR_REPORT_SCREENSHOT"


def grey_photo(rgb: np.ndarray, path: Path, width: int = 240) -> Path:
    im = Image.fromarray(rgb).convert("L")
    im.resize((width, round(im.height * width / im.width))).save(path)
    return path


def two_shot_reel(a: Path, b: Path, dst: Path, seconds: float = 1.2) -> Path:
    """A black-and-white 'reel' of two real shots, cut at ``seconds``: 2 x 30 frames at 25 fps."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shot = f"trim=duration={seconds},setpts=PTS-STARTPTS,scale=320:180,setsar=1,fps=25"
    graph = f"[0:v]{shot}[a];[1:v]{shot}[b];[a][b]concat=n=2:v=1:a=0,hue=s=0[v]"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(a), "-i", str(b), "-filter_complex", graph]
    subprocess.run([*cmd, "-map", "[v]", "-c:v", "libx264", "-g", "25", str(dst)], check=True)
    return dst


@pytest.fixture(scope="module")
def run_out(tmp_path_factory, bigbuckbunny, bikes):
    """A real run with the shipped checkpoint: a film, a broken 'film' and a photo, all grey."""
    from skimage import data

    tmp = tmp_path_factory.mktemp("report")
    src = tmp / "archive"
    two_shot_reel(bigbuckbunny, bikes, src / "reel1.mp4")
    (src / "reel2.mp4").write_bytes(b"not a video at all" * 100)
    grey_photo(data.coffee(), src / "coffee.png")
    out = tmp / "out"
    report = colourise_sequential(
        [str(src)], str(out), PipelineConfig(model_size=128, progress=False, preview=True)
    )
    return {"src": src, "out": out, "report": report}


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Debian chromium is not installed: `make test` installs it"
    with tempfile.TemporaryDirectory(prefix="vc-chromium-") as profile:
        cmd = [exe, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
        cmd += [f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
        cmd += ["--no-sandbox"] if os.geteuid() == 0 else []  # root: Chromium's sandbox refuses
        return subprocess.run(
            [*cmd, *args], capture_output=True, text=True, timeout=timeout, check=True
        )


def screenshot(page: Path, png: Path, size: str = "1100,600") -> np.ndarray:
    chromium(f"--screenshot={png}", f"--window-size={size}", page.as_uri())
    return np.asarray(Image.open(png).convert("RGB"))


def colourful_pixels(rgb: np.ndarray) -> int:
    lab = skcolor.rgb2lab(rgb)
    return int((np.hypot(lab[..., 1], lab[..., 2]) > 15).sum())


def test_every_run_writes_the_html_beside_the_json(run_out):
    out, report = run_out["out"], run_out["report"]
    page = (out / "vidcolor-report.html").read_text()
    saved = json.loads((out / "vidcolor-report.json").read_text())
    assert page == render_html(saved)  # one source of truth: the JSON's dict
    for entry in saved["inputs"]:
        assert entry["input"] in page  # every input named (these names need no escaping)
    failed_at = page.index("reel2.mp4")
    assert failed_at < page.index("coffee.png") and failed_at < page.index("reel1.mp4")
    assert "not a readable video file" in page
    by_name = {Path(r.input).name: r for r in report.inputs}
    assert [by_name[n].status for n in ("reel1.mp4", "reel2.mp4", "coffee.png")] == [
        "ok",
        "failed",
        "ok",
    ]
    film = by_name["reel1.mp4"]
    assert film.frames == 60 and film.scene_cuts == [{"frame": 30, "time": 1.2}]
    assert '<span class="cuts">0:01.2</span>' in page  # where the shots change, as a time
    assert film.preview_png == "reel1.preview.png" and film.preview_mp4 == "reel1.preview.mp4"
    assert 'href="reel1.preview.png"' in page and 'href="reel1.preview.mp4"' in page
    assert by_name["reel2.mp4"].thumbnail is None
    for name in ("reel1.mp4", "coffee.png"):  # before (grey) | after (colour), lazy in the page
        rel = by_name[name].thumbnail
        assert rel == f"vidcolor-report/thumbs/{name}.jpg"
        assert f'loading="lazy" decoding="async" src="{rel}"' in page
        thumb = np.asarray(Image.open(out / rel).convert("RGB"))
        assert thumb.shape[0] == THUMB_HEIGHT
        half = thumb.shape[1] // 2
        before, after = thumb[:, : half - 2], thumb[:, half + 2 :]
        assert colourful_pixels(before) < 0.01 * before[..., 0].size, name
        # The colourised half: well clear of grey's < 1 %. How far depends on the demo model's
        # palette (the step-6,600 checkpoint paints bigbuckbunny paler: ~15 %; the one before: over 30 %).
        assert colourful_pixels(after) > 0.08 * after[..., 0].size, name


def test_report_in_headless_chromium_is_not_blank_and_shows_colour(run_out, tmp_path):
    out = run_out["out"]
    shot = screenshot(out / "vidcolor-report.html", tmp_path / "report.png")
    assert shot.shape[:2] == (600, 1100)
    ink = (shot.min(axis=2) < 200).mean()  # anything that is not white-ish paper
    assert ink > 0.05 and shot.std() > 20, (ink, shot.std())
    with_thumbs = colourful_pixels(shot)
    # The same page without its thumbnails: the colour in the screenshot comes from them (the
    # lazily loaded, CSP-allowed JPEGs really load from file://), not only from the red/green text.
    bare = json.loads((out / "vidcolor-report.json").read_text())
    for entry in bare["inputs"]:
        entry["thumbnail"] = None
    (tmp_path / "bare.html").write_text(render_html(bare))
    without = colourful_pixels(screenshot(tmp_path / "bare.html", tmp_path / "bare.png"))
    assert with_thumbs > without + 5000, (with_thumbs, without)
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(tmp_path / "report.png", ROOT / os.environ[SCREENSHOT_ENV])


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_a_hostile_file_name_is_text_not_markup(tmp_path, run_out):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copyfile(run_out["src"] / "reel1.mp4", src / HOSTILE)
    out = tmp_path / "out"
    ckpt = str(tiny_checkpoint(tmp_path / "g.safetensors"))
    config = PipelineConfig(checkpoint=ckpt, model_size=64, progress=False)
    report = colourise_sequential([str(src)], str(out), config)
    assert report.exit_code == 0, [r.error for r in report.failed]
    page = (out / "vidcolor-report.html").read_text()
    assert "<img src=x" not in page
    escaped = "&lt;img src=x onerror=alert(1)&gt;.mp4"
    # input (tooltip and text) and output link: always as escaped text
    assert page.count(escaped) == page.count("onerror=alert") == 3
    assert "<script" not in page

    # What a browser builds from it: no element but our thumbnail <img>, the name as text.
    dom = _Dom()
    dom.feed(chromium("--dump-dom", (out / "vidcolor-report.html").as_uri()).stdout)
    imgs = [attrs for tag, attrs in dom.tags if tag == "img"]
    assert imgs and all(a.get("class") == "thumb" and "onerror" not in a for a in imgs), imgs
    assert not [t for t, _ in dom.tags if t == "script"]
    assert [a["title"] for _, a in dom.tags if "title" in a] == [str(src / HOSTILE)]
    assert [t for t in dom.text if HOSTILE in t] == [HOSTILE, HOSTILE]  # input, output link


def test_vidcolor_report_rebuilds_the_html_from_the_json(run_out, tmp_path, run_cli):
    out = tmp_path / "copy"
    shutil.copytree(run_out["out"], out)
    written = (out / "vidcolor-report.html").read_text()
    (out / "vidcolor-report.html").unlink()
    res = run_cli("report", out, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(out / "vidcolor-report.html")
    assert (out / "vidcolor-report.html").read_text() == written

    (out / "vidcolor-report.json").write_text("{not json")
    res = run_cli("report", out, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip() == (
        f"vidcolor: error: {out / 'vidcolor-report.json'}: not a vidcolor report "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    )
    res = run_cli("report", tmp_path / "nothing-here", timeout=120)
    assert res.returncode == 1 and res.stderr.startswith("vidcolor: error: ")
    assert "no such report" in res.stderr and not (tmp_path / "nothing-here").exists()


def test_report_and_thumbnails_on_s3(run_out, s3_env, run_cli):
    s3 = s3_env
    s3.create_bucket(Bucket="coloured")
    src, out = run_out["src"], run_out["out"]
    rel = write_thumbnail(
        str(src / "coffee.png"), str(out / "coffee.png"), "s3://coloured/run1", "a/coffee.png"
    )
    assert rel == "vidcolor-report/thumbs/a/coffee.png.jpg"
    body = s3.get_object(Bucket="coloured", Key=f"run1/{rel}")["Body"].read()
    assert body[:3] == b"\xff\xd8\xff"  # a JPEG

    saved = json.loads((out / "vidcolor-report.json").read_text())
    s3.put_object(Bucket="coloured", Key="run1/vidcolor-report.json", Body=json.dumps(saved))
    res = run_cli("report", "s3://coloured/run1", timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "s3://coloured/run1/vidcolor-report.html"
    page = s3.get_object(Bucket="coloured", Key="run1/vidcolor-report.html")["Body"].read()
    assert page.decode() == render_html(saved)


def _synthetic_row(i: int, cuts: list[dict]) -> dict:
    name = f"reel-{i:05d}.mp4"
    row = {"input": f"s3://films/{name}", "output": f"s3://colour/run/{name}", "kind": "video"}
    if i % 100 == 7:
        return row | {"status": "failed", "error": f"s3://films/{name}: not a readable video file"}
    thumb = f"vidcolor-report/thumbs/{name}.jpg"
    ok = {"status": "ok", "frames": 90000, "duration": 3600.0, "fps": 41.5, "scene_cuts": cuts}
    return row | ok | {"thumbnail": thumb}


def test_ten_thousand_rows_stay_a_light_page():
    cuts = [{"frame": 25 * i, "time": float(i)} for i in range(1, 40)]
    rows = [_synthetic_row(i, cuts) for i in range(10_000)]
    report = {"output": "s3://colour/run", "config": {}, "inputs": rows, "totals": {}}
    started = time.perf_counter()
    page = render_html(report)
    seconds = time.perf_counter() - started
    assert seconds < 5, seconds  # ~0.3 s here; 5 s bound for a loaded machine
    assert len(page.encode()) < 10_000 * 1500, len(page)  # compact: well under 1.5 KB a row
    assert page.count("<img ") == page.count('loading="lazy"') == 10_000 - 100
    assert page.count("+31 more</summary>") == 10_000 - 100  # long cut lists fold
    assert page.index("reel-00007.mp4") < page.index("reel-00000.mp4")  # failed first


def test_quiet_prints_only_errors_and_the_summary(tmp_path, bikes, run_cli):
    """On Ray (--address local: a short clip alone runs in-process), with a broken input: stdout is the summary line, stderr the one error;
    Ray's own lines (token auth, 'Started a local Ray instance', 'Progress bars disabled', the core
    worker's actor-constructor error) went to the Ray session's log directory instead."""
    src = tmp_path / "in"
    cut_clip(bikes, src / "bikes.mp4", seconds=1, width=160, gop=10, audio=False)
    (src / "broken.mp4").write_bytes(b"not a video" * 100)
    ckpt = tiny_checkpoint(tmp_path / "g.safetensors")
    ray_tmp = tempfile.mkdtemp(prefix="vc-ray-", dir="/tmp")  # short: Ray's socket paths
    try:
        args = ["colourise", src, "-o", tmp_path / "out", "--checkpoint", ckpt]
        args += ["--model-size", "64", "--quiet", "--address", "local"]
        res = run_cli(*args, env={"RAY_TMPDIR": ray_tmp})
        assert res.returncode == 1, res.stderr
        error = f"{src / 'broken.mp4'}: not a readable video file"
        assert [x for x in res.stderr.splitlines() if x.strip()] == [
            f"vidcolor: error: {error} (Invalid data found when processing input)"
        ], res.stderr
        summary = res.stdout.splitlines()
        assert len(summary) == 1 and summary[0].startswith("1 ok, 0 skipped, 1 failed; "), summary
        logs = list(Path(ray_tmp).rglob("vidcolor-driver.log"))
        assert len(logs) == 1, logs
        assert "Started a local Ray instance" in logs[0].read_text()
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_quiet_and_verbose_exclude_each_other(run_cli, tmp_path):
    res = run_cli("colourise", tmp_path, "-o", tmp_path / "o", "--quiet", "--verbose")
    assert res.returncode == 2 and "not allowed with argument" in res.stderr
