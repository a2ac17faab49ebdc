"""The demo's ROS side: replay a bag into a running node and collect what it publishes.

Lives under ``ros/`` because it is the only part of the demo that needs rclpy; the demo
(``tools/demo``) starts the node as a subprocess and hands it here.

Ctrl-C: while replaying, SIGINT raises ``KeyboardInterrupt`` in the main thread, even when
the demo was started with SIGINT ignored (a shell's background job) and whichever handler
rclpy would install (none for a private context on Jazzy; one on Humble that only shuts
contexts down). A context shut down by anything else (``on_shutdown``) stops the replay and
raises ``KeyboardInterrupt`` too, so the demo always stops its node and cleans up.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Protocol

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image
from stereo_msgs.msg import DisparityImage

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.io import bags
from ladderseg_ros.io.messages import disparity_from_msg, header_ns, image_view
from ladderseg_ros.ros.replay import BagReplayer, ReplayConfig

LOG = logging.getLogger(__name__)
OUTPUT_LABELS = "/ladderseg/labels"
OUTPUT_DISPARITY = "/ladderseg/disparity"


class SessionError(LadderSegError):
    """The node did not come up, or did not answer in time."""


class NodeHandle(Protocol):
    """What the session needs of the node process (``tools.demo.NodeProcess``)."""

    log: Path

    def check_alive(self) -> None:
        """Raise when the node process has ended."""
        ...


def cdr_stamp(data: bytes) -> int:
    """Header stamp (ns) of a serialized message whose first field is a std_msgs/Header."""
    little = data[1] == 1  # CDR encapsulation: 0x0001 little endian, 0x0000 big endian
    sec, nanosec = struct.unpack_from("<iI" if little else ">iI", data, 4)
    return sec * 1_000_000_000 + nanosec


class OutputCollector:
    """Subscribes to the node's labels, disparity and diagnostics; records receipt times."""

    def __init__(self, node: Node) -> None:
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.lock = threading.Lock()
        self.labels: dict[int, tuple[float, np.ndarray]] = {}
        self.disparity: dict[int, np.ndarray] = {}
        self.processing: list[tuple[int, float]] = []  # (outputs in period, mean ms)
        self.last_diag: dict[str, str] = {}
        self.subs = [
            node.create_subscription(Image, OUTPUT_LABELS, self._on_labels, qos),
            node.create_subscription(DisparityImage, OUTPUT_DISPARITY, self._on_disparity, qos),
            node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10),
        ]

    def _on_labels(self, msg: Image) -> None:
        now = time.monotonic()
        with self.lock:
            self.labels[header_ns(msg)] = (now, np.array(image_view(msg, OUTPUT_LABELS)))

    def _on_disparity(self, msg: DisparityImage) -> None:
        with self.lock:
            self.disparity[header_ns(msg)] = disparity_from_msg(msg, OUTPUT_DISPARITY).disparity

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if "ladderseg" not in status.name:
                continue
            values = {kv.key: kv.value for kv in status.values}
            with self.lock:
                before = int(self.last_diag.get("outputs_total", 0))
                added = int(values.get("outputs_total", 0)) - before
                if added > 0:
                    self.processing.append((added, float(values["processing_mean_ms"])))
                self.last_diag = values

    def count(self) -> int:
        """Label images received so far."""
        with self.lock:
            return len(self.labels)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_interrupts() -> Iterator[None]:
    """SIGINT raises ``KeyboardInterrupt`` inside the block (main thread only).

    The previous handler (default, ignored, or another) is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_context(context: Context) -> None:
    """Raise ``KeyboardInterrupt`` once the context is shut down (rclpy's Ctrl-C handler)."""
    if not context.ok():
        raise KeyboardInterrupt


def _wait(
    condition: Callable[[], bool], timeout: float, node: NodeHandle, what: str, context: Context
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        _check_context(context)
        node.check_alive()
        if time.monotonic() > deadline:
            raise SessionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


DIAGNOSTICS_WAIT = 10.0  # s for diagnostics counting the last output (the node's: every 1 s)


def _wait_quiet(
    collector: OutputCollector,
    node: NodeHandle,
    quiet: float,
    timeout: float,
    context: Context,
    last_stamp: int | None = None,
) -> None:
    """Wait until the node has answered the replay (at most ``timeout`` s).

    With ``last_stamp`` (the last pair replayed; the node always takes the newest pair):
    done when its labels arrived and the node's diagnostics count them (or
    ``DIAGNOSTICS_WAIT`` s later). Without: done once outputs came and none came for
    ``quiet`` s and for twice the longest wait between outputs so far. A camera-size frame
    can take longer than ``quiet`` on a CPU: the wait never ends before an output.
    """
    now = time.monotonic()
    deadline = now + timeout
    last_count, last_change, longest = collector.count(), now, 0.0
    while now < deadline:
        _check_context(context)
        node.check_alive()
        if last_stamp is not None:
            with collector.lock:
                answered = last_stamp in collector.labels
                counted = int(collector.last_diag.get("outputs_total", 0)) >= len(collector.labels)
            if answered and counted:
                return
            if answered:  # the diagnostics that count it come within their period
                deadline = min(deadline, now + DIAGNOSTICS_WAIT)
        else:
            count = collector.count()
            if count != last_count:
                longest = max(longest, now - last_change)
                last_count, last_change = count, now
            elif count > 0 and now - last_change >= max(quiet, 2.0 * longest):
                return
        time.sleep(0.05)
        now = time.monotonic()


def replay_into_node(
    bag: Path,
    node_proc: NodeHandle,
    remaps: dict[str, str],
    inputs: list[str],
    rate: float,
    startup_timeout: float,
    drain_timeout: float,
) -> tuple[OutputCollector, dict[int, float]]:
    """Replay ``bag`` into the running node; returns the outputs and each input's publish time.

    Waits until the node subscribes to every input and publishes labels, replays at ``rate``,
    then waits until no output came for 2.5 s (the node finished its last pair).

    Raises:
        KeyboardInterrupt: The context shut down meanwhile (Ctrl-C); the replay is stopped.
        SessionError: The node did not come up in time.
    """
    with _sigint_interrupts():
        context = Context()
        # SIGINT is handled by _sigint_interrupts, not rclpy (which only shuts contexts down)
        rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
        executor = SingleThreadedExecutor(context=context)
        try:
            node = Node(f"ladderseg_demo_{uuid.uuid4().hex[:6]}", context=context)
            collector = OutputCollector(node)
            executor.add_node(node)
            spinner = threading.Thread(target=executor.spin, daemon=True)
            spinner.start()
            topics = tuple(t for t in remaps.values() if t in inputs)
            replayer = BagReplayer(node, bag, ReplayConfig(rate=rate, topics=topics))
            published: dict[int, float] = {}

            def on_message(message: bags.BagMessage) -> None:
                if message.topic == inputs[0]:  # the left image's (Image or CompressedImage)
                    published[cdr_stamp(message.data)] = time.monotonic()

            wanted = [replayer.publishers[t] for t in inputs]
            _wait(
                lambda: (
                    all(p.get_subscription_count() for p in wanted)
                    and node.count_publishers(OUTPUT_LABELS) > 0
                ),
                startup_timeout,
                node_proc,
                f"the node to subscribe to {', '.join(inputs)} (see {node_proc.log})",
                context,
            )
            time.sleep(0.5)  # the node's side of the matching may still be settling
            LOG.info("node ready; replaying %s", bag)
            if replayer.run(on_message).interrupted:
                raise KeyboardInterrupt
            _wait_quiet(
                collector,
                node_proc,
                quiet=2.5,
                timeout=drain_timeout,
                context=context,
                last_stamp=max(published) if published else None,
            )
            return collector, published
        finally:
            executor.shutdown(timeout_sec=2.0)
            rclpy.try_shutdown(context=context)
