"""What one training run needs: ``vidcolor train`` fills it (each option's flag, help, default and
range are its field's: vidcolor/options.py), workers receive it as a dict. No torch here: the CLI
reads the options before anything heavy loads."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vidcolor.errors import UsageError
from vidcolor.models.config import VARIANTS
from vidcolor.options import above, at_least, check_options, option, within

# The learning rate for N workers: --lr times this factor (see TrainConfig.lr_at).
LR_SCALINGS = {"sqrt": lambda world: world**0.5, "linear": float, "none": lambda world: 1.0}
PRECISIONS = ("fp16", "bf16", "no")
_ONE_OR_MORE = at_least(1)
_FRACTION = within(0, 1)


@dataclass
class TrainConfig:
    """Everything one training run needs; the CLI fills it, workers receive it as a dict."""

    data: list[str] = option(
        default_factory=list,
        required=True,
        metavar="SRC",
        help="images/videos: dir, glob, file or s3:// prefix (repeatable)",
    )
    validation: list[str] = option(  # empty: heldout_fraction of data
        default_factory=list,
        metavar="SRC",
        help="validation images/videos the reports score (repeatable; default: "
        "--heldout-fraction of --data)",
    )
    output: str = option("train-out", required=True, help="output dir or s3:// prefix")
    name: str = option("run", help="run name: checkpoints go to OUTPUT/NAME/")
    workers: int = option(1, help="Ray Train workers (default %(default)s)", check=_ONE_OR_MORE)
    gpu: bool = option(False, help="one GPU per worker, mixed precision")
    precision: str = option("fp16", choices=PRECISIONS, help="on GPU")  # CPU trains in fp32
    cpus_per_worker: float | None = option(  # None: sized to the cluster (train/resources.py)
        None,
        help="CPUs each worker reserves (default: 1, less when that would leave under 0.5 CPU "
        "for data loading; a request that does not fit the cluster is refused)",
    )
    epochs: int = option(10, check=_ONE_OR_MORE)
    max_steps: int = option(0, help="stop after this many steps (0: off)")  # 0: epochs decide
    # per worker (paper: 16); the global batch is workers x batch_size
    batch_size: int = option(16, help="per worker (paper: 16)", check=_ONE_OR_MORE)
    image_size: int = option(256, help="training crop size (paper: 256)")
    variant: str = option("vit-gan", choices=VARIANTS)
    width: int = option(64, help="generator width (paper: 64)", check=_ONE_OR_MORE)
    inception_weights: str | None = option(None, help="local Inception-v3 weights (vit-i-gan)")
    lr: float = option(2e-4, help="for one worker's batch")  # scaled per lr_scaling
    lr_scaling: str = option(
        "sqrt",
        choices=tuple(LR_SCALINGS),
        help="with N workers the global batch is N x --batch-size and the lr is --lr x sqrt(N) "
        "(default), x N, or unchanged",
    )
    beta1: float = option(0.5)  # Adam's betas (paper: 0.5, 0.9)
    beta2: float = option(0.9)
    l1_weight: float = option(100.0)
    colour_rebalance: float = option(  # 0: plain L1 (paper); 0.5: Zhang et al.'s (train/step.py)
        0.0,
        help="weight the L1 term by how rare each true colour is in the batch: 0 plain L1 "
        "(paper, default), 0.5 Zhang et al. 2016's setting, 1 pure inverse frequency",
        check=_FRACTION,
    )
    # 0: constant lr; else multiply by lr_drop_factor from this step on
    lr_drop_step: int = option(0, help="multiply lr by --lr-drop-factor")
    lr_drop_factor: float = option(0.1)
    # > 0: keep an exponential moving average of the generator (weights and BatchNorm statistics)
    # with this decay per step; reports score it and checkpoints export it (train/ema.py).
    ema_decay: float = option(
        0.0,
        help="keep an exponential moving average of the generator (e.g. 0.999); reports score "
        "it and checkpoints export it (default %(default)s: off)",
        check=within(0, 1, high_open=True),
    )
    report_every: int = option(100, help="steps between reports", check=_ONE_OR_MORE)
    keep_checkpoints: int = option(3)
    max_failures: int = option(0, help="worker restarts Ray Train may do")
    resume: bool = option(False, help="continue OUTPUT/NAME from its latest")
    seed: int = option(0)
    # data
    heldout_fraction: float = option(0.1)
    min_chroma_std: float = option(6.0, help="drop greyer sources")
    frames_per_video: int = option(8)
    crops_per_image: int = option(1, help="random crops per epoch")
    dark_fraction: float = option(  # share of training crops underexposed (train/data.py)
        0.0,
        help="share of training crops darkened 2-10x in linear light (dusk, shade; hues kept)",
        check=_FRACTION,
    )
    # Discriminator size beyond image_size; None: ViTDiscriminator's default (paper table 1).
    disc_dim: int | None = option(None, check=above(0))
    disc_depth: int | None = option(None, check=above(0))
    disc_heads: int | None = option(None, check=above(0))
    disc_dim_head: int | None = option(None, check=above(0))
    disc_mlp_dim: int | None = option(None, check=above(0))
    disc_patch: int | None = option(None, check=above(0))
    address: str | None = option(
        None, help="Ray cluster (default: %(default)s)", none_means="local"
    )

    def __post_init__(self) -> None:
        check_options(self)
        if self.image_size % 32:
            raise UsageError(f"--image-size must be a multiple of 32, got {self.image_size}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def step_limit(self) -> int:
        return self.max_steps if self.max_steps > 0 else 2**62

    @property
    def betas(self) -> tuple[float, float]:
        return (self.beta1, self.beta2)

    def lr_at(self, step: int, world: int) -> float:
        """The learning rate at ``step`` with ``world`` workers.

        Each worker takes ``batch_size`` samples, so the global batch is ``world x batch_size``
        and grows with the workers; ``lr`` is the rate for one worker's batch and is multiplied
        by sqrt(world) (default: the usual rule for Adam), world ("linear", Goyal et al. for SGD)
        or 1.
        """
        dropped = self.lr_drop_step > 0 and step >= self.lr_drop_step
        scale = LR_SCALINGS[self.lr_scaling](world)
        return self.lr * scale * (self.lr_drop_factor if dropped else 1.0)

    def disc_kwargs(self) -> dict:
        """ViTDiscriminator's keywords: image_size and the sizes given."""
        given = {
            "dim": self.disc_dim,
            "depth": self.disc_depth,
            "heads": self.disc_heads,
            "dim_head": self.disc_dim_head,
            "mlp_dim": self.disc_mlp_dim,
            "patch_size": self.disc_patch,
        }
        return {"image_size": self.image_size, **{k: v for k, v in given.items() if v is not None}}
