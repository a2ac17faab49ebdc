"""Pairing items from several inputs by their stamps, exactly or approximately.

``StampSynchronizer`` follows message_filters' semantics: each input keeps at most
``queue_size`` items keyed by stamp; exact mode emits when every input holds the same
stamp, approximate mode emits the combination closest to the newest item whose stamps
span less than ``slop`` seconds; after emitting, everything at or before the emitted stamps
is discarded (a missing partner never blocks later sets). Unlike message_filters it
treats a stream that restarts (a bag looping, a clock reset) as a new stream, whatever the
size of the jump: items older than the last emitted set are kept apart, and as soon as
they form a complete set among themselves (every input went back, not one straggler) the
pairing restarts from them; a stamp more than ``reset_jump`` behind resets at once. A
single late item never completes a set (its partners were consumed) and is counted late.
Pairs therefore never go backwards within a stream.

The synchronizer reads nothing of what it pairs: callers hand it each item's stamp
(integer nanoseconds; ``io.messages.header_ns`` of a message). The node (through
``ros.sync.subscribe_synchronized``), the offline ``segment-bag`` and the tests all pair by
these same, tested rules; message_filters (when installed) is not used.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ladderseg_ros.errors import LadderSegError


class SyncError(LadderSegError, ValueError):
    """A synchronizer setting is invalid (inputs, queue size, slop)."""


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
    """Group one item per input by stamp; thread-safe.

    Args:
        num_inputs: Number of inputs (2 for a stereo pair).
        callback: Called with one item per input, in input order.
        queue_size: Items kept per input while waiting for partners.
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
        self._queues: list[dict[int, object]] = [{} for _ in range(num_inputs)]
        # messages older than the last emitted set: stragglers, or a restarted stream
        self._behind: list[dict[int, object]] = [{} for _ in range(num_inputs)]
        self._last_emitted: int | None = None
        self._lock = threading.Lock()
        self.stats = SyncStats(received=[0] * num_inputs)

    def reset(self) -> None:
        """Forget every queued item (counted dropped) and the last emitted stamp."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        for queue in (*self._queues, *self._behind):
            self.stats.dropped += len(queue)
            queue.clear()
        self._last_emitted = None

    def add(self, item: object, index: int, stamp: int) -> None:
        """Offer an item of input ``index``; calls the callback when a set completes.

        ``stamp`` is the item's stamp in integer ns (a message's header stamp).
        """
        with self._lock:
            emitted = self._add_locked(item, index, stamp)
        if emitted is not None:
            self._callback(*emitted)

    def _add_locked(self, item: object, index: int, stamp: int) -> list[object] | None:
        self.stats.received[index] += 1
        last = self._last_emitted
        if last is not None and stamp <= last:
            if last - stamp > self._reset_ns:
                self._clear()
                self.stats.resets += 1
            elif not self._restarted(item, index, stamp):
                self.stats.late += 1
                return None
        self._queue(self._queues, index, stamp, item)
        chosen = self._match(self._queues, index, stamp)
        if chosen is None:
            self.stats.nearest_offset = self._nearest_offset(index, stamp)
            return None
        items = [q[t] for q, t in zip(self._queues, chosen, strict=True)]
        for q, t in zip(self._queues, chosen, strict=True):
            for key in [k for k in q if k <= t]:
                del q[key]
                if key != t:
                    self.stats.dropped += 1
        self._last_emitted = max(chosen)
        self.stats.emitted += 1
        return items

    def _queue(self, queues: list[dict[int, object]], index: int, stamp: int, item: object) -> None:
        queue = queues[index]
        queue[stamp] = item
        while len(queue) > self._queue_size:
            del queue[min(queue)]
            self.stats.dropped += 1

    def _restarted(self, item: object, index: int, stamp: int) -> bool:
        """Keep an item older than the last set apart.

        True (pairing restarted, its queues hold the new stream) once such items complete
        a set among themselves.
        """
        self._queue(self._behind, index, stamp, item)
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

    def _match(self, queues: list[dict[int, object]], index: int, stamp: int) -> list[int] | None:
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
