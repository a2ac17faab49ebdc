"""``subscribe_synchronized``: rclpy subscriptions feeding the package's ``StampSynchronizer``.

The pairing rules live in ``ladderseg_ros.frames.sync`` (free of ROS, shared with the
offline ``segment-bag``); here each subscription hands it the message and its header stamp.
message_filters (when installed) is not used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription

from ladderseg_ros.frames.sync import StampSynchronizer
from ladderseg_ros.io.messages import Stamped, header_ns


def subscribe_synchronized(
    node: Node,
    specs: Sequence[tuple[type, str]],
    qos: QoSProfile,
    callback: Callable[..., None],
    queue_size: int,
    slop: float | None,
    reset_jump: float = 1.0,
    guard: Callable[[Any, str], bool] | None = None,
    options: Callable[[str], dict[str, Any]] | None = None,
) -> tuple[list[Subscription], StampSynchronizer]:
    """Subscribe to ``specs`` (message type, topic) and call ``callback`` with matched sets.

    ``guard(msg, topic)`` screens each message before pairing; ``options(topic)`` gives the
    extra ``create_subscription`` keywords of a topic (e.g. ``event_callbacks``).

    Returns:
        The subscription objects (keep them alive) and the synchronizer.
    """
    ours = StampSynchronizer(len(specs), callback, queue_size, slop, reset_jump)

    def screened(index: int, topic: str) -> Callable[[Any], None]:
        def feed(msg: Stamped) -> None:
            if guard is None or guard(msg, topic):
                ours.add(msg, index, header_ns(msg))

        return feed

    subs = [
        node.create_subscription(
            t, name, screened(i, name), qos, **(options(name) if options else {})
        )
        for i, (t, name) in enumerate(specs)
    ]
    return subs, ours
