"""What one training run needs: ``vidcolor train`` fills it (its defaults are the CLI's), workers
receive it as a dict. No torch here: the CLI reads the defaults before anything heavy loads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TrainConfig:
    """Everything one training run needs; the CLI fills it, workers receive it as a dict."""

    data: list[str] = field(default_factory=list)
    validation: list[str] = field(default_factory=list)  # empty: heldout_fraction of data
    output: str = "train-out"
    name: str = "run"
    workers: int = 1
    gpu: bool = False
    cpus_per_worker: float | None = None  # None: sized to the cluster (train/resources.py)
    precision: str = "fp16"  # on GPU only; CPU always trains in fp32
    epochs: int = 10
    max_steps: int = 0  # 0: no limit, epochs decide
    batch_size: int = 16  # per worker (paper: 16); the global batch is workers x batch_size
    image_size: int = 256
    variant: str = "vit-gan"
    width: int = 64
    inception_weights: str | None = None
    disc: dict = field(default_factory=dict)  # ViTDiscriminator keywords beyond image_size
    lr: float = 2e-4  # for one worker's batch; scaled with the world size per lr_scaling
    lr_scaling: str = "sqrt"  # "sqrt" | "linear" | "none": see _lr_at
    betas: tuple[float, float] = (0.5, 0.9)
    l1_weight: float = 100.0
    colour_rebalance: float = 0.0  # 0: plain L1 (paper); 0.5: Zhang et al.'s (train/step.py)
    lr_drop_step: int = 0  # 0: constant lr; else multiply by lr_drop_factor from this step on
    lr_drop_factor: float = 0.1
    # > 0: keep an exponential moving average of the generator (weights and BatchNorm statistics)
    # with this decay per step; reports score it and checkpoints export it (train/ema.py).
    ema_decay: float = 0.0
    report_every: int = 100
    keep_checkpoints: int = 3
    max_failures: int = 0
    resume: bool = False
    seed: int = 0
    # data
    heldout_fraction: float = 0.1
    min_chroma_std: float = 6.0
    frames_per_video: int = 8
    crops_per_image: int = 1
    dark_fraction: float = 0.0  # share of training crops underexposed (train/data.py: underexpose)
    # Test hook for fault tolerance: the last rank exits hard once at this step (marker file
    # guards "once" across restarts). 0 disables it.
    fail_once_at_step: int = 0
    fail_marker: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def step_limit(self) -> int:
        return self.max_steps if self.max_steps > 0 else 2**62

    def disc_kwargs(self) -> dict:
        return {"image_size": self.image_size, **self.disc}
