"""Level selection by disparity and the differentiable multiplexer."""

from __future__ import annotations

import math

import pytest
import torch

from ladderseg_ros.model import ModelError
from ladderseg_ros.model.scale_selection import (
    ScaleSelectionConfig,
    multiplex,
    select_levels,
)

CONFIG = ScaleSelectionConfig(
    num_levels=4, factor=1.3, reference_sizes=(4.0,), receptive_field=100.0, invalid_level=1
)


def test_near_reads_coarse_far_reads_fine_invalid_reads_default() -> None:
    baseline = 0.5
    # (d*S/B)/R: d=200 -> 16 (beyond the coarsest: level 3), d=12.5*1.69 -> 1.69 (level 2),
    # d=12.5*1.3 -> 1.3 (level 1), d=2 -> 0.16 (finest: level 0); 0, NaN, -1, inf invalid.
    disparity = torch.tensor(
        [[200.0, 12.5 * 1.69, 12.5 * 1.3, 2.0], [0.0, math.nan, -1.0, math.inf]]
    ).view(1, 1, 2, 4)
    levels = select_levels(disparity, torch.tensor([baseline]), 4.0, CONFIG)
    assert levels.tolist() == [[[[3, 2, 1, 0], [1, 1, 1, 1]]]]


def test_larger_reference_size_reads_coarser_levels() -> None:
    disparity = torch.full((1, 1, 1, 1), 15.0)
    small = select_levels(disparity, torch.tensor([0.5]), 1.0, CONFIG)
    large = select_levels(disparity, torch.tensor([0.5]), 7.0, CONFIG)
    assert small.item() == 0
    assert large.item() == 3


def test_baseline_is_per_sample() -> None:
    disparity = torch.full((2, 1, 1, 1), 21.125)  # (d*S/B)/R = 1.69 and 0.845
    levels = select_levels(disparity, torch.tensor([0.5, 1.0]), 4.0, CONFIG)
    assert levels.flatten().tolist() == [2, 0]


def test_level_boundaries_are_geometric_means_of_the_factors() -> None:
    # B = S = R = 1: the wanted factor is the disparity itself. Boundaries between factors
    # 1, 1.3, 1.69, 2.197 lie at sqrt(1.3) = 1.1402, 1.3**1.5 = 1.4822, 1.3**2.5 = 1.9269
    # (the arithmetic means 1.15, 1.495, 1.9435 would put 1.145, 1.49, 1.935 one level lower).
    config = ScaleSelectionConfig(
        num_levels=4, factor=1.3, reference_sizes=(1.0,), receptive_field=1.0
    )
    below = [1.13, 1.47, 1.92]
    above = [1.145, 1.49, 1.935]
    levels = select_levels(torch.tensor(below + above).view(1, 1, 1, 6), torch.ones(1), 1.0, config)
    assert levels.flatten().tolist() == [0, 1, 2, 1, 2, 3]
    # Tiny valid disparities stay finite in log scale and read the finest level.
    tiny = torch.tensor([1e-30, 1e-7]).view(1, 1, 1, 2)
    assert select_levels(tiny, torch.ones(1), 1.0, config).flatten().tolist() == [0, 0]


def test_multiplex_gathers_and_sends_gradients_only_where_read() -> None:
    features = [torch.randn(1, 2, 2, 2, requires_grad=True) for _ in range(3)]
    levels = torch.tensor([[0, 1], [2, 2]]).view(1, 1, 2, 2)
    out = multiplex(features, levels)
    for y, x in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        assert torch.equal(out[0, :, y, x], features[levels[0, 0, y, x]][0, :, y, x])
    out.sum().backward()
    for i, f in enumerate(features):
        assert torch.equal(f.grad[0, 0], (levels[0, 0] == i).float())


def test_config_validation() -> None:
    with pytest.raises(ModelError, match="invalid_level"):
        ScaleSelectionConfig(num_levels=2, invalid_level=2)
    with pytest.raises(ModelError, match="factor"):
        ScaleSelectionConfig(factor=1.0)
