"""Bag replay into live topics: timing, rate, start offset, loop, bytes as stored.

A real rclpy subscriber listens on loopback in this process's private domain (conftest).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from waiting import Spinner, spin_until

from ladderseg_ros.io import bags
from ladderseg_ros.io.bags import BagError
from ladderseg_ros.ros.replay import BagReplayer, ReplayConfig, ReplayError, replay_bag

PERIOD_NS = 100_000_000  # 10 Hz
START_NS = 1_600_000_000 * 10**9
FRAMES = 6


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "bag"
    p_left, p_right = bags.stereo_projections(50.0, 50.0, 8.0, 4.0, 0.5)
    rng = np.random.default_rng(0)
    frames = (
        bags.StereoBagFrame(
            stamp=START_NS + i * PERIOD_NS,
            left=rng.integers(0, 256, (8, 16, 3), dtype=np.uint8),
            p_left=p_left,
            right=rng.integers(0, 256, (8, 16, 3), dtype=np.uint8),
            p_right=p_right,
        )
        for i in range(FRAMES)
    )
    bags.write_stereo_bag(path, frames)
    return path


class Listener:
    """Subscribes to the left image and info; records (arrival monotonic s, message)."""

    def __init__(self, context: Context) -> None:
        self.node = Node("replay_listener", context=context)
        self.images: list[tuple[float, Image]] = []
        self.infos: list[CameraInfo] = []
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(
            Image, bags.TOPIC_LEFT_IMAGE, lambda m: self.images.append((time.monotonic(), m)), qos
        )
        self.node.create_subscription(CameraInfo, bags.TOPIC_LEFT_INFO, self.infos.append, qos)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.spinner = Spinner(self.executor)

    def stamps(self) -> list[int]:
        return [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in self.images]

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        spin_until(lambda: len(self.images) >= count, timeout, f"{count} left images")


@pytest.fixture
def ros() -> Iterator[tuple[Context, Node, Listener]]:
    context = Context()
    rclpy.init(context=context)
    listener = Listener(context)
    publisher_node = Node("replay_under_test", context=context)
    try:
        yield context, publisher_node, listener
    finally:
        listener.spinner.stop()
        publisher_node.destroy_node()
        listener.node.destroy_node()
        rclpy.shutdown(context=context)


def test_replay_keeps_timing_and_bytes(bag: Path, ros: tuple[Context, Node, Listener]) -> None:
    _, node, listener = ros
    config = ReplayConfig(rate=2.0, wait_for_subscribers=5.0)
    replayer = BagReplayer(node, bag, config)
    published: list[float] = []
    stats = replayer.run(
        on_message=lambda m: (
            published.append(time.monotonic()) if m.topic == bags.TOPIC_LEFT_IMAGE else None
        )
    )
    listener.wait_for(FRAMES)

    assert stats.published == FRAMES * 4
    assert stats.loops == 1
    assert listener.stamps() == [START_NS + i * PERIOD_NS for i in range(FRAMES)]
    # Arrival times on a shared 2-core machine: the spacing is 0.05 s at rate 2, give or take
    # scheduling; a replay ignoring the timing would deliver all six within a few ms.
    # The first sample may wait for the reader's side of discovery, so spans start at the 2nd.
    expected_gap = PERIOD_NS / 1e9 / config.rate
    sent = np.array(published) - published[0]
    np.testing.assert_allclose(sent, np.arange(FRAMES) * expected_gap, atol=0.03)
    arrivals = np.array([t for t, _ in listener.images])
    assert np.median(np.diff(arrivals)) == pytest.approx(expected_gap, abs=0.015)
    assert arrivals[-1] - arrivals[1] == pytest.approx((FRAMES - 2) * expected_gap, abs=0.05)
    assert stats.max_lateness < 0.1

    with bags.BagReader(bag) as reader:
        first = next(reader.messages([bags.TOPIC_LEFT_IMAGE]))
    stored = bags.typestore().deserialize_cdr(first.data, first.msgtype)
    received = listener.images[0][1]
    assert received.header.frame_id == bags.LEFT_FRAME_ID
    np.testing.assert_array_equal(np.asarray(received.data, np.uint8), stored.data)
    assert list(listener.infos[0].p) == list(stored_info_p(bag))


def stored_info_p(bag: Path) -> np.ndarray:
    with bags.BagReader(bag) as reader:
        msg = next(reader.messages([bags.TOPIC_LEFT_INFO]))
    return bags.typestore().deserialize_cdr(msg.data, msg.msgtype).p


def test_start_offset_and_topic_selection(bag: Path, ros: tuple[Context, Node, Listener]) -> None:
    _, node, listener = ros
    config = ReplayConfig(
        rate=4.0, start_offset=0.3, topics=(bags.TOPIC_LEFT_IMAGE,), wait_for_subscribers=5.0
    )
    replayer = BagReplayer(node, bag, config)
    assert list(replayer.publishers) == [bags.TOPIC_LEFT_IMAGE]
    stats = replayer.run()
    listener.wait_for(FRAMES - 3)
    assert stats.published == FRAMES - 3
    assert listener.stamps() == [START_NS + i * PERIOD_NS for i in range(3, FRAMES)]
    assert listener.infos == []


@pytest.mark.parametrize("loop", [False, True])
def test_a_start_offset_past_the_end_is_refused(
    bag: Path, ros: tuple[Context, Node, Listener], loop: bool
) -> None:
    with bags.BagReader(bag) as reader:
        span = (reader.duration - 1) / 1e9  # rosbags' duration runs 1 ns past the last stamp
    node = ros[1]
    with pytest.raises(ReplayError, match=rf"past its end \(its messages span {span:.3f} s\)"):
        BagReplayer(node, bag, ReplayConfig(start_offset=span + 0.01, loop=loop))
    last = BagReplayer(node, bag, ReplayConfig(start_offset=span, topics=(bags.TOPIC_LEFT_IMAGE,)))
    assert last.run().published == 1  # the last message is at the end of the span


def test_loop_until_stopped(bag: Path, ros: tuple[Context, Node, Listener]) -> None:
    node = ros[1]
    config = ReplayConfig(rate=10.0, loop=True, topics=(bags.TOPIC_LEFT_IMAGE,))
    replayer = BagReplayer(node, bag, config)
    replayer.wait_for_subscribers()
    seen: list[int] = []

    def count(message: bags.BagMessage) -> None:
        seen.append(message.timestamp)
        if len(seen) == 2 * FRAMES + 1:
            replayer.stop()

    stats = replayer.run(on_message=count)
    assert stats.loops == 3
    assert stats.published == 2 * FRAMES + 1
    assert seen[FRAMES] == seen[0]  # the second pass starts over


def test_replay_bag_owns_rclpy_and_rejects_bad_input(bag: Path, tmp_path: Path) -> None:
    context = Context()
    stats = replay_bag(bag, ReplayConfig(rate=50.0), context=context)
    assert stats.published == FRAMES * 4
    assert not context.ok()  # it shut down what it initialised
    with pytest.raises(ReplayError, match="rate"):
        ReplayConfig(rate=0.0)
    bad = {
        "rate": (math.inf, math.nan),
        "start_offset": (-1.0, math.inf, math.nan),
        "wait_for_subscribers": (-1.0, math.inf, math.nan),
        "settle": (math.inf,),
    }
    for field, values in bad.items():
        for value in values:
            with pytest.raises(ReplayError, match="finite number"):
                ReplayConfig(**{field: value})
    broken = tmp_path / "broken"
    _copy_truncated(bag, broken)
    with pytest.raises(BagError, match=str(broken)):
        replay_bag(broken, ReplayConfig(rate=50.0), context=Context())


def _copy_truncated(src: Path, dst: Path) -> None:
    dst.mkdir()
    for path in src.iterdir():
        data = path.read_bytes()
        (dst / path.name).write_bytes(data if path.name == "metadata.yaml" else data[:2000])


def test_replay_command(bag: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ladderseg_ros.cli.main import main

    assert main(["replay", str(bag), "--rate", "50", "--topics", bags.TOPIC_LEFT_INFO]) == 0
    assert f"published {FRAMES} messages in 1 pass(es)" in capsys.readouterr().out
    assert main(["replay", str(bag.parent / "nothing")]) == 2
    assert "no bag at" in capsys.readouterr().err


@pytest.mark.parametrize("storage", bags.STORAGES)
def test_frames_replay_camera_infos_before_images(tmp_path: Path, storage: str) -> None:
    """The node needs the calibration first; a frame's messages share one bag timestamp, so
    the order written is the order replayed."""
    p_left, p_right = bags.stereo_projections(50.0, 50.0, 8.0, 4.0, 0.5)
    image = np.zeros((8, 16, 3), np.uint8)
    with bags.BagWriter(tmp_path / "bag", storage) as writer:
        for i in range(3):
            writer.write_frame(bags.StereoBagFrame(START_NS + i, image, p_left, image, p_right))
    with bags.BagReader(tmp_path / "bag") as reader:
        topics = [m.topic for m in reader.messages()]
    infos, images = {bags.TOPIC_LEFT_INFO, bags.TOPIC_RIGHT_INFO}, {bags.TOPIC_LEFT_IMAGE}
    images.add(bags.TOPIC_RIGHT_IMAGE)
    for frame in range(3):
        topics_of_frame = topics[4 * frame : 4 * frame + 4]
        assert set(topics_of_frame[:2]) == infos
        assert set(topics_of_frame[2:]) == images


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_ctrl_c_ends_a_looping_replay_as_interrupted(
    bag: Path, tmp_path: Path, inherited: str, interrupt_when_logged
) -> None:
    """A real SIGINT: rclpy shuts the context down under the publishing loop; the command
    must end with the CLI's "interrupted" (exit 130), not an RCLError traceback. "ignored":
    started as a shell's background job (SIGINT ignored at start), so Python raises no
    KeyboardInterrupt and only the context's shutdown tells the replay to stop."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "replay.log"
    argv = [sys.executable, "-m", "ladderseg_ros.cli", "replay", str(bag), "--loop", "--rate", "5"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
            preexec_fn=_ignore_sigint if inherited == "ignored" else None,
        )
    # Interrupted well inside the publishing loop.
    code, text = interrupt_when_logged(proc, log, "replaying", 30, 15)
    assert code == 130, text
    assert "ladderseg replay: interrupted" in text
    assert "Traceback" not in text
    assert "RCLError" not in text


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_context_shutdown_stops_the_replayer(bag: Path) -> None:
    """``on_shutdown``: another thread shutting the context down ends ``run`` as interrupted."""
    context = Context()
    rclpy.init(context=context)
    node = Node("replay_shutdown", context=context)
    replayer = BagReplayer(node, bag, ReplayConfig(rate=1.0, loop=True))
    timer = threading.Timer(0.3, context.shutdown)
    timer.start()
    started = time.monotonic()
    stats = replayer.run()
    timer.join()
    assert stats.interrupted
    assert stats.loops == 1
    assert time.monotonic() - started < 2.0
    node.destroy_node()


def test_a_bag_topic_rcl_refuses_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A topic name with a space (written by a tool that does not check names) was an
    InvalidTopicNameException traceback from create_publisher; now one line naming the bag
    and the topic, exit 2, and --topics replays the others."""
    from ladderseg_ros.cli.main import main

    path = tmp_path / "bag"
    p_left, _ = bags.stereo_projections(50.0, 50.0, 8.0, 4.0, 0.5)
    info = bags.camera_info_msg(p_left, 16, 8, START_NS, "left")
    with bags.BagWriter(path) as writer:
        writer.write("/stereo/left camera_info", bags.CAMERA_INFO_TYPE, info, START_NS)
        writer.write(bags.TOPIC_LEFT_INFO, bags.CAMERA_INFO_TYPE, info, START_NS)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ladderseg replay: error: {path}: topic '/stereo/left camera_info'")
    assert "(character 13: ' ')" in err
    assert len(err.splitlines()) == 1
    assert main(["replay", str(path), "--topics", bags.TOPIC_LEFT_INFO]) == 0
