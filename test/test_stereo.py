"""SGBM wrapper, disparity resizing and baselines from projection matrices."""

from __future__ import annotations

import numpy as np
import pytest

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.stereo import (
    SGBM_MODES,
    SgbmConfig,
    StereoError,
    baseline_from_projections,
    compute_disparity,
    fit_disparity,
    fitted_num_disparities,
    resize_disparity,
)


def _shifted_pair(shift: int, height: int = 96, width: int = 192) -> tuple[np.ndarray, ...]:
    """A random-texture pair whose true disparity is ``shift`` everywhere it is visible."""
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (height, width + shift, 3), dtype=np.uint8)
    scene = np.repeat(np.repeat(scene[::2, ::2], 2, 0), 2, 1)[:height, : width + shift]
    left = np.ascontiguousarray(scene[:, :width])
    right = np.ascontiguousarray(scene[:, shift:])
    return left, right


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_disparities": 20},
        {"num_disparities": 0},
        {"block_size": 4},
        {"block_size": 33},
        {"mode": "fast"},
        {"scale": 0.0},
        {"scale": 1.5},
        {"p1": 10, "p2": 5},
        {"uniqueness_ratio": 101},
    ],
)
def test_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(StereoError) as info:
        SgbmConfig(**kwargs)
    assert isinstance(info.value, LadderSegError)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_sgbm_recovers_known_shift(scale: float) -> None:
    left, right = _shifted_pair(12)
    disp = compute_disparity(left, right, SgbmConfig(num_disparities=32, scale=scale))
    assert disp.dtype == np.float32
    assert disp.shape == left.shape[:2]
    valid = disp > 0
    assert valid[:, 40:].mean() > 0.9
    assert abs(float(np.median(disp[valid])) - 12.0) < 0.5


def test_sgbm_accepts_mono() -> None:
    left, right = _shifted_pair(8)
    disp = compute_disparity(left[..., 1], right[..., 1], SgbmConfig(num_disparities=16))
    assert abs(float(np.median(disp[disp > 0])) - 8.0) < 0.5


def test_sgbm_rejects_bad_inputs() -> None:
    left, right = _shifted_pair(4)
    with pytest.raises(StereoError, match="differ in shape"):
        compute_disparity(left, right[:, :-2])
    with pytest.raises(StereoError, match="uint8"):
        compute_disparity(left.astype(np.float32), right.astype(np.float32))
    with pytest.raises(StereoError, match="mono8"):
        compute_disparity(left[..., :2], right[..., :2])


def test_resize_disparity_scales_values_and_keeps_invalid() -> None:
    disp = np.full((4, 6), 10.0, np.float32)
    disp[0, 0] = 0.0
    out = resize_disparity(disp, (12, 8))
    assert out.shape == (8, 12)
    assert out.dtype == np.float32
    assert np.all(out[:2, :2] == 0.0)
    assert np.allclose(out[2:, 2:], 20.0)
    assert np.allclose(resize_disparity(disp, (6, 4)), disp)
    with pytest.raises(StereoError):
        resize_disparity(disp, (0, 4))


def test_baseline_from_kitti_and_ros_projections() -> None:
    # KITTI raw 2011_09_26 P_rect_02 / P_rect_03 (the left one has a nonzero Tx).
    p2 = np.array(
        [[721.5377, 0, 609.5593, 44.85728], [0, 721.5377, 172.854, 0.2163791],
         [0, 0, 1, 0.002745884]]
    )  # fmt: skip
    p3 = np.array(
        [[721.5377, 0, 609.5593, -339.5242], [0, 721.5377, 172.854, 2.199936],
         [0, 0, 1, 0.002729905]]
    )  # fmt: skip
    assert baseline_from_projections(p2, p3) == pytest.approx(0.5327, abs=1e-3)
    ros_left = np.array([[500.0, 0, 320, 0], [0, 500, 240, 0], [0, 0, 1, 0]])
    ros_right = ros_left.copy()
    ros_right[0, 3] = -500.0 * 0.12
    assert baseline_from_projections(ros_left.ravel(), ros_right) == pytest.approx(0.12)
    with pytest.raises(StereoError, match="baseline"):
        baseline_from_projections(ros_right, ros_left)
    with pytest.raises(StereoError, match="3x4"):
        baseline_from_projections(np.eye(3), ros_right)


@pytest.mark.parametrize("mode", SGBM_MODES)
@pytest.mark.parametrize("width", [1, 16, 64, 100, 127, 128, 129, 131, 144])
def test_sgbm_fits_any_image_width(mode: str, width: int) -> None:
    """A 127-wide pair with 128 disparities crashed SGBM_3WAY; narrower ones raised."""
    left, right = _shifted_pair(3, height=24, width=width)
    config = SgbmConfig(num_disparities=128, mode=mode)
    disp = compute_disparity(left, right, config)
    assert disp.shape == (24, width)
    assert disp.dtype == np.float32
    fitted = fitted_num_disparities(config, width)
    assert fitted == max(0, min(128, (width - 3) // 16 * 16))
    if fitted == 0:  # no range fits: no measurement, never a call OpenCV cannot take
        assert not disp.any()
    elif disp.any():  # columns left of the search range have no match
        assert np.median(disp[disp > 0]) == pytest.approx(3.0, abs=0.25)


def test_sgbm_range_too_wide_for_the_camera_is_narrowed() -> None:
    """sgbm_num_disparities 640 on a 639-wide camera: matched with 624, not a crash."""
    config = SgbmConfig(num_disparities=640)
    assert fitted_num_disparities(config, 639) == 624
    assert fitted_num_disparities(config, 639, min_disparity=20) == 608
    left, right = _shifted_pair(5, height=8, width=639)
    assert compute_disparity(left, right, config).shape == (8, 639)


@pytest.mark.parametrize(("cx_offset", "shift"), [(8.0, 14), (-8.0, 6), (2.5, 9)])
def test_sgbm_corrects_differing_principal_points(cx_offset: float, shift: int) -> None:
    """Right cx = left cx - offset: the images show x_l - x_r = d + offset; the result is
    d, the disparity of Z = f * B / d."""
    true_d = shift - cx_offset
    left, right = _shifted_pair(shift)
    disp = compute_disparity(left, right, SgbmConfig(num_disparities=32), cx_offset)
    valid = disp > 0
    assert valid[:, 60:].mean() > 0.9
    assert float(np.median(disp[valid])) == pytest.approx(true_d, abs=0.25)


def test_fit_disparity_rescales_same_aspect_and_rejects_others() -> None:
    half = np.full((96, 320), 4.0, np.float32)
    assert np.allclose(fit_disparity(half, (640, 192), "d"), 8.0)
    for shape in [(1, 1), (3, 7), (100, 640)]:
        with pytest.raises(StereoError, match="d: disparity .* aspect"):
            fit_disparity(np.ones(shape, np.float32), (640, 192), "d")


@pytest.mark.parametrize(
    ("shape", "size", "levels"),
    [
        ((1024, 2048, 3), (128, 64), 1),  # whole even factors: halvings, rounding only
        ((448, 1024), (128, 56), 1),
        ((376, 1242, 3), (414, 125), 0),  # whole odd factor 3: one exact INTER_AREA
        ((1024, 2048, 3), (1024, 512), 0),  # one halving is the whole-factor INTER_AREA
        ((375, 1242, 3), (80, 24), 0),  # an odd side: one INTER_AREA
        ((1024, 2048, 3), (614, 307), 0),  # factor 3.3: a halving would leave 1.7
        ((1024, 2048, 3), (40, 24), 3),  # factor 51.2: halvings to 3.2, then weighted
        ((5, 9), (3, 2), 0),
    ],
)
def test_shrink_area_averages_pixel_areas(shape, size, levels: int) -> None:
    import cv2

    from ladderseg_ros.stereo import shrink_area

    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape, np.uint8)
    got = shrink_area(image, size)
    expected = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    assert got.shape == expected.shape
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected).max() <= levels
    flat = np.full(shape, 77, np.uint8)  # a uniform image stays uniform, whatever the path
    assert (shrink_area(flat, size) == 77).all()
