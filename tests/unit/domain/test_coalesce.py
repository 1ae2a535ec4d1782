"""Snapshot coalescing: each changed product once per flush."""

from __future__ import annotations

from hunt.domain.coalesce import Coalescer


def test_changes_between_flushes_coalesce_into_one_record_each() -> None:
    c = Coalescer()
    c.mark(0, "p", now=10.0)
    c.mark(0, "p", now=10.5)
    c.mark(1, "q", now=10.2)
    assert c.oldest_pending() == 10.0
    assert sorted(c.take_all()) == [(0, "p"), (1, "q")]
    assert c.take_all() == [] and c.oldest_pending() is None


def test_revoked_partitions_are_forgotten() -> None:
    c = Coalescer()
    c.mark(0, "a", 0.0)
    c.mark(1, "b", 0.0)
    c.forget({1})
    assert c.take_all() == [(0, "a")]
