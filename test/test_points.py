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
