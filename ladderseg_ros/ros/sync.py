"""Pairing messages from several topics by header stamp, exactly or approximately.

``StampSynchronizer`` follows message_filters' semantics: each input keeps at most
``queue_size`` messages keyed by stamp; exact mode emits when every input holds the same
stamp, approximate mode emits the combination closest to the newest message whose stamps
span less than ``slop`` seconds; after emitting, everything at or before the emitted stamps
is discarded (a missing partner never blocks later sets). Unlike message_filters it also
treats a stamp that jumps backwards by more than ``reset_jump`` (a bag looping, a clock
reset) as a new stream: the queues are cleared instead of waiting for time to catch up.
Messages older than the last emitted set are dropped and counted.

``subscribe_synchronized`` wires it to rclpy subscriptions, or uses message_filters when
that package is importable (the ROS installation's own, tested implementation).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ladderseg_ros.errors import LadderSegError

try:  # pragma: no cover - depends on the ROS installation
    import message_filters

    HAVE_MESSAGE_FILTERS = True
except ImportError:
    message_filters = None
    HAVE_MESSAGE_FILTERS = False


class SyncError(LadderSegError, ValueError):
    """A synchronizer setting is invalid (inputs, queue size, slop)."""


def stamp_seconds(msg: Any) -> float:
    """A message's header stamp in seconds."""
    stamp = msg.header.stamp
    return stamp.sec + stamp.nanosec * 1e-9


def stamp_key(msg: Any) -> int:
    """A message's header stamp in integer nanoseconds (exact comparisons)."""
    stamp = msg.header.stamp
    return stamp.sec * 1_000_000_000 + stamp.nanosec


@dataclass
class SyncStats:
    """Counters for diagnostics."""

    emitted: int = 0
    dropped: int = 0  # messages discarded unmatched (queue overflow, passed over, late)
    late: int = 0  # arrived after a newer set had been emitted
    resets: int = 0  # backward stamp jumps that restarted the pairing


class StampSynchronizer:
    """Group one message per input by header stamp; thread-safe.

    Args:
        num_inputs: Number of inputs (2 for a stereo pair).
        callback: Called with one message per input, in input order.
        queue_size: Messages kept per input while waiting for partners.
        slop: Approximate mode's maximum stamp spread (s); ``None`` for exact matching.
        reset_jump: A stamp this many seconds older than the last emitted set resets.

    Raises:
        SyncError: ``num_inputs`` or ``queue_size`` below 1, or a negative ``slop``.
    """

    def __init__(
        self,
        num_inputs: int,
        callback: Callable[..., None],
        queue_size: int = 5,
        slop: float | None = None,
        reset_jump: float = 1.0,
    ) -> None:
        if num_inputs < 1 or queue_size < 1:
            raise SyncError(f"num_inputs {num_inputs} and queue_size {queue_size} must be >= 1")
        if slop is not None and not slop >= 0:
            raise SyncError(f"slop must be >= 0, got {slop}")
        self._callback = callback
        self._queue_size = queue_size
        self._slop_ns = None if slop is None else round(slop * 1e9)
        self._reset_ns = int(reset_jump * 1e9)
        self._queues: list[dict[int, Any]] = [{} for _ in range(num_inputs)]
        self._last_emitted: int | None = None
        self._lock = threading.Lock()
        self.stats = SyncStats()

    def input_callback(self, index: int) -> Callable[[Any], None]:
        """A subscription callback feeding input ``index``."""
        return lambda msg: self.add(msg, index)

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        for queue in self._queues:
            self.stats.dropped += len(queue)
            queue.clear()
        self._last_emitted = None

    def add(self, msg: Any, index: int) -> None:
        """Offer a message of input ``index``; calls the callback when a set completes."""
        stamp = stamp_key(msg)
        with self._lock:
            emitted = self._add_locked(msg, index, stamp)
        if emitted is not None:
            self._callback(*emitted)

    def _add_locked(self, msg: Any, index: int, stamp: int) -> list[Any] | None:
        last = self._last_emitted
        if last is not None and stamp <= last:
            if last - stamp > self._reset_ns:
                self._clear()
                self.stats.resets += 1
            else:
                self.stats.late += 1
                self.stats.dropped += 1
                return None
        queue = self._queues[index]
        queue[stamp] = msg
        while len(queue) > self._queue_size:
            del queue[min(queue)]
            self.stats.dropped += 1
        chosen = self._match(index, stamp)
        if chosen is None:
            return None
        msgs = [q[t] for q, t in zip(self._queues, chosen, strict=True)]
        for q, t in zip(self._queues, chosen, strict=True):
            for key in [k for k in q if k <= t]:
                del q[key]
                if key != t:
                    self.stats.dropped += 1
        self._last_emitted = max(chosen)
        self.stats.emitted += 1
        return msgs

    def _match(self, index: int, stamp: int) -> list[int] | None:
        if self._slop_ns is None:
            if all(stamp in q for q in self._queues):
                return [stamp] * len(self._queues)
            return None
        candidates: list[list[int]] = []
        for i, queue in enumerate(self._queues):
            if i == index:
                candidates.append([stamp])
                continue
            near = sorted(
                (t for t in queue if abs(t - stamp) <= self._slop_ns),
                key=lambda t: abs(t - stamp),
            )
            if not near:
                return None
            candidates.append(near)
        for combo in itertools.product(*candidates):
            if max(combo) - min(combo) <= self._slop_ns:
                return list(combo)
        return None


def subscribe_synchronized(
    node: Any,
    specs: Sequence[tuple[type, str]],
    qos: Any,
    callback: Callable[..., None],
    queue_size: int,
    slop: float | None,
    reset_jump: float = 1.0,
    guard: Callable[[Any, str], bool] | None = None,
    use_message_filters: bool = True,
) -> tuple[list[Any], StampSynchronizer | None]:
    """Subscribe to ``specs`` (message type, topic) and call ``callback`` with matched sets.

    ``guard(msg, topic)`` screens each message before pairing (our synchronizer only; with
    message_filters the caller screens the matched set).

    Returns:
        The subscription objects (keep them alive) and our synchronizer, or ``None`` in its
        place when message_filters does the matching.
    """
    if use_message_filters and HAVE_MESSAGE_FILTERS:  # pragma: no cover - not installed here
        subs = [message_filters.Subscriber(node, t, name, qos_profile=qos) for t, name in specs]
        if slop is None:
            sync = message_filters.TimeSynchronizer(subs, queue_size)
        else:
            sync = message_filters.ApproximateTimeSynchronizer(subs, queue_size, slop)
        sync.registerCallback(callback)
        return [*subs, sync], None
    ours = StampSynchronizer(len(specs), callback, queue_size, slop, reset_jump)

    def screened(index: int, topic: str) -> Callable[[Any], None]:
        feed = ours.input_callback(index)
        if guard is None:
            return feed
        return lambda msg: feed(msg) if guard(msg, topic) else None

    subs = [
        node.create_subscription(t, name, screened(i, name), qos)
        for i, (t, name) in enumerate(specs)
    ]
    return subs, ours
