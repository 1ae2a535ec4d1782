"""Faust's message sensors, fed once per batch instead of once per record.

Faust calls each sensor for every message: ``on_message_in`` when it reaches
a stream, and through ``Stream.ack`` ``on_stream_event_out`` and
``on_message_out`` when it is acknowledged. With its Prometheus monitor that
is two monitors' bookkeeping and five labelled series per record, and an
awaited coroutine per acknowledgement. hunt takes records off the channel and
acknowledges them in batches, so it keeps the same numbers per batch: the
received totals per topic and the last offset read per partition
(``faust_messages_received_total`` and its per-topic and per-partition
series, the Monitor's counters) and the active-messages gauge, up on intake
and down on acknowledgement. Per-message timings (``message.time_in``) are
not kept: nothing hunt exports reads them. A sensor that is not one of
Faust's monitors is still called per record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from faust.sensors import Monitor
from faust.sensors.prometheus import PrometheusMonitor
from faust.types import TP, Message

__all__ = ["BatchSensors"]


class BatchSensors:
    """Per-batch updates of the message counters Faust's monitors keep per record."""

    def __init__(self, sensors: Iterable[Any]) -> None:
        # Read on each batch, not copied: Faust adds its monitor when the app starts.
        self._sensors = sensors

    def _split(self) -> tuple[list[Monitor], list[Any]]:
        found = list(self._sensors)
        return (
            [s for s in found if isinstance(s, Monitor)],
            [s for s in found if not isinstance(s, Monitor)],
        )

    def received(self, messages: list[Message]) -> None:
        """What ``on_message_in`` counts, for ``messages`` at once."""
        if not messages:
            return
        per_topic = Counter(m.topic for m in messages)
        last: dict[TP, int] = {}
        for m in messages:
            last[m.tp] = m.offset
        n = len(messages)
        monitors, others = self._split()
        for mon in monitors:
            mon.messages_received_total += n
            mon.messages_active += n
            for topic, k in per_topic.items():
                mon.messages_received_by_topic[topic] += k
            mon.tp_read_offsets.update(last)
            if isinstance(mon, PrometheusMonitor):
                metrics = mon._metrics  # private: the monitor's FaustMetrics series
                metrics.messages_received.inc(n)
                metrics.active_messages.inc(n)
                for topic, k in per_topic.items():
                    metrics.messages_received_per_topics.labels(topic=topic).inc(k)
                for tp, offset in last.items():
                    metrics.messages_received_per_topics_partition.labels(
                        topic=tp.topic, partition=tp.partition
                    ).set(offset)
        for sensor in others:
            for m in messages:
                sensor.on_message_in(m.tp, m.offset, m)

    def acknowledged(self, messages: list[Message]) -> None:
        """What ``on_message_out`` counts, for ``messages`` at once."""
        if not messages:
            return
        n = len(messages)
        monitors, others = self._split()
        for mon in monitors:
            mon.messages_active -= n
            if isinstance(mon, PrometheusMonitor):
                mon._metrics.active_messages.dec(n)  # private, as above
        for sensor in others:
            for m in messages:
                sensor.on_message_out(m.tp, m.offset, m)
