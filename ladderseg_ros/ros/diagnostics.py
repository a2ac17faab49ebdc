"""The node's counters (rates, latency, drops, bad input by kind) and their /diagnostics form.

Two kinds of loss are kept apart: ``dropped_pairs`` are complete pairs the worker never took
(the newest-pair policy replaced them), ``sync_dropped_messages`` are single messages the
synchronizer discarded without a partner (one lost image drops one message, not a pair).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

# stamp-to-publish latencies above this (s) say the stamp is not on this clock
LATENCY_PLAUSIBLE_S = 60.0


@dataclass
class StatsSnapshot:
    """Totals plus the rates and latencies of the period since the previous snapshot."""

    period_s: float
    input_rate: float
    output_rate: float
    latency_mean_ms: float
    latency_max_ms: float
    processing_mean_ms: float
    processing_max_ms: float
    wait_max_ms: float
    inputs: int
    outputs: int
    dropped_pairs: int
    sync_dropped_messages: int
    bad_messages: dict[str, int] = field(default_factory=dict)
    new_bad: int = 0
    processed: int = 0
    latency_outliers: int = 0


class PipelineStats:
    """Thread-safe counters written by callbacks and the worker, read by the diagnostics timer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inputs = 0
        self.outputs = 0
        self.dropped = 0
        self.processed = 0  # pairs the worker finished with, whatever the outcome
        self.latency_outliers = 0  # outputs whose stamp gave no plausible latency
        self.bad: Counter[str] = Counter()
        self._latencies: list[float] = []
        self._processing: list[float] = []
        self._waits: list[float] = []
        self._last = (time.monotonic(), 0, 0, 0)

    def count_input(self) -> None:
        """Count one synchronized input set."""
        with self._lock:
            self.inputs += 1

    def count_dropped(self, n: int = 1) -> None:
        """Count ``n`` sets dropped (replaced in the mailbox before processing)."""
        with self._lock:
            self.dropped += n

    def count_bad(self, kind: str) -> int:
        """Count one bad message of ``kind``; returns the total for that kind."""
        with self._lock:
            self.bad[kind] += 1
            return self.bad[kind]

    def count_processed(self) -> None:
        """Count one set the worker finished (published or not)."""
        with self._lock:
            self.processed += 1

    def count_output(self, latency_s: float, processing_s: float, wait_s: float = 0.0) -> None:
        """Count one published frame.

        Records the stamp-to-publish latency, the worker's time on it, and how
        long it waited in the mailbox before the worker took it.

        A latency outside [-1 s, ``LATENCY_PLAUSIBLE_S``] (a stamp of 0, a bag replayed
        without ``use_sim_time``) is counted as an outlier, not averaged in.
        """
        with self._lock:
            self.outputs += 1
            if -1.0 <= latency_s <= LATENCY_PLAUSIBLE_S:
                self._latencies.append(latency_s)
            else:
                self.latency_outliers += 1
            self._processing.append(processing_s)
            self._waits.append(wait_s)

    def snapshot(self, sync_dropped: int = 0) -> StatsSnapshot:
        """Totals and the period's rates; resets the period.

        ``sync_dropped`` is the synchronizer's count of discarded messages (reported apart).
        """
        with self._lock:
            now = time.monotonic()
            t0, inputs0, outputs0, bad0 = self._last
            period = max(now - t0, 1e-6)
            bad_total = sum(self.bad.values())
            lat, proc, waits = self._latencies, self._processing, self._waits
            snap = StatsSnapshot(
                period_s=period,
                input_rate=(self.inputs - inputs0) / period,
                output_rate=(self.outputs - outputs0) / period,
                latency_mean_ms=1e3 * sum(lat) / len(lat) if lat else 0.0,
                latency_max_ms=1e3 * max(lat) if lat else 0.0,
                processing_mean_ms=1e3 * sum(proc) / len(proc) if proc else 0.0,
                processing_max_ms=1e3 * max(proc) if proc else 0.0,
                wait_max_ms=1e3 * max(waits) if waits else 0.0,
                inputs=self.inputs,
                outputs=self.outputs,
                dropped_pairs=self.dropped,
                sync_dropped_messages=sync_dropped,
                bad_messages=dict(self.bad),
                new_bad=bad_total - bad0,
                processed=self.processed,
                latency_outliers=self.latency_outliers,
            )
            self._latencies, self._processing, self._waits = [], [], []
            self._last = (now, self.inputs, self.outputs, bad_total)
            return snap


def diagnostic_status(
    name: str, hardware_id: str, snap: StatsSnapshot, backend: str, problem: str = ""
) -> DiagnosticStatus:
    """One DiagnosticStatus of the pipeline.

    WARN while bad messages arrive or inputs come but no pair forms
    (``problem``: the cause and remedy, see ``pairing.PairingMonitor``).
    """
    level, message = DiagnosticStatus.OK, "ok"
    if problem:
        level, message = DiagnosticStatus.WARN, problem
    elif snap.new_bad:
        level, message = DiagnosticStatus.WARN, f"{snap.new_bad} bad messages in the last period"
    elif snap.input_rate > 0 and snap.output_rate == 0 and snap.outputs == 0:
        message = "receiving, no output subscribers yet"
    elif snap.input_rate == 0:
        message = "no input"
    values = {
        "input_rate_hz": f"{snap.input_rate:.2f}",
        "output_rate_hz": f"{snap.output_rate:.2f}",
        "latency_mean_ms": f"{snap.latency_mean_ms:.1f}",
        "latency_max_ms": f"{snap.latency_max_ms:.1f}",
        "processing_mean_ms": f"{snap.processing_mean_ms:.1f}",
        "processing_max_ms": f"{snap.processing_max_ms:.1f}",
        "wait_max_ms": f"{snap.wait_max_ms:.1f}",
        "inputs_total": str(snap.inputs),
        "outputs_total": str(snap.outputs),
        "dropped_pairs": str(snap.dropped_pairs),
        "sync_dropped_messages": str(snap.sync_dropped_messages),
        "bad_messages_total": str(sum(snap.bad_messages.values())),
        "latency_outliers": str(snap.latency_outliers),
        "backend": backend,
    }
    for kind, count in sorted(snap.bad_messages.items()):
        values[f"bad.{kind}"] = str(count)
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
