"""Disparity-driven scale selection (Krešo, Čaušević, Krapac, Šegvić; GCPR 2016).

An object of metric size S at disparity d spans about d*S/B pixels (B: baseline). The pyramid
level whose downsampling factor is closest to (d*S/B)/R (R: receptive field of the front-end)
shows it at the size the front-end was made for: near pixels read coarse levels, far pixels
fine ones. "Closest" is measured in log scale, as the factors are: the boundary between two
levels is the geometric mean of their factors. The multiplexer gathers, per pixel and per
reference size, the features of the chosen level as a one-hot weighted sum, so gradients reach
exactly the features it read and the graph exports to ONNX. The selections for all reference
sizes are concatenated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ladderseg_ros.model.errors import ModelError, check_float, check_int

_MIN_WANTED = 1e-6
"""Floor of the wanted downsampling factor before its logarithm."""


@dataclass(frozen=True)
class ScaleSelectionConfig:
    """Where and how features are multiplexed by disparity.

    Attributes:
        num_levels: image pyramid levels (level i is downsampled by factor**i).
        factor: scale step between pyramid levels.
        reference_sizes: metric object sizes S in metres, one selection each.
        receptive_field: R, the front-end's receptive field in input pixels.
        tap: index of the backbone output multiplexed (0: stride 4, 1: stride 8, ...).
        invalid_level: level read where disparity is invalid (0 or not finite).

    Raises:
        ModelError: a value out of range (the message names the field).
    """

    num_levels: int = 4
    factor: float = 1.3
    reference_sizes: tuple[float, ...] = (1.0, 4.0, 7.0)
    receptive_field: float = 96.0
    tap: int = 1
    invalid_level: int = 0

    def __post_init__(self) -> None:
        check_int("scale_selection.num_levels", self.num_levels, 1, 16)
        check_float("scale_selection.factor", self.factor, 1.0 + 1e-6, 4.0)
        if not self.reference_sizes:
            raise ModelError("scale_selection.reference_sizes must hold at least one size")
        for size in self.reference_sizes:
            check_float("scale_selection.reference_sizes", size, 1e-3, 1e3)
        check_float("scale_selection.receptive_field", self.receptive_field, 1e-3, 1e5)
        check_int("scale_selection.tap", self.tap, 0, 8)
        check_int("scale_selection.invalid_level", self.invalid_level, 0, self.num_levels - 1)

    @property
    def level_factors(self) -> list[float]:
        """Downsampling factor of each pyramid level."""
        return [self.factor**i for i in range(self.num_levels)]


def select_levels(
    disparity: torch.Tensor,
    baseline: torch.Tensor,
    reference_size: float,
    config: ScaleSelectionConfig,
) -> torch.Tensor:
    """Pyramid level per pixel for one reference size.

    Args:
        disparity: (N, 1, h, w) disparity in input pixels; 0 or not finite means invalid.
        baseline: (N,) stereo baseline in metres.
        reference_size: S in metres.
        config: pyramid and receptive field.

    Returns:
        (N, 1, h, w) int64 level indices: the level whose factor is nearest (d*S/B)/R in log
        scale; invalid pixels get ``config.invalid_level``.
    """
    log_factors = torch.tensor(
        [math.log(f) for f in config.level_factors], dtype=disparity.dtype, device=disparity.device
    )
    # finite and positive; compared with inf rather than by isfinite, which the exporter
    # writes as a cast to double and IsInf (TensorRT's IsInf takes FP32/FP16/BF16 only)
    valid = (disparity > 0) & (disparity < math.inf)
    safe = torch.where(valid, disparity, torch.zeros_like(disparity))
    wanted = safe * reference_size / (baseline.view(-1, 1, 1, 1) * config.receptive_field)
    # Floored so that the log stays finite; invalid pixels are replaced below anyway.
    log_wanted = torch.log(wanted.clamp_min(_MIN_WANTED))
    distance = (log_wanted.unsqueeze(2) - log_factors.view(1, 1, -1, 1, 1)).abs()  # (N,1,L,h,w)
    levels = distance.argmin(2)
    return torch.where(valid, levels, torch.full_like(levels, config.invalid_level))


def multiplex(features: list[torch.Tensor], levels: torch.Tensor) -> torch.Tensor:
    """Per-pixel gather of the selected level's features.

    Args:
        features: one (N, C, h, w) map per level, all on the same grid.
        levels: (N, 1, h, w) int64 level indices.

    Returns:
        (N, C, h, w) features; the gradient flows only into the entries that were read.
    """
    out = torch.zeros_like(features[0])
    for i, feats in enumerate(features):
        out = out + feats * (levels == i).to(feats.dtype)
    return out


class ScaleSelection(nn.Module):
    """Multiplexes backbone features of an image pyramid by disparity, for each reference size.

    The front-end (the backbone up to ``config.tap``) is shared with the main down-path; level 0
    reuses the main path's features. The concatenation over reference sizes is projected to
    ``out_channels`` so it can join the ladder up-path at the tap's stride.
    """

    def __init__(self, config: ScaleSelectionConfig, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.config = config
        channels = in_channels * len(config.reference_sizes)
        self.project = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, out_channels, 1, bias=False),
        )

    def pyramid(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Downsampled copies of (N, 3, H, W) ``image`` for levels 1.. (level 0 is itself).

        Level i is bilinearly resized by 1 / factor**i: (N, 3, floor(H / f), floor(W / f)).
        """
        return [
            F.interpolate(image, scale_factor=1.0 / f, mode="bilinear", align_corners=False)
            for f in self.config.level_factors[1:]
        ]

    def forward(
        self, features: list[torch.Tensor], disparity: torch.Tensor, baseline: torch.Tensor
    ) -> torch.Tensor:
        """Selects and concatenates features.

        Args:
            features: per level (N, C, h_i, w_i) front-end features; level 0 sets the grid.
            disparity: (N, 1, H, W) disparity at the network input size, in its pixels.
            baseline: (N,) metres.

        Returns:
            (N, out_channels, h, w) on level 0's grid.
        """
        size = features[0].shape[-2:]
        grid = [features[0]] + [
            F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in features[1:]
        ]
        disparity = F.interpolate(disparity, size=size, mode="nearest")
        selected = [
            multiplex(grid, select_levels(disparity, baseline, s, self.config))
            for s in self.config.reference_sizes
        ]
        return self.project(torch.cat(selected, 1))
