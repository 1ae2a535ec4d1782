"""Faust's aiokafka consumer with five changes: rewind partitions that have no
commit, seek on the consumer's own thread, a fetch loop that hands the agent
one record list per partition per fetch (see ``_drain_messages``), a short
fetch long-poll, and commits gated on the outputs and never recorded unless
made (see ``_commit_offsets``).

During a rebalance Faust abandons messages it has already fetched (the
``suspend_flow`` wait in ``Consumer._drain_messages``) and relies on seeking
every partition back to its committed offset afterwards. aiokafka's
``seek_to_committed`` skips a partition whose committed offset is missing or
0, so for a partition the group never committed (a new deployment, or one
whose owners were killed before their first commit) the abandoned messages
are never fetched again: they are silently skipped and the partition looks
stalled. Measured here with two workers killed and restarted in quick
succession. Such partitions are sought to their beginning instead, which
re-reads from the start; hunt's per-product watermarks skip what was applied.
Every input partition's start (its commit, or its log start) is kept in
``start_offsets``: the engine's offset guard must know where each partition's
first record is due, since Faust can drop the first records it delivers after a
rebalance (see :mod:`hunt.streaming.intake`).

Faust runs the aiokafka consumer in a thread of its own, but its
``ThreadDelegateConsumer._seek`` calls aiokafka's ``seek`` straight from the
main thread. aiokafka's seek deletes the partition's prefetched records while
the consumer thread may be iterating them in ``fetched_records``: measured in
the scale 1→3→1 chaos scenario as ``KeyError: TopicPartition(…-changelog, 1)``
at ``del self._records[tp]``, which crashed the worker during table recovery
(the recovery service seeks changelog partitions). Seeks are therefore handed
to the consumer thread, like every other call Faust makes on it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode import Service, ServiceT

from hunt.streaming.adapter.inbox import Inbox
from hunt.streaming.fencing import CoordinatorFence

__all__ = ["FETCH_MAX_WAIT_MS", "FETCH_MIN_BYTES", "RewindingConsumer"]

log = logging.getLogger(__name__)

# Faust hard-codes aiokafka's fetch_max_wait_ms to 1500. aiokafka keeps one fetch
# in flight per broker and leaves partitions with unread records out of it, so
# while those are read the next fetch may hold only idle partitions (the reroute
# topic, a quiet inventory partition) and the broker holds it for the full wait:
# the busy partitions are not fetched again until it returns. Measured at 50%
# load (``hunt bench --only hunt,latency --scale 0.5``): latency p50 ~1.3 s in 3
# runs of 5 with 1500, 86 ms with 50. An idle worker pays one empty fetch per wait.
FETCH_MAX_WAIT_MS = 50
# aiokafka's default of 1 byte answers a fetch as soon as one record is there, so
# live traffic arrived in fetches of a few records, each a request, a response to
# parse and two thread hand-offs: the consumer thread took a third of the worker's
# CPU at 25% load. 16 KiB (~120 events) cut the worker's CPU per event at 25%
# load from 248 to 135 us, but each event then waited for the fetch to fill and
# for the long batch before it: at 25% load a 16 KiB fetch takes ~35 ms to fill.
# 4 KiB (~30 events), measured with ``hunt bench --only hunt,latency`` (2-3 runs
# each, precise reader): p99 at 50% load 72-82 -> 50-60 ms, p50 at 25% load
# 29 -> 13 ms, throughput unchanged.
FETCH_MIN_BYTES = 4 << 10


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # private: _fetch_max_wait_ms (AIOKafkaConsumer)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by start() for its fetcher
        consumer._fetch_min_bytes = FETCH_MIN_BYTES  # private: _fetch_min_bytes
        return consumer

    async def on_start(self) -> None:
        await super().on_start()
        fence = cast(RewindingConsumer, self.consumer).fence
        if fence is not None:
            # private: _consumer, _coordinator (AIOKafkaConsumer, AIOKafkaConsumerThread)
            _listen_to_coordinator(cast(Any, self._consumer)._coordinator, fence)


def _listen_to_coordinator(coordinator: Any, fence: CoordinatorFence) -> None:
    """Tell ``fence`` each time aiokafka's group coordinator answers.

    aiokafka keeps the time of its last good heartbeat in a local variable of
    its heartbeat loop; the two calls whose success proves the group still
    holds this member are wrapped instead: a heartbeat answered (also while
    the group rebalances) and a join completed.
    """
    do_heartbeat = coordinator._do_heartbeat  # private: _do_heartbeat
    on_join_complete = coordinator._on_join_complete  # private: _on_join_complete

    @functools.wraps(do_heartbeat)
    async def heartbeat() -> bool:
        ok: bool = await do_heartbeat()
        if ok:
            fence.heard()
        return ok

    @functools.wraps(on_join_complete)
    async def join_complete(*args: Any, **kwargs: Any) -> Any:
        result = await on_join_complete(*args, **kwargs)
        fence.heard()
        return result

    coordinator._do_heartbeat = heartbeat  # private: _do_heartbeat
    coordinator._on_join_complete = join_complete  # private: _on_join_complete


class RewindingConsumer(faust_aiokafka.Consumer):
    """See module docstring."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    #: Where reading of each input partition began at the last seek to the
    #: commits: the committed offset, or the log start for a partition without
    #: one. The engine's offset guard expects each partition's first record there.
    start_offsets: Mapping[TP, int] = MappingProxyType({})

    #: Set while the fetch loop has handed every fetched record to the
    #: conductor (it waits for the next fetch): the intake's cue that a batch
    #: is complete, instead of a fixed wait (see :mod:`hunt.streaming.intake`).
    delivered: asyncio.Event

    #: Told each time the group coordinator answers; the engine's writes
    #: stop when it has been silent too long (set by :func:`hunt.streaming.app.build`).
    fence: CoordinatorFence | None = None

    #: Asked right before offsets are committed (after Faust flushed the
    #: producer): False while an output the offsets depend on is not written.
    commit_gate: Callable[[], Awaitable[bool]] | None = None

    #: Where records of the agent's input topics go, one list per partition per
    #: fetch, instead of one ``Event`` each through Faust's conductor (set by
    #: the agent when it starts: :mod:`hunt.streaming.adapter.inbox`).
    inbox: Inbox | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.delivered = asyncio.Event()
        # What the group holds as committed, as last seen: read at the seek to the
        # commits, or written by a commit that went through (see _commit_offsets).
        self.group_committed: dict[TP, int | None] = {}

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        gate = self.commit_gate
        generation = self.app.consumer_generation_id
        if gate is not None and not await gate():
            log.info("not committing %d partitions: an output was not written", len(offsets))
            return False
        if self.app.consumer_generation_id != generation:
            # The group rebalanced while the gate waited: these offsets were acked
            # before, and a reset may have cleared the failure the gate waited for.
            log.info("not committing %d partitions: the group rebalanced meanwhile", len(offsets))
            return False
        committed: bool = await super()._commit(offsets)
        if committed:
            self.group_committed.update(offsets)
        return committed

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        """Faust's, without taking offsets it did not commit for committed.

        Faust records the offsets as committed whether or not ``_commit`` went
        through. A commit refused above then counted as done: the worker saw no
        lag, acks below that offset were dropped as already committed, and the
        group's commit stayed behind for good once the input ended (measured:
        chaos scenario 9, refused writes, timed out in 2 of 3 full-suite runs
        with every output exact and nothing logged after the last reset).
        """
        done: bool = await super()._commit_offsets(offsets, start_new_transaction)
        if not done:
            recorded = self._committed_offset  # private: _committed_offset (Consumer)
            for tp, offset in offsets.items():
                if recorded.get(tp) == offset:
                    recorded[tp] = self.group_committed.get(tp)
        return done

    async def rejoin(self) -> None:
        """Leave the current generation: the group rebalances and every partition
        is read again from its commit."""
        thread = self._thread  # private: _thread

        async def on_thread() -> None:
            # private: _coordinator, _ensure_consumer (AIOKafkaConsumer, AIOKafkaConsumerThread)
            thread._ensure_consumer()._coordinator.request_rejoin()

        await thread.call_thread(on_thread)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        acking = self.app.topics.acks_enabled_for
        starts: dict[TP, int] = {}
        fresh: list[TP] = []
        for tp, offset in committed.items():
            tp = TP(tp.topic, tp.partition)
            self.group_committed[tp] = offset or None  # as Faust's perform_seek reads it
            if not acking(tp.topic):
                continue  # changelogs and Faust's own topics: its recovery positions them
            if offset:
                starts[tp] = offset
            else:
                fresh.append(tp)
        if fresh:
            beginnings = await self.earliest_offsets(*fresh)
            for tp in fresh:
                start = beginnings.get(tp) or 0
                await self.seek(tp, start)
                starts[tp] = start
        self.start_offsets = starts
        return committed

    def fetch_states(self, tps: Iterable[TP]) -> dict[TP, Any]:
        """aiokafka's per-partition fetch state (position, reset, paused), or None.

        Read from the consumer thread's state without a round trip: single
        attribute reads; a stale value only delays a decision by one tick.
        """
        # private: _thread, _ensure_consumer, _subscription (Faust's consumer thread, aiokafka)
        assignment = self._thread._ensure_consumer()._subscription.subscription.assignment
        out: dict[TP, Any] = {}
        for tp in tps:
            try:
                out[tp] = assignment.state_value(tp)
            except Exception:  # not assigned (any more)
                out[tp] = None
        return out

    def positions(self, tps: set[TP]) -> dict[TP, int | None]:
        """aiokafka's fetch position (next offset it will return) per partition."""
        return {
            # private: _position (TopicPartitionState)
            tp: None if st is None else st._position
            for tp, st in self.fetch_states(tps).items()
        }

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        """Faust's fetch, without losing what it fetched across a stop of the flow.

        A fetch can wait on the consumer thread for up to ``timeout`` and come
        back after a rebalance stopped the flow; Faust then drops its records,
        though aiokafka has moved past them. If a table recovery sought a
        changelog partition meanwhile, those were the records it sought back
        to: it then waits for ever for offsets nobody fetches again (measured
        in the chaos suite's rolling restart: a worker stuck in "Restoring
        state" after changelog records 3173..3496 were dropped this way). So
        each partition is put back to its first dropped record, unless it was
        sought elsewhere since.
        """
        records, active = await super()._wait_next_records(timeout)
        if records and not self.flow_active:
            await self._put_back(records)
            return {}, active
        return records, active

    async def fetch(self, timeout: float) -> list[tuple[TP, list[Message]]]:
        """Faust's ``getmany``, one list of messages per partition per fetch.

        Faust yields the fetch record by record, in a round-robin over the
        partitions, and sets its end-offset gauge (``track_tp_end_offset``: the
        Monitor and a labelled Prometheus series) again for every record,
        though the high watermark is one number per partition per fetch (5% of
        the worker's CPU draining a backlog, py-spy). Here each partition's
        records come as one list, in offset order, and the gauge is set once.
        The flow and generation checks Faust makes per record are made by
        ``_drain_messages`` per list.
        """
        records, active_partitions = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return []
        if not self.flow_active:
            try:
                await self.perform_seek()
            except Exception as ex:
                log.warning("exception performing seek when flow not active %s", ex)
            return []
        buffered = self._buffered_partitions  # private: _buffered_partitions
        track = self.app.monitor.track_tp_end_offset
        to_message = self._to_message  # private: _to_message
        fetched: list[tuple[TP, list[Message]]] = []
        for tp, partition_records in records.items():
            if partition_records and (
                active_partitions is None or tp in active_partitions or tp in buffered
            ):
                track(tp, self.highwater(tp))
                fetched.append((tp, [to_message(tp, record) for record in partition_records]))
        return fetched

    async def _put_back(self, records: Mapping[Any, list[Any]]) -> None:
        spans = {tp: (rs[0].offset, rs[-1].offset + 1) for tp, rs in records.items() if rs}
        thread = self._thread  # private: _thread

        async def on_thread() -> None:
            states = self.fetch_states(spans)
            for tp, (first, after) in spans.items():
                state = states[tp]  # None: not ours any more, its next owner reads it
                if state is not None and state.has_valid_position and state.position == after:
                    log.info(
                        "fetched %s %d..%d across a flow stop: read again", tp, first, after - 1
                    )
                    thread.seek(tp, first)

        await thread.call_thread(on_thread)

    async def _seek(self, partition: TP, offset: int) -> None:
        thread = self._thread  # private: _thread

        async def on_thread() -> None:
            thread.seek(partition, offset)

        await thread.call_thread(on_thread)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust's fetch loop, without its per-message race and its read-offset drop.

        Faust awaits each message's delivery through ``Service.wait_first``
        against the flow-suspend event, which creates four tasks per message
        and cancels three (measured with py-spy: the largest single cost of
        Faust's per-message path). Here delivery is awaited directly. What the
        race guarded is kept another way: a rebalance stops this loop's task
        (``App._stop_fetcher``), which cancels a delivery blocked on flow
        control, and a delivery that finishes after the consumer generation
        moved on ends the batch.

        A record is handed to the conductor only while flow control is on, and
        only if its consumer generation is still current. The conductor waits
        for flow control before it queues a record, so a record held there by
        a rebalance was queued after the rebalance, in the new generation.
        Measured in the full chaos rolling restart (2 runs of 26): a table
        recovery was interrupted, the next one sought the changelog partition
        back to 5417, and the held record 6909 of the old fetch reached it
        first; Faust's recovery then skipped 5417..6908 as already seen, and the
        state restored was older than the changelog (events lost).

        Faust also drops every record below the highest offset it delivered
        and marks forward jumps as gaps it may commit past. Both defeat a
        rewind: records fetched before a seek keep raising that offset, the
        re-read is then dropped as "already read", and the skipped offsets are
        marked committable although nobody applied them (measured in the chaos
        suite's rolling restart: holes, lost events). Every record is delivered
        here; :mod:`hunt.streaming.sequence` orders them, skips re-reads by
        offset, and marks as gaps only offsets shown to hold no records.
        """
        callback = self.callback
        fetch = self.fetch
        consumer_should_stop = cast(Service, self)._stopped.is_set  # private: _stopped
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set  # private: _stopped
        suspended = self.suspend_flow.is_set
        app = self.app
        flow_active = app.flow_control.is_active
        acquire_flow = app.flow_control.acquire
        get_read_offset = self._read_offset.__getitem__  # private: _read_offset
        set_read_offset = self._read_offset.__setitem__  # private: _read_offset
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every  # private: _commit_every
        yield_every = 100  # Faust's value: lets the loop serve other tasks in a long batch.
        num_since_yield = 0
        sleep = asyncio.sleep
        delivered = self.delivered
        inbox = self.inbox
        if inbox is not None:
            inbox.recount()
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                delivered.set()
                fetched = await fetch(timeout=1.0)
                if fetched and not self.should_stop:
                    delivered.clear()
                    for tp, messages in fetched:
                        # private: _n_acked (Consumer)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0  # private: _n_acked
                            await self.commit()
                        if suspended():
                            break
                        generation = messages[0].generation_id
                        if not flow_active():
                            # Faust's conductor would wait here and then deliver the
                            # records into the new generation (see the docstring).
                            await acquire_flow()
                            if generation != app.consumer_generation_id:
                                break
                        if inbox is not None and tp.topic in inbox.topics:
                            await inbox.room()
                            if suspended() or generation != app.consumer_generation_id:
                                break
                            inbox.put(messages)
                        else:
                            for message in messages:
                                num_since_yield += 1
                                if num_since_yield > yield_every:
                                    await sleep(0)
                                    num_since_yield = 0
                                await callback(message)
                                if message.generation_id != app.consumer_generation_id:
                                    break
                            if generation != app.consumer_generation_id:
                                break
                        last = messages[-1].offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or last > r_offset:
                            set_read_offset(tp, last)
                    delivered.set()
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)
