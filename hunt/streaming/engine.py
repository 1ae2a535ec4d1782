"""The batch engine: input records in, product state, alerts, DLQ and snapshots out.

The Faust agent hands over micro-batches of un-acknowledged events. Per source
partition, in offset order, each record is decoded once, dead-lettered if bad,
forwarded if it sits off its product's home partition, or applied to the
product's state in the partition's transaction (:mod:`hunt.streaming.transaction`;
:mod:`hunt.domain.processing` guards replays and duplicates). Each touched
product is stored once per batch; the checkpoint (:mod:`hunt.streaming.checkpoint`)
then writes the batch's changelog records and the snapshots due now, in the
order it states once. A touched product's snapshot is written at the end of
the batch unless it was written less than a snapshot interval ago; then the
snapshot ticker writes it when the interval is up (:mod:`hunt.domain.coalesce`).
Events are acknowledged to Faust only after the snapshots that reflect them
were handed to the producer: at once if the batch deferred no product, else
when its last deferred product is written (:mod:`hunt.streaming.ackqueue`).

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
from typing import Any

import faust
import orjson
from faust.types import TP, Message, TableT

from hunt.config import Settings
from hunt.domain.coalesce import Throttle
from hunt.domain.dedup import DedupPolicy
from hunt.domain.errors import INTERNAL_ERROR, OutOfRange, Rejected
from hunt.domain.events import Event, Limits, parse_behavior, parse_inventory
from hunt.domain.processing import Outcome
from hunt.domain.product import Alert, ProductState, Rules
from hunt.domain.view_index import ViewIndexes
from hunt.streaming.ackqueue import AckQueue
from hunt.streaming.adapter.internals import aiokafka_producer
from hunt.streaming.adapter.sensors import BatchSensors
from hunt.streaming.checkpoint import Checkpoint
from hunt.streaming.continuity import Continuity
from hunt.streaming.fencing import CoordinatorFence, PauseGuard
from hunt.streaming.intake import Intake
from hunt.streaming.metrics import Metrics
from hunt.streaming.outputs import OutputFailed, Outputs
from hunt.streaming.records import ALERT_SCHEMA, dlq_record, forwarded_headers, source_of
from hunt.streaming.routing import home_partition
from hunt.streaming.store import PartitionStore
from hunt.streaming.transaction import PartitionTransaction, Prepared, Routed, state_key

__all__ = ["Engine", "EngineTopics", "state_key"]

log = logging.getLogger(__name__)

_APPROX_EVENT_BYTES = 1500  # a Message + value until acked: measured with an Event too, so high.
_UNACKED_SHARE = 0.15  # share of the memory budget that applied-but-unacked events may use.
_STATE_CACHE_SHARE = 0.10  # share of the memory budget for parsed product states.
_APPROX_STATE_BYTES = 8000  # a product with an hour of windows, as Python objects.
# Share of the memory budget for the /top and /stock index (view_index.py): a product
# with an hour of windows takes 4.9 KB, 8.3 KB if it sold in every one (revenue strings),
# so 512 MiB holds 6-10k; past its share a partition is scanned instead.
_VIEW_INDEX_SHARE = 0.10


@dataclass(frozen=True, slots=True)
class _Forward:
    """A record that belongs on another home partition: where to forward it."""

    home: int
    key: bytes  # the product id, the reroute record's key
    code: str  # its input topic's code
    record_ts: int | None


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
        self._idle.set()
        self.intake: Intake | None = None  # set by the agent when it starts
        self.sensors = BatchSensors(app.sensors)
        # Applied batches waiting for their deferred snapshots, acked in order.
        self._held: AckQueue[Message] = AckQueue(_partition_of)
        self.snapshots = Throttle(settings.snapshot_interval_s)
        self._room = asyncio.Event()
        self._room.set()
        self.recent_alerts: list[Alert] = []
        self.stream_time = 0  # newest event time applied on this worker (ms); /top uses it.
        self.continuity = Continuity(
            app, (topics.behavior, topics.inventory, topics.reroute), metrics
        )
        self.outputs = Outputs(lambda: aiokafka_producer(app), fence, self._failed)
        self.checkpoint = Checkpoint(
            self.outputs,
            table,
            topics.changelog,
            topics.product_state,
            metrics,
            lambda partition: partition in self.assigned,
            self._current,
        )
        self.rejoin: Callable[[], Awaitable[None]] | None = None  # set by the app
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

    async def process(self, events: Sequence[Message]) -> None:
        """Apply one micro-batch, write the snapshots it may write now, ack or hold it."""
        if self.failed:
            return  # not acknowledged: read again from the commit after the reset
        self.in_batch = True  # stays True if the batch is cancelled half-way (see worker)
        self._idle.clear()
        applied: list[Message] = []
        release: float | None = None
        alerts: list[asyncio.Future[Any]] = []
        written: list[Prepared] = []
        try:
            groups: dict[int, list[Message]] = {}
            for message in events:
                groups.setdefault(message.partition, []).append(message)
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
            await self.checkpoint.write_through(written, alerts)
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
        self.metrics.latency.observe(max(0.0, now - events[-1].timestamp))
        fill = self._held.size / self.max_unacked
        self.metrics.buffer_fill.set(fill)
        if fill >= 1.0:
            # Back-pressure: stop taking input until the ticker acks; Faust then
            # pauses fetching for partitions whose stream buffer is full.
            self._room.clear()
            await self._room.wait()

    async def _process_partition(
        self, partition: int, events: list[Message], alerts_sent: list[asyncio.Future[Any]]
    ) -> Prepared:
        """Apply ``events`` of one partition and store its products locally; send its
        alerts (into ``alerts_sent``). The checkpoint writes the rest."""
        if self.guard is not None:
            self.guard.check()  # a paused worker's batch may belong to another worker now
        tx = PartitionTransaction(
            self.table,
            partition,
            self.rules,
            self.policy,
            self._cache.setdefault(partition, OrderedDict()),
        )
        counts: Counter[tuple[str, str]] = Counter()
        rerouted = 0
        self._busy = partition
        for msg in events:
            pid = ""
            try:
                routed = self._route(msg, partition)
                if isinstance(routed, _Forward):
                    await self._forward(msg, routed)
                    rerouted += 1
                    continue
                pid = routed[3]["product_id"]
                outcome, alerts = tx.apply(routed)
            except OutputFailed:
                raise
            except Exception as exc:
                tx.failed(pid)
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
            code, ev = routed[0], routed[3]
            if outcome is not Outcome.REPLAYED:
                counts[code, outcome.value] += 1
                if ev["ts"] > self.stream_time:
                    self.stream_time = ev["ts"]
            for alert in alerts:
                alerts_sent.append(await self._emit_alert(alert))
        views = self.views.writer(partition)  # as it is now: no await until stored
        prepared = tx.prepare(self.snapshots, time.monotonic(), self.cache_per_partition, views)
        self._busy = None
        m = self.metrics
        for (code, outcome_name), n in counts.items():
            m.events.labels(self.names[code], outcome_name).inc(n)
        if rerouted:
            m.rerouted.inc(rerouted)
        if prepared.expired:
            m.windows_expired.inc(prepared.expired)
        return prepared

    def _route(self, msg: Message, partition: int) -> Routed | _Forward:
        """Decode ``msg``: (topic code, source, offset, event) to apply here, or where
        to forward it (its product's home partition). Raises ``Rejected``.

        Not a coroutine: one per record cost 6% of the worker's CPU draining a
        backlog (py-spy), and only a record to forward has something to await.
        """
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
        return _Forward(home, pid_bytes, code, record_ts)

    async def _forward(self, msg: Message, to: _Forward) -> None:
        """Send a record to its product's home partition, naming where it came from."""
        await self.outputs.send(
            self.topics.reroute,
            to.key,
            msg.value,
            partition=to.home,
            timestamp_ms=to.record_ts,
            headers=forwarded_headers(to.code, msg.partition, msg.offset),
        )

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

    async def tick(self) -> None:
        """Write the deferred snapshots whose interval is up; ack what they release."""
        if self.guard is not None:
            self.guard.check()
        if self.failed:
            return
        now = time.monotonic()
        try:
            await self.checkpoint.write_due(self.snapshots.due(now))
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
            await self.checkpoint.write_due(self.snapshots.take_all(time.monotonic()))
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
        self.checkpoint.invalidate()
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

    def _ack(self, messages: list[Message]) -> None:
        assigned = self.assigned
        ack = self.app.consumer.ack
        done: list[Message] = []
        for message in messages:
            # A partition revoked meanwhile is not ours to ack: Faust has dropped
            # its bookkeeping, and a stale ack could make it commit backwards.
            # ``Consumer.ack`` is what ``Stream.ack`` ends in, besides its sensors.
            if message.partition in assigned and ack(message):
                done.append(message)
        self.sensors.acknowledged(done)

    def _room_for_more(self) -> None:
        self.metrics.buffer_fill.set(self._held.size / self.max_unacked)
        if self._held.size < self.max_unacked:
            self._room.set()

    async def heal(self, positions: Callable[[set[TP]], dict[TP, int | None]]) -> None:
        """Rewind partitions whose fetched records never arrived (see continuity.py)."""
        if self.intake is None or not self.assigned or self.failed:
            return
        waiting = self.intake.waiting()
        waiting.update(m.tp for m in self._held)
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
        await self.checkpoint.barrier()  # a snapshot hand-over under way goes first
        await self.app.producer.flush()
        self._held.drop(partitions)
        self._room_for_more()
        self.snapshots.forget(partitions)
        for partition in partitions:
            self._cache.pop(partition, None)

    def pending_for(self, tp: TP) -> str:
        """Applied-but-unacked events of ``tp`` (offset range), for stall diagnostics."""
        offsets = [m.offset for m in self._held if m.tp == tp]
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


def _partition_of(message: Message) -> int:
    return message.partition


def _record_ts(msg: Message) -> int | None:
    """The record's Kafka timestamp in ms (Faust keeps it in seconds), None if unset."""
    ts = msg.timestamp
    if ts is None or ts < 0:
        return None
    return round(ts * 1000)
