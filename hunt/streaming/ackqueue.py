"""Applied batches waiting for their snapshots, released strictly in order.

A batch may be acknowledged once every snapshot reflecting it was handed to
the producer: at once if it deferred none, else at the release time the
throttle gave for its last deferred product. Releasing them out of order would
lose events: Faust commits the first run of consecutive acknowledged offsets
and checks for a hole at the head only against an existing commit, and then
only a hole of more than one offset (``Consumer._new_offset``). So a batch is
released only with or after every batch applied before it.

Pure bookkeeping (no Faust), unit-tested in ``tests/unit/streaming``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["AckQueue"]

E = TypeVar("E")


class AckQueue(Generic[E]):
    """Batches of applied events in application order, each with its release time."""

    __slots__ = ("_batches", "_partition", "size")

    def __init__(self, partition: Callable[[E], int]) -> None:
        self._batches: deque[tuple[float, list[E]]] = deque()
        self._partition = partition
        self.size = 0  # events held

    def add(self, events: list[E], release: float | None) -> list[E]:
        """Hold ``events`` until ``release`` (None: no snapshot pending); return
        what may be acknowledged now: the batch itself if nothing is held before it."""
        if not events:
            return []
        if self._batches:
            last = self._batches[-1][0]  # release times never decrease
            if release is None or release < last:
                release = last
        elif release is None:
            return events
        self._batches.append((release, events))
        self.size += len(events)
        return []

    def release(self, now: float) -> list[E]:
        """Every batch whose release time has come, oldest first."""
        out: list[E] = []
        batches = self._batches
        while batches and batches[0][0] <= now:
            out.extend(batches.popleft()[1])
        self.size -= len(out)
        return out

    def drain(self) -> list[E]:
        """Everything held (its snapshots were just written early)."""
        out = [e for _, events in self._batches for e in events]
        self._batches.clear()
        self.size = 0
        return out

    def drop(self, partitions: set[int]) -> None:
        """Forget events of revoked partitions: never acknowledged, read again."""
        kept: deque[tuple[float, list[E]]] = deque()
        for release, events in self._batches:
            events = [e for e in events if self._partition(e) not in partitions]
            if events:
                kept.append((release, events))
        self._batches = kept
        self.size = sum(len(events) for _, events in kept)

    def __iter__(self) -> Iterator[E]:
        return (e for _, events in self._batches for e in events)
