"""Cityscapes and KITTI raw layouts: writers read back by the real datasets' path patterns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ladderseg_ros.data.layouts import (
    CameraCalib,
    LayoutError,
    cityscapes_samples,
    encode_cityscapes_disparity,
    format_kitti_timestamp,
    kitti_raw_drive_dir,
    parse_kitti_timestamp,
    read_cityscapes_camera,
    read_cityscapes_disparity,
    read_kitti_calib,
    read_kitti_raw_drive,
    read_png,
    write_cityscapes_sample,
    write_kitti_calib,
    write_kitti_raw_frame,
    write_kitti_timestamps,
    write_png,
)
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.stereo import baseline_from_projections

RNG = np.random.default_rng(1)
LEFT = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)
RIGHT = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)


def test_cityscapes_roundtrip(tmp_path: Path) -> None:
    disp = np.linspace(0, 120, 60, dtype=np.float32).reshape(6, 10)
    labels = RNG.integers(0, 34, (6, 10), dtype=np.uint8)
    calib = CameraCalib(2262.5, 2262.5, 1096.9, 513.1, 0.209)
    written = write_cityscapes_sample(
        tmp_path, "val", "lindau", 3, 19, left=LEFT, right=RIGHT, disparity=disp,
        camera=calib, label_ids=labels, color=LEFT,
    )  # fmt: skip
    expected = tmp_path / "leftImg8bit/val/lindau/lindau_000003_000019_leftImg8bit.png"
    assert written.left == expected
    (sample,) = cityscapes_samples(tmp_path, "val")
    assert sample == written
    assert sample.disparity == tmp_path / "disparity/val/lindau/lindau_000003_000019_disparity.png"
    assert sample.label_ids.name == "lindau_000003_000019_gtFine_labelIds.png"
    assert (sample.label_ids.parent / "lindau_000003_000019_gtFine_color.png").is_file()
    assert np.array_equal(read_png(sample.left), LEFT)
    assert np.array_equal(read_png(sample.right), RIGHT)
    assert np.array_equal(read_png(sample.label_ids, color=False), labels)
    back = read_cityscapes_disparity(sample.disparity)
    assert back[0, 0] == 0.0
    assert np.allclose(back[disp > 0], disp[disp > 0], atol=1 / 512)
    assert read_cityscapes_camera(sample.camera) == calib


def test_cityscapes_disparity_encoding() -> None:
    raw = encode_cityscapes_disparity(np.array([[0.0, 1.0, -3.0, 300.0]]))
    assert raw.dtype == np.uint16
    assert raw.tolist() == [[0, 257, 0, 65535]]


def test_cityscapes_errors(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="leftImg8bit"):
        cityscapes_samples(tmp_path, "train")
    write_cityscapes_sample(tmp_path, "train", "x", 1, 2, left=LEFT)
    with pytest.raises(LayoutError, match="no city other, zz \\(cities there: x\\)"):
        cityscapes_samples(tmp_path, "train", cities=["x", "other", "zz"])
    with pytest.raises(LayoutError, match="exists already"):
        write_cityscapes_sample(tmp_path, "train", "x", 1, 2, left=LEFT)
    bad = tmp_path / "cam.json"
    bad.write_text('{"intrinsic": {}}')
    with pytest.raises(LadderSegError, match="cam.json"):
        read_cityscapes_camera(bad)
    write_png(tmp_path / "d8.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(LayoutError, match="uint16"):
        read_cityscapes_disparity(tmp_path / "d8.png")
    assert not list(tmp_path.rglob(".*tmp*"))


def test_kitti_raw_roundtrip(tmp_path: Path) -> None:
    drive = kitti_raw_drive_dir(tmp_path, "2011_09_26", 5)
    assert drive == tmp_path / "2011_09_26/2011_09_26_drive_0005_sync"
    p_left = np.array([[700.0, 0, 300, 0], [0, 700, 100, 0], [0, 0, 1, 0]])
    p_right = p_left.copy()
    p_right[0, 3] = -700 * 0.54
    write_kitti_calib(tmp_path / "2011_09_26/calib_cam_to_cam.txt", p_left, p_right, (10, 6))
    stamps = [1_317_000_000.123456789 + i * 0.1 for i in range(3)]
    for i in range(3):
        write_kitti_raw_frame(drive, i, LEFT, RIGHT)
    write_kitti_timestamps(drive, stamps)
    assert (drive / "image_03/data/0000000002.png").is_file()
    raw = read_kitti_raw_drive(drive)
    assert [p.name for p in raw.left] == ["0000000000.png", "0000000001.png", "0000000002.png"]
    assert np.allclose(raw.timestamps, stamps, atol=1e-6)
    assert np.allclose(raw.p_left, p_left)
    assert np.allclose(raw.p_right, p_right)
    assert baseline_from_projections(raw.p_left, raw.p_right) == pytest.approx(0.54)
    assert np.array_equal(read_png(raw.right[1]), RIGHT)
    with pytest.raises(LayoutError, match="exists already"):
        write_kitti_raw_frame(drive, 0, LEFT, RIGHT)


def test_read_official_kitti_calib_text(tmp_path: Path) -> None:
    path = tmp_path / "calib_cam_to_cam.txt"
    path.write_text(
        "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
        "S_rect_02: 1.242000e+03 3.750000e+02\n"
        "P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 "
        "7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 "
        "2.745884e-03\n"
    )
    calib = read_kitti_calib(path)
    assert "calib_time" not in calib
    assert calib["S_rect_02"].tolist() == [1242.0, 375.0]
    assert calib["P_rect_02"].reshape(3, 4)[0, 3] == pytest.approx(44.85728)


def test_kitti_errors(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="no images"):
        read_kitti_raw_drive(tmp_path / "drive")
    drive = tmp_path / "d" / "d_drive_0001_sync"
    write_kitti_raw_frame(drive, 0, LEFT, RIGHT)
    write_kitti_timestamps(drive, [0.0, 0.1])
    with pytest.raises(LayoutError, match="2 timestamps for 1 images"):
        read_kitti_raw_drive(drive)
    with pytest.raises(LayoutError, match="malformed"):
        parse_kitti_timestamp("yesterday")


def test_timestamp_text_roundtrip() -> None:
    assert format_kitti_timestamp(0.5) == "1970-01-01 00:00:00.500000000"
    t = 1_600_000_000.25
    assert parse_kitti_timestamp(format_kitti_timestamp(t)) == pytest.approx(t, abs=1e-6)
