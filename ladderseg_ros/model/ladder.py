"""Context (spatial pyramid pooling) and the ladder up-path of Ladder-DenseNet.

The up-path is lean on purpose: each step projects a skip to the incoming width, adds the
bilinearly upsampled coarse features and blends them with one 3x3 convolution (after a 1x1
bottleneck to 128 channels when the incoming width is larger), plus a residual connection of
the upsampled input. That is what lets full-resolution training fit in memory (Krešo, Krapac,
Šegvić, ICCV-W 2017 and T-ITS 2020; the step follows the authors' released code,
GitHub ivankreso/LDN, ``UpsampleResidual``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BNReLUConv(nn.Sequential):
    """Pre-activation convolution: BN, ReLU, then a k x k convolution."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = False
    ) -> None:
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
    """Adaptive average pooling of (N, C, H, W) to (N, C, rows, cols), PyTorch's bins.

    Eager code calls PyTorch's pooling; ONNX export traces two small matrix products instead,
    which keep the grid's columns a function of the input's width.

    Args:
        x: (N, C, H, W) features.
        rows: 0-d integer tensor, rows of the grid.
        cols: 0-d integer tensor, columns of the grid.
    """
    if not torch.onnx.is_in_onnx_export():
        return F.adaptive_avg_pool2d(x, (int(rows), int(cols)))
    h, w = x.shape[-2:]
    ph = _pool_matrix(torch.as_tensor(h), rows, x)
    pw = _pool_matrix(torch.as_tensor(w), cols, x)
    return torch.matmul(torch.matmul(ph, x), pw.transpose(0, 1))


class SpatialPyramidPooling(nn.Module):
    """SPP context: 1x1 bottleneck, average pools on grids following the aspect ratio, fuse.

    A grid of g rows has max(1, round(g * W / H)) columns, so cells stay square-ish on wide
    road images. With ``clamp_grid`` the grid is also clamped to the feature map's size; the
    authors' code does not clamp (an 8-row grid over a 7-row map overlaps its cells, as
    PyTorch's adaptive pooling does).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bottleneck: int = 512,
        level_width: int = 128,
        grids: tuple[int, ...] = (8, 4, 2, 1),
        clamp_grid: bool = False,
    ) -> None:
        super().__init__()
        self.grids = grids
        self.clamp_grid = clamp_grid
        self.bottleneck = BNReLUConv(in_channels, bottleneck, 1)
        self.levels = nn.ModuleList(BNReLUConv(bottleneck, level_width, 1) for _ in grids)
        self.fuse = BNReLUConv(bottleneck + level_width * len(grids), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Adds pooled context to (N, in, h, w) features; returns (N, out, h, w)."""
        x = self.bottleneck(x)
        h, w = x.shape[-2:]
        h_t, w_t = torch.as_tensor(h), torch.as_tensor(w)
        pyramid = [x]
        for grid, level in zip(self.grids, self.levels, strict=True):
            rows = torch.as_tensor(grid)
            cols = torch.clamp(torch.round(grid * w_t / h_t).long(), min=1)
            if self.clamp_grid:
                rows = torch.clamp(torch.minimum(rows, h_t), min=1)
                cols = torch.minimum(cols, w_t)
            pooled = level(adaptive_avg_pool(x, rows, cols))
            pyramid.append(F.interpolate(pooled, size=(h, w), mode="bilinear", align_corners=False))
        return self.fuse(torch.cat(pyramid, 1))


class LadderUpsample(nn.Module):
    """One ladder step: skip 1x1 projection + bilinear upsample + sum + (1x1) + 3x3 blend.

    Args:
        skip_channels: channels of the skip (down-path) features.
        in_channels: channels of the incoming coarse features; the skip is projected to it.
        out_channels: channels this step produces.
        blend_width: when set and ``in_channels`` exceeds it, a BN-ReLU-1x1 to this width
            precedes the 3x3 blend (the authors use 128).
        residual: add the upsampled input to the output, through BN-ReLU-1x1 when
            ``in_channels != out_channels``.
    """

    def __init__(
        self,
        skip_channels: int,
        in_channels: int,
        out_channels: int,
        blend_width: int | None = None,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.skip = BNReLUConv(skip_channels, in_channels, 1)
        blend_in = in_channels
        self.bottleneck: nn.Module | None = None
        if blend_width is not None and in_channels > blend_width:
            self.bottleneck = BNReLUConv(in_channels, blend_width, 1)
            blend_in = blend_width
        self.blend = BNReLUConv(blend_in, out_channels, 3)
        self.residual = residual
        self.residual_projection: nn.Module | None = (
            BNReLUConv(in_channels, out_channels, 1)
            if residual and in_channels != out_channels
            else None
        )

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Merges coarse ``x`` (N, in, h, w) into ``skip``'s resolution (N, skip, H, W).

        ``extra`` (N, in, H, W) is added to the sum before blending. Returns (N, out, H, W).
        """
        skip = self.skip(skip)
        up = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        y = up + skip
        if extra is not None:
            y = y + extra
        if self.bottleneck is not None:
            y = self.bottleneck(y)
        y = self.blend(y)
        if self.residual:
            y = y + (up if self.residual_projection is None else self.residual_projection(up))
        return y
