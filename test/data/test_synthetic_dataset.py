"""The synthetic world as a dataset: deterministic, split-disjoint, aligned annotations."""

from __future__ import annotations

import numpy as np
import pytest

from ladderseg_ros.data.sample import DatasetError
from ladderseg_ros.data.synthetic_dataset import SyntheticConfig, SyntheticDataset


def test_frames_are_deterministic_and_splits_disjoint() -> None:
    train = SyntheticDataset(SyntheticConfig("train", 2, 96, 32, cache=False))
    again = SyntheticDataset(SyntheticConfig("train", 2, 96, 32))
    val = SyntheticDataset(SyntheticConfig("val", 2, 96, 32))
    a, b = train[1], again[1]
    assert a.image.shape == (32, 96, 3) and a.labels.shape == a.disparity.shape == (32, 96)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.baseline == pytest.approx(0.54)
    assert set(train.seeds).isdisjoint(val.seeds)
    assert again[1] is again[1]  # cached


def test_bad_split_or_count() -> None:
    with pytest.raises(DatasetError, match="nope"):
        SyntheticDataset(SyntheticConfig("nope"))
    with pytest.raises(DatasetError, match="num_frames"):
        SyntheticDataset(SyntheticConfig("val", 0))
