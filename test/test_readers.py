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


MONO_WEIGHTS = (
    Path(__file__).resolve().parents[1] / "ladderseg_ros/assets/ldn_demo_mono.safetensors"
)


def _set_calib_value(calib: Path, key: str, index: int, value: str) -> None:
    lines = []
    for line in calib.read_text().splitlines():
        if line.startswith(f"{key}:"):
            numbers = line.split(":", 1)[1].split()
            numbers[index] = value
            line = f"{key}: {' '.join(numbers)}"
        lines.append(line)
    calib.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("key", "index", "value", "message"),
    [
        ("P_rect_02", 0, "nan", "P_rect_02 fx is nan, expected a positive number of pixels"),
        ("P_rect_02", 0, "0", "P_rect_02 fx is 0.0, expected a positive"),
        ("P_rect_03", 5, "-700", "P_rect_03 fy is -700.0, expected a positive"),
        ("P_rect_03", 3, "inf", "P_rect_03 has non-finite entries"),
        ("P_rect_03", 3, "378", "baseline from projections is -0.54 m"),
    ],
)
def test_kitti_calibration_numbers_are_checked_by_every_reader(
    tmp_path: Path, capsys, key: str, index: int, value: str, message: str
) -> None:
    """fx NaN or 0 was a 4-line numpy matrix naming the camera frame (bag from-kitti), or
    silently ignored (predict): now one line naming the file and the value, exit 2."""
    drive = kitti_drive(tmp_path)
    calib = tmp_path / "2011_09_26/calib_cam_to_cam.txt"
    _set_calib_value(calib, key, index, value)
    err = run_cli(["bag", "from-kitti", str(drive), str(tmp_path / "bag")], capsys)
    assert f"{calib}: {message}" in err
    assert not (tmp_path / "bag").exists()
    out = tmp_path / "pred"
    err = run_cli(["predict", "--device", "cpu", str(MONO_WEIGHTS), str(drive), str(out)], capsys)
    assert f"{calib}: {message}" in err
    from ladderseg_ros.data.kitti import KittiRawDataset
    from ladderseg_ros.data.layouts import LayoutError

    with pytest.raises(LayoutError, match=message):
        KittiRawDataset(drive)


def test_kitti_semantics_calibration_is_checked(tmp_path: Path) -> None:
    """The KITTI semantics dataset's per-frame calib_cam_to_cam/<frame>.txt: the same check."""
    from ladderseg_ros.data.kitti import KittiDataset
    from ladderseg_ros.data.layouts import LayoutError

    kitti_drive(tmp_path)
    calib = tmp_path / "2011_09_26/calib_cam_to_cam.txt"
    _set_calib_value(calib, "P_rect_02", 0, "nan")
    root = tmp_path / "semantics" / "training"
    for sub in ("image_2", "semantic", "disp_occ_0", "calib_cam_to_cam"):
        (root / sub).mkdir(parents=True)
    import cv2

    cv2.imwrite(str(root / "image_2" / "000000_10.png"), LEFT)
    cv2.imwrite(str(root / "semantic" / "000000_10.png"), np.zeros((6, 10), np.uint8))
    cv2.imwrite(str(root / "disp_occ_0" / "000000_10.png"), np.full((6, 10), 256, np.uint16))
    (root / "calib_cam_to_cam" / "000000.txt").write_text(calib.read_text())
    dataset = KittiDataset(tmp_path / "semantics", split="all", with_disparity=True)
    with pytest.raises(LayoutError, match="000000.txt: P_rect_02 fx is nan"):
        dataset[0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fx", "NaN", "fx is nan, expected a positive number of pixels"),
        ("fx", "0", "fx is 0.0, expected a positive number of pixels"),
        ("fy", "-1", "fy is -1.0"),
        ("baseline", "0", "baseline is 0.0, expected a positive number of metres"),
        ("u0", "Infinity", "u0 is inf, not finite"),
    ],
)
def test_cityscapes_camera_numbers_are_checked(
    tmp_path: Path, capsys, field: str, value: str, message: str
) -> None:
    import json

    from ladderseg_ros.data.layouts import CameraCalib, write_cityscapes_sample

    camera = CameraCalib(fx=700.0, fy=700.0, u0=5.0, v0=3.0, baseline=0.2)
    root = tmp_path / "cityscapes"
    sample = write_cityscapes_sample(
        root, "val", "aachen", 1, 2, left=LEFT, right=LEFT, camera=camera
    )
    doc = json.loads(sample.camera.read_text())
    section = "extrinsic" if field == "baseline" else "intrinsic"
    doc[section][field] = "@"
    sample.camera.write_text(json.dumps(doc).replace('"@"', value))
    assert cli.main(["bag", "from-cityscapes", str(root), str(tmp_path / "bag")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"camera file {sample.camera}: {message}" in err.splitlines()[-1]  # after the bar
    assert not (tmp_path / "bag").exists()
    out = tmp_path / "pred"
    err = run_cli(["predict", "--device", "cpu", str(MONO_WEIGHTS), str(root), str(out)], capsys)
    assert f"camera file {sample.camera}: {message}" in err


@pytest.mark.parametrize("option", ["--focal", "--baseline"])
@pytest.mark.parametrize("value", ["nan", "0", "-3"])
def test_predict_refuses_calibration_numbers_that_cannot_be(
    tmp_path: Path, capsys, option: str, value: str
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", str(MONO_WEIGHTS), str(tmp_path), str(tmp_path / "o"), option, value])
    assert info.value.code == 2
    assert "expected a positive number" in capsys.readouterr().err


class _Exploit:
    def __reduce__(self):
        return (print, ("PWNED",))


@pytest.mark.parametrize("kind", ["pickle", "torch pickle", "garbage", "empty"])
def test_pickles_and_garbage_given_as_torch_files(tmp_path: Path, capsys, kind: str) -> None:
    """``train --resume`` (and every torch.load: LDN import, ImageNet init) refuses a pickle
    in one line naming the file, never torch's text suggesting weights_only=False."""
    import pickle

    import torch

    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsError, load_torchvision_densenet

    path = tmp_path / "last.pt"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"step": 3, "x": _Exploit()}))
    elif kind == "torch pickle":
        torch.save({"step": torch.zeros(1), "x": _Exploit()}, path, pickle_protocol=2)
    else:
        path.write_bytes(b"" if kind == "empty" else b"\x00garbage" * 10)
    config = Path(__file__).resolve().parents[1] / "config/training/synthetic_demo.yaml"
    err = run_cli(["train", "--config", str(config), "--resume", str(path)], capsys)
    assert err.startswith(f"ladderseg train: error: training checkpoint {path}")
    assert "weights_only" not in err
    if kind == "empty":
        assert "not a file torch.load reads" in err
    else:
        assert "is not a tensors-only PyTorch file" in err
        assert "refused, files are never unpickled" in err
    if kind == "torch pickle":
        assert "(Unsupported global: GLOBAL print)" in err
    err = run_cli(["import-ldn", str(path), str(tmp_path / "w.safetensors")], capsys)
    assert f"LDN checkpoint {path}" in err
    with pytest.raises(WeightsError, match=f"ImageNet checkpoint {path}") as info:
        load_torchvision_densenet(build_model("ldn_tiny"), path)
    assert "\n" not in str(info.value)
    assert "PWNED" not in capsys.readouterr().out
