"""Snapshot throttle: at once if quiet, else once when the interval is up."""

from __future__ import annotations

from hunt.domain.coalesce import Throttle


def test_a_quiet_product_is_written_at_once() -> None:
    t = Throttle(1.0)
    assert t.changed((0, "p"), now=10.0) is None
    assert t.changed((0, "q"), now=10.1) is None
    assert t.oldest_deferred() is None and t.due(now=20.0) == []


def test_changes_within_an_interval_coalesce_into_one_write_when_it_is_up() -> None:
    t = Throttle(1.0)
    assert t.changed((0, "p"), now=10.0) is None
    assert t.changed((0, "p"), now=10.2) == 11.0
    assert t.changed((0, "p"), now=10.7) == 11.0
    assert t.oldest_deferred() == 10.2
    assert t.due(now=10.99) == []
    assert t.due(now=11.0) == [(0, "p")]
    assert t.due(now=11.5) == [] and t.oldest_deferred() is None
    # written at 11.0 by the ticker: the next change waits for 12.0
    assert t.changed((0, "p"), now=11.5) == 12.0
    assert t.due(now=12.0) == [(0, "p")]
    # nothing changed since: the interval after that is quiet, so a change is written at once
    assert t.due(now=13.0) == []
    assert t.changed((0, "p"), now=13.1) is None


def test_a_deferred_product_is_due_at_exactly_its_release_time() -> None:
    t = Throttle(0.1)  # 0.3 + 0.1 is not 0.4 in floating point: the same sum decides both
    assert t.changed((0, "p"), now=0.3) is None
    release = t.changed((0, "p"), now=0.35)
    assert release is not None and t.due(release) == [(0, "p")]


def test_writes_at_least_an_interval_apart() -> None:
    t = Throttle(1.0)
    writes: list[float] = []
    for i in range(400):
        now = i * 0.01
        if t.changed((0, "p"), now) is None:
            writes.append(now)
        if t.due(now):
            writes.append(now)
    assert writes == [0.0, 1.0, 2.0, 3.0]


def test_take_all_writes_every_deferred_product_early() -> None:
    t = Throttle(1.0)
    t.changed((0, "a"), 0.0)
    t.changed((0, "a"), 0.5)
    t.changed((1, "b"), 0.0)
    t.changed((1, "b"), 0.6)
    assert sorted(t.take_all(0.7)) == [(0, "a"), (1, "b")]
    assert t.take_all(0.8) == [] and t.changed((0, "a"), 1.2) == 1.7


def test_revoked_partitions_are_forgotten() -> None:
    t = Throttle(1.0)
    for key in ((0, "a"), (1, "b")):
        t.changed(key, 0.0)
        t.changed(key, 0.5)
    t.forget({1})
    assert t.due(1.0) == [(0, "a")]
    assert t.changed((1, "b"), 1.0) is None
