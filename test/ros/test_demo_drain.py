"""The demo waits for the node's answer to the last pair, however slow a frame is (issue 23,
item 9: at camera size a first frame outlasted the 2.5 s quiet rule and the demo ended with
"the node published no labels")."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from sensor_msgs.msg import Image

from ladderseg_ros.ros.demo_client import OutputCollector, _wait_quiet


class _AliveNode:
    log = Path("node.log")

    def check_alive(self) -> None:
        return None


def _labels(stamp_ns: int) -> Image:
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    msg.height, msg.width, msg.encoding, msg.step = 2, 3, "mono8", 3
    msg.data = np.zeros(6, np.uint8).tobytes()
    return msg


def test_a_slow_last_frame_is_waited_for() -> None:
    context = Context()
    rclpy.init(args=[], context=context)
    try:
        node = Node("drain_test", context=context)
        collector = OutputCollector(node)
        first, last = 10**9, 2 * 10**9
        collector._on_labels(_labels(first))

        def answer() -> None:  # the labels, then the node's diagnostics counting them
            collector._on_labels(_labels(last))
            with collector.lock:
                collector.last_diag = {"outputs_total": "2"}

        # the last pair's labels come later than the quiet period, as a camera-size frame
        timer = threading.Timer(1.0, answer)
        timer.start()
        _wait_quiet(collector, _AliveNode(), 0.3, 60.0, context, last_stamp=last)
        seen = sorted(collector.labels)  # what the demo goes on with
        timer.join()
        assert seen == [first, last]
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_without_a_last_stamp_quiet_starts_with_the_first_output() -> None:
    """No output yet is no reason to stop: the quiet period counts from an output."""
    context = Context()
    rclpy.init(args=[], context=context)
    try:
        node = Node("drain_test2", context=context)
        collector = OutputCollector(node)
        timer = threading.Timer(1.0, collector._on_labels, (_labels(5),))
        timer.start()
        _wait_quiet(collector, _AliveNode(), 0.3, 60.0, context)
        seen = list(collector.labels)
        timer.join()
        assert seen == [5]
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
