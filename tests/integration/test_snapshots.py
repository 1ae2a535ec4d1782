"""``hunt.product-state`` coalescing on a real worker and broker (SPEC section 3).

The contract: at most one record per product per snapshot interval, and the
last record of a product reflects every event applied once input pauses.
A product busy for several intervals is the case that tests both halves: its
records must be spaced by at least an interval, and the last must count all
of its events.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hunt.ops.broker import LocalKafka
from tests.harness import Deployment, read_topic, wait_for, workers

pytestmark = pytest.mark.integration

INTERVAL_S = 1.0  # the default HUNT_SNAPSHOT_INTERVAL_S
BURST = 300  # view events for one product...
BURST_S = 3.5  # ...spread over this long: several intervals of a busy product.
T0 = 1_764_147_600_000


async def _paced_views(bootstrap: str, topic: str, product_id: str) -> None:
    """Send ``BURST`` views of one product, paced evenly over ``BURST_S`` (traffic, not a wait)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        start = time.monotonic()
        for i in range(BURST):
            event = {
                "event_id": f"v-{i}",
                "ts": T0 + i,
                "product_id": product_id,
                "kind": "view",
                "qty": 1,
            }
            await producer.send_and_wait(topic, orjson.dumps(event), key=product_id.encode())
            ahead = start + (i + 1) * BURST_S / BURST - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
    finally:
        await producer.stop()


def _records_of(bootstrap: str, topic: str, product_id: str) -> list[Any]:
    key = product_id.encode()
    return [r for r in asyncio.run(read_topic(bootstrap, topic)) if r.key == key]


async def _tail(bootstrap: str, topic: str, key: bytes, stop: asyncio.Event) -> list[float]:
    """Arrival times of ``key``'s records on ``topic``, read live until ``stop``.

    A record's Kafka timestamp is its event time (SPEC section 3), so when it
    was written is seen by reading it as it arrives, with a short fetch wait.
    """
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=10
    )
    await consumer.start()
    arrivals: list[float] = []
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20)
            now = time.monotonic()
            arrivals += [now for msgs in batch.values() for m in msgs if m.key == key]
    finally:
        await consumer.stop()
    return arrivals


async def _burst_and_tail(bootstrap: str, dep: Deployment, done: Any) -> list[float]:
    stop = asyncio.Event()
    tail = asyncio.ensure_future(_tail(bootstrap, dep.topics["product_state"], b"hot", stop))
    await _paced_views(bootstrap, dep.topics["behavior"], "hot")
    while not await asyncio.to_thread(done):
        await asyncio.sleep(0.1)
    stop.set()
    return await tail


def test_a_busy_product_gets_at_most_one_record_per_interval_and_the_last_is_complete(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    dep = Deployment(kafka.bootstrap, tmp_path, partitions=2)
    topic = dep.topics["product_state"]
    with workers(dep, 1) as (worker,):

        def complete() -> list[Any] | None:
            records = _records_of(kafka.bootstrap, topic, "hot")
            last = orjson.loads(records[-1].value) if records else None
            return records if last is not None and last["events_applied"] == BURST else None

        arrivals = asyncio.run(_burst_and_tail(kafka.bootstrap, dep, complete))
        records = wait_for(
            complete, 30, "a product-state record counting every event", check=worker._alive
        )

    applied = [orjson.loads(r.value)["events_applied"] for r in records]
    assert applied == sorted(applied), f"a later record counts fewer events: {applied}"
    assert len(records) >= 2, "a product busy for several intervals is written during the burst"
    assert len(arrivals) == len(records)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # Arrivals lag the throttle's decision by a send and a fetch (tens of ms, unevenly);
    # 10% covers that, not a second record within one interval.
    assert min(gaps) >= 0.9 * INTERVAL_S, f"records closer than one interval: {gaps}"
