"""One partition of one micro-batch, as a transaction over the state table.

As in quix-streams' ``PartitionTransaction``: a product is read through the
batch's own changes first, then the worker's cache of recent products, then
RocksDB; events apply to it in memory; at the end (:meth:`prepare`) each
touched product is stored once, in one RocksDB ``WriteBatch``, with the view
index updated and no await between the two. What the changelog must receive
comes back as :class:`Prepared`, for the checkpoint to write
(:mod:`hunt.streaming.checkpoint`).

A record that raises half-way leaves its product as the batch found it plus
what the batch applied to it before (:meth:`failed`): a later record of that
product then applies to a copy, so a second failure cannot leave it half-changed
either.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from faust.types import TableT

from hunt.domain.coalesce import Throttle
from hunt.domain.dedup import DedupIndex, DedupPolicy
from hunt.domain.events import Event
from hunt.domain.processing import Outcome, apply_event
from hunt.domain.product import Alert, ProductState, Rules
from hunt.domain.view_index import ViewIndex
from hunt.streaming.store import PartitionStore

__all__ = ["PartitionTransaction", "Prepared", "Routed", "state_key"]

# (topic code, source, offset, event): one decoded record to apply on its home partition.
Routed = tuple[str, str, int, Event]


def state_key(product_id: str) -> bytes:
    return b"s\x00" + product_id.encode()


@dataclass(frozen=True, slots=True)
class Prepared:
    """One partition of a batch, applied and stored locally, its writes still to go."""

    partition: int
    release: float | None  # when its deferred snapshots will have been written
    changes: list[tuple[bytes, bytes | None]]  # changelog records, in write order
    write_now: list[ProductState]  # snapshots due at once
    expired: int  # demand windows that fell out of the hour


class PartitionTransaction:
    """The products of one partition a batch touches (see module docstring)."""

    __slots__ = (
        "_applied",
        "_cache",
        "_fragile",
        "dedup",
        "partition",
        "rules",
        "states",
        "store",
    )

    def __init__(
        self,
        table: TableT[Any, Any],
        partition: int,
        rules: Rules,
        policy: DedupPolicy,
        cache: OrderedDict[str, ProductState],
    ) -> None:
        self.partition = partition
        self.store = PartitionStore(table, partition)
        self.dedup = DedupIndex(self.store, policy)
        self.rules = rules
        self._cache = cache
        # Products a record applied to, and what each applied (to rebuild one that fails).
        self.states: dict[str, ProductState] = {}
        self._applied: dict[str, list[Routed]] = {}
        self._fragile: set[str] = set()  # products that failed once: later records get a copy

    def apply(self, routed: Routed) -> tuple[Outcome, list[Alert]]:
        """Apply one record to its product; raises if the rules fail on it."""
        code, source, offset, ev = routed
        pid = ev["product_id"]
        state = self.states.get(pid)
        if state is None:  # kept in ``states`` only once a record applied to it
            state = self._cache.pop(pid, None) or self.stored(pid)
        work = _detached(state) if pid in self._fragile else state
        outcome, alerts = apply_event(work, code, source, offset, ev, self.rules, self.dedup)
        self.states[pid] = work
        self._applied.setdefault(pid, []).append(routed)
        return outcome, alerts

    def failed(self, pid: str) -> None:
        """A record of ``pid`` raised in :meth:`apply`: it may have changed the
        product half-way, so rebuild it from the batch's start and what this batch
        applied to it before. (A product not in ``states`` yet is dropped and read
        again.)"""
        if pid in self.states and pid not in self._fragile:
            state = self.stored(pid)
            for code, source, offset, ev in self._applied.get(pid, ()):
                # The batch's dedup ids sit above the stored watermark, so they do
                # not count as duplicates again; alerts raised again are not sent.
                apply_event(state, code, source, offset, ev, self.rules, self.dedup)
            self.states[pid] = state
            self._fragile.add(pid)

    def stored(self, pid: str) -> ProductState:
        """A product as stored at the start of the batch (new if never seen)."""
        raw = self.store.get(state_key(pid))
        return ProductState.from_bytes(raw) if raw is not None else ProductState(pid)

    def prepare(
        self, snapshots: Throttle, now: float, cache_limit: int, views: ViewIndex | None
    ) -> Prepared:
        """Store every touched product once (RocksDB and ``views``, the partition's
        view index as it is now: no await between the two) and say what the
        changelog and the product-state topic get."""
        expired = 0
        release: float | None = None
        write_now: list[ProductState] = []
        cache, partition = self._cache, self.partition
        for pid, state in self.states.items():
            self.dedup.forget_expired(state)
            self.store.put(state_key(pid), state.to_bytes())
            if views is not None:
                views.put(state, [r[3] for r in self._applied.get(pid, ())])
            expired += state.take_expired_windows()
            deferred = snapshots.changed((partition, pid), now)
            if deferred is None:
                write_now.append(state)
            elif release is None or deferred > release:
                release = deferred
            cache[pid] = state
        while len(cache) > cache_limit:
            cache.popitem(last=False)
        return Prepared(partition, release, self.store.drain(), write_now, expired)


def _detached(state: ProductState) -> ProductState:
    """A copy sharing nothing with ``state`` (its stored form, read back)."""
    return ProductState.from_bytes(state.to_bytes())
