"""Acknowledgements leave in application order, whatever their release times."""

from __future__ import annotations

from hunt.streaming.ackqueue import AckQueue


def _queue() -> AckQueue[tuple[int, int]]:
    return AckQueue(lambda event: event[0])  # events are (partition, offset)


def test_a_batch_with_nothing_pending_and_nothing_before_it_is_acked_at_once() -> None:
    q = _queue()
    assert q.add([(0, 1), (0, 2)], None) == [(0, 1), (0, 2)]
    assert q.size == 0


def test_a_ready_batch_waits_for_a_held_batch_before_it() -> None:
    # Faust would commit past offset 1 if offsets 2-3 were acked first.
    q = _queue()
    assert q.add([(0, 1)], release=5.0) == []
    assert q.add([(0, 2), (0, 3)], None) == []
    assert q.size == 3
    assert q.release(4.9) == []
    assert q.release(5.0) == [(0, 1), (0, 2), (0, 3)]
    assert q.size == 0


def test_an_earlier_release_never_overtakes_a_later_one() -> None:
    q = _queue()
    q.add([(0, 1)], release=5.0)
    q.add([(0, 2)], release=3.0)
    assert q.release(4.0) == []
    assert q.release(5.0) == [(0, 1), (0, 2)]


def test_batches_are_released_oldest_first_as_their_time_comes() -> None:
    q = _queue()
    q.add([(0, 1)], release=1.0)
    q.add([(1, 7)], release=2.0)
    assert q.release(1.5) == [(0, 1)]
    assert list(q) == [(1, 7)]
    assert q.release(2.0) == [(1, 7)]
    assert q.add([(0, 2)], None) == [(0, 2)]  # nothing held any more


def test_drain_hands_over_everything_in_order() -> None:
    q = _queue()
    q.add([(0, 1)], release=9.0)
    q.add([(1, 1)], None)
    assert q.drain() == [(0, 1), (1, 1)] and q.size == 0


def test_revoked_partitions_are_dropped_unacked() -> None:
    q = _queue()
    q.add([(0, 1), (1, 1)], release=1.0)
    q.add([(1, 2)], release=2.0)
    q.drop({1})
    assert q.size == 1 and list(q) == [(0, 1)]
    assert q.release(5.0) == [(0, 1)]
    assert q.add([], release=3.0) == []
