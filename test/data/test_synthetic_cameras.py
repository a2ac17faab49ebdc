"""Varied training cameras: coverage of the ranges, trained-scale rendering, windows, weather."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ladderseg_ros.data.sample import DatasetError
from ladderseg_ros.data.synthetic import CAR, PERSON, RIGS, SyntheticError, render_frame
from ladderseg_ros.data.synthetic.cameras import (
    CameraVariation,
    Weather,
    at_focal,
    crop_rig,
    sample_camera,
    sample_weather,
    trained_view,
)
from ladderseg_ros.data.synthetic.world import build_world
from ladderseg_ros.data.synthetic_dataset import SyntheticConfig, SyntheticDataset

FOCAL = 371.8  # the demo's: KITTI at 640 px wide


def test_cameras_cover_both_presets_and_the_ranges() -> None:
    v = CameraVariation()
    cams = [sample_camera(seed, v) for seed in range(300)]
    assert {c.preset for c in cams} == {"kitti", "cityscapes"}
    for preset in ("kitti", "cityscapes"):
        base = RIGS[preset]
        mine = [c for c in cams if c.preset == preset]
        focal = np.array([c.rig.focal / base.focal for c in mine])
        assert focal.min() < 0.6
        assert focal.max() > 1.7
        assert (focal >= 0.5).all()
        assert (focal <= 2.0).all()
        baseline = np.array([c.rig.baseline / base.baseline for c in mine])
        assert baseline.min() < 0.7
        assert baseline.max() > 1.4
    heights = [c.rig.camera_height for c in cams]
    assert min(heights) < 1.2
    assert max(heights) > 1.8
    pitch = [c.pitch_deg for c in cams]
    assert min(pitch) < -2.5
    assert max(pitch) > 2.5
    aspect = [c.rig.width / c.rig.height for c in cams]
    assert min(aspect) < 1.6
    assert max(aspect) > 4.0
    density = [c.density for c in cams]
    assert min(density) < 0.6
    assert max(density) > 1.7
    hazy = [c for c in cams if math.isfinite(c.weather.visibility)]
    assert 0 < len(hazy) < len(cams)
    # Pitch moves the horizon (principal point row) by focal * tan(pitch).
    c = cams[0]
    centre = (c.rig.height - 1) / 2
    shift = c.rig.focal * math.tan(math.radians(c.pitch_deg))
    assert abs(c.rig.cy - centre - shift) <= 0.03 * c.rig.height + 1e-9
    assert sample_camera(7, v) == sample_camera(7, v)


def test_trained_view_renders_at_the_trained_focal() -> None:
    """Every camera is seen at the trained focal length times the jitter: a long lens is a
    small image there, a wide one a large image; baseline and height stay the camera's."""
    v = CameraVariation()
    for seed in range(40):
        cam = sample_camera(seed, v)
        full, (x0, y0, w, h) = trained_view(seed, cam, FOCAL, (0.8, 1.25), (448, 192))
        assert 0.8 * FOCAL - 1e-6 <= full.focal <= 1.25 * FOCAL + 1e-6
        assert full.baseline == cam.rig.baseline
        assert full.camera_height == cam.rig.camera_height
        s = full.focal / cam.rig.focal
        assert full.width == max(16, round(cam.rig.width * s))
        assert w == min(448, full.width)
        assert h == min(192, full.height)
        assert 0 <= x0 <= full.width - w
        assert 0 <= y0 <= full.height - h
    assert at_focal(RIGS["kitti"], FOCAL).width == 640


def test_a_window_renders_that_part_of_the_image() -> None:
    full = at_focal(RIGS["kitti"], 150.0)
    whole = render_frame(3, full)
    part = render_frame(3, crop_rig(full, 70, 10, 96, 40))
    window = (slice(10, 50), slice(70, 166))
    np.testing.assert_array_equal(part.train_ids, whole.train_ids[window])
    np.testing.assert_allclose(part.disparity, whole.disparity[window], rtol=1e-4)
    diff = np.abs(part.left.astype(int) - whole.left[window].astype(int))
    assert diff.mean() < 3  # only the sensor noise differs


def test_density_scales_traffic_and_pedestrians() -> None:
    def count(density: float, cls: int) -> int:
        return sum(
            int((build_world(s, -40, 320, (0, 0), density).cls_a == cls).sum()) for s in range(4)
        )

    for cls in (CAR, PERSON):
        assert count(0.5, cls) < count(1.0, cls) < count(2.0, cls)


def test_weather() -> None:
    image = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    depth = np.full((24, 32), 5.0, np.float32)
    depth[:8] = 0  # sky
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(Weather().apply(image, depth, rng), image)
    assert sample_weather(5, 0.0) == Weather()
    fog = Weather(visibility=20.0, haze=(0.8, 0.8, 0.8)).apply(image, depth, rng)
    np.testing.assert_array_equal(fog[:8], np.full((8, 32, 3), 204))  # sky: all haze
    near = np.abs(fog[8:].astype(int) - 204).mean()
    assert 0 < near < np.abs(image[8:].astype(int) - 204).mean()
    dark = Weather(exposure=0.5).apply(image, depth, rng)
    assert dark.mean() == pytest.approx(image.mean() / 2, abs=1.0)


def test_varied_dataset_sample_is_consistent() -> None:
    """Disparity, labels and image share the window; disparity is that of the rendered
    focal and the sample's baseline (focal * baseline / depth)."""
    cfg = SyntheticConfig("train", 6, 96, 48, cameras=CameraVariation(), focal=80.0,
                          scale=(0.8, 1.25), window=True)  # fmt: skip
    ds = SyntheticDataset(cfg)
    for i in range(len(ds)):
        seed = ds.seeds[i]
        s = ds[i]
        cam = sample_camera(seed, cfg.cameras)
        full, (x0, y0, w, h) = trained_view(seed, cam, 80.0, cfg.scale, (96, 48))
        assert s.image.shape == (h, w, 3)
        assert s.labels.shape == s.disparity.shape == (h, w)
        assert s.baseline == pytest.approx(cam.rig.baseline)
        frame = render_frame(seed, crop_rig(full, x0, y0, w, h), cam.density)
        np.testing.assert_array_equal(s.labels, frame.train_ids)
        valid = frame.depth > 0
        np.testing.assert_allclose(
            s.disparity[valid], full.focal * s.baseline / frame.depth[valid], rtol=1e-4
        )
    # Validation: whole images at the trained focal; SGBM on the weathered pair.
    val = {d: SyntheticDataset(SyntheticConfig("val", 1, 96, 48, disparity=d,
                                               cameras=CameraVariation(), focal=120.0))
           for d in ("exact", "sgbm")}  # fmt: skip
    exact, sgbm = val["exact"][0], val["sgbm"][0]
    cam = sample_camera(val["exact"].seeds[0], CameraVariation())
    assert exact.image.shape[:2] == sgbm.disparity.shape == at_focal(cam.rig, 120.0).shape
    both = (exact.disparity > 0) & (sgbm.disparity > 0)
    assert both.mean() > 0.2
    assert np.median(np.abs(exact.disparity[both] - sgbm.disparity[both])) < 1.0


def test_bad_variation() -> None:
    with pytest.raises(SyntheticError, match="presets"):
        CameraVariation(presets=("zed",))
    with pytest.raises(SyntheticError, match="focal_factor"):
        CameraVariation(focal_factor=(2.0, 0.5))
    with pytest.raises(SyntheticError, match="weather"):
        CameraVariation(weather=2.0)
    with pytest.raises(DatasetError, match="scale"):
        SyntheticConfig(scale=(1.2, 0.8))
