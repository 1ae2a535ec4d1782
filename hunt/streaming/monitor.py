"""Flow monitor: the periodic gauges and the readiness verdict, stall included.

Faust's most reported failure mode is the *silent stall*: the agent awaits
something that never completes (or the fetcher stops), the consumer keeps
heart-beating, nothing crashes, and an orchestrator sees a live process
forever. The monitor turns that into a failing ``/readyz``: an input
partition whose lag (broker end offset minus committed offset) stays above
zero while its committed offset does not move for ``HUNT_STALL_AFTER_S`` is
*stalled*. Committed offsets only move after the engine applied, snapshotted
and acknowledged events, so they measure real progress, not fetching.

The monitor reads a few private Faust/aiokafka attributes (committed offsets,
paused partitions, the producer's accumulator); each read is guarded, so a
Faust upgrade degrades a gauge to 0 instead of breaking the worker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faust.types import TP

from hunt.streaming.adapter.internals import (
    committed_offsets,
    consumer_diagnostics,
    partition_db,
    paused_partitions,
    queued_records,
)

if TYPE_CHECKING:
    from hunt.streaming.app import Hunt

__all__ = ["FlowMonitor", "Readiness", "install_monitor"]

log = logging.getLogger(__name__)

STATE_PREFIX = b"s\x00"  # table keys of product states (see transaction.state_key)
_MIN_TICK_S = 0.5  # finer ticks only cost broker round-trips (one ListOffsets per tick).
_MAX_TICK_S = 5.0  # a stall is noticed at most this late after HUNT_STALL_AFTER_S.


@dataclass(frozen=True)
class Readiness:
    """Why a worker is or is not ready; ``/readyz`` renders it as JSON."""

    assigned: bool
    recovered: bool
    rebalancing: bool
    stalled_partitions: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return (
            self.assigned
            and self.recovered
            and not self.rebalancing
            and (not self.stalled_partitions)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "assigned": self.assigned,
            "recovered": self.recovered,
            "rebalancing": self.rebalancing,
            "stalled_partitions": self.stalled_partitions,
        }


class FlowMonitor:
    """Samples lag and progress per input partition and updates hunt's gauges."""

    def __init__(self, hunt: Hunt, now: Any = time.monotonic) -> None:
        self.hunt = hunt
        self.stall_after_s = hunt.settings.stall_after_s
        self.interval_s = min(_MAX_TICK_S, max(_MIN_TICK_S, self.stall_after_s / 4))
        self._now = now
        t = hunt.topics
        self.input_topics = frozenset((t.behavior, t.inventory, t.reroute))
        # Per partition: the last committed offset seen and when it (or a zero lag) was seen.
        self._marker: dict[TP, int | None] = {}
        self._moved_at: dict[TP, float] = {}
        self.lag: dict[TP, int] = {}
        self.stalled: set[TP] = set()
        self._labelled: set[TP] = set()
        self._rebalancing_since: float | None = None  # when the current rebalance began
        self._rebalance_reported = False

    # -- verdicts --------------------------------------------------------------------

    def readiness(self) -> Readiness:
        app = self.hunt.app
        try:
            assigned = bool(app.consumer.assignment())
        except Exception:  # consumer not started yet
            assigned = False
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        recovered = recovery.completed.is_set() and not app.in_recovery
        return Readiness(
            assigned=assigned,
            recovered=recovered,
            rebalancing=bool(app.rebalancing),
            stalled_partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in self.stalled),
        )

    # -- sampling --------------------------------------------------------------------

    def observe(self, lag: dict[TP, int], committed: dict[TP, int | None]) -> set[TP]:
        """Fold one sample into the stall state; pure bookkeeping, so unit-testable.

        A partition makes progress when its committed offset changes; a partition
        with no lag is never stalled (an idle shop is not a stuck worker).
        """
        now = self._now()
        for tp in list(self._marker):
            if tp not in lag:  # revoked: its new owner tracks it.
                self._marker.pop(tp, None)
                self._moved_at.pop(tp, None)
        stalled: set[TP] = set()
        for tp, behind in lag.items():
            marker = committed.get(tp)
            if tp not in self._marker or self._marker[tp] != marker or behind <= 0:
                self._moved_at[tp] = now
            self._marker[tp] = marker
            if behind > 0 and now - self._moved_at[tp] >= self.stall_after_s:
                stalled.add(tp)
        if stalled - self.stalled:
            log.error(
                "input stalled: no progress for %.0fs with lag on %s (%s)",
                self.stall_after_s,
                ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in stalled)),
                self._fetch_states(stalled),
            )
        self.stalled = stalled
        self.lag = lag
        return stalled

    def _fetch_states(self, tps: set[TP]) -> str:
        """aiokafka's view of stalled partitions, for the log: the first clue."""
        try:
            engine = self.hunt.engine
            lines = consumer_diagnostics(self.hunt.app.consumer, tps)
            return "; ".join(
                f"{tp.topic}[{tp.partition}]: {line}"
                f" | engine: assigned={tp.partition in engine.assigned}"
                f" pending={engine.pending_for(tp)}"
                for tp, line in lines.items()
            )
        except Exception as exc:  # diagnostics only; never fail the monitor for them
            return f"fetch state unavailable: {exc!r}"

    async def tick(self) -> None:
        """One sample: lag, stall, flow-control gauges, readiness gauge."""
        app = self.hunt.app
        m = self.hunt.metrics
        if app.rebalancing or app.in_recovery:
            # Offsets are being reset and partitions move: restart every stall clock.
            self._marker.clear()
            self._moved_at.clear()
            self.stalled = set()
            self._observe_rebalance(True)
        else:
            self._observe_rebalance(False)
            await self._sample_lag()
        m.stalled.set(len(self.stalled))
        m.paused.set(self._paused_partitions())
        m.producer_queue.set(self._producer_queue_depth())
        m.products.set(self._products_tracked())
        m.ready.set(1 if self.readiness().ready else 0)

    def _observe_rebalance(self, rebalancing: bool) -> None:
        """Report a rebalance or table recovery that does not end: the lag clocks
        stand still meanwhile, so no partition can be reported stalled."""
        if not rebalancing:
            self._rebalancing_since, self._rebalance_reported = None, False
            return
        now = self._now()
        if self._rebalancing_since is None:
            self._rebalancing_since = now
        elif not self._rebalance_reported and now - self._rebalancing_since >= self.stall_after_s:
            self._rebalance_reported = True
            app = self.hunt.app
            log.error(
                "rebalance not finished after %.0fs (rebalancing=%s, in_recovery=%s, "
                "recovery completed=%s, flow active=%s)",
                now - self._rebalancing_since,
                app.rebalancing,
                app.in_recovery,
                app.tables.recovery.completed.is_set(),  # type: ignore[attr-defined]
                app.flow_control.is_active(),
            )

    async def _sample_lag(self) -> None:
        consumer = self.hunt.app.consumer
        try:
            inputs = [tp for tp in consumer.assignment() if tp.topic in self.input_topics]
        except Exception:
            return
        ends: dict[TP, int] = {}
        if inputs:
            try:
                ends = dict(await consumer.highwaters(*inputs))
            except Exception as exc:  # broker unreachable: keep the last verdict.
                log.warning("could not read end offsets: %r", exc)
                return
        committed_map = committed_offsets(consumer)
        committed = {tp: committed_map.get(tp) for tp in inputs}
        lag = {tp: max(0, int(ends.get(tp, 0)) - int(committed[tp] or 0)) for tp in inputs}
        self.observe(lag, committed)
        gauge = self.hunt.metrics.lag
        for tp in self._labelled - lag.keys():  # revoked: its new owner reports it.
            gauge.remove(tp.topic, str(tp.partition))
        for tp, behind in lag.items():
            gauge.labels(tp.topic, str(tp.partition)).set(behind)
        self._labelled = set(lag)

    def _paused_partitions(self) -> int:
        paused = paused_partitions(self.hunt.app.consumer)
        return sum(1 for tp in paused if tp.topic in self.input_topics)

    def _producer_queue_depth(self) -> int:
        producer = self.hunt.app.producer
        depth = 0
        try:
            depth += producer.buffer.pending.qsize()
        except AttributeError:
            pass
        try:
            depth += queued_records(self.hunt.app)
        except AttributeError:
            pass
        return depth

    def _products_tracked(self) -> int:
        """Products in this worker's active table partitions (standbys excluded)."""
        engine = self.hunt.engine
        count = 0
        for partition in active_partitions(self.hunt):
            db: Any = partition_db(engine.table, partition)  # raw mode: keys are bytes
            for key in db.keys(from_key=STATE_PREFIX):
                if not key.startswith(STATE_PREFIX):
                    break
                count += 1
        return count


def active_partitions(hunt: Hunt) -> set[int]:
    """Partitions whose table DB this worker owns (active) in the current assignment."""
    changelog = hunt.topics.changelog
    try:
        actives = hunt.app.assignor.assigned_actives()
    except Exception:
        return set()
    return {tp.partition for tp in actives if tp.topic == changelog}


def install_monitor(hunt: Hunt) -> FlowMonitor:
    """Create the monitor and run it on a Faust timer (so it starts and stops with the app)."""
    monitor = FlowMonitor(hunt)

    @hunt.app.timer(monitor.interval_s, name="hunt.monitor")  # type: ignore[untyped-decorator]
    async def _monitor() -> None:
        try:
            await monitor.tick()
        except Exception:  # a gauge must never take the worker down.
            log.exception("monitor tick failed")

    return monitor
