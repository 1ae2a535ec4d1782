"""Faust's message sensors fed per batch show what they show when fed per record."""

from __future__ import annotations

from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP, Message
from prometheus_client import CollectorRegistry

from hunt.streaming.adapter.sensors import BatchSensors


def _messages() -> list[Message]:
    out = []
    for topic, partition, offsets in (("b", 0, range(5)), ("b", 3, range(10, 13)), ("i", 1, [7])):
        for offset in offsets:
            out.append(Message(topic, partition, offset, 0.0, 0, [], b"k", b"v", None))
    return out


def _monitor() -> tuple[PrometheusMonitor, CollectorRegistry]:
    registry = CollectorRegistry()
    return PrometheusMonitor(metrics=FaustMetrics.create(registry, "faust")), registry


def _samples(registry: CollectorRegistry) -> dict[Any, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_per_batch_counts_equal_per_record_counts() -> None:
    messages = _messages()
    by_record, by_record_registry = _monitor()
    for m in messages:
        by_record.on_message_in(m.tp, m.offset, m)
    for m in messages[:6]:
        by_record.on_message_out(m.tp, m.offset, m)

    by_batch, by_batch_registry = _monitor()
    sensors = BatchSensors([by_batch])
    sensors.received(messages[:4])
    sensors.received(messages[4:])
    sensors.acknowledged(messages[:6])

    assert _samples(by_batch_registry) == _samples(by_record_registry)
    for attr in ("messages_received_total", "messages_active"):
        assert getattr(by_batch, attr) == getattr(by_record, attr)
    assert by_batch.messages_received_by_topic == by_record.messages_received_by_topic
    assert by_batch.tp_read_offsets == by_record.tp_read_offsets
    assert by_batch.tp_read_offsets[TP("b", 3)] == 12


def test_a_sensor_that_is_not_a_monitor_is_still_called_per_record() -> None:
    seen: list[tuple[str, int]] = []

    class Counting:
        def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
            seen.append(("in", offset))

        def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
            seen.append(("out", offset))

    sensors = BatchSensors([Counting()])
    messages = _messages()[:2]
    sensors.received(messages)
    sensors.acknowledged(messages)
    assert seen == [("in", 0), ("in", 1), ("out", 0), ("out", 1)]
