"""Context (spatial pyramid pooling) and the ladder up-path of Ladder-DenseNet.

The up-path is lean on purpose: each step projects a skip to ~128 channels, adds the
bilinearly upsampled coarse features and blends them with one 3x3 convolution. That is what
lets full-resolution training fit in memory (Krešo, Krapac, Šegvić 2017).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BNReLUConv(nn.Sequential):
    """Pre-activation convolution: BN, ReLU, then a k x k convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias=False):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias
        )


def _pool_matrix(size: torch.Tensor, cells: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(cells, size) matrix averaging ``size`` positions into ``cells`` adaptive bins.

    Written with tensor arithmetic only, so that ONNX export keeps the sizes dynamic (the
    exporter cannot express adaptive pooling for sizes that do not divide).
    """
    idx = torch.arange(cells, device=like.device).unsqueeze(1)
    pos = torch.arange(size, device=like.device).unsqueeze(0)
    start = torch.div(idx * size, cells, rounding_mode="floor")
    end = torch.div((idx + 1) * size + cells - 1, cells, rounding_mode="floor")
    inside = ((pos >= start) & (pos < end)).to(like.dtype)
    return inside / inside.sum(1, keepdim=True)


def adaptive_avg_pool(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Adaptive average pooling to a (rows, cols) grid, same bins as PyTorch's."""
    h, w = x.shape[-2:]
    ph = _pool_matrix(torch.as_tensor(h), rows, x)
    pw = _pool_matrix(torch.as_tensor(w), cols, x)
    return torch.matmul(torch.matmul(ph, x), pw.transpose(0, 1))


class SpatialPyramidPooling(nn.Module):
    """SPP context: 1x1 bottleneck, average pools on grids following the aspect ratio, fuse.

    A grid of g rows has round(g * W / H) columns, so cells stay square-ish on wide road images.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bottleneck: int = 512,
        level_width: int = 128,
        grids: tuple[int, ...] = (8, 4, 2, 1),
    ):
        super().__init__()
        self.grids = grids
        self.bottleneck = BNReLUConv(in_channels, bottleneck, 1)
        self.levels = nn.ModuleList(BNReLUConv(bottleneck, level_width, 1) for _ in grids)
        self.fuse = BNReLUConv(bottleneck + level_width * len(grids), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bottleneck(x)
        h, w = x.shape[-2:]
        h_t, w_t = torch.as_tensor(h), torch.as_tensor(w)
        pyramid = [x]
        for grid, level in zip(self.grids, self.levels, strict=True):
            rows = torch.clamp(torch.minimum(torch.as_tensor(grid), h_t), min=1)
            cols = torch.clamp(torch.round(grid * w_t / h_t).long(), min=1)
            cols = torch.minimum(cols, w_t)
            pooled = level(adaptive_avg_pool(x, rows, cols))
            pyramid.append(F.interpolate(pooled, size=(h, w), mode="bilinear", align_corners=False))
        return self.fuse(torch.cat(pyramid, 1))


class LadderUpsample(nn.Module):
    """One ladder step: skip 1x1 projection + bilinear upsample + sum + 3x3 blend."""

    def __init__(self, skip_channels: int, in_channels: int, out_channels: int):
        super().__init__()
        self.skip = BNReLUConv(skip_channels, in_channels, 1)
        self.blend = BNReLUConv(in_channels, out_channels, 3)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Merges coarse ``x`` into ``skip``'s resolution; ``extra`` is added before blending."""
        skip = self.skip(skip)
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = x + skip
        if extra is not None:
            x = x + extra
        return self.blend(x)
