"""Transforms move image, labels and disparity together; disparity values scale with size."""

from __future__ import annotations

import numpy as np
import pytest

from ladderseg_ros.data.sample import Sample
from ladderseg_ros.data.transforms import (
    AugmentConfig,
    PhotometricJitter,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    TransformError,
    build_train_transform,
    resize_sample,
)


def _sample(h: int = 24, w: int = 40) -> Sample:
    """Columns encode x: label = x % 19, disparity = 1 + x / 4, red channel = x * 6."""
    x = np.arange(w)
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = x * 6
    image[..., 1] = np.arange(h)[:, None] * 10
    labels = np.broadcast_to((x % 19).astype(np.uint8), (h, w)).copy()
    disparity = np.broadcast_to((1 + x / 4).astype(np.float32), (h, w)).copy()
    disparity[:, :3] = 0.0  # invalid strip
    return Sample(image, labels, disparity, baseline=0.5, name="t")


def test_resize_scales_disparity_values_and_keeps_alignment() -> None:
    s = _sample()
    out = resize_sample(s, 80, 48)
    assert out.image.shape == (48, 80, 3)
    assert out.labels.shape == out.disparity.shape == (48, 80)
    # Nearest resampling at 2x: output column x reads input column x // 2.
    src = np.arange(80) // 2
    np.testing.assert_array_equal(out.labels[5], (src % 19).astype(np.uint8))
    expected = np.where(src < 3, 0.0, 2 * (1 + src / 4)).astype(np.float32)
    np.testing.assert_allclose(out.disparity[5], expected, rtol=1e-6)
    assert out.baseline == 0.5


def test_random_scale_multiplies_disparity_by_the_width_ratio() -> None:
    s = _sample()
    out = RandomScale(0.5, 0.5)(s, np.random.default_rng(0))
    assert out.image.shape[:2] == (12, 20)
    valid = out.disparity > 0
    src = np.arange(20) * 2  # nearest at 0.5x reads every other column
    np.testing.assert_allclose(out.disparity[0][valid[0]], (0.5 * (1 + src / 4))[valid[0]])
    assert set(np.unique(out.disparity)) >= {0.0}


def test_flip_mirrors_everything_and_keeps_disparity_values() -> None:
    s = _sample()
    out = RandomHorizontalFlip(p=1.0)(s, np.random.default_rng(0))
    np.testing.assert_array_equal(out.labels, s.labels[:, ::-1])
    np.testing.assert_array_equal(out.disparity, s.disparity[:, ::-1])
    np.testing.assert_array_equal(out.image, s.image[:, ::-1])
    assert sorted(out.disparity[0]) == sorted(s.disparity[0])


def test_crop_keeps_alignment_and_pads_with_ignore() -> None:
    s = _sample()
    rng = np.random.default_rng(3)
    out = RandomCrop(16, 8)(s, rng)
    # Column identity survives the crop: label and disparity both decode to the red value.
    x = out.image[0, :, 0].astype(int) // 6
    np.testing.assert_array_equal(out.labels[0], (x % 19).astype(np.uint8))
    np.testing.assert_allclose(out.disparity[0], np.where(x < 3, 0, 1 + x / 4))
    big = RandomCrop(64, 30)(s, rng)
    assert big.image.shape == (30, 64, 3)
    assert (big.labels[24:] == 255).all()
    assert (big.labels[:, 40:] == 255).all()
    assert (big.disparity[:, 40:] == 0).all()


def test_photometric_jitter_changes_only_the_image() -> None:
    s = _sample()
    out = PhotometricJitter(0.3, 0.3, 0.3)(s, np.random.default_rng(1))
    assert out.image.dtype == np.uint8
    assert not np.array_equal(out.image, s.image)
    assert out.labels is s.labels
    assert out.disparity is s.disparity


def test_pipeline_is_a_function_of_the_seed() -> None:
    t = build_train_transform(AugmentConfig(0.7, 1.3, 32, 16, True, 0.2, 0.2, 0.2))
    a = t(_sample(), np.random.default_rng([1, 2, 3]))
    b = t(_sample(), np.random.default_rng([1, 2, 3]))
    c = t(_sample(), np.random.default_rng([1, 2, 4]))
    assert a.image.shape == (16, 32, 3)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.disparity, b.disparity)
    assert not np.array_equal(a.image, c.image)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(TransformError):
        RandomScale(1.2, 0.8)
    with pytest.raises(TransformError):
        RandomCrop(0, 10)
