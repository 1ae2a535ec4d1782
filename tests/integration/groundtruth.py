"""A seeded trace sent through several producers and partitioners, and its expectations.

Each product is given one route for all of its records (so one product's
records of one topic stay in their order, as the contract needs): aiokafka
keyed (murmur2, the home partition), librdkafka keyed (crc32, usually another
partition), or aiokafka onto a deliberately wrong partition. On top of that a
share of ``view`` events (order-free counters) go unkeyed or to random
partitions. The oracle (``tests/oracle.py``) computes the expected result from
the trace alone.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer as RdKafkaProducer

from hunt.ops.traffic import TraceRecord, generate
from hunt.streaming.routing import home_partition
from tests import oracle
from tests.harness import Deployment

START_TS = 1_764_147_600_000  # 2025-11-26 09:00 UTC, a fixed trace start.


@dataclass
class Routed:
    """The trace, how each record was sent, and what the oracle expects."""

    records: list[TraceRecord]
    routes: Counter[str]
    expected: oracle.OracleResult


def make_trace(seed: int = 7, products: int = 300, events: int = 20_000) -> list[TraceRecord]:
    return list(generate(seed, products, events, START_TS, rate_per_s=200.0))


def expectations(records: list[TraceRecord]) -> oracle.OracleResult:
    return oracle.run((r.topic_kind, r.value) for r in records)


def _route_of(key: bytes | None) -> str:
    if key is None:
        return "aiokafka-unkeyed"
    return ("aiokafka", "aiokafka", "librdkafka", "misplaced")[zlib.crc32(key) % 4]


def _is_view(record: TraceRecord) -> bool:
    return record.topic_kind == "behavior" and b'"kind":"view"' in record.value


async def _send_aiokafka(
    dep: Deployment, sends: list[tuple[str, bytes | None, bytes, int | None]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=dep.bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, partition=partition)
            for topic, key, value, partition in sends
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _send_librdkafka(dep: Deployment, sends: list[tuple[str, bytes | None, bytes]]) -> None:
    producer = RdKafkaProducer(
        {"bootstrap.servers": dep.bootstrap, "linger.ms": 5, "enable.idempotence": True}
    )
    errors: list[Any] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    for topic, key, value in sends:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0, "librdkafka did not deliver every record"
    assert not errors, errors[:3]


def produce(dep: Deployment, records: list[TraceRecord], seed: int = 11) -> Counter[str]:
    """Send every record by its product's route; return how many went each way."""
    rnd = random.Random(seed)
    topics = dep.topics
    via_aiokafka: list[tuple[str, bytes | None, bytes, int | None]] = []
    via_rdkafka: list[tuple[str, bytes | None, bytes]] = []
    routes: Counter[str] = Counter()
    for r in records:
        topic = topics["behavior"] if r.topic_kind == "behavior" else topics["inventory"]
        route = _route_of(r.key)
        if _is_view(r) and rnd.random() < 0.1:
            route = rnd.choice(("aiokafka-unkeyed", "random-partition"))
        routes[route] += 1
        if route == "librdkafka":
            via_rdkafka.append((topic, r.key, r.value))
        elif route == "misplaced":
            assert r.key is not None
            wrong = (home_partition(r.key, dep.partitions) + 1) % dep.partitions
            via_aiokafka.append((topic, r.key, r.value, wrong))
        elif route == "random-partition":
            via_aiokafka.append((topic, r.key, r.value, rnd.randrange(dep.partitions)))
        elif route == "aiokafka-unkeyed":
            via_aiokafka.append((topic, None, r.value, None))
        else:
            via_aiokafka.append((topic, r.key, r.value, None))
    asyncio.run(_send_aiokafka(dep, via_aiokafka))
    _send_librdkafka(dep, via_rdkafka)
    return routes


def state_mismatches(
    expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]
) -> list[str]:
    """Human-readable differences, field by field, for every product."""
    problems = []
    for pid in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(pid), actual.get(pid)
        if want is None or got is None:
            problems.append(f"{pid}: expected {want is not None}, emitted {got is not None}")
            continue
        for field in sorted(want.keys() | got.keys()):
            if want.get(field) != got.get(field):
                problems.append(
                    f"{pid}.{field}: expected {want.get(field)!r}, got {got.get(field)!r}"
                )
    return problems


def alert_ids(records: list[Any]) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for rec in records:
        alert = orjson.loads(rec.value)
        assert rec.key.decode() == alert["product_id"]
        ids.setdefault(alert["kind"], set()).add(alert["alert_id"])
    return ids
