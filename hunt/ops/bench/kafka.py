"""The benchmark's own Kafka plumbing, on librdkafka (confluent_kafka).

The harness must never be the bottleneck it measures, so bulk production,
offset probes and topic reads go through librdkafka's C client, whose I/O
threads release the GIL, rather than through aiokafka's per-record Python path.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from hunt.ops.traffic import TraceRecord

__all__ = [
    "EndOffsets",
    "bulk_producer",
    "committed",
    "create_topics",
    "latest_by_key",
    "produce_records",
]

# Big batches and a short linger: the backlog is written once, as fast as the broker takes it.
BULK_CONFIG = {
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "acks": "all",
    # Retries must not reorder a partition: a batch refused while a new topic's
    # leader settles was measured landing after later ones, so the oracle's order
    # (the trace's) differed from the log's.
    "enable.idempotence": True,
    # Java's and aiokafka's partitioner: records land on hunt's home partition, no re-route hop.
    "partitioner": "murmur2_random",
}


def create_topics(bootstrap: str, names: Iterable[str], partitions: int, **config: str) -> None:
    """Create ``names`` (the broker refuses auto-creation); existing ones are left alone."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})  # no info chatter
    new = [NewTopic(n, partitions, 1, config=dict(config)) for n in names]
    for name, fut in admin.create_topics(new, operation_timeout=30).items():
        try:
            fut.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"cannot create topic {name}: {exc}") from exc


def bulk_producer(bootstrap: str, **overrides: Any) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, **BULK_CONFIG, **overrides})


def send(producer: Producer, topic: str, value: bytes, key: bytes | None) -> None:
    """Queue one record, waiting for room when librdkafka's queue is full."""
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            return
        except BufferError:
            producer.poll(0.05)


def produce_records(bootstrap: str, records: Iterable[TraceRecord], topics: tuple[str, str]) -> int:
    """Send ``records`` to ``(behavior, inventory)`` and wait for every ack; return the count."""
    producer = bulk_producer(bootstrap)
    failed: list[Any] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)

    n = 0
    for r in records:
        topic = topics[0] if r.topic_kind == "behavior" else topics[1]
        while True:
            try:
                producer.produce(topic, value=r.value, key=r.key, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0 or failed:
        raise RuntimeError(f"backlog not fully delivered: {failed[:3]}")
    return n


class EndOffsets:
    """Sum of a topic set's high watermarks: how many records an engine has written."""

    def __init__(self, bootstrap: str, topics: Iterable[str], partitions: int) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "hunt-bench-probe",
                "enable.auto.commit": False,
            }
        )
        self._tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]

    def per_partition(self) -> dict[tuple[str, int], int]:
        return {
            (tp.topic, tp.partition): self._consumer.get_watermark_offsets(
                tp, timeout=10, cached=False
            )[1]
            for tp in self._tps
        }

    def total(self) -> int | None:
        """The sum, or None while a partition has no leader yet (a topic just created)."""
        try:
            return sum(self.per_partition().values())
        except KafkaException:
            return None

    def close(self) -> None:
        self._consumer.close()


def committed(
    bootstrap: str, group: str, topics: Iterable[str], partitions: int
) -> dict[tuple[str, int], int]:
    """The committed offset of ``group`` on each partition (0 when none yet)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        return {
            (tp.topic, tp.partition): max(tp.offset, 0)
            for tp in consumer.committed(tps, timeout=10)
        }
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str, partitions: int) -> Iterator[Any]:
    """Every record of ``topic`` from the beginning up to its current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "hunt-bench-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        ends = {}
        for p in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        pending = set(ends)
        deadline = time.monotonic() + 300
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=1.0):
                err, partition, offset = msg.error(), msg.partition(), msg.offset()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(partition)
                    continue
                yield msg
                if partition is not None and offset is not None and offset >= ends[partition] - 1:
                    pending.discard(partition)
    finally:
        consumer.close()


def latest_by_key(bootstrap: str, topic: str, partitions: int) -> dict[str, dict[str, Any]]:
    """The last JSON value per key of a (compacted) topic: the product-state view."""
    raw: dict[bytes, bytes] = {}
    for msg in read_all(bootstrap, topic, partitions):
        raw[msg.key()] = msg.value()
    return {k.decode(): orjson.loads(v) for k, v in raw.items()}
