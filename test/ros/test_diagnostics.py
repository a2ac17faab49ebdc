"""The node's counters and their /diagnostics message."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus

from ladderseg_ros.ros.diagnostics import PipelineStats, diagnostic_status


def test_dropped_pairs_and_sync_dropped_messages_are_reported_apart() -> None:
    stats = PipelineStats()
    stats.count_input()
    stats.count_dropped(2)  # two pairs replaced in the mailbox
    stats.count_output(0.05, 0.02, 0.01)
    stats.count_bad("bad_step")
    snap = stats.snapshot(sync_dropped=5)  # five single messages without a partner
    assert (snap.dropped_pairs, snap.sync_dropped_messages) == (2, 5)
    assert snap.processing_max_ms == 20.0
    assert snap.wait_max_ms == 10.0
    status = diagnostic_status("ladderseg: pipeline", "torch:cpu", snap, "torch:cpu")
    values = {kv.key: kv.value for kv in status.values}
    assert values["dropped_pairs"] == "2"
    assert values["sync_dropped_messages"] == "5"
    assert values["bad.bad_step"] == "1"
    assert values["backend"] == "torch:cpu"
    assert status.level == DiagnosticStatus.WARN
    again = stats.snapshot()
    assert again.new_bad == 0
    assert again.dropped_pairs == 2
    assert again.latency_max_ms == 0.0
