"""The figures the demo prints: frames, latency, rate, and mIoU against the ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ladderseg_ros.classes import LabelSet
    from ladderseg_ros.ros.demo_client import OutputCollector
    from ladderseg_ros.training.evaluation import ConfusionMatrix


@dataclass
class DemoReport:
    """The figures the demo prints (latencies in ms; None when there was nothing to measure).

    Attributes:
        out: the results folder.
        frames_published: left images the replay published.
        frames_received: label images the node sent back.
        seconds: the whole run, wall clock.
        latency_median_ms: input published -> labels received, median.
        latency_p95_ms: the same, 95th percentile.
        output_rate_hz: labels received per second.
        processing_ms: the node's own processing time per frame (diagnostics).
        dropped_pairs: pairs the node dropped to stay current (diagnostics).
        bad_messages: inputs the node rejected (diagnostics).
        label_set: the weights' classes.
        pairs_received: complete pairs the node formed (transport losses show here).
        confusion: against the bag's ground truth, when it has some.
        files: the pictures written (contact sheet, video).
    """

    out: Path
    frames_published: int
    frames_received: int
    seconds: float
    latency_median_ms: float
    latency_p95_ms: float
    output_rate_hz: float
    processing_ms: float | None
    dropped_pairs: int | None
    bad_messages: int | None
    label_set: LabelSet
    pairs_received: int | None = None
    confusion: ConfusionMatrix | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def miou(self) -> float | None:
        """Mean IoU in [0, 1] against the ground truth; None without ground truth."""
        return None if self.confusion is None else self.confusion.miou()

    def summary(self) -> str:
        """The report as the lines the demo prints and writes to ``summary.txt``."""
        lines = [
            f"frames: {self.frames_received} segmented of {self.frames_published} published"
            + (
                f"; {self.pairs_received} pairs reached the node"
                if self.pairs_received is not None
                else ""
            )
            + (f"; the node dropped {self.dropped_pairs} pairs" if self.dropped_pairs else "")
            + (f"; skipped {self.bad_messages} bad inputs" if self.bad_messages else ""),
            f"latency (input published -> labels received): median {self.latency_median_ms:.0f}"
            f" ms, p95 {self.latency_p95_ms:.0f} ms",
            f"node output rate: {self.output_rate_hz:.2f} Hz"
            + (
                f"; processing {self.processing_ms:.0f} ms/frame "
                f"({1e3 / self.processing_ms:.1f} frames/s possible)"
                if self.processing_ms
                else ""
            ),
        ]
        if self.confusion is not None:
            lines += [self.confusion.format_table(self.label_set)]
            lines += [f"mIoU against the ground truth: {100 * self.confusion.miou():.1f} %"]
        else:
            lines += ["no ground truth in the bag: no mIoU"]
        lines += [f"total {self.seconds:.0f} s; results in {self.out}"]
        return "\n".join(lines)


def _diagnostic(collector: OutputCollector, key: str) -> int | None:
    value = collector.last_diag.get(key)
    return int(value) if value is not None else None


def make_report(
    out: Path,
    collector: OutputCollector,
    published: dict[int, float],
    frames_published: int,
    label_set: LabelSet,
    confusion: ConfusionMatrix | None,
) -> DemoReport:
    """The figures of one run from what the demo client collected.

    Args:
        out: the results folder.
        collector: the node's outputs and diagnostics as received.
        published: publication time (s, monotonic) of each input stamp (ns).
        frames_published: left images in the bag.
        label_set: the weights' classes.
        confusion: against the ground truth, or None.

    Returns:
        The report, with ``seconds`` 0 and no files (the caller sets them).
    """
    # only the labels of the stamps this run published (another node on the domain is not ours)
    ours = {stamp: got for stamp, got in collector.labels.items() if stamp in published}
    latencies = [1e3 * (received - published[stamp]) for stamp, (received, _) in ours.items()]
    receipts = sorted(received for received, _ in ours.values())
    span = receipts[-1] - receipts[0]
    rate = (len(receipts) - 1) / span if len(receipts) > 1 and span > 0 else 0.0
    weight = sum(n for n, _ in collector.processing)
    processing = sum(n * ms for n, ms in collector.processing) / weight if weight else None
    return DemoReport(
        out=out,
        frames_published=frames_published,
        frames_received=len(ours),
        seconds=0.0,
        latency_median_ms=float(np.median(latencies)) if latencies else float("nan"),
        latency_p95_ms=float(np.percentile(latencies, 95)) if latencies else float("nan"),
        output_rate_hz=rate,
        processing_ms=processing,
        dropped_pairs=_diagnostic(collector, "dropped_pairs"),
        bad_messages=_diagnostic(collector, "bad_messages_total"),
        label_set=label_set,
        confusion=confusion,
        pairs_received=_diagnostic(collector, "inputs_total"),
    )
