"""The Faust app: settings, topics, the state table and the one batch agent.

Everything here is wiring; the rules live in :mod:`hunt.domain` and the batch
path in :mod:`hunt.streaming.engine`.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.types import TP

from hunt.config import Settings
from hunt.streaming.adapter.consumer import RewindingConsumer
from hunt.streaming.adapter.inbox import Inbox
from hunt.streaming.adapter.queues import install_changelog_queue
from hunt.streaming.engine import Engine, EngineTopics
from hunt.streaming.fencing import TICK_S, CoordinatorFence, PauseGuard, producer_timeout_s
from hunt.streaming.intake import Intake, RawSchema
from hunt.streaming.memory import MemoryPlan
from hunt.streaming.metrics import Metrics
from hunt.streaming.producer import LeanBufferProducer

__all__ = ["Hunt", "build"]

log = logging.getLogger(__name__)

TABLE_NAME = "state"
SNAPSHOT_TICK_S = 0.05  # a deferred snapshot is written at most 50 ms after its interval is up.


@dataclass
class Hunt:
    """The pieces a worker, the web views and tests need to reach."""

    app: faust.App
    engine: Engine
    settings: Settings
    metrics: Metrics
    topics: EngineTopics
    memory: MemoryPlan


def _credentials(settings: Settings) -> Any:
    proto = settings.security_protocol
    if proto == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=settings.ssl_cafile or None)
    if proto == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password,
        mechanism=settings.sasl_mechanism,
        ssl_context=context if proto == "SASL_SSL" else None,
    )


def build(settings: Settings, metrics: Metrics | None = None) -> Hunt:
    """Create the Faust app with hunt's table, agent and snapshot timer."""
    plan = MemoryPlan.from_settings(settings)
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        broker_credentials=_credentials(settings),
        store="rocksdb://",
        datadir=str(settings.data_dir / "faust"),
        autodiscover=False,
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        canonical_url=settings.web_url,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,  # a changelog record acked by one replica only can vanish.
        # Every output of a batch is sent in one loop turn, so they share requests
        # anyway; a longer linger only delays them. Measured at 50% load
        # (``hunt bench --only hunt,latency``): p50 25 -> 22 ms with 5 -> 1 ms.
        producer_linger=0.001,
        producer_max_batch_size=plan.producer_batch_bytes,
        # A record that cannot be written fails within this (see fencing.py), so a
        # worker cut off from the group has stopped writing before it is evicted.
        producer_request_timeout=producer_timeout_s(settings.session_timeout_s),
        consumer_max_fetch_size=plan.fetch_bytes_per_partition,
        stream_buffer_maxsize=plan.stream_buffer_events,
        broker_commit_interval=1.0,  # events are acked at most one snapshot interval after applied.
        # No standby replicas: a worker that became active for a partition it had
        # been a standby of restored a product state older than the changelog and
        # lost events whose input offsets were committed (chaos rolling SIGTERM:
        # 2 of 5 runs with a 50 ms fetch wait, once in a fresh-clone SIGKILL run;
        # 0 of 10 without standbys). A new owner restores from the changelog.
        # Likely cause, found later without standbys: records held across a
        # rebalance reaching the next recovery (consumer.py); not re-measured.
        table_standby_replicas=0,
        # Faust would wait for every delivered event to be acked at a rebalance or
        # stop, but events still in its take-buffer are never handed over then, so
        # it can wait for ever. Not waiting is safe here: the engine acks nothing of
        # a revoked partition and every partition is re-read from its commit.
        stream_wait_empty=False,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 5,  # Kafka's 1:3+ rule, with room.
        # Faust's built-in views expose internals and raw table data: off unless asked.
        web_router_enabled=settings.debug_views,
        web_tables_enabled=settings.debug_views,
        web_graph_enabled=settings.debug_views,
        web_stats_enabled=settings.debug_views,
    )
    fence = CoordinatorFence(settings.session_timeout_s)

    class Consumer(RewindingConsumer):
        pass

    Consumer.fence = fence
    cast(Any, app.transport).Consumer = Consumer  # before Faust makes its consumer
    cast(Any, app.transport).Producer = LeanBufferProducer  # ... and its producer
    topics = EngineTopics(
        behavior=settings.topics.behavior,
        inventory=settings.topics.inventory,
        reroute=f"{settings.app_id}-reroute",
        alerts=settings.topics.alerts,
        product_state=settings.topics.product_state,
        dlq=settings.topics.dlq,
        changelog=f"{settings.app_id}-{TABLE_NAME}-changelog",
    )
    install_changelog_queue(app)  # before the table registers its changelog channel
    table = app.Table(
        TABLE_NAME,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        options=plan.rocksdb_options(),
    )
    metrics = metrics or Metrics()
    engine = Engine(app, table, settings, topics, metrics, fence)
    Consumer.commit_gate = engine.outputs.settled

    async def rejoin() -> None:
        await cast(RewindingConsumer, app.consumer).rejoin()

    engine.rejoin = rejoin
    source = app.topic(
        topics.behavior,
        topics.inventory,
        topics.reroute,
        schema=RawSchema(),
        partitions=settings.partitions,
    )

    @app.agent(source, name="hunt.process")
    async def process(stream: Any) -> None:
        consumer = cast(RewindingConsumer, app.consumer)
        consumer.inbox = Inbox(stream.channel.queue, frozenset(source.topics))
        intake = Intake(
            stream, settings.batch_max, settings.batch_within_s, consumer.delivered, consumer.inbox
        )
        engine.intake = intake
        async for messages in intake:
            try:
                await engine.process(messages)
            except Exception as exc:
                # Faust would ack the batch and go on, losing it; stop instead, so the
                # un-acked events are processed again after the restart.
                log.exception("engine failed on a batch; stopping the worker")
                await app.crash(exc)
                raise

    @app.timer(min(SNAPSHOT_TICK_S, settings.snapshot_interval_s), name="hunt.snapshots")  # type: ignore[untyped-decorator]
    async def snapshots() -> None:
        await engine.tick()

    @app.timer(settings.snapshot_interval_s, name="hunt.heal")  # type: ignore[untyped-decorator]
    async def heal() -> None:
        engine.observe_lag()
        await engine.heal(cast(RewindingConsumer, app.consumer).positions)

    guard = PauseGuard(settings.session_timeout_s)
    engine.guard = guard

    @app.timer(TICK_S, name="hunt.alive")  # type: ignore[untyped-decorator]
    async def alive() -> None:
        guard.check()
        guard.tick()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(app: faust.App, **_: Any) -> None:
        await engine.on_shutdown()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app: faust.App, assigned: set[TP], **_: Any) -> None:
        engine.on_assigned({tp.partition for tp in assigned if tp.topic in source.topics})

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def on_rebalance_complete(app: faust.App, **_: Any) -> None:
        # Faust sends ``on_partitions_assigned`` after starting table recovery, and
        # a recovery with nothing to read can resume the input partitions before
        # that: the engine then skipped their first events as not owned (measured:
        # a 22-offset head gap that stalled the commit and lost the events). This
        # signal comes before the input partitions are resumed and sought.
        engine.on_assigned(
            {tp.partition for tp in app.consumer.assignment() if tp.topic in source.topics}
        )
        engine.on_rebalance_complete()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: set[TP], **_: Any) -> None:
        await engine.on_revoked({tp.partition for tp in revoked if tp.topic in source.topics})

    return Hunt(app, engine, settings, metrics, topics, plan)
