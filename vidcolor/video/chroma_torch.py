"""The chroma merge (chroma_kernel.merge_plane) as whole-tensor torch maths, for a GPU.

The same steps on the same tables (:mod:`vidcolor.video.chroma` builds them): block sums of luma
codes -> f(Y), ab clamped and upsampled with OpenCV's INTER_LINEAR taps -> f(X), f(Z) -> linear
sRGB -> gamut fit from the chroma-limit table -> sRGB table -> Cb/Cr codes, rounded and clipped.
Where the numba kernel walks one chroma row at a time in L1, this runs a batch of frames as a few
dozen element-wise kernels, which is what a GPU is good at, on data the model actor already holds
there. On CPU tensors it is the test's twin of the kernel (float64: the same codes but for the
rare sample whose code sits on a rounding edge); on a GPU float32 is the default (within one code).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vidcolor.cie import YCbCrFormat
from vidcolor.compiled import linear_taps
from vidcolor.video import chroma
from vidcolor.video.chroma_kernel import _D, _EPS, HUE_BINS
from vidcolor.video.planes import chroma_subsampling


def _taps(n_out: int, n_in: int, device: torch.device, dtype: torch.dtype):
    """The kernel's bilinear (lo, hi, weight of hi) per output, as tensors on ``device``."""
    lo, hi, weight = linear_taps(n_out, n_in)
    return (
        torch.from_numpy(lo).to(device),
        torch.from_numpy(hi).to(device),
        torch.from_numpy(weight).to(device, dtype),
    )


def _f_inverse(f: torch.Tensor) -> torch.Tensor:
    """CIE f^-1 minus 3 d^3, as the kernel's ``_f_inverse``."""
    return f.clamp(min=_D) ** 3 + (3.0 * _D * _D) * f.clamp(max=_D)


class TorchChromaMerger:
    """Cb, Cr codes of ``fmt`` for batches of frames of one size, on ``device``:
    luma codes (N, H, W) + normalised ab (N, 2, h', w') -> (N, 2, h, w) integer codes."""

    def __init__(
        self,
        fmt: YCbCrFormat,
        pix_fmt: str,
        luma_size: tuple[int, int],
        device: torch.device | str = "cpu",
        dtype: torch.dtype | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype or (torch.float64 if self.device.type == "cpu" else torch.float32)
        self.sub = chroma_subsampling(pix_fmt)
        n = self.sub[0] * self.sub[1]
        self.size = luma_size[0] // self.sub[0], luma_size[1] // self.sub[1]

        def table(a: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
            return torch.from_numpy(np.asarray(a)).to(self.device, dtype or self.dtype)

        self._f_table = table(chroma._luma_f_table(fmt, n))
        self._limits = table(chroma._chroma_limits(fmt, n)).view(-1, HUE_BINS + 1)
        self._gamma = table(chroma._gamma_table())
        self._rgb_from_f = table(chroma._RGB_FROM_F)
        self._codes = table(chroma._code_matrix(fmt)[:2])
        self._gains = [float(g) for g in chroma._AB_GAINS]
        scale = 1 << (fmt.bits - 8)
        self._range = (0, fmt.max_code) if fmt.full_range else (16 * scale, 240 * scale)
        self._taps: dict[tuple[int, int], tuple] = {}

    def __call__(self, y: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Cb, Cr (N, 2, h, w), int32, for luma codes ``y`` (N, H, W) and ab (N, 2, h', w')."""
        (sub_h, sub_w), (h, w) = self.sub, self.size
        if tuple(y.shape[-2:]) != (h * sub_h, w * sub_w):
            raise ValueError(f"luma {tuple(y.shape[-2:])} does not fit chroma {h, w} x {self.sub}")
        y = y.to(self.device, torch.int64)
        sums = y.view(-1, h, sub_h, w, sub_w).sum(dim=(2, 4))
        sums = sums.clamp(0, self._f_table.numel() - 1)
        f_y = self._f_table[sums]
        a, b = self._upsample(ab.to(self.device, self.dtype).clamp(-1.0, 1.0))
        rgb = self._rgb(f_y, a * self._gains[0], b * self._gains[1])
        rgb = self._fit(rgb, sums, f_y, a, b)
        return self._code(rgb)

    def _upsample(self, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ab at chroma resolution: rows then columns, as the kernel's ``_ab_row``."""
        key = tuple(ab.shape[-2:])
        if key not in self._taps:
            self._taps[key] = (
                _taps(self.size[0], key[0], self.device, self.dtype),
                _taps(self.size[1], key[1], self.device, self.dtype),
            )
        (r0, r1, wy), (c0, c1, wx) = self._taps[key]
        rows = ab[:, :, r0] + (ab[:, :, r1] - ab[:, :, r0]) * wy[:, None]
        up = rows[..., c0] + (rows[..., c1] - rows[..., c0]) * wx
        return up[:, 0], up[:, 1]

    def _rgb(self, f_y: torch.Tensor, dx: torch.Tensor, dz: torch.Tensor) -> torch.Tensor:
        """Linear sRGB (N, 3, h, w) of f(Y) and the offsets to f(X), f(Z) (z clipped at 0)."""
        xyz = torch.stack(
            [_f_inverse(f_y + dx), _f_inverse(f_y), _f_inverse((f_y + dz).clamp(min=0.0))], dim=1
        )
        m = self._rgb_from_f
        return torch.einsum("ck,nkhw->nchw", m[:, :3], xyz) + m[:, 3, None, None]

    def _fit(self, rgb, sums, f_y, a, b) -> torch.Tensor:
        """Samples outside the gamut keep L and hue and take the table's largest chroma."""
        outside = ((rgb < -_EPS) | (rgb > 1.0 + _EPS)).any(dim=1)
        if not bool(outside.any()):
            return rgb
        ab_scale = self._gains[2]
        chroma_now = torch.hypot(a * ab_scale, b * ab_scale)
        hue = torch.atan2(b, a)
        hue = torch.where(hue < 0.0, hue + 2.0 * math.pi, hue)
        pos = hue * (HUE_BINS / (2.0 * math.pi))
        edge = pos.long().clamp(max=HUE_BINS - 1)
        lo, hi = self._limits[sums, edge], self._limits[sums, edge + 1]
        limit = lo + (hi - lo) * (pos - edge)
        s = (limit / chroma_now.clamp(min=1e-6)).clamp(max=1.0)
        fitted = self._rgb(f_y, s * a * self._gains[0], s * b * self._gains[1])
        return torch.where(outside[:, None], fitted, rgb)

    def _code(self, rgb: torch.Tensor) -> torch.Tensor:
        """sRGB-encode by table and write Cb, Cr codes, rounded and clipped."""
        top = self._gamma.numel() - 1
        index = torch.floor(rgb.clamp(0.0, 1.0) * top + 0.5).long()
        encoded = self._gamma[index]
        m = self._codes
        codes = torch.einsum("ck,nkhw->nchw", m[:, :3], encoded) + m[:, 3, None, None]
        return torch.floor(codes + 0.5).clamp(*self._range).to(torch.int32)
