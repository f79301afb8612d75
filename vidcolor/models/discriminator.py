"""ViT discriminator (paper 4.7, table 1), after lucidrains/vit-pytorch's ``ViT``.

Input: L + ab (3 channels, normalised) at ``image_size``; output: one real/fake logit per image.
Table 1: image 256, patch 32, 6 blocks, 16 heads, MLP 2048, dropout 0.1, embedding dropout 0.1.
The paper does not give the token width; ``dim=1024`` is vit-pytorch's reference setting that table 1
matches, and a keyword so small CPU discriminators exist.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int = 16, dim_head: int = 64, dropout: float = 0.0):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.dropout = dropout
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.to_qkv(self.norm(x)).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        drop = self.dropout if self.training else 0.0
        out = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class Transformer(nn.Module):
    def __init__(
        self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int, dropout: float
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [Attention(dim, heads, dim_head, dropout), FeedForward(dim, mlp_dim, dropout)]
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class ViTDiscriminator(nn.Module):
    def __init__(
        self,
        *,
        image_size: int = 256,
        patch_size: int = 32,
        dim: int = 1024,
        depth: int = 6,
        heads: int = 16,
        dim_head: int = 64,
        mlp_dim: int = 2048,
        dropout: float = 0.1,
        emb_dropout: float = 0.1,
        channels: int = 3,
    ):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(
                f"image_size {image_size} is not a multiple of patch_size {patch_size}"
            )
        self.image_size = image_size
        self.patch_size = patch_size
        num_patches = (image_size // patch_size) ** 2
        patch_dim = channels * patch_size * patch_size
        self.to_patch_embedding = nn.Sequential(
            nn.LayerNorm(patch_dim), nn.Linear(patch_dim, dim), nn.LayerNorm(dim)
        )
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.dropout = nn.Dropout(emb_dropout)
        self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim, dropout)
        self.head = nn.Linear(dim, 1)

    def patchify(self, img: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, num_patches, C*p*p), the 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)' of
        vit-pytorch."""
        b, c, h, w = img.shape
        p = self.patch_size
        x = img.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, (h // p) * (w // p), p * p * c)

    def forward(self, lab_norm: torch.Tensor) -> torch.Tensor:
        if lab_norm.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"discriminator expects {self.image_size}x{self.image_size}, "
                f"got {tuple(lab_norm.shape[-2:])}"
            )
        x = self.to_patch_embedding(self.patchify(lab_norm))
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embedding
        x = self.transformer(self.dropout(x))
        return self.head(x[:, 0]).squeeze(-1)


def resize_positions(pos_embedding: torch.Tensor, num_patches: int) -> torch.Tensor:
    """A (1, 1 + n, dim) position embedding for another patch grid, (1, 1 + num_patches, dim): the
    grid's embeddings interpolated bilinearly in 2-D, the class token's kept, as ViT is fine-tuned
    at a higher resolution (Dosovitskiy et al. 2021, section 3.2). Bilinear weights are convex,
    so Adam's second moments stay non-negative when they are resized the same way."""
    cls, grid = pos_embedding[:, :1], pos_embedding[:, 1:]
    old, new = math.isqrt(grid.shape[1]), math.isqrt(num_patches)
    if old * old != grid.shape[1] or new * new != num_patches:
        raise ValueError(f"not square patch grids: {grid.shape[1]} -> {num_patches} patches")
    grid = grid.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new, new), mode="bilinear", align_corners=False)
    return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, num_patches, -1)], dim=1)
