"""The point cloud arrays (core, no ROS): geometry, decimation, range, colour packing."""

from __future__ import annotations

import numpy as np
import pytest

from ladderseg_ros.points import (
    POINT_DTYPE,
    PointsConfig,
    PointsError,
    StereoGeometry,
    pack_rgb,
    semantic_points,
    unpack_rgb,
)
from ladderseg_ros.stereo import StereoError, baseline_from_projections


def test_rgb_packs_as_pcl_reads_it() -> None:
    packed = pack_rgb(np.array([[255, 0, 0], [1, 2, 3]], np.uint8))
    assert packed.dtype == np.float32
    assert packed.view(np.uint32).tolist() == [0xFF0000, 0x010203]
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(rgb)), rgb)


def test_plane_at_known_depth_decimated_and_clipped() -> None:
    h, w, k = 9, 12, 2
    geometry = StereoGeometry(fx=50.0, fy=40.0, cx=4.5, cy=3.0, baseline=0.5)
    disparity = np.full((h, w), 5.0, np.float32)  # Z = 50 * 0.5 / 5 = 5 m
    disparity[0, 0] = 0.0  # invalid
    disparity[2, 4] = 1.0  # Z = 25 m, beyond max_range
    labels = np.arange(h * w, dtype=np.uint8).reshape(h, w)
    conf = np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w)
    color = np.zeros((h, w, 3), np.uint8)
    config = PointsConfig(decimation=k, max_range=10.0)
    pts = semantic_points(disparity, labels, conf, color, geometry, config)
    assert pts.dtype == POINT_DTYPE
    assert pts.shape == (5, 6)
    assert np.isnan(pts["z"][0, 0])
    assert np.isnan(pts["z"][1, 2])
    valid = np.isfinite(pts["z"])
    assert valid.sum() == 28
    np.testing.assert_allclose(pts["z"][valid], 5.0)
    np.testing.assert_allclose(pts["x"][3, 1], (2 - 4.5) * 5.0 / 50.0, rtol=1e-6)  # u = 2
    np.testing.assert_allclose(pts["y"][3, 1], (6 - 3.0) * 5.0 / 40.0, rtol=1e-6)  # v = 6
    np.testing.assert_array_equal(pts["label"], labels[::k, ::k])
    np.testing.assert_array_equal(pts["confidence"], conf[::k, ::k])

    flat = semantic_points(
        disparity, labels, conf, color, geometry, PointsConfig(k, 10.0, organized=False)
    )
    assert flat.shape == (1, 28)
    np.testing.assert_array_equal(flat["label"][0], pts["label"][valid])


def test_palette_colours_points_by_label() -> None:
    palette = np.array([[10, 20, 30], [40, 50, 60]], np.uint8)
    labels = np.array([[0, 1]], np.uint8)
    pts = semantic_points(
        np.ones((1, 2), np.float32),
        labels,
        np.ones((1, 2), np.float32),
        np.zeros((1, 2, 3), np.uint8),
        StereoGeometry(1.0, 1.0, 0.0, 0.0, 1.0),
        palette=palette,
    )
    np.testing.assert_array_equal(unpack_rgb(pts["rgb"]), palette[labels])


def test_depth_uses_the_disparity_focal_and_geometry_is_checked() -> None:
    p = [100.0, 0, 50.0, 0, 0, 100.0, 20.0, 0, 0, 0, 1, 0]
    geometry = StereoGeometry.from_projection(p, focal=200.0, baseline=0.5)
    pts = semantic_points(
        np.full((1, 1), 10.0, np.float32),
        np.zeros((1, 1), np.uint8),
        np.zeros((1, 1), np.float32),
        np.zeros((1, 1, 3), np.uint8),
        geometry,
    )
    assert pts["z"][0, 0] == pytest.approx(10.0)  # 200 * 0.5 / 10
    with pytest.raises(PointsError, match="baseline"):
        StereoGeometry(1.0, 1.0, 0.0, 0.0, 0.0)
    with pytest.raises(PointsError, match="12"):
        StereoGeometry.from_projection([1.0] * 9, 1.0, 1.0)
    with pytest.raises(PointsError, match="decimation"):
        PointsConfig(decimation=0)
    with pytest.raises(PointsError, match="labels"):
        semantic_points(
            np.ones((2, 2), np.float32),
            np.zeros((1, 2), np.uint8),
            np.ones((2, 2), np.float32),
            np.zeros((2, 2, 3), np.uint8),
            geometry,
        )


def _cloud(
    disparity: np.ndarray, geometry: StereoGeometry, config: PointsConfig | None = None
) -> np.ndarray:
    h, w = disparity.shape
    return semantic_points(
        disparity,
        np.ones((h, w), np.uint8),
        np.ones((h, w), np.float32),
        np.zeros((h, w, 3), np.uint8),
        geometry,
        config or PointsConfig(),
    )


def test_tiny_and_huge_disparities_give_nan_never_inf() -> None:
    # the report: tiny positive disparities gave +-inf points (40,960 in one cloud)
    geometry = StereoGeometry(fx=700.0, fy=700.0, cx=320.0, cy=240.0, baseline=0.54)
    disparity = np.full((64, 640), 1e-40, np.float32)  # subnormal: f*B/d overflows float32
    cloud = _cloud(disparity, geometry)
    assert not np.isinf(cloud["x"]).any()
    assert not np.isinf(cloud["y"]).any()
    assert np.isnan(cloud["z"]).all()
    assert np.isnan(cloud["x"]).all()
    assert np.isnan(cloud["y"]).all()

    values = [1e-45, 1e-38, 1e-30, 3e38, np.inf, -np.inf, np.nan, -1.0, 0.0, 7.0]
    row = np.array([values], np.float32)
    for organized in (True, False):
        cloud = _cloud(row, geometry, PointsConfig(organized=organized))
        xyz = np.stack([cloud[c] for c in "xyz"])
        assert not np.isinf(xyz).any()
        valid = np.isfinite(xyz).all(axis=0)
        assert (np.isnan(xyz).all(axis=0) | valid).all()  # a point is all-NaN or all-finite
        assert (cloud["z"][valid] > 0).all()
    organized = _cloud(row, geometry)
    valid = np.isfinite(organized["z"][0])
    assert valid.tolist() == [False, False, True, True, False, False, False, False, False, True]
    assert organized["z"][0, 9] == pytest.approx(700.0 * 0.54 / 7.0)
    assert organized["z"][0, 3] == pytest.approx(700.0 * 0.54 / 3e38)
    # Z = 2.7e35 m is finite, X = (u - cx) * Z / fx is not: the point is NaN, not (inf, y, z)
    far_axis = StereoGeometry(fx=50.0, fy=50.0, cx=5e5, cy=3.0, baseline=0.54)
    cloud = _cloud(np.array([[1e-34, 1e-3]], np.float32), far_axis)
    assert np.isnan(cloud["x"][0, 0])
    assert np.isnan(cloud["z"][0, 0])
    assert np.isfinite(cloud["x"][0, 1])
    assert cloud["z"][0, 1] == pytest.approx(27000.0)


def test_implausible_geometry_is_refused_with_one_line() -> None:
    # a right Tx of -1e-300 made a 1e-303 m baseline (z = 0 everywhere)
    p_left = [700.0, 0, 320.0, 0, 0, 700.0, 240.0, 0, 0, 0, 1, 0]
    p_right = list(p_left)
    p_right[3] = -1e-300
    with pytest.raises(StereoError, match="implausible") as info:
        baseline_from_projections(p_left, p_right)
    assert "\n" not in str(info.value)
    with pytest.raises(PointsError, match="baseline 1e-303 m is implausible"):
        StereoGeometry.from_projection(p_left, 700.0, 1e-303)
    for values in [(700.0, 700.0, 320.0, 240.0, 1e4), (1e-30, 1.0, 0, 0, 0.5)]:
        with pytest.raises(PointsError, match="implausible"):
            StereoGeometry(*values)
    with pytest.raises(PointsError, match="cx nan"):
        StereoGeometry(700.0, 700.0, float("nan"), 240.0, 0.5)
    # P = identity (fx = 1 px) on a 64x40 image: a 176-degree field of view
    identity = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1, 0]
    assert StereoGeometry.from_projection(identity, 1.0, 0.5).fx == 1.0  # no size: over 1 px
    with pytest.raises(PointsError, match="176.4 degree"):
        StereoGeometry.from_projection(identity, 1.0, 0.5, size=(64, 40))
    kept = StereoGeometry.from_projection(p_left, 700.0, 0.54, size=(640, 480))
    assert (kept.fx, kept.cx, kept.baseline) == (700.0, 320.0, 0.54)
