"""One dataclass holds every knob of a colourisation run (CLI, Python API and Ray job share it)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

from vidcolor.errors import UsageError

# Fields that change the pixels of a segment (the output key hashes them).
_PIXEL_FIELDS = (
    "model_size",
    "codec",
    "crf",
    "preset",
    "smoothing",
    "segment_seconds",
    "deinterlace",
)
STATE_VERSION = 3  # bump when the state files' meaning changes, so old state is not reused
MAX_GPU_ACTORS = 8  # --max-actors default for a GPU pool (its autoscaling upper bound)


@dataclass
class PipelineConfig:
    checkpoint: str | None = None  # generator .safetensors; None = the shipped demo checkpoint
    inception_weights: str | None = None  # Inception-v3 weights, for vit-i-gan checkpoints
    model_size: int = 256  # short side the model sees (multiple of 32)
    codec: str = "h264"  # h264 | h265 | ffv1 | prores
    crf: int = 18  # h264/h265 quality (lower = better)
    preset: str = "veryfast"  # x264/x265 speed preset
    deinterlace: bool = False  # bwdif before the model and the merge (decode and encode stages)
    smoothing: int = 3  # temporal smoothing strength (vidcolor.smooth); 0 = off
    segment_seconds: float = 10.0  # a video is cut into keyframe-aligned segments about this long
    references: str | None = None  # a tree of references mirroring the inputs (vidcolor.guide)
    reference: str | None = None  # a reference photo for every input without references of its own
    reference_reach: float = (
        4.0  # seconds a keyframe's colours follow the flow (then: correspondence)
    )
    batch_size: int = 16  # frames per model forward pass
    num_actors: int | None = None  # fixed size of the model actor pool (overrides min/max)
    min_actors: int = 1
    max_actors: int | None = None  # None: MAX_GPU_ACTORS for a GPU pool, min_actors on CPU
    cpus_per_actor: float = 1.0  # CPUs a CPU model actor reserves
    model_threads: int | None = None  # torch threads of a CPU model actor (see cpu_model_threads)
    device: str = "auto"  # auto | cpu | cuda (auto: cuda when the cluster has or can add GPUs)
    address: str | None = None  # None: start a local Ray; 'auto' or 'ray://...' joins a cluster
    overwrite: bool = False  # redo finished outputs and discard saved segments
    preview: bool = False  # write a before/after contact sheet and side-by-side clip per video
    progress: bool = True  # driver-side progress bar (off with --quiet)
    verbose: bool = False  # Ray's own log lines and workers' output on the terminal

    def __post_init__(self) -> None:
        if self.model_size <= 0 or self.model_size % 32:
            raise UsageError(
                f"--model-size must be a positive multiple of 32, got {self.model_size}"
            )
        if self.smoothing < 0:
            raise UsageError(f"--smoothing must be >= 0, got {self.smoothing}")
        if self.segment_seconds <= 0:
            raise UsageError(f"--segment-seconds must be > 0, got {self.segment_seconds}")
        if self.reference_reach <= 0:
            raise UsageError(f"--reference-reach must be > 0, got {self.reference_reach}")
        if self.batch_size <= 0:
            raise UsageError(f"--batch-size must be > 0, got {self.batch_size}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.num_actors is not None and self.num_actors <= 0:
            raise UsageError(f"--num-actors must be > 0, got {self.num_actors}")
        if self.model_threads is not None and self.model_threads <= 0:
            raise UsageError(f"--model-threads must be > 0, got {self.model_threads}")
        if self.min_actors <= 0:
            raise UsageError(f"--min-actors must be > 0, got {self.min_actors}")
        if self.max_actors is not None and self.max_actors < self.min_actors:
            raise UsageError(
                f"--max-actors ({self.max_actors}) must be >= --min-actors ({self.min_actors})"
            )
        from vidcolor.video.encode import CODECS  # light: no av import at module level needed

        if self.codec not in CODECS:
            raise UsageError(f"--codec must be one of {sorted(CODECS)}, got {self.codec!r}")
        if not 0 <= self.crf <= 51:
            raise UsageError(f"--crf must be in 0..51, got {self.crf}")

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
