"""The checkpoint: the order a batch's outputs take, written down once.

Per micro-batch, once every partition's transaction is prepared
(:mod:`hunt.streaming.transaction`: products applied and stored locally):

1. the batch's alerts are acknowledged by the broker, because the changelog
   record about to be written moves each product's watermark past their events
   and a replay would not raise them again;
2. each partition's changelog records (product states, dedup ids) are handed to
   the producer as record batches on the changelog partition; when the broker
   acknowledges them, the store records how far the changelog holds the
   partition, as Faust's own table does, so a clean restart restores the tail;
3. the snapshots due now go out as record batches to the product's home
   partition of ``hunt.product-state`` (deferred ones when their interval is up,
   :meth:`Checkpoint.write_due`); only then are the batch's events acknowledged
   to Faust (the engine holds them until their deferred snapshots are out);
4. Faust's commit flushes the producer and asks :meth:`Outputs.settled`, which
   waits for every record in flight and refuses while any output failed; only
   then are the acknowledged offsets committed.

A write that fails or is refused stops the engine (:mod:`hunt.streaming.engine`).

Snapshots go out one hand-over at a time: aiokafka's ``send_batch`` waits until
the partition's earlier batch has left the accumulator, and two waiting
hand-overs may go in either order, so a timer holding an older state could
land after the batch path's newer one (measured in the full-scale SIGKILL
scenario: a product's last snapshot 3 events behind its state). Each
hand-over reads its states under the lock and skips a revoked partition; on
revoke, :meth:`Checkpoint.barrier` lets the hand-over under way reach the
producer before the flush.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from faust.types import TP, TableT

from hunt.domain.coalesce import Key
from hunt.domain.product import ProductState
from hunt.streaming.metrics import Metrics
from hunt.streaming.outputs import OutputFailed, Outputs
from hunt.streaming.records import STATE_SCHEMA
from hunt.streaming.transaction import Prepared

__all__ = ["Checkpoint"]

_FLUSH_SLICE = 256  # snapshots written between yields: a 10k-product flush took ~150 ms.


class Checkpoint:
    """Steps 1-3 for each batch, and the deferred snapshots (see module docstring)."""

    def __init__(
        self,
        outputs: Outputs,
        table: TableT[Any, Any],
        changelog: str,
        product_state: str,
        metrics: Metrics,
        owns: Callable[[int], bool],
        current: Callable[[int, str], ProductState | None],
    ) -> None:
        self.outputs = outputs
        self.table = table
        self.changelog = changelog
        self.product_state = product_state
        self.metrics = metrics
        self._owns = owns  # the partition is this worker's right now
        self._current = current  # a product's newest applied state
        self._lock = asyncio.Lock()  # one snapshot hand-over at a time
        self._epoch = 0  # bumped when the local tables are wiped

    def invalidate(self) -> None:
        """The local tables were wiped: acknowledgements still in flight must not
        move their partitions' persisted offsets (they restore from the start)."""
        self._epoch += 1

    async def write_through(
        self, prepared: list[Prepared], alerts: list[asyncio.Future[Any]]
    ) -> None:
        """Steps 1-3 for one batch; one wait for its alerts, not one per partition."""
        if alerts:
            await asyncio.wait(alerts)
            if self.outputs.failure is not None:
                raise OutputFailed(self.outputs.failure)
        for part in prepared:
            await self._write_changelog(part.partition, part.changes)
            if part.write_now:
                await self._hand_over(part.partition, partial(list, part.write_now))

    async def write_due(self, keys: list[Key]) -> None:
        """Deferred snapshots, each product's newest state as it is when handed over."""
        for start in range(0, len(keys), _FLUSH_SLICE):
            if start:
                await asyncio.sleep(0)  # let batches (and their alerts) through meanwhile
            by_partition: dict[int, list[str]] = {}
            for partition, pid in keys[start : start + _FLUSH_SLICE]:
                by_partition.setdefault(partition, []).append(pid)
            for partition, pids in by_partition.items():
                await self._hand_over(partition, partial(self._newest, partition, pids))

    def _newest(self, partition: int, pids: list[str]) -> list[ProductState]:
        found = (self._current(partition, pid) for pid in pids)
        return [s for s in found if s is not None]

    async def _hand_over(self, partition: int, states: Callable[[], list[ProductState]]) -> None:
        """Snapshots of ``states()``, read under the lock, unless the partition was
        revoked (its next owner writes them)."""
        async with self._lock:
            if self._owns(partition):
                found = states()
                if found:
                    await self._send_snapshots(partition, found)

    async def barrier(self) -> None:
        """Return once the snapshot hand-over under way (if any) reached the producer."""
        async with self._lock:
            pass

    async def _write_changelog(
        self, partition: int, changes: list[tuple[bytes, bytes | None]]
    ) -> None:
        sent = await self.outputs.send_batch(self.changelog, partition, changes)
        if sent is None:
            return
        fut, count = sent
        store: Any = self.table.data
        tp = TP(self.changelog, partition)
        epoch = self._epoch

        def persisted(f: asyncio.Future[Any]) -> None:
            if epoch == self._epoch and not f.cancelled() and f.exception() is None:
                store.set_persisted_offset(tp, f.result().offset + count - 1)

        fut.add_done_callback(persisted)

    async def _send_snapshots(self, partition: int, states: list[ProductState]) -> None:
        """Snapshots of one home partition, as record batches to that partition of
        the product-state topic (partitioned as the inputs are). Caller holds the lock."""
        await self.outputs.send_batch(
            self.product_state,
            partition,
            [(s.product_id.encode(), orjson.dumps(s.snapshot())) for s in states],
            timestamps_ms=[s.last_event_ts for s in states],
            headers=STATE_SCHEMA,
        )
        self.metrics.snapshots.inc(len(states))
