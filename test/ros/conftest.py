"""rclpy isolation for the node tests: a private DDS domain per test session, loopback only."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import Spinner

from ladderseg_ros.tools.demo import claim_private_domain

# Set before rclpy initialises so that parallel test runs never hear each other: a domain in
# 1..101 that no other ladderseg process holds (0 is everyone's default; above 101 the DDS
# ports may leave the valid range), held until the process ends. test/tools/test_demo.py and
# test_segment_bag.py claim their own the same way.
DOMAIN_CLAIM = claim_private_domain()
os.environ["ROS_DOMAIN_ID"] = str(DOMAIN_CLAIM.domain)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


# ---- shared by the point cloud and lifecycle tests (test_node.py keeps its own harness, and
# uses the warm-up fixtures)


@pytest.fixture(scope="module")
def trained_ss_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scale selection trained at 64x64 at fx 100: the W x H camera (fx 100) is not its size."""
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    model = build_model("ldn_tiny_ss", num_classes=19)
    meta = WeightsMetadata.for_label_set(
        model.config, "cityscapes", input_size=(64, 64), focal_length=100.0
    )
    return save_weights(tmp_path_factory.mktemp("w") / "trained_ss.safetensors", model, meta)


@pytest.fixture
def one_thread_faster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ONNX Runtime on a (seemingly) 2-core CPU whose one-thread sessions time faster."""
    from ladderseg_ros.inference import backends

    monkeypatch.setattr(backends, "cpu_threads_default", lambda: 2)
    monkeypatch.setenv("LADDERSEG_CACHE", str(tmp_path))  # the exported graph
    real = backends.OnnxRuntimeBackend._timed_run

    def timed_run(self: Any, session: Any, names: Any, feed: Any) -> Any:
        outputs, _ = real(self, session, names, feed)
        return outputs, {1: 0.001}.get(session.get_session_options().intra_op_num_threads, 0.002)

    monkeypatch.setattr(backends.OnnxRuntimeBackend, "_timed_run", timed_run)


@pytest.fixture(scope="module")
def rclpy_context() -> Iterator[None]:
    import rclpy

    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.fixture(scope="module")
def tiny_ss_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ladderseg_ros.model import build_model
    from ladderseg_ros.weights import WeightsMetadata, save_weights

    model = build_model("ldn_tiny_ss", num_classes=19)
    meta = WeightsMetadata.for_label_set(model.config, "cityscapes")
    return save_weights(tmp_path_factory.mktemp("w") / "ldn_tiny_ss.safetensors", model, meta)


class Client:
    """A tester node spun with the node under test; records messages by topic, in order."""

    def __init__(self, node: Any) -> None:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        self.node = node
        self.tester = rclpy.create_node(f"client_{id(self)}")
        self.received: dict[str, list[Any]] = defaultdict(list)
        self._cond = threading.Condition()
        self.executor = MultiThreadedExecutor(num_threads=3)
        self.executor.add_node(node)
        self.executor.add_node(self.tester)
        # spin_once on a thread that close() stops before anything is destroyed (destroying
        # a node under executor.spin raised InvalidHandle in the spinning thread)
        self.spinner = Spinner(self.executor)

    def record(self, kind: type, topic: str, qos: Any) -> Any:
        def keep(msg: Any) -> None:
            with self._cond:
                self.received[topic].append(msg)
                self._cond.notify_all()

        return self.tester.create_subscription(kind, topic, keep, qos)

    @staticmethod
    def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Wait until a graph ``condition()`` holds (matched subscriptions, stored infos),
        checking it every 10 ms while the executor spins on its own thread."""
        tick = threading.Event()
        end = threading.Timer(timeout, tick.set)
        end.start()
        try:
            while not condition():
                if tick.wait(0.01):
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        finally:
            end.cancel()

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ``condition()`` holds; re-checked whenever a message is recorded."""
        with self._cond:
            if not self._cond.wait_for(condition, timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for messages")

    def at(self, topic: str, stamp: Any) -> list[Any]:
        key = (stamp.sec, stamp.nanosec)
        with self._cond:
            return [
                m
                for m in self.received[topic]
                if (m.header.stamp.sec, m.header.stamp.nanosec) == key
            ]

    def close(self) -> None:
        self.spinner.stop()  # the callback in flight finishes, then the executor shuts down
        self.node.destroy_node()
        self.tester.destroy_node()


@pytest.fixture
def client(rclpy_context: None) -> Iterator[Callable[[Any], Client]]:
    made: list[Client] = []

    def make(node: Any) -> Client:
        made.append(Client(node))
        return made[-1]

    yield make
    for c in made:
        c.close()
