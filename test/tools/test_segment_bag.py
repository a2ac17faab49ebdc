"""Offline bag segmentation: equal to the live node's outputs, ground truth, refusals.

The live comparison runs the real ``LadderSegNode`` with rclpy on loopback (a private DDS
domain) and feeds it the same bag with the replay module.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from waiting import Spinner, spin_until

from ladderseg_ros.cli import main as cli
from ladderseg_ros.io import bags
from ladderseg_ros.io.bags import BagError
from ladderseg_ros.ros.params import NodeParams
from ladderseg_ros.tools.demo import claim_private_domain
from ladderseg_ros.tools.drives import synthetic_frames
from ladderseg_ros.tools.segment_bag import (
    TOPIC_COLOR,
    TOPIC_LABELS,
    TOPIC_OUT_DISPARITY,
    SegmentBagConfig,
    segment_bag,
)

FRAMES = 4
SIZE = (96, 48)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    model = build_model("ldn_tiny_ss", num_classes=19)
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
    return save_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors", model, meta)


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("drive") / "bag"
    bags.write_stereo_bag(path, synthetic_frames(FRAMES, seed=1_100_007, size=SIZE))
    return path


def config(weights: Path, **kwargs: object) -> SegmentBagConfig:
    params = NodeParams.defaults().replaced(weights=str(weights), sgbm_num_disparities=16)
    return SegmentBagConfig(params=params, progress=False, **kwargs)  # type: ignore[arg-type]


def read_images(path: Path, topic: str) -> dict[int, np.ndarray]:
    with bags.BagReader(path) as bag:
        out = {}
        for message in bag.messages([topic]):
            msg = bag.deserialize(message)
            out[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = bags.image_array(msg)
        return out


def tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.name.encode() + file.read_bytes())
    return digest.hexdigest()


# This file's own domain, held while the tests run (test/ros and test_demo claim theirs).
DOMAIN_CLAIM = claim_private_domain()
DOMAIN = DOMAIN_CLAIM.domain


@pytest.fixture(scope="module")
def topic_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Left images with a DisparityImage at half the size (f, values and range halved)."""
    path = tmp_path_factory.mktemp("topic") / "bag"
    half = (SIZE[0] // 2, SIZE[1] // 2)
    with bags.BagWriter(path) as writer:
        for frame in synthetic_frames(FRAMES, seed=1_100_007, size=SIZE):
            disp = cv2.resize(frame.disparity, half, interpolation=cv2.INTER_NEAREST) / 2
            msg = bags.disparity_msg(
                disp,
                frame.p_left[0, 0] / 2,
                0.54,
                frame.stamp,
                max_disparity=40.0,
                delta_d=bags.DATASET_DELTA_D,
            )
            left = bags.image_msg(frame.left, "rgb8", frame.stamp, bags.LEFT_FRAME_ID)
            writer.write(bags.TOPIC_LEFT_IMAGE, bags.IMAGE_TYPE, left, frame.stamp)
            writer.write(bags.TOPIC_DISPARITY, bags.DISPARITY_TYPE, msg, frame.stamp)
    return path


def _wait_matched(node: object, replayer: object, topics: tuple[str, ...]) -> None:
    """Both ends of every topic have discovered each other (reliable delivery from now)."""
    spin_until(
        lambda: (
            all(p.get_subscription_count() for p in replayer.publishers.values())
            and all(node.count_publishers(t) for t in topics)
        ),
        what=f"the node and the replayer matched on {topics}",
    )


def live_node_outputs(
    weights: Path, bag: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> tuple[dict[int, np.ndarray], dict[int, object]]:
    """Labels and disparity messages of the real node fed by replaying ``bag`` (in compute
    mode the infos first), slowly enough that no pair is dropped."""
    monkeypatch.setenv("ROS_DOMAIN_ID", str(DOMAIN))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from stereo_msgs.msg import DisparityImage

    from ladderseg_ros.io import messages
    from ladderseg_ros.ros.node import LadderSegNode
    from ladderseg_ros.ros.replay import BagReplayer, ReplayConfig

    context = Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=3, context=context)
    labels: dict[int, np.ndarray] = {}
    disparity: dict[int, object] = {}
    try:
        overrides = [
            Parameter("weights", value=str(weights)),
            Parameter("sgbm_num_disparities", value=16),
            Parameter("input_qos", value="reliable"),
            Parameter("disparity_source", value=mode),
        ]
        # Namespace /stereo: the node's left/image_rect... are the bag's /stereo/... topics.
        node = LadderSegNode(namespace="/stereo", parameter_overrides=overrides, context=context)
        tester = Node("segment_bag_tester", context=context)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        tester.create_subscription(
            Image,
            "/stereo/ladderseg/labels",
            lambda m: labels.__setitem__(messages.header_ns(m), np.array(messages.image_view(m))),
            qos,
        )
        tester.create_subscription(
            DisparityImage,
            "/stereo/ladderseg/disparity",
            lambda m: disparity.__setitem__(messages.header_ns(m), m),
            qos,
        )
        executor.add_node(node)
        executor.add_node(tester)
        spinner = Spinner(executor)
        if mode == "compute":
            infos = (bags.TOPIC_LEFT_INFO, bags.TOPIC_RIGHT_INFO)
            first = BagReplayer(tester, bag, ReplayConfig(rate=100.0, topics=infos))
            _wait_matched(node, first, infos)
            first.run()
            spin_until(lambda: len(node._infos) == 2, what="both CameraInfos at the node")
            pairs = (bags.TOPIC_LEFT_IMAGE, bags.TOPIC_RIGHT_IMAGE)
        else:
            pairs = (bags.TOPIC_LEFT_IMAGE, bags.TOPIC_DISPARITY)
        # A slow replay: every pair is processed before the next one comes (no drops).
        replayer = BagReplayer(tester, bag, ReplayConfig(rate=0.25, topics=pairs))
        _wait_matched(node, replayer, pairs)
        spin_until(
            lambda: (
                node._pubs["labels"].get_subscription_count()
                and node._pubs["disparity"].get_subscription_count()
            ),
            what="the tester subscribed to the node's outputs",
        )
        replayer.run()
        spin_until(
            lambda: len(labels) >= FRAMES and len(disparity) >= FRAMES,
            what=f"{FRAMES} labels and disparities",
        )
    finally:  # in order: stop spinning, then the node (and its worker), then the context
        if "spinner" in locals():
            spinner.stop()
        else:
            executor.shutdown(timeout_sec=10.0)
        if "node" in locals():
            node.destroy_node()
        rclpy.try_shutdown(context=context)
    return labels, disparity


def read_disparity_msgs(path: Path) -> dict[int, object]:
    with bags.BagReader(path) as bag:
        out = {}
        for message in bag.messages([TOPIC_OUT_DISPARITY]):
            msg = bag.deserialize(message)
            out[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = msg
        return out


@pytest.mark.parametrize("mode", ["compute", "topic"])
def test_offline_outputs_equal_the_live_nodes(
    weights: Path,
    drive: Path,
    topic_drive: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """Labels and the DisparityImage (f, T, range, step, values) of segment-bag and the
    node match; topic mode with a half-size received disparity (resized, f scaled)."""
    bag = drive if mode == "compute" else topic_drive
    out = tmp_path / "out"
    report = segment_bag(bag, out, config(weights, disparity=mode))
    assert report.frames == FRAMES
    assert report.mode == mode
    offline = read_images(out, TOPIC_LABELS)
    offline_disp = read_disparity_msgs(out)
    stamps = sorted(read_images(bag, bags.TOPIC_LEFT_IMAGE))
    assert sorted(offline) == sorted(offline_disp) == stamps
    live, live_disp = live_node_outputs(weights, bag, monkeypatch, mode)
    assert sorted(live) == sorted(live_disp) == stamps
    for stamp, labels in live.items():
        assert labels.shape == SIZE[::-1]
        np.testing.assert_array_equal(offline[stamp], labels, err_msg=f"frame {stamp}")
        ours, theirs = offline_disp[stamp], live_disp[stamp]
        for name in ("f", "t", "min_disparity", "max_disparity", "delta_d"):
            assert getattr(ours, name) == pytest.approx(getattr(theirs, name)), name
        assert (ours.image.width, ours.image.height) == SIZE
        theirs_pixels = np.frombuffer(bytes(theirs.image.data), "<f4").reshape(SIZE[::-1])
        np.testing.assert_array_equal(bags.image_array(ours.image), theirs_pixels)
    if mode == "compute":  # SGBM's fixed point: 4 fractional bits
        assert offline_disp[stamps[0]].delta_d == pytest.approx(1 / 16)
    if mode == "topic":
        first = offline_disp[stamps[0]]
        f_left = next(synthetic_frames(1, seed=1_100_007, size=SIZE)).p_left[0, 0]
        assert first.f == pytest.approx(f_left)
        assert first.max_disparity == pytest.approx(80.0)
        # the received step (1/256 px) scaled with the values by the 2x resize: 1/128 px
        assert first.delta_d == pytest.approx(2 * bags.DATASET_DELTA_D)


@pytest.mark.parametrize("backlog", [1, 30])
def test_pairs_before_camera_info_wait_for_calibration(
    weights: Path, drive: Path, tmp_path: Path, backlog: int
) -> None:
    """CameraInfos recorded after the first images: up to ``calibration_backlog`` early
    pairs wait for them (as in the node) and older early pairs are counted as skipped."""
    late = tmp_path / "late"
    with bags.BagReader(drive) as reader, bags.BagWriter(late) as writer:
        messages = list(reader.messages())
        infos = [m for m in messages if m.topic.endswith("camera_info")]
        third = sorted({m.timestamp for m in messages})[2]
        for m in messages:  # CameraInfos only from the third frame on, after its images
            if m in infos:
                continue
            writer.write(m.topic, m.msgtype, m.data, m.timestamp)
            if m.timestamp >= third and m.topic == bags.TOPIC_RIGHT_IMAGE:
                for info in infos:
                    if info.timestamp == m.timestamp:
                        writer.write(info.topic, info.msgtype, info.data, info.timestamp)
    cfg = config(weights, disparity="compute")
    cfg = dataclasses.replace(cfg, params=cfg.params.replaced(calibration_backlog=backlog))
    report = segment_bag(late, tmp_path / "out", cfg)
    stamps = sorted(read_images(drive, bags.TOPIC_LEFT_IMAGE))
    # frames 0, 1 and 2 come before the infos: all wait (backlog 30), or only the newest
    # (backlog 1: frames 0 and 1 are each pushed out by a newer pair)
    skipped = 2 if backlog == 1 else 0
    assert sorted(read_images(tmp_path / "out", TOPIC_LABELS)) == stamps[skipped:]
    assert report.frames == FRAMES - skipped
    assert report.skipped == ({"missing_camera_info": 2} if skipped else {})


def test_truth_pictures_and_inputs(weights: Path, drive: Path, tmp_path: Path) -> None:
    before = tree_digest(drive)
    video, frames = tmp_path / "v.mp4", tmp_path / "frames"
    cfg = config(weights, disparity="topic", include_inputs=True, video=video, frames_dir=frames)
    report = segment_bag(drive, tmp_path / "out", cfg)
    assert tree_digest(drive) == before
    assert report.mode == "topic"
    assert report.evaluated == FRAMES
    assert report.confusion is not None
    assert report.confusion.total == FRAMES * SIZE[0] * SIZE[1]
    with bags.BagReader(tmp_path / "out") as bag:
        topics = bag.topics
    with bags.BagReader(drive) as bag:
        assert set(bag.topics) <= set(topics)  # inputs copied
    assert {TOPIC_LABELS, TOPIC_COLOR, TOPIC_OUT_DISPARITY} <= set(topics)
    labels = read_images(tmp_path / "out", TOPIC_LABELS)
    truth = read_images(drive, bags.TOPIC_SEMANTIC_GT)
    assert sorted(labels) == sorted(truth)
    ours = type(report.confusion)(19)
    for stamp in truth:
        ours.update(labels[stamp], truth[stamp])
    np.testing.assert_array_equal(ours.matrix, report.confusion.matrix)
    pngs = sorted(frames.glob("*.png"))
    assert len(pngs) == FRAMES
    assert cv2.imread(str(pngs[0])).shape == (SIZE[1], 4 * SIZE[0], 3)
    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == FRAMES
    assert not list(tmp_path.glob(".*partial*"))


def test_refusals_leave_no_output(weights: Path, drive: Path, tmp_path: Path) -> None:
    existing = tmp_path / "taken"
    existing.mkdir()
    with pytest.raises(BagError, match="exists already"):
        segment_bag(drive, existing, config(weights))
    with pytest.raises(BagError, match="cannot be the input"):
        segment_bag(drive, drive, config(weights))
    mono = tmp_path / "mono"
    p_left, _ = bags.stereo_projections(50.0, 50.0, 48.0, 24.0, 0.5)
    frame = bags.StereoBagFrame(1, np.zeros((48, 96, 3), np.uint8), p_left)
    bags.write_stereo_bag(mono, [frame])
    with pytest.raises(BagError, match="/stereo/right/image_rect"):
        segment_bag(mono, tmp_path / "out", config(weights, disparity="compute"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mono", "taken"]


def test_a_bag_the_model_cannot_use_is_refused_before_any_calibration(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ladderseg_ros.inference import quantize

    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path / "cache"))
    calibrations: list[object] = []
    monkeypatch.setattr(quantize, "quantize_int8", lambda *a, **k: calibrations.append(a))
    mono = tmp_path / "mono"
    p_left, _ = bags.stereo_projections(50.0, 50.0, 48.0, 24.0, 0.5)
    bags.write_stereo_bag(mono, [bags.StereoBagFrame(1, np.zeros((48, 96, 3), np.uint8), p_left)])
    params = config(weights).params.replaced(backend="onnxruntime", precision="int8")
    with pytest.raises(BagError, match="needs topics"):
        segment_bag(mono, tmp_path / "out", SegmentBagConfig(params=params, progress=False))
    assert calibrations == []
    assert not (tmp_path / "cache").exists()  # no export either
    assert not (tmp_path / "out").exists()


def test_cli_prints_miou(
    weights: Path, drive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["segment-bag", str(drive), str(tmp_path / "out"), "--weights", str(weights)]
    argv += ["--param", "sgbm_num_disparities:=16", "--no-progress", "--storage", "mcap"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"segmented {FRAMES} frames (SGBM disparity)" in printed
    assert "mIoU" in printed
    with pytest.raises(SystemExit):  # argparse rejects an unknown node parameter
        cli.main([*argv[:2], str(tmp_path / "out2"), *argv[3:5], "--param", "nope:=1"])
    assert "'nope' is not a node parameter" in capsys.readouterr().err
    # a node parameter segment-bag has its own option for is refused, not silently overridden
    own = [*argv[:2], str(tmp_path / "out3"), *argv[3:5], "--param", "backend:=torch"]
    assert cli.main(own) == 2
    assert "--param backend: segment-bag sets it with --backend" in capsys.readouterr().err
    assert not (tmp_path / "out3").exists()
    inside = [*argv[:2], str(drive / "out"), *argv[3:]]
    assert cli.main(inside) == 2
    assert "lies inside the input bag" in capsys.readouterr().err
    assert not (drive / "out").exists()
    nan = [*argv[:2], str(tmp_path / "out4"), *argv[3:5], "--param", "overlay_alpha:=nan"]
    with pytest.raises(SystemExit):
        cli.main(nan)
    assert "is not a finite number" in capsys.readouterr().err


@pytest.mark.parametrize("storage", bags.STORAGES)
def test_truncated_input_gives_a_clear_error_and_no_output(
    weights: Path, drive: Path, tmp_path: Path, storage: str
) -> None:
    broken = tmp_path / "broken"
    with bags.BagReader(drive) as reader, bags.BagWriter(broken, storage) as writer:
        for m in reader.messages():
            writer.write(m.topic, m.msgtype, m.data, m.timestamp)
    data_file = next(p for p in broken.iterdir() if p.name != "metadata.yaml")
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    video = tmp_path / "v.mp4"
    cfg = config(weights, disparity="compute", video=video, frames_dir=tmp_path / "frames")
    with pytest.raises(BagError, match=str(broken)):
        segment_bag(broken, tmp_path / "out", cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]  # nothing partial


def test_points_and_groups_written_with_exact_depth_and_labels(
    weights: Path, drive: Path, tmp_path: Path
) -> None:
    """--points on the bag's exact disparity: depth within 1 %, labels equal /labels."""
    from ladderseg_ros.tools.segment_bag import TOPIC_GROUPS, TOPIC_POINTS

    groups_file = Path(__file__).resolve().parents[2] / "config" / "groups_driving.yaml"
    params = config(weights).params
    cfg = SegmentBagConfig(
        params=params.replaced(groups_file=str(groups_file), points_decimation=3),
        disparity="topic",
        progress=False,
        points=True,
    )
    out = tmp_path / "out"
    segment_bag(drive, out, cfg)
    labels = read_images(out, TOPIC_LABELS)
    groups = read_images(out, TOPIC_GROUPS)
    frames = {f.stamp: f for f in synthetic_frames(FRAMES, seed=1_100_007, size=SIZE)}
    with bags.BagReader(out) as bag:
        clouds = {}
        for message in bag.messages([TOPIC_POINTS]):
            msg = bag.deserialize(message)
            assert msg.header.frame_id == bags.LEFT_FRAME_ID
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            clouds[stamp] = bags.pointcloud_array(msg)
    assert set(clouds) == set(frames) == set(labels) == set(groups)
    for stamp, points in clouds.items():
        frame = frames[stamp]
        disparity = frame.disparity[::3, ::3]
        valid = disparity > 0
        depth = frame.p_left[0, 0] * 0.54 / disparity[valid]
        assert points.shape == disparity.shape
        rel = np.abs(points["z"][valid] - depth) / depth
        assert np.median(rel) < 0.01
        assert np.isnan(points["z"][~valid]).all()
        np.testing.assert_array_equal(points["label"], labels[stamp][::3, ::3])
        assert groups[stamp].shape == labels[stamp].shape


# Run in a child interpreter whose imports of rclpy and every ROS message package fail, as
# on a training or evaluation machine without ROS.
NO_ROS = """
import importlib.abc
import sys

BLOCKED = {blocked!r}


class NoRos(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(
                f"No module named {{name!r}} (blocked: no ROS here)", name=name
            )
        return None


sys.meta_path.insert(0, NoRos())
from ladderseg_ros.cli.main import main

code = main(sys.argv[1:])
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
sys.exit(code)
"""
ROS_PACKAGES = (
    "rclpy",
    "sensor_msgs",
    "stereo_msgs",
    "std_msgs",
    "builtin_interfaces",
    "rosidl_runtime_py",
    "rcl_interfaces",
    "diagnostic_msgs",
)


def test_runs_where_ros_is_not_installed(weights: Path, drive: Path, tmp_path: Path) -> None:
    """segment-bag with every ROS import failing writes what it writes with ROS present."""
    import subprocess
    import sys

    script = NO_ROS.format(blocked=set(ROS_PACKAGES))
    check = subprocess.run(
        [sys.executable, "-c", script.replace("code = main", "import rclpy  #")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "blocked: no ROS here" in check.stderr  # the hook does block
    out = tmp_path / "no_ros"
    args = ["segment-bag", str(drive), str(out), "--weights", str(weights), "--backend", "torch"]
    args += ["--param", "sgbm_num_disparities:=16", "--no-progress"]
    run = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert f"segmented {FRAMES} frames (SGBM disparity)" in run.stdout
    cfg = config(weights)
    cfg = dataclasses.replace(cfg, params=cfg.params.replaced(backend="torch"))
    segment_bag(drive, tmp_path / "with_ros", cfg)
    for topic in (TOPIC_LABELS, TOPIC_COLOR):
        ours, reference = read_images(out, topic), read_images(tmp_path / "with_ros", topic)
        assert sorted(ours) == sorted(read_images(drive, bags.TOPIC_LEFT_IMAGE))
        for stamp, pixels in reference.items():
            np.testing.assert_array_equal(ours[stamp], pixels, err_msg=f"{topic} {stamp}")
    ours_disp, reference_disp = read_disparity_msgs(out), read_disparity_msgs(tmp_path / "with_ros")
    for stamp, msg in reference_disp.items():
        assert ours_disp[stamp].delta_d == pytest.approx(1 / 16)
        np.testing.assert_array_equal(
            bags.image_array(ours_disp[stamp].image), bags.image_array(msg.image)
        )


@pytest.mark.parametrize("command", [["replay"], ["demo", "--out"]])
def test_ros_commands_say_in_one_line_that_ros_is_missing(
    drive: Path, tmp_path: Path, command: list[str]
) -> None:
    import subprocess
    import sys

    script = NO_ROS.format(blocked=set(ROS_PACKAGES)).replace(
        "leaked = sorted", "leaked = []  # the command tried to import ROS, by design\n#"
    )
    args = [command[0], "--bag", str(drive), *command[1:], str(tmp_path / "o")]
    if command[0] == "replay":
        args = ["replay", str(drive)]
    run = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith(f"ladderseg {command[0]}: error: needs ROS 2 ("), run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("slop", "warned"), [(0.04, False), (0.08, True)])
def test_approximate_sync_segments_the_last_pair_of_a_bag(
    weights: Path,
    drive: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    slop: float,
    warned: bool,
) -> None:
    """Right images 30 ms behind the left ones: approximate pairing holds each set until a
    later image proves it, and the bag's last set is proved by its end, not lost."""
    shifted = tmp_path / "shifted"
    delay = 30_000_000  # ns
    with bags.BagReader(drive) as reader, bags.BagWriter(shifted) as writer:
        for m in reader.messages():
            if m.topic != bags.TOPIC_RIGHT_IMAGE:
                writer.write(m.topic, m.msgtype, m.data, m.timestamp)
                continue
            msg = reader.deserialize(m)
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec + delay
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
            writer.write(m.topic, m.msgtype, msg, m.timestamp + delay)
    cfg = config(weights, disparity="compute")
    cfg = dataclasses.replace(cfg, params=cfg.params.replaced(approximate_sync=True, slop=slop))
    report = segment_bag(shifted, tmp_path / "out", cfg)
    assert report.frames == FRAMES
    assert report.sync is not None
    assert report.sync.emitted == FRAMES
    stamps = sorted(read_images(drive, bags.TOPIC_LEFT_IMAGE))
    assert sorted(read_images(tmp_path / "out", TOPIC_LABELS)) == stamps
    said = [
        r.getMessage() for r in caplog.records if "more than half the frame period" in r.message
    ]
    assert len(said) == (1 if warned else 0)
