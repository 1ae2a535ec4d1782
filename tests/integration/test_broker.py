"""The local broker that `hunt broker` and the test session start serves real Kafka clients."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hunt.ops.broker import LocalKafka

pytestmark = pytest.mark.integration


def test_created_topic_round_trips_a_record(kafka: LocalKafka, app_id: str) -> None:
    topic = f"{app_id}.orders"

    async def scenario() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
            assert topic in await admin.list_topics()
        finally:
            await admin.close()

        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, b'{"qty": 2}', key=b"sku-1", partition=1)
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka.bootstrap,
            group_id=app_id,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            assert consumer.partitions_for_topic(topic) == {0, 1, 2}
            record = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()

        assert (record.key, record.value) == (b"sku-1", b'{"qty": 2}')
        assert (record.partition, record.offset) == (sent.partition, sent.offset) == (1, 0)

    asyncio.run(scenario())
