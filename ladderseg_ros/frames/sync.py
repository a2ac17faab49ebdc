"""Pairing items from several inputs by their stamps, exactly or approximately.

``StampSynchronizer`` follows message_filters' semantics: each input keeps at most
``queue_size`` items keyed by stamp; exact mode emits when every input holds the same
stamp; after emitting, everything at or before the emitted stamps is discarded (a missing
partner never blocks later sets).

Approximate mode emits, as message_filters' ApproximateTime policy does, only sets whose
members are each other's nearest partners, and only once no item still to come could be
nearer (items of one input arrive in stamp order): a lost image then never shifts the later
pairs, whatever the slop. A set spanning more than ``slop`` seconds is never emitted. The
proof needs a lower bound on the gap to an input's next item (message_filters'
``setInterMessageLowerBound``): half the period measured on that input (the median of its
recent stamp gaps), and never more than twice the slop (until a period is measured). With
stamps equal across inputs, or a slop under a quarter of the period, a set goes out as soon
as its last member arrives; a larger offset between the cameras can wait for the next item.
A slop above half the measured period is reported (``slop_warning``): within such a slop an
image has two candidate partners. Unlike message_filters it
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
import statistics
import threading
from collections import deque
from collections.abc import Callable, Sequence
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
    # per input, the median gap between its recent stamps (s); None until two have come
    periods: list[float | None] = field(default_factory=list)


PERIOD_GAPS = 9  # stamp gaps per input kept to measure its period (their median)


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
        # the newest stamp queued per input since the last reset: later items come after it
        self._newest: list[int | None] = [None] * num_inputs
        self._gaps: list[deque[int]] = [deque(maxlen=PERIOD_GAPS) for _ in range(num_inputs)]
        self._lock = threading.Lock()
        self._ended = False  # inside flush(): no item is still to come
        self.stats = SyncStats(received=[0] * num_inputs, periods=[None] * num_inputs)

    def slop_warning(self, names: Sequence[str] = ()) -> str:
        """Why approximate pairing can go wrong with this slop, or ``""``.

        Args:
            names: The inputs' names (topics), in input order; indices when not given.

        Returns:
            One line when the slop is above half the period measured on an input.
        """
        if self._slop_ns is None:
            return ""
        measured = [(p, i) for i, p in enumerate(self.stats.periods) if p is not None]
        if not measured:
            return ""
        period, index = min(measured)
        slop = self._slop_ns / 1e9
        if slop <= period / 2:
            return ""
        name = names[index] if index < len(names) else f"input {index}"
        return (
            f"slop {slop:g} s is more than half the frame period measured on {name} "
            f"({period * 1e3:.1f} ms): within it an image has two candidate partners, so pairs "
            f"wait for proof of the nearest; set slop below {period / 2:.4f}"
        )

    def reset(self) -> None:
        """Forget every queued item (counted dropped) and the last emitted stamp."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        for queue in (*self._queues, *self._behind):
            self.stats.dropped += len(queue)
            queue.clear()
        self._last_emitted = None
        self._newest = [None] * len(self._queues)

    def add(self, item: object, index: int, stamp: int) -> None:
        """Offer an item of input ``index``; calls the callback when a set completes.

        ``stamp`` is the item's stamp in integer ns (a message's header stamp).
        """
        with self._lock:
            emitted = self._add_locked(item, index, stamp)
        for items in emitted:
            self._callback(*items)

    def flush(self) -> None:
        """The streams have ended (a bag read to its end): emit the sets still waiting.

        Approximate mode holds a set until an item of every input proves that no nearer
        partner can come; at the end nothing comes, so the queued items are paired by the
        same rule (mutual nearest partners within the slop) without that proof. Exact
        mode never waits: it has nothing to emit here. Unpaired items stay queued; items
        added afterwards are paired as before.
        """
        emitted: list[list[object]] = []
        with self._lock:
            if self._slop_ns is not None:
                self._ended = True
                try:
                    while (chosen := self._nearest_set()) is not None:
                        emitted.append(self._emit(chosen))
                finally:
                    self._ended = False
        for items in emitted:
            self._callback(*items)

    def _add_locked(self, item: object, index: int, stamp: int) -> list[list[object]]:
        self.stats.received[index] += 1
        self._measure(index, stamp)
        last = self._last_emitted
        if last is not None and stamp <= last:
            if last - stamp > self._reset_ns:
                self._clear()
                self.stats.resets += 1
            elif not self._restarted(item, index, stamp):
                self.stats.late += 1
                return []
        self._queue(self._queues, index, stamp, item)
        newest = self._newest[index]
        self._newest[index] = stamp if newest is None else max(newest, stamp)
        if self._slop_ns is None:
            chosen = self._match(self._queues, index, stamp)
            emitted = [] if chosen is None else [self._emit(chosen)]
        else:
            emitted = []
            while (chosen := self._nearest_set()) is not None:
                emitted.append(self._emit(chosen))
        if not emitted:
            self.stats.nearest_offset = self._nearest_offset(index, stamp)
        return emitted

    def _emit(self, chosen: list[int]) -> list[object]:
        """Take the set ``chosen`` (one stamp per input); discard everything before it."""
        items = [q[t] for q, t in zip(self._queues, chosen, strict=True)]
        for q, t in zip(self._queues, chosen, strict=True):
            for key in [k for k in q if k <= t]:
                del q[key]
                if key != t:
                    self.stats.dropped += 1
        self._last_emitted = max(chosen)
        self.stats.emitted += 1
        return items

    def _measure(self, index: int, stamp: int) -> None:
        """Track the gaps between an input's successive stamps (its frame period)."""
        newest = self._newest[index]
        if newest is None or stamp <= newest:
            return
        gaps = self._gaps[index]
        gaps.append(stamp - newest)
        self.stats.periods[index] = statistics.median(gaps) / 1e9

    def _gap_bound(self, index: int) -> int:
        """A lower bound (ns) on the gap from input ``index``'s newest item to its next."""
        assert self._slop_ns is not None
        bound = 2 * self._slop_ns
        period = self.stats.periods[index]
        if period is not None:
            bound = min(bound, round(period * 1e9 / 2))
        return bound

    def _nearest(self, index: int, stamp: int) -> int | None:
        """The stamp queued on input ``index`` nearest to ``stamp``, for certain.

        None when nothing is queued there, or a later item of that input could be nearer.
        """
        queue = self._queues[index]
        if not queue:
            return None
        best = min(queue, key=lambda t: (abs(t - stamp), t))
        newest = self._newest[index]
        assert newest is not None
        # any later item of this input comes at least the gap bound after its newest
        if not self._ended and abs(best - stamp) > newest + self._gap_bound(index) - stamp:
            return None
        return best

    def _nearest_set(self) -> list[int] | None:
        """The oldest set of certain, mutual nearest partners spanning at most the slop.

        Mutual sets spanning more are dropped on the way (they can never pair).
        """
        assert self._slop_ns is not None
        for first in sorted(self._queues[0]):
            chosen: list[int] = [first]
            for j in range(1, len(self._queues)):
                nearest = self._nearest(j, first)
                if nearest is None:
                    break
                chosen.append(nearest)
            else:
                mutual = all(
                    self._nearest(j, chosen[i]) == chosen[j]
                    for i in range(len(chosen))
                    for j in range(len(chosen))
                    if i != j
                )
                if not mutual:
                    continue
                if max(chosen) - min(chosen) <= self._slop_ns:
                    return chosen
                for queue, t in zip(self._queues, chosen, strict=True):  # never a set
                    del queue[t]
                    self.stats.dropped += 1
        return None

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
        self._newest = [max(q) if q else None for q in behind]
        self.stats.resets += 1
        return True

    def _nearest_offset(self, index: int, stamp: int) -> float | None:
        offsets = [t - stamp for i, q in enumerate(self._queues) if i != index for t in q]
        return min(offsets, key=abs) / 1e9 if offsets else None

    def _match(self, queues: list[dict[int, object]], index: int, stamp: int) -> list[int] | None:
        """A set with the item just queued: exact stamps, or any combination within the slop.

        The latter only tells a restarted stream (approximate mode).
        """
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
