"""Replay a rosbag2 into live topics with its recorded timing, for machines without ros2 bag.

Messages are published as the CDR bytes stored in the bag (rclpy publishers take ``bytes``
when created with the message type; Humble and Jazzy alike), so nothing is deserialized and
the headers go out exactly as recorded. Timing follows the bag's receive stamps divided by
``rate``; when publishing falls behind, messages go out at once rather than being dropped.

Ctrl-C: rclpy's signal handler shuts the context down (from its own thread, racing the
``KeyboardInterrupt``). The replayer stops when its context shuts down (``on_shutdown``), when
it sees the context gone while waiting, or when a publish fails because of it; the run then
reports ``interrupted`` and ``replay_bag`` raises ``KeyboardInterrupt`` (the CLI's exit 130).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.io.bags import BagError, BagMessage, BagReader
from ladderseg_ros.ros.conversions import MessageTypeError, message_class
from ladderseg_ros.ros.ros_args import topic_name_problem

LOG = logging.getLogger(__name__)


class ReplayError(LadderSegError):
    """The replay cannot start: bad settings, or a bag topic whose type is not installed."""


@dataclass(frozen=True)
class ReplayConfig:
    """How to replay: speed factor, looping, where to start, which topics, publisher QoS.

    ``wait_for_subscribers`` (s) delays the first message until subscribers have matched
    (then until no new topic matches for ``settle`` s), so nothing is lost to discovery.
    """

    rate: float = 1.0
    loop: bool = False
    start_offset: float = 0.0
    topics: tuple[str, ...] | None = None
    qos_depth: int = 10
    reliable: bool = True
    wait_for_subscribers: float = 0.0
    settle: float = 0.3

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ReplayError(f"rate must be a finite number > 0, got {self.rate}")
        if not (self.start_offset >= 0 and math.isfinite(self.start_offset)):
            raise ReplayError(
                f"start offset must be a finite number >= 0 s, got {self.start_offset}"
            )
        if self.qos_depth < 1:
            raise ReplayError(f"QoS depth must be >= 1, got {self.qos_depth}")
        waits = (self.wait_for_subscribers, self.settle)
        if not all(w >= 0 and math.isfinite(w) for w in waits):
            raise ReplayError("wait_for_subscribers and settle must be finite numbers >= 0 s")


@dataclass
class ReplayStats:
    """What a replay did: messages published, passes over the bag, worst lateness (s)."""

    published: int = 0
    loops: int = 0
    max_lateness: float = 0.0
    interrupted: bool = False  # the ROS context shut down mid-replay (Ctrl-C)


def _installed(msgtype: str) -> type:
    """The installed class of ``msgtype``; ReplayError when it is not installed."""
    try:
        return message_class(msgtype)
    except MessageTypeError as exc:
        raise ReplayError(str(exc)) from exc


class BagReplayer:
    """Publishes one bag's messages from a node; ``run`` blocks until done or stopped."""

    def __init__(self, node: Node, bag: str | Path, config: ReplayConfig | None = None) -> None:
        self.node = node
        self.bag = Path(bag)
        self.config = config or ReplayConfig()
        self._stop = threading.Event()
        self._context = node.context
        # Humble and Jazzy: called when the context shuts down (rclpy.shutdown, signals).
        self._context.on_shutdown(self.stop)
        with BagReader(self.bag) as reader:
            topics = reader.topics
            self._start = reader.start_time
            span = max(reader.duration - 1, 0)  # rosbags counts the last nanosecond too
        if round(self.config.start_offset * 1e9) > span:
            raise ReplayError(
                f"{self.bag}: start offset {self.config.start_offset} s is past its end "
                f"(its messages span {span / 1e9:.3f} s)"
            )
        if self.config.topics is not None:
            missing = set(self.config.topics) - set(topics)
            if missing:
                raise ReplayError(f"{self.bag} has no topic {sorted(missing)}")
            topics = {t: topics[t] for t in self.config.topics}
        if not topics:
            raise ReplayError(f"{self.bag} holds no topics")
        for topic in topics:
            problem = topic_name_problem(topic)
            if problem is not None:  # a bag written by a tool that does not check names
                raise ReplayError(
                    f"{self.bag}: topic {topic!r} cannot be published ({problem}); "
                    "replay the others with --topics"
                )
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=self.config.qos_depth,
            reliability=ReliabilityPolicy.RELIABLE
            if self.config.reliable
            else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.VOLATILE,
        )
        self.publishers = {
            topic: node.create_publisher(_installed(msgtype), topic, qos)
            for topic, msgtype in topics.items()
        }

    def stop(self) -> None:
        """Ask ``run`` to return after the message in flight (thread-safe)."""
        self._stop.set()

    @property
    def context_gone(self) -> bool:
        """True once the node's ROS context has shut down (nothing can be published)."""
        return not self._context.ok()

    def wait_for_subscribers(self) -> int:
        """Wait (bounded by the config) until subscribers have matched; returns topics matched."""
        deadline = time.monotonic() + self.config.wait_for_subscribers
        matched: set[str] = set()
        last_change = time.monotonic()
        while not self._stop.is_set() and not self.context_gone and time.monotonic() < deadline:
            now_matched = {t for t, p in self.publishers.items() if p.get_subscription_count()}
            if now_matched != matched:
                matched, last_change = now_matched, time.monotonic()
            # Settle even when all matched: the subscriber side may still be matching us.
            if matched and time.monotonic() - last_change >= self.config.settle:
                break
            time.sleep(0.02)
        return len(matched)

    def run(self, on_message: Callable[[BagMessage], None] | None = None) -> ReplayStats:
        """Publish the bag with its timing (looping if configured) until done or ``stop``.

        Raises:
            BagError: The bag is damaged part way through.
        """
        stats = ReplayStats()
        if self.config.wait_for_subscribers > 0:
            self.wait_for_subscribers()
        first = self._start + round(self.config.start_offset * 1e9)
        while not self._stop.is_set() and not self.context_gone:
            sent = self._one_pass(first, stats, on_message)
            stats.loops += 1
            if sent == 0 and not self._stop.is_set() and not self.context_gone:
                raise ReplayError(  # the selected topics end before the offset
                    f"{self.bag}: no message after the start offset {self.config.start_offset} s"
                )
            if not self.config.loop or self.context_gone:
                break
        stats.interrupted = self.context_gone
        return stats

    def _one_pass(
        self,
        first: int,
        stats: ReplayStats,
        on_message: Callable[[BagMessage], None] | None,
    ) -> int:
        sent = 0
        wall_start: float | None = None
        with BagReader(self.bag) as reader:
            topics = list(self.publishers)
            for message in reader.messages(topics):
                if message.timestamp < first:
                    continue
                if wall_start is None:  # the clock starts at the first message, not at open
                    wall_start = time.monotonic()
                due = wall_start + (message.timestamp - first) / 1e9 / self.config.rate
                if self._wait_until(due):
                    break
                stats.max_lateness = max(stats.max_lateness, time.monotonic() - due)
                try:
                    self.publishers[message.topic].publish(message.data)
                except Exception:
                    if self.context_gone:  # shut down under us (Ctrl-C): stopped, not failed
                        self.stop()
                        break
                    raise
                stats.published += 1
                sent += 1
                if on_message is not None:
                    on_message(message)
        return sent

    def _wait_until(self, due: float) -> bool:
        """Sleep until ``due`` (monotonic s); True when stopped or the context went meanwhile.

        Sleeps in slices: a signal handler may shut the context down without ``on_shutdown``
        callbacks (the C handler of some rclpy versions), and long gaps must not hide that.
        """
        while True:
            if self._stop.is_set() or self.context_gone:
                return True
            remaining = due - time.monotonic()
            if remaining <= 0:
                return False
            self._stop.wait(min(remaining, 0.1))


def replay_bag(
    bag: str | Path,
    config: ReplayConfig | None = None,
    context: Context | None = None,
    node_name: str = "ladderseg_replay",
) -> ReplayStats:
    """Initialise rclpy (unless ``context`` is already), replay ``bag``, shut down what we began.

    Raises:
        BagError: The bag is missing, incomplete or damaged.
        ReplayError: Bad settings or an uninstalled message type.
        KeyboardInterrupt: The context shut down mid-replay (Ctrl-C, SIGTERM).
    """
    import rclpy
    from rclpy.utilities import get_default_context

    # With no context, rclpy.init/shutdown manage the default one (and reset it after).
    own_init = not (context or get_default_context()).ok()
    if own_init:
        rclpy.init(args=[], context=context)  # our CLI arguments are not ROS arguments
    try:
        node = Node(node_name, context=context)
        try:
            replayer = BagReplayer(node, bag, config)
            LOG.info("replaying %s: %s", bag, ", ".join(sorted(replayer.publishers)))
            stats = replayer.run()
            if stats.interrupted:
                raise KeyboardInterrupt
            return stats
        finally:
            node.destroy_node()
    finally:
        if own_init:
            rclpy.try_shutdown(context=context)


__all__ = [
    "BagError",
    "BagReplayer",
    "ReplayConfig",
    "ReplayError",
    "ReplayStats",
    "message_class",
    "replay_bag",
]
