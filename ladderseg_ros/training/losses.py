"""Segmentation losses: cross-entropy (ignore 255) on the output plus auxiliary losses.

Losses return *sums* with the count they are over, so the caller can normalize by the
number of valid pixels in the whole global batch. That makes a step independent of how the
batch is split into micro-batches or DDP ranks (a per-rank mean would weight ranks with
many ignored pixels too heavily).

Auxiliary targets follow the 2020 Ladder-DenseNet code: at a coarse level each cell's target
is the distribution of valid labels inside it (soft labels), not a nearest-neighbour sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ladderseg_ros.classes import IGNORE_INDEX


@dataclass(frozen=True)
class LossConfig:
    """Weights of the main and auxiliary terms.

    ICCV-W 2017 code: 0.7 main + 0.3 aux, the aux weight shared equally among the auxiliary
    levels.
    """

    main_weight: float = 0.7
    aux_weight: float = 0.3


@dataclass
class LossTerms:
    """Summed losses and what each is summed over (valid pixels / valid cells)."""

    main_sum: torch.Tensor
    main_count: torch.Tensor
    aux_sum: torch.Tensor
    aux_count: torch.Tensor


def soft_targets(labels: torch.Tensor, num_classes: int, size: tuple[int, int]) -> torch.Tensor:
    """Per-cell label distributions (N, C, h, w) of (N, H, W) labels.

    Ignore pixels are left out, so a cell with no valid pixel sums to 0 (and contributes
    nothing).
    """
    valid = labels != IGNORE_INDEX
    one_hot = F.one_hot(torch.where(valid, labels, 0), num_classes).permute(0, 3, 1, 2)
    one_hot = one_hot.float() * valid.unsqueeze(1)
    hist = F.adaptive_avg_pool2d(one_hot, size)
    total = hist.sum(dim=1, keepdim=True)
    return hist / total.clamp_min(1e-12)


def segmentation_loss_terms(
    out: torch.Tensor, aux: list[torch.Tensor], labels: torch.Tensor, num_classes: int
) -> LossTerms:
    """Sum of per-pixel CE of ``out`` and of soft-target CE over each auxiliary level."""
    labels = labels.long()
    main_sum = F.cross_entropy(out.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")
    main_count = (labels != IGNORE_INDEX).sum()
    aux_sum = out.new_zeros((), dtype=torch.float32)
    aux_count = out.new_zeros((), dtype=torch.float32)
    for logits in aux:
        target = soft_targets(labels, num_classes, tuple(logits.shape[-2:]))
        cell_valid = target.sum(dim=1) > 0
        nll = -(target * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
        aux_sum = aux_sum + nll[cell_valid].sum() / len(aux)
        aux_count = aux_count + cell_valid.sum() / len(aux)
    return LossTerms(main_sum, main_count, aux_sum, aux_count)


def combine(
    terms: LossTerms, main_total: float, aux_total: float, config: LossConfig
) -> torch.Tensor:
    """The scalar to backpropagate: weighted means over the global batch's counts."""
    loss = config.main_weight * terms.main_sum / max(main_total, 1.0)
    if aux_total > 0:
        loss = loss + config.aux_weight * terms.aux_sum / aux_total
    return loss
