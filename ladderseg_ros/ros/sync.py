"""Pairing messages from several topics by header stamp, exactly or approximately.

``StampSynchronizer`` follows message_filters' semantics: each input keeps at most
``queue_size`` messages keyed by stamp; exact mode emits when every input holds the same
stamp, approximate mode emits the combination closest to the newest message whose stamps
span less than ``slop`` seconds; after emitting, everything at or before the emitted stamps
is discarded (a missing partner never blocks later sets). Unlike message_filters it
treats a stream that restarts (a bag looping, a clock reset) as a new stream, whatever the
size of the jump: messages older than the last emitted set are kept apart, and as soon as
they form a complete set among themselves (every input went back, not one straggler) the
pairing restarts from them; a stamp more than ``reset_jump`` behind resets at once. A
single late message never completes a set (its partners were consumed) and is counted late.
Pairs therefore never go backwards within a stream.

``subscribe_synchronized`` wires it to rclpy subscriptions. It is the only implementation
the package uses: message_filters (when installed) is not used, so that the node, the
offline ``segment-bag`` and the tests all pair by the same, tested rules.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ladderseg_ros.errors import LadderSegError


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
    received: list[int] = field(default_factory=list)  # messages offered, per input
    # signed offset (s) from the last unmatched message to the nearest stamp queued on
    # another input (None: no other input held anything); why exact pairing fails
    nearest_offset: float | None = None


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
        # messages older than the last emitted set: stragglers, or a restarted stream
        self._behind: list[dict[int, Any]] = [{} for _ in range(num_inputs)]
        self._last_emitted: int | None = None
        self._lock = threading.Lock()
        self.stats = SyncStats(received=[0] * num_inputs)

    def input_callback(self, index: int) -> Callable[[Any], None]:
        """A subscription callback feeding input ``index``."""
        return lambda msg: self.add(msg, index)

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        for queue in (*self._queues, *self._behind):
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
        self.stats.received[index] += 1
        last = self._last_emitted
        if last is not None and stamp <= last:
            if last - stamp > self._reset_ns:
                self._clear()
                self.stats.resets += 1
            elif not self._restarted(msg, index, stamp):
                self.stats.late += 1
                return None
        self._queue(self._queues, index, stamp, msg)
        chosen = self._match(self._queues, index, stamp)
        if chosen is None:
            self.stats.nearest_offset = self._nearest_offset(index, stamp)
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

    def _queue(self, queues: list[dict[int, Any]], index: int, stamp: int, msg: Any) -> None:
        queue = queues[index]
        queue[stamp] = msg
        while len(queue) > self._queue_size:
            del queue[min(queue)]
            self.stats.dropped += 1

    def _restarted(self, msg: Any, index: int, stamp: int) -> bool:
        """Keep a message older than the last set apart; True (pairing restarted, its
        queues hold the new stream) once such messages complete a set among themselves."""
        self._queue(self._behind, index, stamp, msg)
        if self._match(self._behind, index, stamp) is None:
            return False
        behind = self._behind
        self._behind = [{} for _ in behind]
        # those held before this one were counted late: they start the new stream instead
        self.stats.late -= sum(len(q) for q in behind) - 1
        self._clear()
        self._queues = behind
        self.stats.resets += 1
        return True

    def _nearest_offset(self, index: int, stamp: int) -> float | None:
        offsets = [t - stamp for i, q in enumerate(self._queues) if i != index for t in q]
        return min(offsets, key=abs) / 1e9 if offsets else None

    def _match(self, queues: list[dict[int, Any]], index: int, stamp: int) -> list[int] | None:
        if self._slop_ns is None:
            if all(stamp in q for q in queues):
                return [stamp] * len(queues)
            return None
        candidates: list[list[int]] = []
        for i, queue in enumerate(queues):
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
    options: Callable[[str], dict[str, Any]] | None = None,
) -> tuple[list[Any], StampSynchronizer]:
    """Subscribe to ``specs`` (message type, topic) and call ``callback`` with matched sets.

    ``guard(msg, topic)`` screens each message before pairing; ``options(topic)`` gives the
    extra ``create_subscription`` keywords of a topic (e.g. ``event_callbacks``).

    Returns:
        The subscription objects (keep them alive) and the synchronizer.
    """
    ours = StampSynchronizer(len(specs), callback, queue_size, slop, reset_jump)

    def screened(index: int, topic: str) -> Callable[[Any], None]:
        feed = ours.input_callback(index)
        if guard is None:
            return feed
        return lambda msg: feed(msg) if guard(msg, topic) else None

    subs = [
        node.create_subscription(
            t, name, screened(i, name), qos, **(options(name) if options else {})
        )
        for i, (t, name) in enumerate(specs)
    ]
    return subs, ours
