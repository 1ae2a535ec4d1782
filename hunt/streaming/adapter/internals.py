"""Small typed accessors for the upstream internals that have no public API.

Each function reads or writes one private attribute of Faust, mode, aiokafka
or asyncio, marked ``# private:`` on its line, so the rest of hunt names what
it needs (the aiokafka producer, a partition's RocksDB) and never the
attribute. ``tests/unit/test_upstream.py`` lists every attribute and fails
when one is touched outside this package or vanishes upstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, TypeVar, cast

import faust
from aiokafka import AIOKafkaProducer
from faust.types import TP, TableT
from mode import Service
from rocksdict import Rdict

__all__ = [
    "add_gap",
    "aiokafka_producer",
    "committed_offsets",
    "consumer_diagnostics",
    "crash_reason",
    "enabled_blueprints",
    "partition_db",
    "paused_partitions",
    "queued",
    "queued_records",
    "set_enabled_blueprints",
]

T = TypeVar("T")


def aiokafka_producer(app: faust.App) -> AIOKafkaProducer:
    """The aiokafka producer inside Faust's producer: hunt sends record batches with
    explicit partitions through it (Faust's own ``send`` takes one record)."""
    return cast(AIOKafkaProducer, cast(Any, app.producer)._producer)  # private: Faust Producer


def queued_records(app: faust.App) -> int:
    """Records in aiokafka's accumulator not yet sent (the producer-queue gauge)."""
    producer: Any = aiokafka_producer(app)
    batches = producer._message_accumulator._batches  # private: aiokafka accumulator
    return sum(b.record_count for q in batches.values() for b in q)


def partition_db(table: TableT[Any, Any], partition: int) -> Rdict:
    """The RocksDB of one table partition, opened (or reused) by Faust's store."""
    store: Any = table.data
    return cast(Rdict, store._db_for_partition(partition))  # private: faust rocksdb Store


def queued(queue: asyncio.Queue[T]) -> Iterable[T]:
    """What waits in an ``asyncio.Queue``, without taking it out."""
    return tuple(getattr(queue, "_queue", ()))  # private: asyncio.Queue's deque


async def add_gap(consumer: Any, tp: TP, start: int, end: int) -> None:
    """Tell Faust's consumer that offsets ``start..end`` of ``tp`` hold no records, so
    it may commit past them (its fetch loop marks gaps itself; hunt's does not)."""
    await consumer._add_gap(tp, start, end)  # private: faust Consumer


def crash_reason(service: Service) -> BaseException | None:
    """Why a mode service crashed (None if it did not)."""
    reason: BaseException | None = service._crash_reason  # private: mode Service
    return reason


def enabled_blueprints(app: faust.App) -> list[tuple[str, object]]:
    """The web blueprints Faust will mount, as (prefix, blueprint)."""
    return list(app.web.blueprints._enabled)  # private: faust BlueprintManager


def set_enabled_blueprints(app: faust.App, blueprints: list[tuple[str, object]]) -> None:
    manager: Any = app.web.blueprints
    manager._enabled = blueprints  # private: faust BlueprintManager


def consumer_diagnostics(consumer: Any, tps: Iterable[TP]) -> dict[TP, str]:
    """aiokafka's and Faust's bookkeeping of each partition, one line each (logs only)."""
    fetch = consumer.fetch_states(set(tps))
    lines: dict[TP, str] = {}
    for tp in sorted(fetch):
        st = fetch[tp]
        acked = consumer._acked.get(tp) or []  # private: faust Consumer (and below)
        lines[tp] = (
            f"position={getattr(st, '_position', None)}"  # private: aiokafka TopicPartitionState
            f" reset={getattr(st, '_reset_strategy', None)}"  # private: as above
            f" paused={getattr(st, 'paused', None)}"
            f" | faust: read={consumer._read_offset.get(tp)}"  # private
            f" committed={consumer._committed_offset.get(tp)}"  # private
            f" acked={len(acked)}:{min(acked, default=None)}..{max(acked, default=None)}"
            f" buffered={tp in consumer._buffered_partitions}"  # private
            f" paused={tp in consumer._paused_partitions}"  # private
            f" active={tp in (consumer._active_partitions or ())}"  # private
            f" unacked={sum(1 for m in consumer._unacked_messages if m.tp == tp)}"  # private
        )
    return lines


def committed_offsets(consumer: Any) -> dict[TP, int]:
    """The offsets Faust last committed, per partition."""
    return dict(getattr(consumer, "_committed_offset", {}))  # private: faust Consumer


def paused_partitions(consumer: Any) -> set[TP]:
    """Partitions Faust's flow control has paused."""
    return set(getattr(consumer, "_paused_partitions", ()))  # private: faust Consumer
