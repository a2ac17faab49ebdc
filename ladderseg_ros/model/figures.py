"""Size and cost of a network: parameters, output stride, GFLOPs at given input sizes.

FLOPs are counted (multiply + add = 2) by running the network on PyTorch's meta device: no
memory, no time, exact for convolutions and matrix products (``ladderseg info``,
``bench/inference.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from ladderseg_ros.model.network import LadderSeg


@dataclass(frozen=True)
class ModelFigures:
    """Size and cost of one network."""

    name: str
    parameters: int
    backbone_parameters: int
    output_stride: int
    uses_disparity: bool
    gflops: dict[tuple[int, int], float]


def count_gflops(model: LadderSeg, size: tuple[int, int]) -> float:
    """Forward GFLOPs (2 per multiply-add) for one image of ``size`` = (width, height).

    The model is moved to the meta device: pass a throwaway.
    """
    width, height = size
    model = model.to("meta").eval()
    image = torch.empty(1, 3, height, width, device="meta")
    disparity = torch.full((1, 1, height, width), 30.0, device="meta")
    baseline = torch.full((1,), 0.5, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(image, disparity, baseline)
    return counter.get_total_flops() / 1e9


def model_figures(model: LadderSeg, sizes: list[tuple[int, int]]) -> ModelFigures:
    """Parameters and GFLOPs of ``model`` (moved to the meta device: pass a throwaway)."""
    return ModelFigures(
        name=model.config.name,
        parameters=sum(
            p.numel() for n, p in model.named_parameters() if not n.startswith("aux_heads.")
        ),
        backbone_parameters=sum(p.numel() for p in model.backbone.parameters()),
        output_stride=model.output_stride,
        uses_disparity=model.uses_disparity,
        gflops={size: count_gflops(model, size) for size in sizes},
    )
