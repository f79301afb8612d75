"""What each report shows: held-out metrics, a sample grid PNG, optional TensorBoard scalars."""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import nn

from vidcolor import color
from vidcolor.metrics import ab_psnr, colourfulness


def to_rgb_uint8(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> np.ndarray:
    """Normalised L (N, 1, H, W) + ab (N, 2, H, W) -> uint8 RGB (N, H, W, 3)."""
    rgb = color.model_output_to_rgb(l_norm.float(), ab_norm.float().clamp(-1.0, 1.0))
    return (rgb.permute(0, 2, 3, 1) * 255.0).round().to(torch.uint8).cpu().numpy()


@torch.no_grad()
def predict(generator: nn.Module, l_norm: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """ab for ``l_norm`` in eval mode (BatchNorm running statistics), restoring train mode after."""
    was_training = generator.training
    generator.eval()
    try:
        device = next(generator.parameters()).device
        parts = [
            generator(l_norm[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(l_norm), batch_size)
        ]
    finally:
        generator.train(was_training)
    return torch.cat(parts)


def heldout_metrics(
    l_norm: torch.Tensor, ab_true: torch.Tensor, ab_pred: torch.Tensor
) -> dict[str, float]:
    """Mean ab-PSNR, hue agreement and colourfulness of predictions vs truth, and the grey
    baseline (ab = 0)."""
    from vidcolor.metrics.hue import hue_agreement

    truth = to_rgb_uint8(l_norm, ab_true)
    pred = to_rgb_uint8(l_norm, ab_pred)
    grey = to_rgb_uint8(l_norm, torch.zeros_like(ab_true))
    cf_true = float(np.mean([colourfulness(x) for x in truth]))
    cf_pred = float(np.mean([colourfulness(x) for x in pred]))
    return {
        "heldout_ab_psnr": float(
            np.mean([ab_psnr(t, p) for t, p in zip(truth, pred, strict=True)])
        ),
        "heldout_ab_psnr_grey": float(
            np.mean([ab_psnr(t, g) for t, g in zip(truth, grey, strict=True)])
        ),
        "heldout_hue_agreement": float(
            np.nanmean([hue_agreement(t, p) for t, p in zip(truth, pred, strict=True)] or [np.nan])
        ),
        "heldout_colourfulness": cf_pred,
        "heldout_colourfulness_truth": cf_true,
        "heldout_colourfulness_ratio": cf_pred / cf_true if cf_true > 0 else float("nan"),
    }


def report_line(metrics: dict) -> str:
    """One log line per report: step, losses, throughput, lr and the held-out metrics present."""
    parts = [
        f"step {metrics['step']} epoch {metrics['epoch']}",
        " ".join(
            f"{key} {metrics[key]:.4g}"
            for key in ("loss_d", "loss_g", "loss_adv", "loss_l1")
            if key in metrics
        ),
        f"{metrics['samples_per_s']:.3g} samples/s",
        f"lr {metrics['lr']:.3g}",
    ]
    if "heldout_ab_psnr" in metrics:
        parts.append(
            f"held-out ab_psnr {metrics['heldout_ab_psnr']:.2f} dB "
            f"(grey {metrics['heldout_ab_psnr_grey']:.2f}) "
            f"hue_agreement {metrics['heldout_hue_agreement']:.3f} "
            f"colourfulness x{metrics['heldout_colourfulness_ratio']:.2f}"
        )
    return " | ".join(p for p in parts if p)


def sample_grid_png(
    l_norm: torch.Tensor, ab_true: torch.Tensor, ab_pred: torch.Tensor, rows: int = 4
) -> bytes:
    """PNG bytes of a grid, one sample per row: grey | predicted | truth."""
    from PIL import Image

    n = min(rows, len(l_norm))
    l_norm, ab_true, ab_pred = l_norm[:n], ab_true[:n], ab_pred[:n]
    grey = to_rgb_uint8(l_norm, torch.zeros_like(ab_true))
    pred = to_rgb_uint8(l_norm, ab_pred)
    truth = to_rgb_uint8(l_norm, ab_true)
    grid = np.concatenate(
        [np.concatenate(row, axis=1) for row in zip(grey, pred, truth, strict=True)], axis=0
    )
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    return buf.getvalue()


class ScalarLog:
    """TensorBoard writer when ``torch.utils.tensorboard`` works (tensorboard installed); no-op else."""

    def __init__(self, logdir: str | None):
        self.writer = None
        if logdir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return  # tensorboard is optional
        self.writer = SummaryWriter(logdir)

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for key, value in metrics.items():
            if isinstance(value, int | float):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
