"""Which products need a new ``hunt.product-state`` record (SPEC section 3).

The contract allows at most one record per product per snapshot interval and
wants the last one current once input pauses for an interval. Products changed
since the last flush are collected here and written together by a flush that
runs once per interval: at most one record each, at most one interval late.
(A flush before a rebalance or shutdown may come early; it writes what it must
so that no acknowledged event is missing from the topic.)
"""

from __future__ import annotations

__all__ = ["Coalescer"]


class Coalescer:
    """Products changed since the last flush, per partition, with first-change time."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[int, dict[str, float]] = {}

    def mark(self, partition: int, product_id: str, now: float) -> None:
        self._pending.setdefault(partition, {}).setdefault(product_id, now)

    def take_all(self) -> list[tuple[int, str]]:
        """Every changed product, once; the set starts empty again."""
        ready = [
            (partition, pid) for partition, pending in self._pending.items() for pid in pending
        ]
        self._pending = {}
        return ready

    def oldest_pending(self) -> float | None:
        """First-change time of the longest-waiting product (for the lag metric)."""
        return min((t for p in self._pending.values() for t in p.values()), default=None)

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._pending.pop(partition, None)
