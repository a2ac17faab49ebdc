"""The pair synchronizer: exact and approximate matching, drops, backward jumps."""

from __future__ import annotations

import numpy as np
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


PERIOD = 0.04  # 25 Hz


def stream(frames: int, offset: float, lost: dict[int, set[int]], right_first: bool):
    """(item, input) in arrival order: left at k*PERIOD, right ``offset`` s after it."""
    for k in range(frames):
        stamps = [(Msg(100 + k * PERIOD, f"L{k}"), 0), (Msg(100 + k * PERIOD + offset, f"R{k}"), 1)]
        for item, side in reversed(stamps) if right_first else stamps:
            if k not in lost.get(side, set()):
                yield item, side


@pytest.mark.parametrize("slop", [0.05, 0.03, 0.015, 0.005])
@pytest.mark.parametrize("offset", [0.003, -0.003, 0.0])
@pytest.mark.parametrize("right_first", [False, True], ids=["left_first", "right_first"])
@pytest.mark.parametrize("side", [0, 1], ids=["left_lost", "right_lost"])
def test_a_lost_image_never_shifts_the_later_pairs(
    slop: float, offset: float, right_first: bool, side: int
) -> None:
    """25 Hz, slop 50 ms (above half the period) and one left image lost locked into
    off-by-one pairs for good: (120, 83), (160, 123) ms... Every later pair is exact."""
    out: list[tuple[str, ...]] = []
    sync = StampSynchronizer(2, lambda *m: out.append(tuple(x.tag for x in m)), 5, slop)
    for item, index in stream(12, offset, {side: {2}}, right_first):
        sync.add(item, index, item.stamp)
    expected = [(f"L{k}", f"R{k}") for k in range(12) if k != 2]
    assert out in (expected, expected[:-1])  # the last may wait for proof it is nearest
    assert sync.stats.emitted == len(out)


@pytest.mark.parametrize("seed", range(12))
def test_random_losses_jitter_and_arrival_order_pair_every_complete_frame(seed: int) -> None:
    """Any frame whose two images both came is emitted as itself, whatever was lost around
    it; pairs only move forward and never span more than the slop."""
    rng = np.random.default_rng(seed)
    frames, slop = 120, [0.05, 0.035, 0.019, 0.01][seed % 4]
    offset = rng.uniform(-0.005, 0.005)
    left = [100 + k * PERIOD + rng.uniform(-0.002, 0.002) for k in range(frames)]
    right = [t + offset + rng.uniform(-0.002, 0.002) for t in left]
    lost = [set(np.flatnonzero(rng.random(frames) < 0.15).tolist()) for _ in range(2)]
    out: list[tuple[Msg, Msg]] = []
    sync = StampSynchronizer(2, lambda *m: out.append(m), 5, slop)
    for k in range(frames):
        order = [(0, left[k]), (1, right[k])]
        if rng.random() < 0.5:
            order.reverse()
        for side, t in order:
            if k not in lost[side]:
                item = Msg(t, f"{'LR'[side]}{k}")
                sync.add(item, side, item.stamp)
    tags = [(a.tag, b.tag) for a, b in out]
    complete = [k for k in range(3, frames - 1) if k not in lost[0] | lost[1]]
    for k in complete:
        assert (f"L{k}", f"R{k}") in tags, (k, sorted(lost[0]), sorted(lost[1]))
    assert all(abs(a.stamp - b.stamp) <= slop * 1e9 for a, b in out)
    firsts = [a.stamp for a, _ in out]
    assert firsts == sorted(set(firsts))


def test_slop_above_half_the_measured_period_is_reported() -> None:
    names = ["left/image_rect", "right/image_rect"]
    for slop, warned in ((0.05, True), (0.021, True), (0.019, False)):
        sync = StampSynchronizer(2, lambda *m: None, 5, slop)
        assert sync.slop_warning(names) == ""  # nothing measured yet
        for item, index in stream(4, 0.0, {}, False):
            sync.add(item, index, item.stamp)
        assert sync.stats.periods == [pytest.approx(PERIOD), pytest.approx(PERIOD)]
        line = sync.slop_warning(names)
        assert bool(line) is warned
        if warned:
            assert "left/image_rect (40.0 ms)" in line
            assert "set slop below 0.0200" in line
    exact = StampSynchronizer(2, lambda *m: None, 5, None)
    for item, index in stream(4, 0.0, {}, False):
        exact.add(item, index, item.stamp)
    assert exact.slop_warning(names) == ""


def test_flush_emits_the_set_that_waited_for_a_next_item() -> None:
    """At the end of a bag no later item can be nearer: the last held pair goes out."""
    sync, out = make(slop=0.04)
    for i in range(4):  # 10 Hz, the right camera 30 ms behind: each set waits for the next
        feed(sync, Msg(7.0 + i / 10), 0)
        feed(sync, Msg(7.03 + i / 10), 1)
    assert out == [(7.0, 7.03), (7.1, 7.13), (7.2, 7.23)]  # (7.3, 7.33) waits for proof
    sync.flush()
    assert out[-1] == (7.3, 7.33)
    assert sync.stats.emitted == 4
    feed(sync, Msg(7.4), 0)  # items after a flush pair by the usual rules
    feed(sync, Msg(7.43), 1)
    assert len(out) == 4
    feed(sync, Msg(7.5), 0)
    assert out[-1] == (7.4, 7.43)
    feed(sync, Msg(7.6), 0)  # a left image whose right one never comes
    sync.flush()
    assert len(out) == 5  # 7.5 and 7.6 have no partner: nothing is made up


def test_flush_in_exact_mode_has_nothing_waiting() -> None:
    sync, out = make()
    feed(sync, Msg(1.0), 0)
    feed(sync, Msg(1.0), 1)
    feed(sync, Msg(1.1), 0)
    sync.flush()
    assert out == [(1.0, 1.0)]
