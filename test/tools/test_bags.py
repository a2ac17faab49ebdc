"""Dataset -> rosbag2 converters: official-format fixtures in, bags read back two ways."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image
from stereo_msgs.msg import DisparityImage

from ladderseg_ros.cli.args import positive_float, positive_int
from ladderseg_ros.cli.main import main
from ladderseg_ros.io import bags
from ladderseg_ros.io.bags import BagError, BagReader, check_bag

# Lines of the real 2011_09_26/calib_cam_to_cam.txt (cameras 00, 02, 03).
KITTI_CALIB = """\
calib_time: 09-Jan-2012 13:57:47
corner_dist: 9.950000e-02
S_00: 1.392000e+03 5.120000e+02
K_00: 9.842439e+02 0.000000e+00 6.900000e+02 0.000000e+00 9.808141e+02 2.331966e+02 0.000000e+00 0.000000e+00 1.000000e+00
D_00: -3.728755e-01 2.037299e-01 2.219027e-03 1.383707e-03 -7.233722e-02
R_00: 1.000000e+00 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00
T_00: 2.573699e-16 -1.059758e-16 1.614870e-16
S_rect_00: 1.242000e+03 3.750000e+02
R_rect_00: 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 -4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01
P_rect_00: 7.215377e+02 0.000000e+00 6.095593e+02 0.000000e+00 0.000000e+00 7.215377e+02 1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00
S_02: 1.392000e+03 5.120000e+02
K_02: 9.597910e+02 0.000000e+00 6.960217e+02 0.000000e+00 9.569251e+02 2.241806e+02 0.000000e+00 0.000000e+00 1.000000e+00
D_02: -3.691481e-01 1.968681e-01 1.353473e-03 5.677587e-04 -6.770705e-02
R_02: 9.999758e-01 -5.267463e-03 -4.552439e-03 5.251945e-03 9.999804e-01 -3.413835e-03 4.570332e-03 3.389843e-03 9.999838e-01
T_02: 5.956621e-02 2.900141e-04 2.577209e-03
S_rect_02: 1.242000e+03 3.750000e+02
R_rect_02: 9.998817e-01 1.511453e-02 -2.841595e-03 -1.511724e-02 9.998853e-01 -9.338510e-04 2.827154e-03 9.766976e-04 9.999955e-01
P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03
S_03: 1.392000e+03 5.120000e+02
K_03: 9.037596e+02 0.000000e+00 6.957519e+02 0.000000e+00 9.019653e+02 2.242509e+02 0.000000e+00 0.000000e+00 1.000000e+00
D_03: -3.639558e-01 1.788651e-01 6.029694e-04 -3.922424e-04 -5.382460e-02
R_03: 9.995599e-01 1.699522e-02 -2.431313e-02 -1.704422e-02 9.998531e-01 -1.809756e-03 2.427880e-02 2.223358e-03 9.997028e-01
T_03: -4.731050e-01 5.551470e-03 -5.250882e-03
S_rect_03: 1.242000e+03 3.750000e+02
R_rect_03: 9.998321e-01 -7.193136e-03 1.685599e-02 7.232804e-03 9.999712e-01 -2.293585e-03 -1.683901e-02 2.415116e-03 9.998553e-01
P_rect_03: 7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 7.215377e+02 1.728540e+02 2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 2.729905e-03
"""  # noqa: E501
KITTI_STAMPS = [
    "2011-09-26 13:02:25.964389445",
    "2011-09-26 13:02:26.074898640",
    "2011-09-26 13:02:26.180768153",
]
# KITTI stamps as integer ns (2011-09-26 13:02:25 UTC = 1317042145 s).
KITTI_STAMPS_NS = [1317042145_964389445, 1317042146_074898640, 1317042146_180768153]

# A real Cityscapes camera file (val/frankfurt), as shipped.
CITYSCAPES_CAMERA = {
    "extrinsic": {
        "baseline": 0.209313,
        "pitch": 0.038,
        "roll": 0.0,
        "x": 1.7,
        "y": 0.1,
        "yaw": -0.0195,
        "z": 1.22,
    },
    "intrinsic": {"fx": 2262.52, "fy": 2265.3017905988554, "u0": 1096.98, "v0": 513.137},
}

W, H = 40, 24


def _png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image)


def _rgb(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.fixture
def kitti_drive(tmp_path: Path) -> Path:
    date = tmp_path / "kitti" / "2011_09_26"
    drive = date / "2011_09_26_drive_0001_sync"
    date.mkdir(parents=True)
    (date / "calib_cam_to_cam.txt").write_text(KITTI_CALIB)
    for cam, offset in (("image_02", 0), ("image_03", 100)):
        for i in range(len(KITTI_STAMPS)):
            _png(drive / cam / "data" / f"{i:010d}.png", _rgb(i + offset))
        (drive / cam / "timestamps.txt").write_text("\n".join(KITTI_STAMPS) + "\n")
    return drive


def _read_all(path: Path) -> tuple[dict[str, str], list[bags.BagMessage]]:
    with BagReader(path) as bag:
        return bag.topics, list(bag.messages())


def _by_topic(messages: list[bags.BagMessage], topic: str) -> list[bags.BagMessage]:
    return [m for m in messages if m.topic == topic]


def test_kitti_drive_to_bag(kitti_drive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "kitti_bag"
    out.parent.mkdir()
    assert main(["bag", "from-kitti", str(kitti_drive), str(out)]) == 0

    topics, messages = _read_all(out)
    assert topics == {
        bags.TOPIC_LEFT_IMAGE: "sensor_msgs/msg/Image",
        bags.TOPIC_RIGHT_IMAGE: "sensor_msgs/msg/Image",
        bags.TOPIC_LEFT_INFO: "sensor_msgs/msg/CameraInfo",
        bags.TOPIC_RIGHT_INFO: "sensor_msgs/msg/CameraInfo",
    }
    assert "version: 8" in (out / "metadata.yaml").read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["kitti_bag"]  # no partial left

    p_left = np.array(KITTI_CALIB.split("P_rect_02: ")[1].split("\n")[0].split(), float)
    p_right = np.array(KITTI_CALIB.split("P_rect_03: ")[1].split("\n")[0].split(), float)
    ts = bags.typestore()
    for i, stamp in enumerate(KITTI_STAMPS_NS):
        frame = [m for m in messages if m.timestamp == stamp]
        assert len(frame) == 4
        for m in frame:
            msg = ts.deserialize_cdr(m.data, m.msgtype)
            assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == stamp
            expected_frame = (
                bags.RIGHT_FRAME_ID if m.topic.startswith("/stereo/right") else bags.LEFT_FRAME_ID
            )
            assert msg.header.frame_id == expected_frame
        left = next(m for m in frame if m.topic == bags.TOPIC_LEFT_IMAGE)
        ros_left = deserialize_message(left.data, Image)
        assert (ros_left.encoding, ros_left.width, ros_left.height) == ("rgb8", W, H)
        pixels = np.frombuffer(bytes(ros_left.data), np.uint8).reshape(H, W, 3)
        np.testing.assert_array_equal(pixels, _rgb(i))
        right = next(m for m in frame if m.topic == bags.TOPIC_RIGHT_IMAGE)
        np.testing.assert_array_equal(
            bags.image_array(ts.deserialize_cdr(right.data, right.msgtype)), _rgb(i + 100)
        )

    infos = {
        t: deserialize_message(_by_topic(messages, t)[0].data, CameraInfo)
        for t in (bags.TOPIC_LEFT_INFO, bags.TOPIC_RIGHT_INFO)
    }
    left_info, right_info = infos[bags.TOPIC_LEFT_INFO], infos[bags.TOPIC_RIGHT_INFO]
    np.testing.assert_array_equal(np.asarray(left_info.p), p_left)  # KITTI's nonzero Tx kept
    np.testing.assert_array_equal(np.asarray(right_info.p), p_right)
    assert left_info.p[3] == pytest.approx(44.85728)
    np.testing.assert_array_equal(np.asarray(left_info.k), p_left.reshape(3, 4)[:, :3].ravel())
    np.testing.assert_array_equal(np.asarray(left_info.r), np.eye(3).ravel())
    assert (left_info.width, left_info.height) == (W, H)
    baseline = (left_info.p[3] - right_info.p[3]) / left_info.p[0]
    assert baseline == pytest.approx(0.5327, abs=1e-4)


def _cityscapes(root: Path) -> dict[str, np.ndarray]:
    """Three val frames in two cities, with camera, disparity and gtFine labelIds."""
    raw_disp = np.zeros((H, W), np.uint16)
    raw_disp[:, 10:] = 1 + 256 * 5 + 64  # 5.25 px
    raw_disp[:, 30:] = 1 + 256 * 40  # 40 px
    label_ids = np.zeros((H, W), np.uint8)  # 0 = unlabeled -> 255
    label_ids[H // 2 :] = 7  # road -> 0
    label_ids[:4, :4] = 26  # car -> 13
    frames = [("frankfurt", 0, 19), ("frankfurt", 1, 19), ("lindau", 0, 19)]
    for n, (city, seq, frame) in enumerate(frames):
        stem = f"{city}_{seq:06d}_{frame:06d}"
        _png(root / "leftImg8bit" / "val" / city / f"{stem}_leftImg8bit.png", _rgb(n))
        _png(root / "rightImg8bit" / "val" / city / f"{stem}_rightImg8bit.png", _rgb(n + 50))
        _png(root / "disparity" / "val" / city / f"{stem}_disparity.png", raw_disp)
        _png(root / "gtFine" / "val" / city / f"{stem}_gtFine_labelIds.png", label_ids)
        camera = root / "camera" / "val" / city / f"{stem}_camera.json"
        camera.parent.mkdir(parents=True, exist_ok=True)
        camera.write_text(json.dumps(CITYSCAPES_CAMERA, indent=4))
    return {"raw_disp": raw_disp, "label_ids": label_ids}


def test_cityscapes_to_bag_mcap(tmp_path: Path) -> None:
    data = _cityscapes(tmp_path / "cs")
    out = tmp_path / "cs_bag"
    argv = ["bag", "from-cityscapes", str(tmp_path / "cs"), "--split", "val"]
    assert main([*argv, "--city", "frankfurt", str(out), "--storage", "mcap"]) == 0
    assert list(out.glob("*.mcap"))

    topics, messages = _read_all(out)
    assert set(topics) == {
        bags.TOPIC_LEFT_IMAGE,
        bags.TOPIC_RIGHT_IMAGE,
        bags.TOPIC_LEFT_INFO,
        bags.TOPIC_RIGHT_INFO,
        bags.TOPIC_DISPARITY,
        bags.TOPIC_SEMANTIC_GT,
    }
    assert all(len(_by_topic(messages, t)) == 2 for t in topics)  # lindau filtered out
    assert len({m.timestamp for m in messages}) == 2

    right_info = deserialize_message(_by_topic(messages, bags.TOPIC_RIGHT_INFO)[0].data, CameraInfo)
    fx, baseline = 2262.52, 0.209313
    assert right_info.p[0] == fx
    assert right_info.p[5] == pytest.approx(2265.3017905988554)
    assert (right_info.p[2], right_info.p[6]) == (1096.98, 513.137)
    assert right_info.p[3] == pytest.approx(-fx * baseline)
    assert right_info.header.frame_id == bags.RIGHT_FRAME_ID

    disp_msg = deserialize_message(
        _by_topic(messages, bags.TOPIC_DISPARITY)[0].data, DisparityImage
    )
    assert disp_msg.image.encoding == "32FC1"
    assert disp_msg.f == pytest.approx(fx)
    assert disp_msg.t == pytest.approx(baseline)
    assert disp_msg.min_disparity == 0.0
    assert disp_msg.max_disparity == 40.0
    values = np.frombuffer(bytes(disp_msg.image.data), np.float32).reshape(H, W)
    assert values[0, 0] < disp_msg.min_disparity  # invalid (p = 0) reads as invalid
    assert values[0, 12] == 5.25
    assert values[0, 35] == 40.0
    ts = bags.typestore()
    first = _by_topic(messages, bags.TOPIC_DISPARITY)[0]
    disp = bags.disparity_array(ts.deserialize_cdr(first.data, first.msgtype))
    expected = np.where(data["raw_disp"] > 0, (data["raw_disp"] - 1.0) / 256.0, 0.0)
    np.testing.assert_array_equal(disp, expected.astype(np.float32))

    gt = deserialize_message(_by_topic(messages, bags.TOPIC_SEMANTIC_GT)[0].data, Image)
    assert gt.encoding == "mono8"
    assert gt.header.frame_id == bags.LEFT_FRAME_ID
    gt_ids = np.frombuffer(bytes(gt.data), np.uint8).reshape(H, W)
    assert gt_ids[H - 1, 0] == 0
    assert gt_ids[0, 0] == 13
    assert gt_ids[H // 2 - 1, 10] == 255


def test_cityscapes_without_camera_json_fails_cleanly(tmp_path: Path) -> None:
    _cityscapes(tmp_path / "cs")
    for camera in (tmp_path / "cs" / "camera").rglob("*.json"):
        camera.unlink()
    out = tmp_path / "bag"
    assert main(["bag", "from-cityscapes", str(tmp_path / "cs"), str(out)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cs"]


def test_synthetic_drive_to_bag(tmp_path: Path) -> None:
    from ladderseg_ros.data.synthetic import KITTI_RIG, render_drive

    out = tmp_path / "syn"
    argv = ["bag", "from-synthetic", str(out), "--frames", "2", "--size", "64x24", "--seed", "3"]
    assert main(argv) == 0
    rendered = list(render_drive(3, 2, KITTI_RIG.resized(64, 24)))
    ts = bags.typestore()
    with BagReader(out) as bag:
        assert len(bag.topics) == 6
        msgs = {(m.topic, m.timestamp): m for m in bag.messages()}
    for frame in rendered:
        stamp = bags.stamp_ns(frame.timestamp)
        left = msgs[(bags.TOPIC_LEFT_IMAGE, stamp)]
        np.testing.assert_array_equal(
            bags.image_array(ts.deserialize_cdr(left.data, left.msgtype)), frame.left
        )
        gt = msgs[(bags.TOPIC_SEMANTIC_GT, stamp)]
        np.testing.assert_array_equal(
            bags.image_array(ts.deserialize_cdr(gt.data, gt.msgtype)), frame.train_ids
        )
        disp = msgs[(bags.TOPIC_DISPARITY, stamp)]
        disp_msg = ts.deserialize_cdr(disp.data, disp.msgtype)
        np.testing.assert_array_equal(bags.disparity_array(disp_msg), frame.disparity)
        assert disp_msg.t == pytest.approx(frame.rig.baseline)


def test_refuses_to_overwrite(kitti_drive: Path, tmp_path: Path) -> None:
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["bag", "from-kitti", str(kitti_drive), str(out)]) == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    with pytest.raises(BagError, match="exists already"):
        bags.BagWriter(out)


def test_failed_conversion_leaves_nothing(kitti_drive: Path, tmp_path: Path) -> None:
    broken = kitti_drive / "image_03" / "data" / f"{2:010d}.png"
    broken.write_bytes(broken.read_bytes()[:40])  # a truncated PNG in the input
    out_dir = tmp_path / "outs"
    out_dir.mkdir()
    assert main(["bag", "from-kitti", str(kitti_drive), str(out_dir / "bag")]) == 2
    assert list(out_dir.iterdir()) == []


def _small_bag(path: Path, storage: str, frames: int = 4) -> None:
    p_left, p_right = bags.stereo_projections(100.0, 100.0, W / 2, H / 2, 0.5)
    bags.write_stereo_bag(
        path,
        (
            bags.StereoBagFrame(
                stamp=10**18 + i * 10**8,
                left=_rgb(i),
                p_left=p_left,
                right=_rgb(i + 9),
                p_right=p_right,
            )
            for i in range(frames)
        ),
        storage,
    )


@pytest.mark.parametrize("storage", bags.STORAGES)
def test_truncated_bag_gives_clear_error(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    _small_bag(bag, storage)
    four = (
        bags.TOPIC_LEFT_INFO,
        bags.TOPIC_RIGHT_INFO,
        bags.TOPIC_LEFT_IMAGE,
        bags.TOPIC_RIGHT_IMAGE,
    )
    assert check_bag(bag).counts == dict.fromkeys(four, 4)
    data_file = next(p for p in bag.iterdir() if p.name != "metadata.yaml")
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 3])
    with pytest.raises(BagError, match=str(bag)):
        check_bag(bag)


def test_corrupted_message_names_topic(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    with bags.BagWriter(bag) as writer:
        writer.write(bags.TOPIC_LEFT_IMAGE, bags.IMAGE_TYPE, b"\x00\x01\x00\x00\xff", 5)
    with pytest.raises(BagError, match=f"{bags.TOPIC_LEFT_IMAGE} at 5 ns"):
        check_bag(bag)


def test_unfinished_bag_is_not_a_bag(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    _small_bag(bag, "sqlite3")
    (bag / "metadata.yaml").unlink()
    with pytest.raises(BagError, match="never finished"):
        check_bag(bag)
    with pytest.raises(BagError, match="no bag at"):
        check_bag(tmp_path / "missing")


def test_writer_error_discards_partial_bag(tmp_path: Path) -> None:
    out = tmp_path / "bag"

    def write_then_fail() -> None:
        with bags.BagWriter(out, "mcap") as writer:
            msg = bags.image_msg(_rgb(0), "rgb8", 1, bags.LEFT_FRAME_ID)
            writer.write(bags.TOPIC_LEFT_IMAGE, bags.IMAGE_TYPE, msg, 1)
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_then_fail()
    assert list(tmp_path.iterdir()) == []


def test_image_and_disparity_messages_validate_input() -> None:
    with pytest.raises(BagError, match="rgb8"):
        bags.image_msg(np.zeros((4, 4), np.uint8), "rgb8", 0, "f")
    with pytest.raises(BagError, match="not supported"):
        bags.image_msg(np.zeros((4, 4), np.uint8), "yuv422", 0, "f")
    p_left, _ = bags.stereo_projections(100.0, 100.0, 2.0, 2.0, 0.5)
    frame = bags.StereoBagFrame(stamp=0, left=_rgb(0), p_left=p_left, disparity=np.ones((H, W)))
    with pytest.raises(BagError, match="p_right"):
        frame.messages()
    mono16 = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    msg = bags.image_msg(mono16, "mono16", 0, "f")
    np.testing.assert_array_equal(bags.image_array(msg), mono16)


@pytest.mark.parametrize("storage", bags.STORAGES)
def test_bag_check_command(
    tmp_path: Path, storage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "bag"
    _small_bag(bag, storage)
    assert main(["bag", "check", str(bag)]) == 0
    printed = capsys.readouterr().out
    for topic in (bags.TOPIC_LEFT_IMAGE, bags.TOPIC_RIGHT_INFO):
        assert re.search(rf"{topic}\s+sensor_msgs/msg/\w+\s+4 messages", printed), printed
    assert f"{bag}: OK, 16 messages over" in printed
    data_file = next(p for p in bag.iterdir() if p.name != "metadata.yaml")
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 3])
    assert main(["bag", "check", str(bag)]) == 2
    captured = capsys.readouterr()
    assert "ladderseg bag: error: " in captured.err
    assert str(bag) in captured.err
    assert "OK" not in captured.out


@pytest.mark.parametrize("text", ["0", "-3", "x", "1.5"])
def test_positive_int_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="positive integer"):
        positive_int(text)


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "fast"])
def test_positive_float_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="positive number"):
        positive_float(text)
    assert positive_float("0.5") == 0.5
    assert positive_int("7") == 7
