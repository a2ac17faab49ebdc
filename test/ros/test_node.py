"""The node with the real rclpy: a stereo pair in, every output out; bad input; newest pair."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String
from stereo_msgs.msg import DisparityImage
from waiting import Spinner, spin_until

from ladderseg_ros.classes import palette_lut
from ladderseg_ros.io import messages
from ladderseg_ros.ros import conversions
from ladderseg_ros.ros.node import LadderSegNode

W, H = 96, 48
FX, BASELINE = 100.0, 0.5
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
OUTPUTS = {"labels": Image, "color": Image, "overlay": Image, "confidence": Image}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    root = tmp_path_factory.mktemp("weights")
    paths = {}
    for name in ("ldn_tiny", "ldn_tiny_ss"):
        model = build_model(name, num_classes=19)
        meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
        paths[name] = save_weights(root / f"{name}.safetensors", model, meta)
    return paths


@pytest.fixture(scope="module")
def ros() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.shutdown()


def stereo_pair(seed: int = 0, shift: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    left = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    right = np.roll(left, -shift, axis=1)
    return left, right


def camera_info(tx: float, stamp: Any, frame: str = "cam") -> CameraInfo:
    info = CameraInfo(width=W, height=H)
    info.header.stamp, info.header.frame_id = stamp, frame
    info.p = [FX, 0.0, W / 2, tx, 0.0, FX, H / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


class Harness:
    """A ladderseg node plus a tester node that publishes inputs and records outputs."""

    def __init__(self, weights: Path, **params: Any) -> None:
        overrides = [Parameter("weights", value=str(weights))]
        # torch: these tests are about the node, and it needs no export or session per shape
        overrides += [Parameter("backend", value="torch")]
        overrides += [Parameter("sgbm_num_disparities", value=16)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.node = LadderSegNode(parameter_overrides=overrides)
        self.tester = rclpy.create_node(f"tester_{id(self)}")
        self.received: dict[str, list[Any]] = defaultdict(list)
        compressed = params.get("compressed", False)
        image_type = CompressedImage if compressed else Image
        suffix = "/compressed" if compressed else ""
        t = self.tester
        self.left = t.create_publisher(image_type, "left/image_rect" + suffix, RELIABLE)
        self.right = t.create_publisher(image_type, "right/image_rect" + suffix, RELIABLE)
        self.left_info = t.create_publisher(CameraInfo, "left/camera_info", RELIABLE)
        self.right_info = t.create_publisher(CameraInfo, "right/camera_info", RELIABLE)
        self.disparity = t.create_publisher(DisparityImage, "disparity", RELIABLE)
        self.subs = [
            t.create_subscription(kind, f"/ladderseg/{name}", self._recorder(name), RELIABLE)
            for name, kind in {**OUTPUTS, "disparity": DisparityImage}.items()
        ]
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self.subs.append(
            t.create_subscription(String, "/ladderseg/label_info", self._recorder("info"), latched)
        )
        self.subs.append(
            t.create_subscription(DiagnosticArray, "/diagnostics", self._recorder("diag"), 10)
        )
        self.executor = MultiThreadedExecutor(num_threads=3)
        self.executor.add_node(self.node)
        self.executor.add_node(self.tester)
        self.spinner = Spinner(self.executor)
        recorded = [self.node._pubs[name] for name in (*OUTPUTS, "disparity")]
        self.wait(lambda: all(p.get_subscription_count() for p in recorded))
        inputs = [self.left] + ([self.right] if self.node.mode == "compute" else [])
        inputs += [self.disparity] if self.node.mode == "topic" else []
        self.wait(lambda: all(p.get_subscription_count() for p in inputs))

    def _recorder(self, name: str) -> Callable[[Any], None]:
        return lambda msg: self.received[name].append(msg)

    @staticmethod
    def wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
        spin_until(condition, timeout)

    def processed(self, count: int) -> None:
        """Wait until the node's worker has finished ``count`` pairs in all."""
        self.wait(lambda: self.node.stats.processed >= count)

    def stamp(self, offset: float = 0.0) -> Any:
        now = self.tester.get_clock().now().nanoseconds + int(offset * 1e9)
        return rclpy.time.Time(nanoseconds=now).to_msg()

    def publish_infos(self, left: CameraInfo, right: CameraInfo) -> None:
        """Publish both infos and wait until the node holds them (topics are not ordered)."""
        self.left_info.publish(left)
        self.right_info.publish(right)
        infos = self.node._infos
        self.wait(
            lambda: all(
                side in infos
                and infos[side].header.stamp == info.header.stamp
                and np.array_equal(infos[side].p, info.p)
                for side, info in (("left", left), ("right", right))
            )
        )

    def publish_pair(
        self, left: np.ndarray, right: np.ndarray, stamp: Any, frame: str = "cam"
    ) -> None:
        self.publish_infos(
            camera_info(0.0, stamp, frame), camera_info(-FX * BASELINE, stamp, frame)
        )
        self.publish_images(left, right, stamp, frame)

    def publish_images(
        self, left: np.ndarray, right: np.ndarray, stamp: Any, frame: str = "cam"
    ) -> None:
        for pub, img in ((self.left, left), (self.right, right)):
            if pub.msg_type is CompressedImage:  # PNG: lossless, so outputs compare exactly
                msg = CompressedImage(format="rgb8; png compressed bgr8")
                msg.data = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))[1].tobytes()
            else:
                msg = conversions.array_to_image(img, "rgb8")
            msg.header.stamp, msg.header.frame_id = stamp, frame
            pub.publish(msg)

    def outputs_at(self, stamp: Any, name: str = "labels") -> list[Any]:
        key = (stamp.sec, stamp.nanosec)
        return [
            m for m in self.received[name] if (m.header.stamp.sec, m.header.stamp.nanosec) == key
        ]

    def close(self) -> None:
        """Stop spinning (in-flight callbacks finish), then the node's worker, then nodes."""
        self.spinner.stop()
        worker = self.node._worker
        self.node.destroy_node()  # joins the worker thread
        assert worker is not None
        assert not worker.is_alive()
        self.tester.destroy_node()


@pytest.fixture
def harness(ros: None, weights: dict[str, Path]) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(model: str = "ldn_tiny_ss", **params: Any) -> Harness:
        made.append(Harness(weights[model], **params))
        return made[-1]

    yield make
    for h in made:
        h.close()


def check_outputs(h: Harness, left: np.ndarray, stamp: Any, frame: str = "cam") -> None:
    """Every output carries the input's header and size; colours follow the labels."""
    outs = {name: h.outputs_at(stamp, name)[-1] for name in OUTPUTS}
    for name, msg in outs.items():
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (stamp.sec, stamp.nanosec)
        assert msg.header.frame_id == frame, name
        assert (msg.width, msg.height) == (W, H), name
    assert outs["labels"].encoding == "mono8"
    assert outs["color"].encoding == "rgb8"
    assert outs["overlay"].encoding == "rgb8"
    assert outs["confidence"].encoding == "32FC1"
    labels = messages.image_view(outs["labels"])
    assert labels.max() < 19
    lut = palette_lut(h.node.label_set)
    np.testing.assert_array_equal(messages.image_view(outs["color"]), lut[labels])
    alpha = h.node.params.overlay_alpha
    expected = (1 - alpha) * left.astype(np.float32) + alpha * lut[labels]
    overlay = messages.image_view(outs["overlay"]).astype(np.float32)
    assert np.abs(overlay - expected).max() <= 1.0
    conf = np.frombuffer(outs["confidence"].data, np.float32)
    assert ((conf > 0) & (conf <= 1.0 + 1e-6)).all()


def test_stereo_pair_produces_every_output(harness: Callable[..., Harness]) -> None:
    h = harness()
    assert h.node.mode == "compute"
    left, right = stereo_pair()
    stamp = h.stamp()
    h.publish_pair(left, right, stamp, frame="left_cam")
    h.wait(lambda: all(h.received[n] for n in [*OUTPUTS, "disparity"]))
    check_outputs(h, left, stamp, frame="left_cam")
    disp = h.received["disparity"][-1]
    assert disp.f == pytest.approx(FX)
    assert disp.t == pytest.approx(BASELINE)
    assert disp.header.frame_id == "left_cam"
    values = messages.disparity_from_msg(disp).disparity
    assert np.median(values[values > 0]) == pytest.approx(6.0, abs=0.5)  # the rolled shift
    h.wait(lambda: bool(h.received["info"]))
    info = h.received["info"][-1].data
    assert '"road"' in info
    assert "[128, 64, 128]" in info
    assert list(h.node.get_parameter("class_names").value)[:2] == ["road", "sidewalk"]
    # overlay alpha changes at run time; an invalid value is refused
    assert h.node.set_parameters([Parameter("overlay_alpha", value=0.9)])[0].successful
    assert not h.node.set_parameters([Parameter("overlay_alpha", value=2.0)])[0].successful
    assert not h.node.set_parameters([Parameter("backend", value="onnxruntime")])[0].successful
    stamp = h.stamp()
    h.publish_pair(left, right, stamp)
    # every output topic of this frame (they arrive independently, in any order)
    h.wait(lambda: all(h.outputs_at(stamp, name) for name in OUTPUTS))
    check_outputs(h, left, stamp)

    def diag_values() -> dict[str, str]:
        if not h.received["diag"]:
            return {}
        return {kv.key: kv.value for kv in h.received["diag"][-1].status[0].values}

    h.wait(lambda: int(diag_values().get("outputs_total", 0)) >= 2, timeout=5)
    assert diag_values()["backend"] == "torch:cpu"


def test_disparity_topic_mode_and_mono_model(harness: Callable[..., Harness]) -> None:
    h = harness(disparity_source="topic", approximate_sync=True, slop=0.02)
    assert h.node.mode == "topic"
    left, _ = stereo_pair(1)
    stamp = h.stamp()
    disp = np.full((H // 2, W // 2), 4.0, np.float32)  # half resolution: resized, rescaled
    disp[0, 0] = 0.0  # one invalid pixel
    msg = conversions.disparity_to_msg(disp, FX, BASELINE, max_disparity=32.0, delta_d=1 / 16)
    msg.header.stamp = rclpy.time.Time(
        nanoseconds=rclpy.time.Time.from_msg(stamp).nanoseconds + 5_000_000
    ).to_msg()  # 5 ms apart: only approximate sync pairs them
    image = conversions.array_to_image(left, "rgb8")
    image.header.stamp, image.header.frame_id = stamp, "cam"
    h.disparity.publish(msg)
    h.left.publish(image)
    h.wait(lambda: all(h.received[n] for n in [*OUTPUTS, "disparity"]))
    check_outputs(h, left, stamp)
    out = h.received["disparity"][-1]
    got = messages.disparity_from_msg(out)
    assert got.disparity.shape == (H, W)
    assert (got.disparity == 0).sum() == 4  # the invalid pixel, 2x2 after upsampling
    np.testing.assert_allclose(got.disparity[got.disparity > 0], 8.0)
    # f scales with the values, so depth f*t/d is what was received: FX*B/4
    assert out.f == pytest.approx(2 * FX)
    assert out.t == pytest.approx(BASELINE)
    assert out.f * out.t / 8.0 == pytest.approx(FX * BASELINE / 4.0)
    assert (out.min_disparity, out.max_disparity) == pytest.approx((0.0, 64.0))
    mono = harness("ldn_tiny")
    assert mono.node.mode == "mono"
    assert mono.node.input_topics == ["left/image_rect"]


def test_compressed_inputs(harness: Callable[..., Harness]) -> None:
    h = harness(compressed=True)
    assert h.node.input_topics == ["left/image_rect/compressed", "right/image_rect/compressed"]
    left, right = stereo_pair(4)
    stamp = h.stamp()
    h.publish_pair(left, right, stamp)
    h.wait(lambda: all(h.outputs_at(stamp, n) for n in [*OUTPUTS, "disparity"]))
    check_outputs(h, left, stamp)
    values = messages.disparity_from_msg(h.received["disparity"][-1]).disparity
    assert np.median(values[values > 0]) == pytest.approx(6.0, abs=0.5)  # right decoded too


def test_compressed_inputs_decode_in_stored_orientation_and_size_first(
    harness: Callable[..., Harness],
) -> None:
    """A JPEG with an EXIF orientation tag is labelled at its stored size (it came out
    rotated, so no label ever matched the CameraInfo); a 30 KB PNG that declares 16000x16000
    is refused from its header as a counted ``huge_size`` naming the topic."""
    from encoded_images import exif_tagged, huge_png

    h = harness(compressed=True)
    stamp = h.stamp()
    h.publish_infos(camera_info(0.0, stamp), camera_info(-FX * BASELINE, stamp))
    huge = huge_png(16000, 16000)
    # one pair at a time: the newest-pair policy may drop the first if both wait
    for when, encode in ((stamp, exif_tagged), (h.stamp(0.1), None)):
        for pub, img in zip((h.left, h.right), stereo_pair(4), strict=True):
            data = encode("JPEG", img) if encode else huge
            msg = CompressedImage(format="rgb8; jpeg compressed bgr8", data=data)
            msg.header.stamp, msg.header.frame_id = when, "cam"
            pub.publish(msg)
        if encode:
            h.wait(lambda: h.outputs_at(stamp))
    h.wait(lambda: h.node.stats.bad["huge_size"] == 1)
    labels = h.outputs_at(stamp)[-1]
    assert (labels.width, labels.height) == (W, H)
    assert len(h.received["labels"]) == 1
    assert dict(h.node.stats.bad) == {"huge_size": 1}


@pytest.mark.parametrize("backlog", [1, 3, 30])
def test_pairs_before_camera_info_wait_for_it(
    harness: Callable[..., Harness], backlog: int
) -> None:
    """A bag or a driver often sends the first images before the infos: up to
    ``calibration_backlog`` pairs wait and come out in order; older ones are counted."""
    h = harness(calibration_backlog=backlog)
    left, right = stereo_pair(5)
    stamps = [h.stamp(0.05 * i) for i in range(4)]
    for i, stamp in enumerate(stamps):
        h.publish_images(left, right, stamp)
        h.processed(i + 1)  # taken by the worker and held
    assert not h.received["labels"]
    skipped = max(0, len(stamps) - backlog)
    assert h.node.stats.bad["missing_camera_info"] == skipped
    h.publish_infos(camera_info(0.0, stamps[-1]), camera_info(-FX * BASELINE, stamps[-1]))
    kept = stamps[skipped:]
    h.wait(lambda: all(h.outputs_at(t, n) for t in kept for n in [*OUTPUTS, "disparity"]))
    check_outputs(h, left, stamps[-1])
    assert all(not h.outputs_at(t) for t in stamps[:skipped])
    order = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in h.received["labels"]]
    assert order == [(t.sec, t.nanosec) for t in kept]
    assert h.node._pending is None


def test_bad_input_never_kills_the_node(harness: Callable[..., Harness]) -> None:
    h = harness(max_stamp_age=30.0, calibration_backlog=1)
    left, right = stereo_pair(2)

    def image(pixels: np.ndarray, stamp: Any, **fields: Any) -> Image:
        msg = conversions.array_to_image(pixels, "rgb8")
        msg.header.stamp, msg.header.frame_id = stamp, "cam"
        for key, value in fields.items():
            setattr(msg, key, value)
        return msg

    def pair(left_msg: Image, right_msg: Image, infos: bool = True, fx: float = FX) -> None:
        stamp = left_msg.header.stamp
        done = h.node.stats.processed + 1
        if infos:
            done += len(h.node._gate.waiting)  # released by the infos
            good = camera_info(0.0, stamp)
            good.p[0] = fx
            h.publish_infos(good, camera_info(-FX * BASELINE, stamp))
        h.left.publish(left_msg)
        h.right.publish(right_msg)
        h.processed(done)  # the worker takes each pair alone

    s = h.stamp
    # no CameraInfo yet: the older of two pairs is skipped, the newer one waits for them
    for _ in range(2):
        stamp = s()
        pair(image(left, stamp), image(right, stamp), infos=False)
    bad_pairs = [
        ("bad_data_length", lambda t: (image(left, t, data=bytes(100)), image(right, t))),
        ("bad_step", lambda t: (image(left, t, step=10), image(right, t))),
        ("zero_size", lambda t: (image(left, t, width=0, step=0, data=b""), image(right, t))),
        ("huge_size", lambda t: (image(left, t, width=70000, height=70000), image(right, t))),
        ("unsupported_encoding", lambda t: (image(left, t, encoding="yuv422"), image(right, t))),
        ("unsupported_encoding", lambda t: (image(left, t), image(right, t, encoding="32FC1"))),
        ("size_mismatch", lambda t: (image(left, t), image(right[:, :64].copy(), t))),
        ("bad_step", lambda t: (image(left, t), image(right, t, step=W))),
    ]
    for i, (_, make) in enumerate(bad_pairs):
        pair(*make(s()))
        if i == 0:  # the infos came: the held pair went out; forget it for what follows
            h.wait(lambda: all(h.outputs_at(stamp, n) for n in OUTPUTS))
            h.received.clear()
    stamp = s()
    pair(image(left, stamp), image(right, stamp), fx=0.0)  # degenerate CameraInfo
    h.left.publish(image(left, s(3600.0)))  # from the future
    h.left.publish(image(left, s(-3600.0)))  # from the far past
    h.wait(lambda: h.node.stats.bad["stamp_future"] and h.node.stats.bad["stamp_too_old"])
    assert not any(h.received[n] for n in OUTPUTS)

    # disparity-topic mode (a second node on the same output topics): NaN/inf pixels
    # (used, as invalid), f = 0, a wrong encoding
    t = harness(disparity_source="topic", max_stamp_age=30.0)

    def disparity_set(stamp: Any, disp: np.ndarray, f: float = FX, enc: str = "32FC1") -> None:
        msg = conversions.disparity_to_msg(
            np.full((H, W), 6.0, np.float32), f, BASELINE, delta_d=1 / 16
        )
        msg.header.stamp = msg.image.header.stamp = stamp
        msg.image.data = disp.astype(np.float32).tobytes()
        msg.image.encoding = enc
        done = t.node.stats.processed + 1
        t.disparity.publish(msg)
        t.left.publish(image(left, stamp))
        t.processed(done)

    nonfinite = np.full((H, W), 6.0, np.float32)
    nonfinite[:4], nonfinite[-4:] = np.nan, np.inf
    disparity_set(s(), nonfinite)
    disparity_set(s(), np.full((H, W), 6.0), f=0.0)
    disparity_set(s(), np.full((H, W), 6.0), enc="16UC1")
    for shape in ((3, 7), (H // 4, W)):  # another aspect: never stretched onto the image
        msg = conversions.disparity_to_msg(
            np.full(shape, 6.0, np.float32), FX, BASELINE, delta_d=1 / 16
        )
        stamp = s()
        msg.header.stamp = stamp
        done = t.node.stats.processed + 1
        t.disparity.publish(msg)
        t.left.publish(image(left, stamp))
        t.processed(done)

    kinds = {k for k, _ in bad_pairs} | {"bad_camera_info", "stamp_future", "stamp_too_old"}
    kinds |= {"missing_camera_info"}
    topic_kinds = {"nonfinite_disparity", "bad_calibration", "unsupported_encoding"}
    topic_kinds |= {"disparity_size"}
    assert len(kinds | topic_kinds) >= 10
    for node_stats, expected in ((h.node.stats.bad, kinds), (t.node.stats.bad, topic_kinds)):
        for kind in expected:
            assert node_stats[kind] >= 1, (kind, sorted(node_stats.items()))
    assert h.node._worker.is_alive()
    assert t.node._worker.is_alive()
    # good input still comes out right from both nodes
    stamp = s()
    pair(image(left, stamp), image(right, stamp))
    h.wait(lambda: all(h.outputs_at(stamp, n) for n in OUTPUTS))
    check_outputs(h, left, stamp)
    stamp = s()
    disparity_set(stamp, np.full((H, W), 6.0))
    t.wait(lambda: all(t.outputs_at(stamp, n) for n in [*OUTPUTS, "disparity"]))
    check_outputs(t, left, stamp)
    got = messages.disparity_from_msg(t.outputs_at(stamp, "disparity")[-1])
    np.testing.assert_array_equal(got.disparity, 6.0)
    assert got.focal == pytest.approx(FX)


def test_newest_pair_policy_never_queues(harness: Callable[..., Harness]) -> None:
    h = harness(approximate_sync=True, slop=0.005, queue_size=3)
    left, right = stereo_pair(3)
    stamp = h.stamp()
    h.publish_pair(left, right, stamp)  # warm-up: the first inference is several times slower
    h.wait(lambda: all(h.outputs_at(stamp, n) for n in [*OUTPUTS, "disparity"]))
    h.received.clear()
    h.node.stats.snapshot()  # start the measured period here
    replaced = h.node._slot.replaced
    stamps = []
    for _ in range(40):  # far faster than inference
        stamps.append(h.stamp())
        h.publish_images(left, right, stamps[-1])
    last = stamps[-1]
    h.wait(lambda: bool(h.outputs_at(last)))
    outputs = len(h.received["labels"])
    assert outputs < len(stamps)
    snap = h.node.stats.snapshot(h.node._sync.stats.dropped)
    assert snap.dropped_pairs == h.node._slot.replaced > replaced  # pairs, not sync messages
    assert snap.sync_dropped_messages == h.node._sync.stats.dropped
    # Newest-pair, counted rather than timed (latency figures: bench/pipeline.py): every
    # pair that reached the worker's mailbox was either processed or replaced by a newer
    # one, so at most one ever waited; a FIFO would replace none and process all 40.
    stats = h.node.stats
    h.wait(lambda: stats.inputs == stats.processed + stats.dropped)
    # outputs are strictly newer than one another: nothing queued up and came out late
    keys = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in h.received["labels"]]
    assert keys == sorted(set(keys))


@pytest.mark.parametrize("value", ["queue_size:=0", "queue_size:=abc", "sgbm_block_size:=4"])
def test_bad_parameter_exits_2_with_one_line(value: str) -> None:
    """rclpy's own range/type checks and ours end the same way: one line, exit code 2."""
    run = subprocess.run(
        [sys.executable, "-m", "ladderseg_ros.ros.node", "--ros-args", "-p", value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert value.split(":=")[0] in lines[0], lines


def diagnostics(h: Harness) -> tuple[int, str, dict[str, str]]:
    """The newest /diagnostics status: level, message, values."""
    status = h.received["diag"][-1].status[0]
    return (
        int.from_bytes(status.level, "little")
        if isinstance(status.level, bytes)
        else int(status.level),
        status.message,
        {kv.key: kv.value for kv in status.values},
    )


def test_stamps_that_never_pair_raise_a_warning_with_the_remedy(
    harness: Callable[..., Harness],
) -> None:
    """Exact sync with the right image 3 ms after the left: WARN naming the offset and
    approximate_sync; then a missing CameraInfo names the topic."""
    h = harness(diagnostics_period=0.2)
    left, right = stereo_pair(6)
    for i in range(3):
        stamp = h.stamp(0.1 * i)
        later = rclpy.time.Time(
            nanoseconds=rclpy.time.Time.from_msg(stamp).nanoseconds + 3_000_000
        ).to_msg()
        h.left.publish(_stamped(left, stamp))
        h.right.publish(_stamped(right, later))
    h.wait(lambda: h.received["diag"] and "approximate_sync" in diagnostics(h)[1])
    level, message, _ = diagnostics(h)
    assert level == 1  # WARN
    assert "3.000 ms" in message
    assert "slop >= 0.0030" in message
    assert not h.received["labels"]
    # pairs now form (equal stamps) but no CameraInfo ever came
    for i in range(2):
        stamp = h.stamp(1.0 + 0.1 * i)
        h.left.publish(_stamped(left, stamp))
        h.right.publish(_stamped(right, stamp))
    h.wait(lambda: "camera_info" in diagnostics(h)[1])
    level, message, _ = diagnostics(h)
    assert level == 1
    assert "left/camera_info and right/camera_info" in message


def _stamped(pixels: np.ndarray, stamp: Any) -> Image:
    msg = conversions.array_to_image(pixels, "rgb8")
    msg.header.stamp, msg.header.frame_id = stamp, "cam"
    return msg


def test_diagnostics_run_on_wall_time(harness: Callable[..., Harness]) -> None:
    """use_sim_time with no /clock: /diagnostics still comes, and counts the output."""
    h = harness(use_sim_time=True, diagnostics_period=0.2)
    left, right = stereo_pair(7)
    stamp = h.stamp()
    h.publish_pair(left, right, stamp)
    h.wait(lambda: h.outputs_at(stamp))
    h.wait(lambda: h.received["diag"] and diagnostics(h)[2]["outputs_total"] == "1")


def test_a_stamp_of_zero_does_not_poison_latency(harness: Callable[..., Harness]) -> None:
    """Stamp 0 on wall time was a latency of 1.8e12 ms: it is counted as an outlier."""
    h = harness(diagnostics_period=0.2)
    left, right = stereo_pair(7)
    zero = rclpy.time.Time(nanoseconds=0).to_msg()
    h.publish_pair(left, right, zero)
    h.wait(lambda: h.outputs_at(zero))
    stamp = h.stamp()
    h.publish_pair(left, right, stamp)
    h.wait(lambda: h.outputs_at(stamp))

    def second_output() -> dict[str, str]:  # the period that counted the second output
        for array in h.received["diag"]:
            values = {kv.key: kv.value for kv in array.status[0].values}
            if values["outputs_total"] == "2":
                return values
        return {}

    h.wait(lambda: bool(second_output()))
    values = second_output()
    assert values["latency_outliers"] == "1"
    assert 0.0 < float(values["latency_max_ms"]) < 60_000.0


@pytest.mark.parametrize("size", [(16, 16), (64, 48), (100, 75), (127, 96), (128, 96)])
def test_small_images_are_segmented(harness: Callable[..., Harness], size) -> None:
    """A 127x96 pair with 128 disparities crashed the node; every width <= 128 failed."""
    width, height = size
    h = harness(sgbm_num_disparities=128)
    rng = np.random.default_rng(8)
    left = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    right = np.roll(left, -3, axis=1)
    stamp = h.stamp()
    info_l, info_r = camera_info(0.0, stamp), camera_info(-FX * BASELINE, stamp)
    for info in (info_l, info_r):
        info.width, info.height = width, height
    h.publish_infos(info_l, info_r)
    h.publish_images(left, right, stamp)
    h.wait(lambda: h.outputs_at(stamp) and h.outputs_at(stamp, "disparity"))
    labels = h.outputs_at(stamp)[-1]
    assert (labels.width, labels.height) == (width, height)
    assert not h.node.stats.bad
    disp = h.outputs_at(stamp, "disparity")[-1]
    assert disp.max_disparity == max(0, (width - 3) // 16 * 16)  # the range that fit


def test_differing_principal_points_give_true_disparity(harness: Callable[..., Harness]) -> None:
    """Right cx 8 px less than the left's: the published disparity satisfies Z = f*B/d."""
    h = harness()
    left, right = stereo_pair(9, shift=14)  # x_l - x_r = 14 = d + (cx_l - cx_r)
    stamp = h.stamp()
    info_r = camera_info(-FX * BASELINE, stamp)
    info_r.p[2] = W / 2 - 8
    h.publish_infos(camera_info(0.0, stamp), info_r)
    h.publish_images(left, right, stamp)
    h.wait(lambda: h.outputs_at(stamp, "disparity"))
    values = messages.disparity_from_msg(h.outputs_at(stamp, "disparity")[-1]).disparity
    assert np.median(values[values > 0]) == pytest.approx(6.0, abs=0.5)


@pytest.mark.parametrize("frames", [1, 5])
def test_a_looping_short_bag_is_segmented_every_loop(
    harness: Callable[..., Harness], frames: int
) -> None:
    """``replay --loop`` of a 5-frame (0.4 s) bag gave 5 labels, then silence: every
    backwards jump restarts the pairing, whatever its size."""
    h = harness(approximate_sync=True, slop=0.005)
    left, right = stereo_pair(10)
    stamps = [h.stamp(0.08 * i) for i in range(frames)]
    h.publish_infos(camera_info(0.0, stamps[0]), camera_info(-FX * BASELINE, stamps[0]))
    for loop in range(3):
        for i, stamp in enumerate(stamps):
            h.publish_images(left, right, stamp)
            h.processed(loop * frames + i + 1)  # one pair at a time: none replaced
    h.wait(lambda: len(h.received["labels"]) == 3 * frames)
    assert h.node._sync.stats.resets == 2


def test_incompatible_qos_is_named_with_the_remedy(harness: Callable[..., Harness]) -> None:
    """input_qos reliable and a best-effort camera: nothing can be received; the node says
    which topic and what to set, and /diagnostics warns."""
    from rclpy.qos import qos_profile_sensor_data

    h = harness(input_qos="reliable", diagnostics_period=0.2)
    camera = h.tester.create_publisher(Image, "left/image_rect", qos_profile_sensor_data)
    left, _ = stereo_pair(11)
    camera.publish(_stamped(left, h.stamp()))
    h.wait(lambda: h.received["diag"] and "incompatible" in diagnostics(h)[1])
    level, message, _ = diagnostics(h)
    assert level == 1
    assert "left/image_rect" in message
    assert "input_qos:=sensor_data" in message


@pytest.mark.parametrize(
    ("output_qos", "requested", "policy", "remedy"),
    [
        ("reliable", "transient_local", "DURABILITY", "change the subscriber's QoS"),
        ("sensor_data", "reliable", "RELIABILITY", "set output_qos:=reliable"),
    ],
)
def test_a_subscriber_with_incompatible_qos_on_an_output_is_named_in_the_log(
    ros: None, weights: dict[str, Path], output_qos: str, requested: str, policy: str, remedy: str
) -> None:
    """A subscriber that can receive nothing from ~/labels (it asks transient-local durability
    of a volatile output, or reliable delivery of a best-effort one): the node's log names the
    topic, the policy and what to change."""
    from rcl_interfaces.msg import Log

    node = LadderSegNode(
        parameter_overrides=[
            Parameter("weights", value=str(weights["ldn_tiny_ss"])),
            Parameter("backend", value="torch"),
            Parameter("output_qos", value=output_qos),
        ]
    )
    tester = rclpy.create_node("qos_tester")
    lines: list[str] = []
    ours = node.get_logger().name

    def record(log: Log) -> None:
        if log.name == ours:  # the tester's own subscription logs the incompatibility too
            lines.append(log.msg)

    # /rosout keeps its history (transient local): a line logged before this subscription
    # matched still arrives
    history = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    tester.create_subscription(Log, "/rosout", record, history)
    qos = QoSProfile(depth=1)
    if requested == "transient_local":
        qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
    else:
        qos.reliability = ReliabilityPolicy.RELIABLE
    tester.create_subscription(Image, "/ladderseg/labels", lambda m: None, qos)
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    executor.add_node(tester)
    spinner = Spinner(executor)
    try:
        spin_until(
            lambda: any("/ladderseg/labels" in line for line in lines),
            what="the node's line on the incompatible subscriber",
        )
        line = next(line for line in lines if "/ladderseg/labels" in line)
        assert "incompatible" in line
        assert policy in line
        assert remedy in line
    finally:
        spinner.stop()
        node.destroy_node()
        tester.destroy_node()


def test_a_slop_above_half_the_frame_period_is_warned_and_a_lost_image_shifts_nothing(
    harness: Callable[..., Harness],
) -> None:
    """25 Hz, slop 50 ms, the left image of the third frame lost: the node pairs every later
    frame with its own right image, and warns once that the slop exceeds half the period."""
    h = harness(approximate_sync=True, slop=0.05, diagnostics_period=0.1)
    paired: list[tuple[int, int]] = []  # (left, right) stamps as the node pairs them
    deliver = h.node._sync._callback

    def record(*msgs: Any) -> None:
        paired.append(tuple(messages.header_ns(m) for m in msgs))
        deliver(*msgs)

    h.node._sync._callback = record
    left, right = stereo_pair(12)
    stamps = [h.stamp(0.04 * k) for k in range(6)]
    h.publish_infos(camera_info(0.0, stamps[0]), camera_info(-FX * BASELINE, stamps[0]))
    offset = 3_000_000  # the right camera 3 ms late
    for k, stamp in enumerate(stamps):
        later = rclpy.time.Time(nanoseconds=rclpy.time.Time.from_msg(stamp).nanoseconds + offset)
        if k != 2:
            h.left.publish(_stamped(left, stamp))
        h.right.publish(_stamped(right, later.to_msg()))
        h.wait(lambda k=k: h.node._sync.stats.received[1] == k + 1)
    sync = h.node._sync.stats
    h.wait(lambda: sync.emitted >= 4)  # the last pair may wait for proof it is the nearest
    h.wait(lambda: "slop" in h.node._last_warn)
    assert len(paired) in (4, 5)
    assert all(r - l_ == offset for l_, r in paired), paired
    assert h.node.stats.bad == {}
    warning = h.node._sync.slop_warning(h.node.input_topics)
    assert warning.startswith("slop 0.05 s is more than half the frame period measured on")


def test_a_plain_node_given_its_camera_warms_up_before_subscribing(
    ros: None, trained_ss_weights: Path, one_thread_faster: None
) -> None:
    """With ``warmup_width``/``warmup_height``/``warmup_fx`` the plain node builds its camera's
    sessions at start (none without them), and that camera's frames, every output wanted, then
    build none; half a warm-up camera stops the start with one line naming both."""
    from ladderseg_ros.frames.frame import FrameGeometry, StereoFrame, Wanted
    from ladderseg_ros.ros.params import ParamError

    def make(**params: Any) -> LadderSegNode:
        values = {
            "weights": str(trained_ss_weights),
            "backend": "onnxruntime",
            "device": "cpu",
            "sgbm_num_disparities": 16,
            **params,
        }
        return LadderSegNode(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])

    cold = make()
    assert cold.segmenter.backend.session_threads() == {}
    cold.destroy_node()

    node = make(warmup_width=W, warmup_height=H, warmup_fx=FX)
    backend = node.segmenter.backend
    sessions = backend.session_threads()
    assert sessions
    assert not backend.trying_threads
    left, right = stereo_pair()
    frame = StereoFrame(left, right, geometry=FrameGeometry(focal=FX, baseline=BASELINE))
    for wanted in (Wanted(disparity=False, confidence=False), Wanted(points=True)):
        result = node.processor.process(frame, wanted)
        assert result.outputs.labels.shape == (H, W)
        assert backend.session_threads() == sessions
    node.destroy_node()

    with pytest.raises(ParamError, match=f"warmup_width {W} and warmup_height 0: give both"):
        make(warmup_width=W)


TOPIC_CAMERA = {"disparity_source": "topic", "warmup_width": W, "warmup_height": H}


@pytest.mark.parametrize(
    ("params", "line"),
    [
        ({"warmup_fx": FX}, f"warmup_fx {FX:g} without warmup_width and warmup_height"),
        (
            {"warmup_width": W, "warmup_height": H, "max_image_pixels": W * H - 1},
            f"warmup_width {W} x warmup_height {H} exceeds max_image_pixels={W * H - 1}",
        ),
        (
            {"warmup_width": W, "warmup_height": H, "warmup_fx": 1.0},
            "warmup_fx 1 px is implausible: a 177.6 degree field of view over 96 px",
        ),
        (
            {"warmup_disparity_width": W // 2, "warmup_disparity_height": H // 2},
            f"warmup_disparity_width {W // 2} without warmup_width and warmup_height",
        ),
        (
            {"warmup_disparity_height": H // 2},
            f"warmup_disparity_width 0 and warmup_disparity_height {H // 2}: give both",
        ),
        (
            {**TOPIC_CAMERA, "warmup_disparity_width": W, "warmup_disparity_height": H // 2},
            f"warmup_disparity_width {W} x warmup_disparity_height {H // 2} does not have the "
            f"aspect of the camera {W}x{H}",
        ),
        (
            {
                **TOPIC_CAMERA,
                "warmup_disparity_width": 2 * W,
                "warmup_disparity_height": 2 * H,
                "max_image_pixels": 4 * W * H - 1,
            },
            f"warmup_disparity_width {2 * W} x warmup_disparity_height {2 * H} exceeds "
            f"max_image_pixels={4 * W * H - 1}",
        ),
    ],
    ids=[
        "fx-alone",
        "over-max-image-pixels",
        "implausible-fx",
        "disparity-alone",
        "half-a-disparity",
        "disparity-aspect-at-image-width",
        "disparity-over-max-image-pixels",
    ],
)
def test_a_warmup_camera_the_live_path_would_refuse_stops_the_start(
    ros: None, trained_ss_weights: Path, params: dict[str, Any], line: str
) -> None:
    """A warm-up camera whose frames the node would reject (more pixels than
    ``max_image_pixels``, an fx ``left/camera_info`` would be refused for), or an fx with no
    camera size, stops the start with one line naming it, before any session is built; so
    do a disparity size alone or half of one (no camera given: the plain node warmed nothing
    up and said nothing), and a received disparity the node would refuse: another aspect
    than the camera's at any size (one as wide as the image was let through) or more pixels
    than ``max_image_pixels``."""
    from ladderseg_ros.ros.params import ParamError

    values = {"weights": str(trained_ss_weights), "backend": "onnxruntime", "device": "cpu"}
    overrides = [Parameter(k, value=v) for k, v in {**values, **params}.items()]
    with pytest.raises(ParamError, match=line):
        LadderSegNode(parameter_overrides=overrides)


@pytest.mark.parametrize("camera", [(W, H, FX), (2 * W, 2 * H, FX)], ids=["same", "other"])
def test_a_first_frame_not_of_the_warmup_camera_is_one_warning(
    ros: None, trained_ss_weights: Path, camera: tuple[int, int, float], capfd
) -> None:
    """Warmed up for another camera than the one that sends, the node says so once, naming
    the frame and the parameters (its sessions are built at that frame); for the camera
    that sends, nothing."""
    width, height, fx = camera
    h = Harness(trained_ss_weights, warmup_width=width, warmup_height=height, warmup_fx=fx)
    try:
        left, right = stereo_pair()
        for n in (1, 2):
            stamp = h.stamp()
            h.publish_pair(left, right, stamp)
            h.wait(lambda s=stamp: bool(h.outputs_at(s)))
            h.processed(n)
    finally:
        h.close()
    lines = [x for x in capfd.readouterr().err.splitlines() if "warmed up" in x]
    if camera == (W, H, FX):
        assert lines == []
    else:
        (line,) = lines
        assert (
            f"the first frame, {W}x{H} at fx {FX:g}, is not the camera warmed up for "
            f"(warmup_width {width}, warmup_height {height}, warmup_fx {fx:g})"
        ) in line


@pytest.mark.parametrize(
    ("camera", "warmed", "sent", "warned"),
    [
        ((W, H, FX), (W // 2, H // 2), (W // 2, H // 2), False),
        ((W, H, FX), None, (W // 2, H // 2), True),
        ((4 * W, 4 * H, 4 * FX), None, (3 * W, 3 * H), False),
        ((4 * W, 4 * H, 4 * FX), None, (W, H), True),
    ],
    ids=["warmed-up", "image-size", "both-sampled", "read-as-it-is"],
)
def test_a_first_received_disparity_not_of_the_warmup_size_is_one_warning(
    ros: None,
    trained_ss_weights: Path,
    camera: tuple[int, int, float],
    warmed: tuple[int, int] | None,
    sent: tuple[int, int],
    warned: bool,
    capfd,
) -> None:
    """``disparity_source`` topic, a matcher below the image's size: the node says once that
    the first frame's disparity is not the one warmed up for (``warmup_disparity_width``/
    ``_height``, else the image's) when the network reads it at another size; not when it is
    that size, or when both are sampled at the network's size (larger than it each way)."""
    width, height, fx = camera
    warmup = {"warmup_width": width, "warmup_height": height, "warmup_fx": fx}
    if warmed is not None:
        warmup |= {"warmup_disparity_width": warmed[0], "warmup_disparity_height": warmed[1]}
    h = Harness(trained_ss_weights, disparity_source="topic", **warmup)
    try:
        network = h.node.segmenter.network_size(width, height, fx)
        sampled = all(n < s for n, s in zip(network, sent, strict=True))
        assert sampled == (sent == (3 * W, 3 * H))  # the case the network samples
        left = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
        image = conversions.array_to_image(left, "rgb8")
        disparity = np.full(sent[::-1], 4.0, np.float32)
        ratio = sent[0] / width
        for n in (1, 2):
            stamp = h.stamp()
            msg = conversions.disparity_to_msg(
                disparity, fx * ratio, BASELINE, max_disparity=16.0, delta_d=1 / 32
            )
            msg.header.stamp = image.header.stamp = stamp
            h.disparity.publish(msg)
            h.left.publish(image)
            h.wait(lambda s=stamp: bool(h.outputs_at(s)))
            h.processed(n)
        assert h.node.stats.bad == {}
    finally:
        h.close()
    lines = [x for x in capfd.readouterr().err.splitlines() if "warmed up" in x]
    if not warned:
        assert lines == []
    else:
        (line,) = lines
        assert (
            f"the first frame's disparity, {sent[0]}x{sent[1]}, is not the one warmed up for "
            "(warmup_disparity_width/height: the image)"
        ) in line


def test_a_received_disparity_of_the_image_size_after_a_smaller_warmup_is_no_warning(
    ros: None, trained_ss_weights: Path, one_thread_faster: None, capfd
) -> None:
    """Warmed up for a half-size DisparityImage, live maps of the image's size (the network,
    64x64, not smaller each way, reads them as they are) build no session -- the warm-up
    built the image-size map's for the disparity and points outputs -- and nothing is said
    (it warned that their sessions were built on live frames)."""
    h = Harness(
        trained_ss_weights,
        backend="onnxruntime",
        device="cpu",
        disparity_source="topic",
        warmup_width=W,
        warmup_height=H,
        warmup_fx=FX,
        warmup_disparity_width=W // 2,
        warmup_disparity_height=H // 2,
    )
    try:
        backend = h.node.segmenter.backend
        sessions = backend.session_threads()
        assert h.node.segmenter.network_size(W, H, FX) == (64, 64)
        left, _ = stereo_pair()
        image = conversions.array_to_image(left, "rgb8")
        stamp = h.stamp()
        msg = conversions.disparity_to_msg(
            np.full((H, W), 4.0, np.float32), FX, BASELINE, max_disparity=32.0, delta_d=1 / 16
        )
        msg.header.stamp = image.header.stamp = stamp
        h.disparity.publish(msg)
        h.left.publish(image)
        h.wait(lambda: bool(h.outputs_at(stamp)))
        h.processed(1)
        assert h.node.stats.bad == {}
        assert backend.session_threads() == sessions
    finally:
        h.close()
    assert [x for x in capfd.readouterr().err.splitlines() if "warmed up" in x] == []


def test_a_warmup_disparity_the_node_never_receives_is_one_warning(
    ros: None, trained_ss_weights: Path, capfd
) -> None:
    """``warmup_disparity_width``/``_height`` where the node computes its disparity: one line
    saying they are unused, and the node runs."""
    h = Harness(
        trained_ss_weights,
        warmup_width=W,
        warmup_height=H,
        warmup_disparity_width=W // 2,
        warmup_disparity_height=H // 2,
    )
    try:
        assert h.node.mode == "compute"
        left, right = stereo_pair()
        stamp = h.stamp()
        h.publish_pair(left, right, stamp)
        h.wait(lambda: bool(h.outputs_at(stamp)))
    finally:
        h.close()
    lines = [x for x in capfd.readouterr().err.splitlines() if "warmup_disparity_width" in x]
    (line,) = lines
    assert (
        f"warmup_disparity_width {W // 2} and warmup_disparity_height {H // 2} unused: the node "
        "receives no DisparityImage"
    ) in line


def test_a_running_node_keeps_what_loading_made_out_of_the_collectors_reach(
    ros: None, weights: dict[str, Path]
) -> None:
    """While the node runs, the objects tracked at its start are frozen (``gc.freeze``): a full
    collection between frames scans what was made since, not torch, ONNX Runtime and rclpy;
    destroyed, it unfreezes them."""
    import gc

    tracked = len(gc.get_objects())
    h = Harness(weights["ldn_tiny_ss"])
    try:
        assert gc.get_freeze_count() >= tracked
        left, right = stereo_pair()
        stamp = h.stamp()
        h.publish_pair(left, right, stamp)
        h.wait(lambda: bool(h.outputs_at(stamp)))
        assert len(gc.get_objects()) < gc.get_freeze_count() / 10  # a full collection's scope
    finally:
        h.close()
    assert gc.get_freeze_count() == 0
