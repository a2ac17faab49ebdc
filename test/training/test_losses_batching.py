"""Loss normalization, soft auxiliary targets, step-indexed sampling, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ladderseg_ros.training.batching import StepBatchSampler
from ladderseg_ros.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ladderseg_ros.training.losses import LossConfig, combine, segmentation_loss_terms, soft_targets


def test_soft_targets_are_cell_histograms_without_ignore() -> None:
    labels = torch.tensor([[[0, 0, 1, 255], [0, 2, 255, 255]]])
    t = soft_targets(labels, 3, (1, 2))
    np.testing.assert_allclose(t[0, :, 0, 0], [0.75, 0.0, 0.25])
    np.testing.assert_allclose(t[0, :, 0, 1], [0.0, 1.0, 0.0])


def test_split_batches_give_the_global_mean() -> None:
    torch.manual_seed(0)
    out = torch.randn(4, 3, 6, 6)
    aux = [torch.randn(4, 3, 3, 3)]
    labels = torch.randint(0, 3, (4, 6, 6))
    labels[0, :4] = 255  # unequal valid counts per half
    cfg = LossConfig()
    whole = segmentation_loss_terms(out, aux, labels, 3)
    ref = combine(whole, float(whole.main_count), float(whole.aux_count), cfg)
    halves = [
        segmentation_loss_terms(out[s], [aux[0][s]], labels[s], 3)
        for s in (slice(0, 2), slice(2, 4))
    ]
    total_main = sum(float(h.main_count) for h in halves)
    total_aux = sum(float(h.aux_count) for h in halves)
    split = sum(combine(h, total_main, total_aux, cfg) for h in halves)
    assert float(split) == pytest.approx(float(ref), rel=1e-6)
    plain = torch.nn.functional.cross_entropy(out, labels, ignore_index=255)
    assert float(whole.main_sum / whole.main_count) == pytest.approx(float(plain), rel=1e-6)


def test_sampler_splits_a_global_batch_over_ranks_and_micro_batches() -> None:
    single = list(StepBatchSampler(20, 2, 2, 0, 1, seed=5, epoch=1))
    r0 = list(StepBatchSampler(20, 2, 1, 0, 2, seed=5, epoch=1))
    r1 = list(StepBatchSampler(20, 2, 1, 1, 2, seed=5, epoch=1))
    assert len(single) == 10
    assert len(r0) == len(r1) == 5
    for step in range(5):
        assert single[2 * step] == r0[step]
        assert single[2 * step + 1] == r1[step]
    resumed = list(StepBatchSampler(20, 2, 2, 0, 1, seed=5, epoch=1, start_step=3))
    assert resumed == single[6:]
    other_epoch = list(StepBatchSampler(20, 2, 2, 0, 1, seed=5, epoch=2))
    assert [k.index for b in other_epoch for k in b] != [k.index for b in single for k in b]


def test_checkpoint_roundtrip_and_refusal(tmp_path: Path) -> None:
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint(path, {"w": torch.arange(3), "step": 7, "rng": torch.get_rng_state()})
    state = load_checkpoint(path)
    assert state["step"] == 7
    assert torch.equal(state["w"], torch.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]
    with pytest.raises(CheckpointError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(bad)
