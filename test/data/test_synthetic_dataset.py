"""The synthetic world as a dataset: deterministic, split-disjoint, aligned annotations."""

from __future__ import annotations

import numpy as np
import pytest

from ladderseg_ros.data.sample import DatasetError
from ladderseg_ros.data.synthetic_dataset import (
    SyntheticConfig,
    SyntheticDataset,
    sgbm_num_disparities,
)


def test_frames_are_deterministic_and_splits_disjoint() -> None:
    train = SyntheticDataset(SyntheticConfig("train", 2, 96, 32, cache=False))
    again = SyntheticDataset(SyntheticConfig("train", 2, 96, 32))
    val = SyntheticDataset(SyntheticConfig("val", 2, 96, 32))
    a, b = train[1], again[1]
    assert a.image.shape == (32, 96, 3)
    assert a.labels.shape == a.disparity.shape == (32, 96)
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


def test_sgbm_disparity_is_matched_on_the_rendered_pair() -> None:
    """What the node sees: SGBM on the rendered pair, close to the exact disparity where
    valid, 0 where not (the left band the search range cannot match); labels unchanged."""
    exact = SyntheticDataset(SyntheticConfig("val", 1, 192, 64))
    sgbm = SyntheticDataset(SyntheticConfig("val", 1, 192, 64, disparity="sgbm"))
    e, s = exact[0], sgbm[0]
    np.testing.assert_array_equal(s.image, e.image)
    np.testing.assert_array_equal(s.labels, e.labels)
    assert s.disparity.dtype == np.float32
    assert s.disparity.shape == (64, 192)
    num = sgbm.sgbm.num_disparities
    assert num % 16 == 0
    assert num >= e.disparity.max()
    assert not s.disparity[:, : num // 2].any()  # no match possible left of the range
    both = (s.disparity > 0) & (e.disparity > 0)
    assert 0.4 < (s.disparity > 0).mean() < 0.95
    assert np.median(np.abs(s.disparity - e.disparity)[both]) < 1.0
    assert not np.array_equal(s.disparity, e.disparity)
    assert sgbm[0] is s  # cached like the rendering


def test_sgbm_range_covers_the_nearest_surface_at_each_width() -> None:
    from ladderseg_ros.data.synthetic import KITTI_RIG

    assert sgbm_num_disparities(KITTI_RIG.resized(416, 128)) == 80
    assert sgbm_num_disparities(KITTI_RIG.resized(96, 32)) == 32
    with pytest.raises(DatasetError, match="'stereo'"):
        SyntheticConfig(disparity="stereo")
