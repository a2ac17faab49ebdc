"""The pair synchronizer: exact and approximate matching, drops, backward jumps."""

from __future__ import annotations

import pytest

from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.frames.sync import StampSynchronizer, SyncError


class Msg:
    """A stamped item: its stamp (ns) is handed to the synchronizer, which reads nothing."""

    def __init__(self, t: float, tag: str = "") -> None:
        # as a header stores it: whole seconds and nanoseconds
        self.stamp = int(t) * 1_000_000_000 + round((t - int(t)) * 1e9)
        self.tag = tag

    @property
    def t(self) -> float:
        return self.stamp / 1e9


def feed(sync: StampSynchronizer, item: Msg, index: int) -> None:
    sync.add(item, index, item.stamp)


def make(slop: float | None = None, queue_size: int = 5, reset_jump: float = 1.0):
    out: list[tuple[float, ...]] = []
    sync = StampSynchronizer(
        2, lambda *m: out.append(tuple(x.t for x in m)), queue_size, slop, reset_jump
    )
    return sync, out


def test_exact_pairs_in_and_out_of_order() -> None:
    sync, out = make()
    feed(sync, Msg(10.2), 0)
    feed(sync, Msg(10.1), 0)  # left arrives out of order
    feed(sync, Msg(10.1), 1)
    feed(sync, Msg(10.2), 1)
    assert out == [(10.1, 10.1), (10.2, 10.2)]
    assert sync.stats.emitted == 2
    assert sync.stats.dropped == 0


def test_exact_does_not_pair_different_stamps() -> None:
    sync, out = make()
    feed(sync, Msg(1.0), 0)
    feed(sync, Msg(1.001), 1)
    assert out == []


def test_missing_partner_is_passed_over_not_waited_for() -> None:
    sync, out = make()
    feed(sync, Msg(1.0), 0)  # its right image never comes
    feed(sync, Msg(1.1), 0)
    feed(sync, Msg(1.1), 1)
    feed(sync, Msg(1.2), 1)
    feed(sync, Msg(1.2), 0)
    assert out == [(1.1, 1.1), (1.2, 1.2)]
    assert sync.stats.dropped == 1  # the orphan at 1.0


def test_late_partner_after_newer_pair_is_dropped() -> None:
    sync, out = make()
    feed(sync, Msg(2.0), 0)
    feed(sync, Msg(2.1), 0)
    feed(sync, Msg(2.1), 1)  # newer pair completes first
    feed(sync, Msg(2.0), 1)  # now too late: pairs never go backwards
    assert out == [(2.1, 2.1)]
    assert sync.stats.late == 1


def test_approximate_picks_nearest_within_slop() -> None:
    sync, out = make(slop=0.02)
    feed(sync, Msg(5.000), 0)
    feed(sync, Msg(5.030), 1)  # outside slop
    assert out == []
    feed(sync, Msg(5.040), 0)
    assert out == [(5.04, 5.03)]
    feed(sync, Msg(5.095), 1)
    feed(sync, Msg(5.105), 1)
    feed(sync, Msg(5.110), 0)  # both rights are within slop: the nearer one wins
    assert out[-1] == (5.11, 5.105)
    assert len(out) == 2


def test_queue_size_bounds_memory() -> None:
    sync, out = make(queue_size=3)
    for i in range(10):
        feed(sync, Msg(100 + i), 0)
    assert len(sync._queues[0]) == 3
    assert sync.stats.dropped == 7
    feed(sync, Msg(109), 1)
    assert out == [(109.0, 109.0)]


@pytest.mark.parametrize("slop", [None, 0.01])
def test_backward_jump_resets_instead_of_stalling(slop: float | None) -> None:
    sync, out = make(slop=slop)
    for t in (50.0, 50.1, 50.2):
        feed(sync, Msg(t), 0)
        feed(sync, Msg(t), 1)
    feed(sync, Msg(3.0), 0)  # the bag loops back to its start
    feed(sync, Msg(3.0), 1)
    feed(sync, Msg(3.1), 1)
    feed(sync, Msg(3.1), 0)
    assert out[-2:] == [(3.0, 3.0), (3.1, 3.1)]
    assert sync.stats.resets == 1


def test_rejects_bad_arguments() -> None:
    with pytest.raises(SyncError, match="queue_size 0"):
        StampSynchronizer(2, print, queue_size=0)
    with pytest.raises(SyncError, match="slop"):
        StampSynchronizer(2, print, slop=-1.0)
    with pytest.raises(LadderSegError):  # the package's root, so the CLI prints one line
        StampSynchronizer(0, print)


@pytest.mark.parametrize("slop", [None, 0.01])
@pytest.mark.parametrize("frames", [1, 2, 5, 15])
def test_looping_short_bag_pairs_every_frame_of_every_loop(slop: float | None, frames: int) -> None:
    """A bag of ``frames`` frames at 12.5 Hz looped 4 times: every pair of every loop, any
    jump size (a 5-frame bag jumps back 0.32 s, under ``reset_jump``)."""
    sync, out = make(slop=slop)
    stamps = [20.0 + 0.08 * i for i in range(frames)]
    for _ in range(4):
        for t in stamps:
            feed(sync, Msg(t), 0)
            feed(sync, Msg(t), 1)
    assert out == [(pytest.approx(t), pytest.approx(t)) for t in stamps * 4]
    assert sync.stats.resets == 3
    assert sync.stats.late == 0


def test_straggler_of_one_input_is_late_not_a_restart() -> None:
    sync, out = make()
    for t in (7.0, 7.1, 7.2):
        feed(sync, Msg(t), 0)
    feed(sync, Msg(7.2), 1)  # pair 7.2 goes out; the right 7.0 and 7.1 come afterwards
    feed(sync, Msg(7.0), 1)
    feed(sync, Msg(7.1), 1)
    feed(sync, Msg(7.3), 0)
    feed(sync, Msg(7.3), 1)
    assert out == [(7.2, 7.2), (7.3, 7.3)]
    assert sync.stats.late == 2
    assert sync.stats.resets == 0


def test_unmatched_stamps_report_their_offset() -> None:
    """Exact sync with the right 3 ms after the left: no pair, and the offset is known."""
    sync, out = make()
    for i in range(3):
        feed(sync, Msg(30.0 + 0.1 * i), 0)
        feed(sync, Msg(30.003 + 0.1 * i), 1)
    assert out == []
    assert sync.stats.received == [3, 3]
    assert sync.stats.nearest_offset == pytest.approx(-0.003, abs=1e-6)
