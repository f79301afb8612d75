"""One dataclass holds every knob of a colourisation run (CLI, Python API and Ray job share it);
each option's flag, help and range are its field's (vidcolor/options.py)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from fractions import Fraction

from vidcolor.errors import UsageError
from vidcolor.options import above, at_least, check_options, option, within
from vidcolor.video.codecs import CODECS

# Fields that change the pixels of a segment (the output key hashes them).
_PIXEL_FIELDS = (
    "model_size",
    "codec",
    "crf",
    "preset",
    "smoothing",
    "segment_seconds",
    "deinterlace",
    "sequence_fps",
    "sequence_output",
)
STATE_VERSION = 3  # bump when the state files' meaning changes, so old state is not reused
MAX_GPU_ACTORS = 8  # --max-actors default for a GPU pool (its autoscaling upper bound)
# A run on this machine alone of at most LOCAL_FILES local photos and videos with at most
# LOCAL_SECONDS of video in all goes in-process (pipeline/local.py): Ray's start and stop would
# cost more than the run (~10 s on 2 cores; the 21 s 720p reel: 25 s on Ray, 12 s in-process).
LOCAL_FILES = 8
LOCAL_SECONDS = 60.0
DEVICES = ("auto", "cpu", "cuda")  # auto: cuda when the cluster has or can add GPUs


@dataclass
class PipelineConfig:
    # model
    checkpoint: str | None = option(  # None = the shipped demo checkpoint
        None,
        group="model",
        metavar="FILE",
        help="generator .safetensors (default: the shipped demo)",
    )
    model_size: int = option(  # short side the model sees
        256,
        group="model",
        metavar="N",
        help="short side of the frames the model sees, a multiple of 32 (default: %(default)s)",
    )
    inception_weights: str | None = option(  # for vit-i-gan checkpoints
        None, group="model", metavar="FILE", help="Inception-v3 weights (vit-i-gan)"
    )
    batch_size: int = option(
        16,
        group="model",
        metavar="N",
        help="frames per model pass (default: %(default)s)",
        check=above(0),
    )
    device: str = option(
        "auto",
        group="model",
        choices=DEVICES,
        help="cuda: a GPU per model actor, asked for even before a GPU node is up (an "
        "autoscaler starts them); auto: cuda when the cluster has GPUs or its autoscaler can add "
        "them, else cpu. The choice is the first line printed and is in the report "
        "(default: %(default)s)",
    )
    # video
    codec: str = option("h264", group="video", choices=tuple(CODECS), help="default: %(default)s")
    crf: int = option(
        18,
        group="video",
        help="h264/h265 quality, lower is better (default: %(default)s)",
        check=within(0, 51),
    )
    preset: str = "veryfast"  # x264/x265 speed preset
    deinterlace: bool = option(  # bwdif before the model and the merge (decode and encode)
        False,
        group="video",
        help="deinterlace with bwdif first (one frame out per frame in; the output is progressive "
        "and its luma no longer the source's code for code)",
    )
    smoothing: int = option(  # temporal smoothing strength (vidcolor.smooth)
        3,
        group="video",
        metavar="N",
        help="temporal smoothing of colour along motion, reset at scene cuts: strength N (the "
        "frames on each side weigh N times the frame itself); 0 = off (default: %(default)s)",
        check=at_least(0),
    )
    segment_seconds: float = option(
        10.0,
        group="video",
        metavar="S",
        help="videos are split into keyframe-aligned segments of about S seconds "
        "(default: %(default)s)",
        check=above(0),
    )
    # references (vidcolor.guide; what their names mean: the command's epilog, README)
    references: str | None = option(
        None,
        group="references",
        metavar="DIR",
        help="references in the same layout under DIR (local or s3://), mirroring the input tree",
    )
    reference: str | None = option(
        None,
        group="references",
        metavar="IMG",
        help="a reference photo for every input that has no references of its own",
    )
    reference_reach: float = option(  # seconds; further out: correspondence
        4.0,
        group="references",
        metavar="S",
        help="seconds a keyframe's colours are carried along the motion each way; further out "
        "they reach frames by correspondence (default: %(default)s)",
        check=above(0),
    )
    # cluster
    # None: a short local run in-process (pipeline/local.py), else a new local Ray; 'local': a
    # new local Ray always; 'auto' or 'ray://...' joins one
    address: str | None = option(
        None,
        group="cluster",
        metavar="ADDR",
        help="Ray cluster to join: 'auto' (the one this machine is part of) or ray://host:10001, "
        "or 'local' to start one here even for a short run; default: %(default)s",
        none_means=f"up to {LOCAL_FILES} local files with at most {LOCAL_SECONDS:g} s of video run "
        "in this process (Ray would take longer to start), anything more on a new local Ray",
    )
    num_actors: int | None = option(  # overrides min/max
        None, group="cluster", metavar="N", help="fixed number of model actors", check=above(0)
    )
    min_actors: int = option(
        1,
        group="cluster",
        metavar="N",
        help="autoscaling lower bound (default: %(default)s)",
        check=above(0),
    )
    max_actors: int | None = option(  # None: MAX_GPU_ACTORS for a GPU pool, min_actors on CPU
        None,
        group="cluster",
        metavar="N",
        help=f"autoscaling upper bound (default: {MAX_GPU_ACTORS} for GPU actors, "
        "--min-actors for CPU actors)",
    )
    cpus_per_actor: float = 1.0  # CPUs a CPU model actor reserves
    model_threads: int | None = option(  # see cpu_model_threads
        None,
        group="cluster",
        metavar="N",
        help="torch threads of each CPU model actor (default: 2 per CPU it reserves, at most "
        "the machine's cores: the model is the slowest stage on CPU and takes the time decode "
        "and encode leave idle)",
        check=above(0),
    )
    # frame sequences (vidcolor.sequences)
    sequences: str = option(  # on: a folder's numbered frame files are one film; off: photos
        "on",
        group="frame sequences (DPX, TIFF, PNG, JPEG scans: one file per frame)",
        choices=("on", "off"),
        help="on: a folder's files named PREFIX<number>.EXT (at least 3) are one film; off: each "
        "file is a photo (default: %(default)s)",
    )
    sequence_fps: str = option(  # frames/s of a sequence whose files state none
        "24",
        group="frame sequences (DPX, TIFF, PNG, JPEG scans: one file per frame)",
        metavar="FPS",
        help="frame rate of a sequence whose files state none (a DPX header's rate wins), e.g. "
        "24, 25 or 24000/1001 (default: %(default)s)",
    )
    sequence_output: str = option(  # frames: the same files under OUT; video: one film
        "frames",
        group="frame sequences (DPX, TIFF, PNG, JPEG scans: one file per frame)",
        choices=("frames", "video"),
        help="frames: the same files under OUT (same names, format and bit depth); video: one "
        "film per sequence with --codec, gaps filled by the frame before, a sidecar NAME.wav "
        "muxed (default: %(default)s)",
    )
    # output
    overwrite: bool = option(False, group="output", help="redo everything, even finished outputs")
    preview: bool = option(
        False,
        group="output",
        help="also write NAME.preview.png (before/after contact sheet) and NAME.preview.mp4 "
        "(side-by-side clip) per video",
    )
    progress: bool = option(  # driver-side progress bar and vidcolor's warnings; off: --quiet
        True,
        flag="--quiet",
        group="output",
        exclusive="talk",
        help="print nothing but errors and the final summary line (no progress bar)",
    )
    verbose: bool = option(  # Ray's own log lines and workers' output on the terminal
        False,
        group="output",
        exclusive="talk",
        help="also show Ray's own log lines and the workers' output (by default they go to "
        "vidcolor-driver.log and the other logs in the Ray session's log directory)",
    )

    def __post_init__(self) -> None:
        check_options(self)
        if self.model_size <= 0 or self.model_size % 32:
            raise UsageError(
                f"--model-size must be a positive multiple of 32, got {self.model_size}"
            )
        if self.max_actors is not None and self.max_actors < self.min_actors:
            raise UsageError(
                f"--max-actors ({self.max_actors}) must be >= --min-actors ({self.min_actors})"
            )
        self._check_sequence_fps()

    def _check_sequence_fps(self) -> None:
        try:
            ok = 0 < self.sequence_rate() <= 1000
        except (ValueError, ZeroDivisionError):
            ok = False
        if not ok:
            raise UsageError(
                f"--sequence-fps must be a frame rate such as 24, 25, 23.976 or 24000/1001, "
                f"got {self.sequence_fps!r}"
            )

    def sequence_rate(self) -> Fraction:
        """``sequence_fps`` exactly (23.976 -> 24000/1001, as a DPX header's would be)."""
        from vidcolor.dpx import exact_rate

        rate = Fraction(str(self.sequence_fps))
        return rate if rate.denominator in (1, 1001) else exact_rate(float(rate))

    @property
    def overlap(self) -> int:
        # Context frames each side so that segments smooth as the whole video does (to 1e-3 in ab).
        from vidcolor.smooth import context_frames

        return context_frames(self.smoothing_config())

    def cpu_model_threads(self) -> int:
        """Torch threads of a CPU model actor: ``model_threads``, or twice the CPUs it reserves.
        On CPU the model is the slowest stage, and decode and encode leave their cores idle
        between segments; a second thread takes that time (2-CPU machine: the run 1.17x faster).
        The actor never runs more threads than the cores it sees."""
        return self.model_threads or 2 * max(1, math.ceil(self.cpus_per_actor))

    def smoothing_config(self):
        from vidcolor.smooth import SmoothingConfig

        return SmoothingConfig(radius=self.smoothing)

    def encode_settings(self):
        from vidcolor.video.encode import EncodeSettings

        return EncodeSettings(
            codec=self.codec, crf=self.crf, preset=self.preset, deinterlace=self.deinterlace
        )

    def output_key(self, checkpoint_id: str) -> str:
        """Hash of everything that changes the pixels of a segment (not scheduling knobs)."""
        fields = {k: v for k, v in asdict(self).items() if k in _PIXEL_FIELDS}
        fields["checkpoint"] = checkpoint_id
        fields["inception_weights"] = self.inception_weights
        fields["state_version"] = STATE_VERSION
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
