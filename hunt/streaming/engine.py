"""The batch engine: input records in, product state, alerts, DLQ and snapshots out.

The Faust agent hands over micro-batches of un-acknowledged events. Per source
partition, in offset order, each record is decoded once, dead-lettered if bad,
forwarded if it sits off its product's home partition, or applied to the
product's state (:mod:`hunt.domain.processing` guards replays and duplicates).
Each touched product is written once per batch, with its dedup ids before it
on the same changelog partition. A touched product's snapshot is written at
the end of the batch unless it was written less than a snapshot interval ago;
then the snapshot ticker writes it when the interval is up
(:mod:`hunt.domain.coalesce`). Events are acknowledged only after the
snapshots that reflect them were handed to the producer: at once if the batch
deferred no product, else when its last deferred product is written.

The checkpoint, in order:

1. alerts of a batch are acknowledged by the broker before the batch's
   changelog records are sent (a product's changelog record moves its
   watermark past the events, so a replay would not raise the alerts again);
2. the changelog records are sent, then the local RocksDB holds them;
3. snapshots are sent; events are acknowledged to Faust (held until their
   deferred snapshots are sent);
4. Faust flushes the producer and commits, but only if every output sent so
   far was acknowledged (:meth:`Outputs.settled`, asked by the consumer).

A write that fails or is refused (:mod:`hunt.streaming.outputs`) stops the
engine: nothing more is applied, acknowledged or committed, the local tables
are wiped (they may hold writes the changelog lacks) and the worker rejoins
its group, so every partition is restored from its changelog and read again
from its last commit, as after a crash, without leaving the process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import faust
import orjson
from faust.types import TP, EventT, Message, TableT

from hunt.config import Settings
from hunt.domain.coalesce import Key, Throttle
from hunt.domain.dedup import DedupIndex, DedupPolicy
from hunt.domain.errors import INTERNAL_ERROR, OutOfRange, Rejected
from hunt.domain.events import Event, Limits, parse_behavior, parse_inventory
from hunt.domain.processing import Outcome, apply_event
from hunt.domain.product import Alert, ProductState, Rules
from hunt.domain.view_index import ViewIndexes
from hunt.streaming.ackqueue import AckQueue
from hunt.streaming.adapter.internals import aiokafka_producer, queued
from hunt.streaming.adapter.sensors import BatchSensors
from hunt.streaming.continuity import Continuity
from hunt.streaming.fencing import CoordinatorFence, PauseGuard
from hunt.streaming.metrics import Metrics
from hunt.streaming.outputs import OutputFailed, Outputs
from hunt.streaming.records import (
    ALERT_SCHEMA,
    STATE_SCHEMA,
    dlq_record,
    forwarded_headers,
    source_of,
)
from hunt.streaming.routing import home_partition
from hunt.streaming.store import PartitionStore

__all__ = ["Engine", "EngineTopics", "state_key"]

log = logging.getLogger(__name__)

_APPROX_EVENT_BYTES = 1500  # a Faust Event + Message + value held until acked, measured order.
_UNACKED_SHARE = 0.15  # share of the memory budget that applied-but-unacked events may use.
_FLUSH_SLICE = 256  # snapshots written between yields: a 10k-product flush took ~150 ms.
_STATE_CACHE_SHARE = 0.10  # share of the memory budget for parsed product states.
_APPROX_STATE_BYTES = 8000  # a product with an hour of windows, as Python objects.
# Share of the memory budget for the /top and /stock index (view_index.py): a product
# with an hour of windows takes 4.9 KB, 8.3 KB if it sold in every one (revenue strings),
# so 512 MiB holds 6-10k; past its share a partition is scanned instead.
_VIEW_INDEX_SHARE = 0.10


def state_key(product_id: str) -> bytes:
    return b"s\x00" + product_id.encode()


@dataclass(frozen=True)
class EngineTopics:
    """Topic names the engine reads and writes (resolved from settings at start)."""

    behavior: str
    inventory: str
    reroute: str
    alerts: str
    product_state: str
    dlq: str
    changelog: str


class Engine:
    """Applies batches and emits outputs; owns no Faust objects beyond the table."""

    def __init__(
        self,
        app: faust.App,
        table: TableT[Any, Any],
        settings: Settings,
        topics: EngineTopics,
        metrics: Metrics,
        fence: CoordinatorFence,
    ) -> None:
        self.app = app
        self.table = table
        self.topics = topics
        self.metrics = metrics
        self.partitions = settings.partitions
        self.rules = Rules(settings.low_stock_minutes, settings.spike_floor, settings.spike_factor)
        self.policy = DedupPolicy(settings.dedup_horizon_ms, settings.dedup_grace_ms)
        self.limits = Limits(settings.max_record_bytes, int(settings.max_future_s * 1000))
        self.codes = {topics.behavior: "b", topics.inventory: "i"}
        self.names = {"b": topics.behavior, "i": topics.inventory}
        self.parsers: dict[str, Callable[[bytes | None, int | None, Limits], Event]] = {
            "b": parse_behavior,
            "i": parse_inventory,
        }
        self.max_unacked = max(
            settings.batch_max * 2,
            int(settings.memory_budget_bytes * _UNACKED_SHARE / _APPROX_EVENT_BYTES),
        )
        # Products recently touched, per partition, so a hot product is not parsed
        # from RocksDB on every batch. Writes still go to RocksDB and the changelog.
        self._cache: dict[int, OrderedDict[str, ProductState]] = {}
        self.cache_per_partition = max(
            100,
            int(settings.memory_budget_bytes * _STATE_CACHE_SHARE / _APPROX_STATE_BYTES)
            // settings.partitions,
        )
        # What /top and /stock read, per home partition, fed as products are written.
        self.views = ViewIndexes(
            int(settings.memory_budget_bytes * _VIEW_INDEX_SHARE) // settings.partitions,
            settings.low_stock_minutes,
        )
        self._busy: int | None = None  # the partition a batch is changing right now
        self.guard: PauseGuard | None = None  # set by the app: exits if we were paused
        self.in_batch = False
        self.stopping = False
        self.assigned: set[int] = set()  # partition numbers this worker owns right now
        self._idle = asyncio.Event()  # set while no batch is being applied
        self._snapshot_lock = asyncio.Lock()  # one snapshot hand-over at a time (_send_snapshots)
        self._idle.set()
        self.stream: faust.StreamT[Any] | None = None
        self.sensors = BatchSensors(app.sensors)
        # Applied batches waiting for their deferred snapshots, acked in order.
        self._held: AckQueue[EventT[Any]] = AckQueue(_partition_of)
        self.snapshots = Throttle(settings.snapshot_interval_s)
        self._room = asyncio.Event()
        self._room.set()
        self.recent_alerts: list[Alert] = []
        self.stream_time = 0  # newest event time applied on this worker (ms); /top uses it.
        self.continuity = Continuity(
            app, (topics.behavior, topics.inventory, topics.reroute), metrics
        )
        self.outputs = Outputs(lambda: aiokafka_producer(app), fence, self._failed)
        self.rejoin: Callable[[], Awaitable[None]] | None = None  # set by the app
        self._epoch = 0  # bumped when the local tables are wiped after a failed write
        self._reset_asked = False  # the rejoin after a failed write was requested
        self._revoked_since_reset = False
        self._resetting: asyncio.Future[None] | None = None

    @property
    def failed(self) -> bool:
        """An output failed: nothing is applied or acknowledged until the reset."""
        return self.outputs.failure is not None

    @property
    def dirty(self) -> bool:
        """The local tables may hold writes the changelog lacks (restore them on start)."""
        return self.in_batch or self.failed

    # -- the batch path ----------------------------------------------------------------

    async def process(self, events: Sequence[EventT[Any]]) -> None:
        """Apply one micro-batch, write the snapshots it may write now, ack or hold it."""
        if self.failed:
            return  # not acknowledged: read again from the commit after the reset
        self.in_batch = True  # stays True if the batch is cancelled half-way (see worker)
        self._idle.clear()
        applied: list[EventT[Any]] = []
        release: float | None = None
        alerts: list[asyncio.Future[Any]] = []
        written: list[_Applied] = []
        try:
            groups: dict[int, list[EventT[Any]]] = {}
            for event in events:
                groups.setdefault(event.message.partition, []).append(event)
            for partition, group in groups.items():
                # Events buffered before a rebalance may be of a partition that is not
                # ours any more: skip them un-acked; whoever owns it re-reads them.
                if partition in self.assigned:
                    group = await self.continuity.in_sequence(group)
                    if group:
                        result = await self._process_partition(partition, group, alerts)
                        written.append(result)
                        applied.extend(group)
                        deferred = result.release
                        if deferred is not None and (release is None or deferred > release):
                            release = deferred
            await self._write_through(written, alerts)
        except OutputFailed:
            self.in_batch = False
            return
        finally:
            self._idle.set()
        self.in_batch = False
        self._ack(self._held.add(applied, release))
        if self.stopping:
            await self.flush()
        self.metrics.batch_size.observe(len(events))
        now = time.time()
        self.metrics.latency.observe(max(0.0, now - events[-1].message.timestamp))
        fill = self._held.size / self.max_unacked
        self.metrics.buffer_fill.set(fill)
        if fill >= 1.0:
            # Back-pressure: stop taking input until the ticker acks; Faust then
            # pauses fetching for partitions whose stream buffer is full.
            self._room.clear()
            await self._room.wait()

    async def _write_through(
        self, written: list[_Applied], alerts: list[asyncio.Future[Any]]
    ) -> None:
        """Checkpoint steps 1-3 for one batch: alerts acknowledged, then the changelog
        records and the snapshots due now. One wait per batch, not per partition."""
        if alerts:
            # The changelog moves the watermarks past these alerts' events.
            await asyncio.wait(alerts)
            if self.failed:
                raise OutputFailed(self.outputs.failure)
        for result in written:
            await self._write_changelog(result.partition, result.changes)
            await self._write_snapshot_batch(result.partition, result.write_now)

    async def _process_partition(
        self, partition: int, events: list[EventT[Any]], alerts_sent: list[asyncio.Future[Any]]
    ) -> _Applied:
        """Apply ``events`` of one partition and store its products locally; send its
        alerts (into ``alerts_sent``). Its changelog and snapshots are written by
        :meth:`_write_through`."""
        if self.guard is not None:
            self.guard.check()  # a paused worker's batch may belong to another worker now
        store = PartitionStore(self.table, partition)
        dedup = DedupIndex(store, self.policy)
        cache = self._cache.setdefault(partition, OrderedDict())
        states: dict[str, ProductState] = {}
        counts: Counter[tuple[str, str]] = Counter()
        rerouted = 0
        self._busy = partition
        # What each product applied in this batch, to rebuild it if a record fails.
        applied_here: dict[str, list[tuple[str, str, int, Event]]] = {}
        fragile: set[str] = set()  # products that failed once: later records get a copy
        for event in events:
            msg = event.message
            routed: tuple[str, str, int, Event] | None = None
            pid = ""
            try:
                routed = await self._route(msg, partition)
                if routed is None:
                    rerouted += 1
                    continue
                code, source, offset, ev = routed
                pid = ev["product_id"]
                state = states.get(pid)
                if state is None:  # kept in ``states`` only once a record applied to it
                    state = cache.pop(pid, None) or self._stored(store, pid)
                work = _detached(state) if pid in fragile else state
                outcome, alerts = apply_event(work, code, source, offset, ev, self.rules, dedup)
            except OutputFailed:
                raise
            except Exception as exc:
                if pid in states and pid not in fragile:
                    # It may have changed the product half-way: rebuild it from the
                    # batch's start and what this batch applied to it before. (A
                    # product not in ``states`` yet is dropped and read again.)
                    states[pid] = self._rebuilt(store, dedup, pid, applied_here.get(pid, ()))
                    fragile.add(pid)
                if isinstance(exc, Rejected):
                    await self._dead_letter(msg, exc.code, exc.message)
                else:
                    log.exception(
                        "hunt failed on the record at %s[%d]@%d; dead-lettered as %s",
                        msg.topic,
                        msg.partition,
                        msg.offset,
                        INTERNAL_ERROR,
                    )
                    await self._dead_letter(msg, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
                continue
            states[pid] = work
            applied_here.setdefault(pid, []).append(routed)
            if outcome is not Outcome.REPLAYED:
                counts[code, outcome.value] += 1
                if ev["ts"] > self.stream_time:
                    self.stream_time = ev["ts"]
            for alert in alerts:
                alerts_sent.append(await self._emit_alert(alert))
        now = time.monotonic()
        expired = 0
        release: float | None = None
        write_now: list[ProductState] = []
        views = self.views.writer(partition)
        for pid, state in states.items():
            dedup.forget_expired(state)
            store.put(state_key(pid), state.to_bytes())
            if views is not None:  # written to RocksDB below, with no await between
                views.put(state, [r[3] for r in applied_here.get(pid, ())])
            expired += state.take_expired_windows()
            deferred = self.snapshots.changed((partition, pid), now)
            if deferred is None:
                write_now.append(state)
            elif release is None or deferred > release:
                release = deferred
            cache[pid] = state
        while len(cache) > self.cache_per_partition:
            cache.popitem(last=False)
        self._busy = None
        m = self.metrics
        for (code, outcome_name), n in counts.items():
            m.events.labels(self.names[code], outcome_name).inc(n)
        if rerouted:
            m.rerouted.inc(rerouted)
        if expired:
            m.windows_expired.inc(expired)
        return _Applied(partition, release, store.drain(), write_now)

    @staticmethod
    def _stored(store: PartitionStore, pid: str) -> ProductState:
        """A product as stored at the start of the batch (new if never seen)."""
        raw = store.get(state_key(pid))
        return ProductState.from_bytes(raw) if raw is not None else ProductState(pid)

    def _rebuilt(
        self,
        store: PartitionStore,
        dedup: DedupIndex,
        pid: str,
        applied: Sequence[tuple[str, str, int, Event]],
    ) -> ProductState:
        """``pid`` as it was before the record that failed: stored state plus ``applied``.

        The batch's dedup ids sit above the stored watermark, so they do not
        count as duplicates again; alerts raised again are not sent again.
        """
        state = self._stored(store, pid)
        for code, source, offset, ev in applied:
            apply_event(state, code, source, offset, ev, self.rules, dedup)
        return state

    async def _route(self, msg: Message, partition: int) -> tuple[str, str, int, Event] | None:
        """Decode ``msg``: (topic code, source, offset, event) to apply here, or None
        once forwarded to its product's home partition. Raises ``Rejected``."""
        record_ts = _record_ts(msg)
        if msg.topic == self.topics.reroute:
            code, source_partition, offset = source_of(msg.headers, self.partitions, partition)
            ev = self.parsers[code](msg.value, record_ts, self.limits)
            if home_partition(ev["product_id"].encode(), self.partitions) != partition:
                raise OutOfRange(
                    f"product {ev['product_id'][:40]!r} does not live on reroute partition "
                    f"{partition}"
                )
            return code, f"{code}{source_partition}", offset, ev
        code = self.codes[msg.topic]
        ev = self.parsers[code](msg.value, record_ts, self.limits)
        pid_bytes = ev["product_id"].encode()
        home = home_partition(pid_bytes, self.partitions)
        if home == partition:
            return code, f"{code}{partition}", msg.offset, ev
        await self.outputs.send(
            self.topics.reroute,
            pid_bytes,
            msg.value,
            partition=home,
            timestamp_ms=record_ts,
            headers=forwarded_headers(code, partition, msg.offset),
        )
        return None

    async def _write_changelog(
        self, partition: int, changes: list[tuple[bytes, bytes | None]]
    ) -> None:
        changelog = self.topics.changelog
        sent = await self.outputs.send_batch(changelog, partition, changes)
        if sent is not None:
            # Record how far the changelog holds this partition's local writes, as
            # Faust's own table does, so a clean restart restores only the tail.
            fut, count = sent
            store: Any = self.table.data
            tp = TP(changelog, partition)
            epoch = self._epoch

            def persisted(f: asyncio.Future[Any]) -> None:
                # After a wipe the partition is restored from the start instead.
                if epoch == self._epoch and not f.cancelled() and f.exception() is None:
                    store.set_persisted_offset(tp, f.result().offset + count - 1)

            fut.add_done_callback(persisted)

    async def _dead_letter(self, msg: Message, code: str, message: str) -> None:
        key, value, headers = dlq_record(
            msg.key,
            msg.value,
            code=code,
            message=message,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            max_bytes=self.limits.max_record_bytes,
        )
        await self.outputs.send(
            self.topics.dlq, key, value, timestamp_ms=_record_ts(msg), headers=headers
        )
        self.metrics.events.labels(msg.topic, "dead_lettered").inc()
        self.metrics.dead_lettered.labels(msg.topic, code).inc()

    async def _emit_alert(self, alert: Alert) -> asyncio.Future[Any]:
        fut = await self.outputs.send(
            self.topics.alerts,
            alert["product_id"].encode(),
            orjson.dumps(alert),
            timestamp_ms=alert["ts"],
            headers=ALERT_SCHEMA,
        )
        self.metrics.alerts.labels(alert["kind"]).inc()
        self.recent_alerts.append(alert)
        if len(self.recent_alerts) > 1000:  # the /alerts view shows the newest few hundred.
            del self.recent_alerts[:500]
        return fut

    # -- snapshots and acks ------------------------------------------------------------

    async def _write_snapshot_batch(self, partition: int, states: list[ProductState]) -> None:
        """The batch path's snapshots of one home partition (see :meth:`_send_snapshots`)."""
        if not states:
            return
        async with self._snapshot_lock:
            if partition in self.assigned:  # revoked meanwhile: its next owner writes them
                await self._send_snapshots(partition, states)

    async def _send_snapshots(self, partition: int, states: list[ProductState]) -> None:
        """Snapshots of products of one home partition, as record batches to that
        partition of the product-state topic (partitioned as the inputs are).

        The caller holds ``_snapshot_lock`` from reading the states until they are
        handed over. aiokafka's ``send_batch`` waits until the partition's earlier
        batch has left the accumulator, and two waiting hand-overs may go in either
        order: a snapshot timer holding an older state could land after the batch
        path's newer one, or after a new owner's once the partition moved (measured
        in the full-scale SIGKILL scenario: a product's last snapshot 3 events
        behind its state). One hand-over at a time, in the order they asked, keeps
        each product's snapshots in the order of its states.
        """
        await self.outputs.send_batch(
            self.topics.product_state,
            partition,
            [(s.product_id.encode(), orjson.dumps(s.snapshot())) for s in states],
            timestamps_ms=[s.last_event_ts for s in states],
            headers=STATE_SCHEMA,
        )
        self.metrics.snapshots.inc(len(states))

    async def tick(self) -> None:
        """Write the deferred snapshots whose interval is up; ack what they release."""
        if self.guard is not None:
            self.guard.check()
        if self.failed:
            return
        now = time.monotonic()
        try:
            await self._write_snapshots(self.snapshots.due(now))
        except OutputFailed:
            return
        self._ack(self._held.release(now))
        self._room_for_more()

    async def flush(self) -> None:
        """Write every deferred snapshot now and ack everything applied (before a
        rebalance or a stop: early, so that the commit may cover every event)."""
        if self.guard is not None:
            self.guard.check()
        if self.failed:
            return
        try:
            await self._write_snapshots(self.snapshots.take_all(time.monotonic()))
        except OutputFailed:
            return
        self._ack(self._held.drain())
        self._room_for_more()

    # -- redoing the work after a failed write ---------------------------------------

    def _failed(self, reason: str) -> None:
        """An output failed or was refused (see module docstring): start the reset."""
        self.metrics.resets.inc()
        self._room.set()  # a batch waiting for room must see the failure and stop
        self._resetting = asyncio.ensure_future(self._reset())

    async def _reset(self) -> None:
        await self._idle.wait()  # the batch in flight stops at its next write
        self._epoch += 1
        self._held.drain()  # never acknowledged: read again from the commit
        self.snapshots.forget(set(self._cache) | self.assigned)
        self._cache.clear()
        self.views.clear()
        for partition in sorted(self.assigned):
            PartitionStore(self.table, partition).wipe(TP(self.topics.changelog, partition))
        log.warning(
            "local tables of partitions %s wiped; rejoining the group to restore them "
            "from the changelog and read every partition again from its commit",
            sorted(self.assigned),
        )
        self._reset_asked = True
        if self.rejoin is not None:
            await self.rejoin()

    def on_rebalance_complete(self) -> None:
        """After the rebalance that follows a reset, outputs may be written again."""
        if self.failed and self._reset_asked and self._revoked_since_reset:
            self._reset_asked = self._revoked_since_reset = False
            self.outputs.reset()
            self._room_for_more()
            log.warning("resumed after a failed write: every partition restored and re-read")

    def observe_lag(self) -> None:
        """How long the longest-deferred product has waited for its snapshot."""
        oldest = self.snapshots.oldest_deferred()
        lag = 0.0 if oldest is None else time.monotonic() - oldest
        self.metrics.snapshot_lag.set(lag)

    async def _write_snapshots(self, keys: list[Key]) -> None:
        for start in range(0, len(keys), _FLUSH_SLICE):
            if start:
                await asyncio.sleep(0)  # let batches (and their alerts) through meanwhile
            by_partition: dict[int, list[str]] = {}
            for partition, pid in keys[start : start + _FLUSH_SLICE]:
                by_partition.setdefault(partition, []).append(pid)
            for partition, pids in by_partition.items():
                async with self._snapshot_lock:  # states read as they are when handed over
                    if partition not in self.assigned:
                        continue  # revoked: its next owner writes them
                    found = (self._current(partition, pid) for pid in pids)
                    states = [s for s in found if s is not None]
                    if states:
                        await self._send_snapshots(partition, states)

    def _current(self, partition: int, pid: str) -> ProductState | None:
        """A product's newest applied state (None if not stored)."""
        # A batch half-way through this partition has changed cached states that are
        # not stored yet: read those from the store instead.
        cache = self._cache.get(partition) if partition != self._busy else None
        state = cache.get(pid) if cache is not None else None
        if state is None:
            raw = PartitionStore(self.table, partition).get(state_key(pid))
            if raw is None:
                return None
            state = ProductState.from_bytes(raw)
        return state

    def _ack(self, events: list[EventT[Any]]) -> None:
        if self.stream is None:
            return
        assigned = self.assigned
        done: list[Message] = []
        for event in events:
            # A partition revoked meanwhile is not ours to ack: Faust has dropped
            # its bookkeeping, and a stale ack could make it commit backwards.
            # ``Event.ack`` is what ``Stream.ack`` does besides its per-event sensors.
            if event.message.partition in assigned and event.ack():
                done.append(event.message)
        self.sensors.acknowledged(done)

    def _room_for_more(self) -> None:
        self.metrics.buffer_fill.set(self._held.size / self.max_unacked)
        if self._held.size < self.max_unacked:
            self._room.set()

    async def heal(self, positions: Callable[[set[TP]], dict[TP, int | None]]) -> None:
        """Rewind partitions whose fetched records never arrived (see continuity.py)."""
        if self.stream is None or not self.assigned or self.failed:
            return
        waiting = {e.message.tp for e in queued(cast(Any, self.stream.channel).queue)}
        waiting.update(e.message.tp for e in self._held)
        await self.continuity.heal(self.assigned, waiting, positions)

    async def on_revoked(self, partitions: set[int]) -> None:
        """Give up revoked partitions without acking anything more of them.

        The batch in flight finishes and its writes reach the broker first (the
        next owner restores from them); then un-acked events, pending snapshots and
        cached states of the partitions are dropped. Every owner re-reads its
        partitions from the committed offset after a rebalance, so the dropped
        events come again, are skipped by watermark, and mark their products for
        a snapshot again.
        """
        self.assigned -= partitions
        self.views.drop(partitions)  # the next owner (maybe us) restores from the changelog
        if self._reset_asked:
            self._revoked_since_reset = True
        await self._idle.wait()
        async with self._snapshot_lock:
            pass  # a snapshot hand-over under way reaches the producer before the flush
        await self.app.producer.flush()
        self._held.drop(partitions)
        self._room_for_more()
        self.snapshots.forget(partitions)
        for partition in partitions:
            self._cache.pop(partition, None)

    def pending_for(self, tp: TP) -> str:
        """Applied-but-unacked events of ``tp`` (offset range), for stall diagnostics."""
        offsets = [
            e.message.offset
            for e in self._held
            if e.message.topic == tp.topic and e.message.partition == tp.partition
        ]
        return f"{len(offsets)}:{min(offsets, default=None)}..{max(offsets, default=None)}"

    def on_assigned(self, partitions: set[int]) -> None:
        self.views.drop(self.views.partitions() - partitions)
        self.assigned = set(partitions)
        self.continuity.reset()  # Faust seeks every partition to its commit after a rebalance

    async def on_shutdown(self) -> None:
        """Write every deferred snapshot and ack everything before Faust's last commit.

        From here on each batch is flushed as soon as it is applied: Faust waits
        for every delivered event to be acked before it stops, and the ticker is
        no longer running.
        """
        self.stopping = True
        await self._idle.wait()
        await self.flush()

    def read_state(self, product_id: str) -> ProductState | None:
        """This worker's copy of a product (None if absent or not stored here)."""
        partition = home_partition(product_id.encode(), self.partitions)
        raw = PartitionStore(self.table, partition).get(state_key(product_id))
        return ProductState.from_bytes(raw) if raw is not None else None


@dataclass(frozen=True, slots=True)
class _Applied:
    """One partition of a batch, applied and stored locally, its writes still to go."""

    partition: int
    release: float | None  # when its deferred snapshots will have been written
    changes: list[tuple[bytes, bytes | None]]  # changelog records, in write order
    write_now: list[ProductState]  # snapshots due at once


def _partition_of(event: EventT[Any]) -> int:
    return event.message.partition


def _detached(state: ProductState) -> ProductState:
    """A copy sharing nothing with ``state`` (its stored form, read back)."""
    return ProductState.from_bytes(state.to_bytes())


def _record_ts(msg: Message) -> int | None:
    """The record's Kafka timestamp in ms (Faust keeps it in seconds), None if unset."""
    ts = msg.timestamp
    if ts is None or ts < 0:
        return None
    return round(ts * 1000)
