"""Every reader of a user's file: one line naming the file (and line), exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ladderseg_ros.cli import main as cli
from ladderseg_ros.data.layouts import (
    kitti_raw_drive_dir,
    write_kitti_calib,
    write_kitti_raw_frame,
    write_kitti_timestamps,
)

RNG = np.random.default_rng(0)
LEFT = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)


def kitti_drive(root: Path) -> Path:
    drive = kitti_raw_drive_dir(root, "2011_09_26", 1)
    p_left = np.array([[700.0, 0, 5, 0], [0, 700, 3, 0], [0, 0, 1, 0]])
    p_right = p_left.copy()
    p_right[0, 3] = -700 * 0.54
    write_kitti_calib(root / "2011_09_26/calib_cam_to_cam.txt", p_left, p_right, (10, 6))
    for i in range(2):
        write_kitti_raw_frame(drive, i, LEFT, LEFT)
    write_kitti_timestamps(drive, [1.0e9, 1.0e9 + 0.1])
    return drive


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err, err
    return err


def test_kitti_calibration_not_utf8(tmp_path: Path, capsys) -> None:
    drive = kitti_drive(tmp_path)
    calib = tmp_path / "2011_09_26/calib_cam_to_cam.txt"
    calib.write_bytes(b"P_rect_02: 7\xff\xfe 0 0\n")
    err = run_cli(["bag", "from-kitti", str(drive), str(tmp_path / "bag")], capsys)
    assert str(calib) in err
    assert "not UTF-8" in err
    assert not (tmp_path / "bag").exists()


def test_kitti_timestamp_line_is_named(tmp_path: Path, capsys) -> None:
    drive = kitti_drive(tmp_path)
    stamps = drive / "image_02/timestamps.txt"
    stamps.write_text("2011-09-26 13:02:25.964389445\nyesterday\n")
    err = run_cli(["bag", "from-kitti", str(drive), str(tmp_path / "bag")], capsys)
    assert f"{stamps}:2:" in err
    assert "yesterday" in err


def test_directory_as_weights(tmp_path: Path, capsys) -> None:
    from ladderseg_ros.data.layouts import write_png

    write_png(tmp_path / "images" / "a.png", LEFT)
    err = run_cli(["predict", str(tmp_path), str(tmp_path / "images"), str(tmp_path / "o")], capsys)
    assert f"{tmp_path}: is a directory" in err
    err = run_cli(["export", str(tmp_path), "--onnx", str(tmp_path / "m.onnx")], capsys)
    assert f"{tmp_path}: is a directory" in err


def test_malformed_bag_metadata(tmp_path: Path, capsys) -> None:
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information:\n  version: [8\n  x: }\n")
    err = run_cli(["bag", "check", str(bag)], capsys)
    assert str(bag) in err


def test_unknown_city_is_named(tmp_path: Path, capsys) -> None:
    from ladderseg_ros.data.layouts import write_cityscapes_sample

    write_cityscapes_sample(tmp_path, "val", "aachen", 1, 2, left=LEFT)
    err = run_cli(
        ["bag", "from-cityscapes", str(tmp_path), str(tmp_path / "bag"), "--city", "atlantis"],
        capsys,
    )
    assert "no city atlantis" in err
    assert "aachen" in err


@pytest.mark.parametrize("content", [b"classes: [\n  - x\n", b"\xff\xfe\x00"])
def test_palette_and_training_config_files(tmp_path: Path, content: bytes, capsys) -> None:
    from ladderseg_ros.classes import load_palette
    from ladderseg_ros.errors import LadderSegError

    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(LadderSegError) as info:
        load_palette(path)
    assert str(path) in str(info.value)
    assert len(str(info.value).splitlines()) == 1
    err = run_cli(["train", "--config", str(path)], capsys)
    assert str(path) in err
