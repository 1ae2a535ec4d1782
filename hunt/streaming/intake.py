"""Micro-batches of input events, taken straight from the agent's channel queue.

Faust's ``Stream`` hands events over one at a time: per event it yields to the
event loop, runs the stream sensors, sets a context variable and runs the
processors, and ``noack_take`` then buffers them again behind a timer. For a
batch engine that is pure overhead. Here the batch is everything the conductor
has queued (up to ``max_events``), taken in one go. Measured with
``hunt bench --only floor,hunt --scale 0.1`` on one broker: hunt on
``noack_take`` did 0.52x a bare Faust ``async for``; on this intake 0.68x, and
1.5x with the fetch-loop change in :mod:`hunt.streaming.adapter.consumer`.

What ``Stream`` does per event that matters is kept: an event delivered across
a rebalance (flow control off, or an older consumer generation) is dropped:
Faust seeks every partition to its commit after a rebalance, so it comes
again (and :mod:`hunt.streaming.continuity` rewinds if it does not); every other event is
tracked as un-acknowledged (Faust commits only up to acknowledged offsets) and
counted in Faust's sensors once per batch (:mod:`hunt.streaming.adapter.sensors`).
Unlike ``Stream``, a dropped event is not acknowledged: an acknowledgement for
an event nobody applied could let a commit pass it.

Events are also dropped until Faust ends the rebalance (``app.rebalancing``).
When it restored tables, Faust resumes the input partitions while its fetcher
is already running, seeks them to their commits, and only then resumes flow
control, which empties every stream buffer. What was delivered in between is
lost without a trace, and the offset guard cannot see the hole unless it
knows where the partition starts: it does not before that seek. Measured in
the chaos suite's rolling restart (worker logs at ``info``): the first 5
records of each of five input partitions were emptied at "Worker ready". For
a partition with no commit yet the guard then took the first record after
them for the partition's start: the one path found for the single event the
rolling restart lost in CI. Dropping everything until the rebalance ends
leaves the guard only holes it can see, after the seek, against
``RewindingConsumer.start_offsets``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import AppT, EventT, Message

from hunt.streaming.adapter.sensors import BatchSensors

__all__ = ["RawSchema", "batches"]


class RawSchema(faust.Schema[bytes, bytes]):
    """Input records as they came: the event's key and value are the record's bytes.

    Faust's schema decodes each record through its serializer registry and
    builds the event through ``App.create_event``, which reads ``app.conf``
    (a settings lookup) every time: 6-10% of the worker's CPU draining a
    backlog (py-spy, ``hunt bench --only hunt``). The engine decodes and
    validates the bytes itself (:mod:`hunt.domain.events`), so nothing can
    fail here and there is nothing to decode.
    """

    def compile(
        self,
        app: AppT,
        *,
        on_key_decode_error: Any = None,
        on_value_decode_error: Any = None,
        default_propagate: bool = False,
    ) -> Any:
        event_type: Any = app.conf.Event

        async def decode(message: Message, *, propagate: bool = default_propagate) -> Any:
            return event_type(app, message.key, message.value, message.headers, message)

        return decode


async def batches(
    stream: Any, max_events: int, within_s: float, delivered: asyncio.Event | None = None
) -> AsyncIterator[list[EventT[Any]]]:
    """Yield lists of events from ``stream``'s channel, never empty.

    After the first event the batch is taken once the fetch loop has queued
    everything it fetched (``delivered``, set by
    :class:`~hunt.streaming.adapter.consumer.RewindingConsumer`), or after ``within_s``
    at most, unless the queue already holds a full batch or is full. Taking
    only what is there at once would make batches of a few events (the fetch
    loop yields while it delivers) and pay the per-batch writes for each; a
    fixed wait made every event wait for it (measured at 50% load, ``hunt
    bench --only hunt,latency``: p50 33 -> 25 ms with the cue instead of a
    5 ms wait). Without ``delivered`` the wait is ``within_s``.
    """
    app = stream.app
    queue = stream.channel.queue
    flow = app.flow_control
    consumer = app.consumer
    track = consumer.unacked.add
    sensors = BatchSensors(app.sensors)
    acking_topics = app.topics.acking_topics
    while not stream.should_stop:
        try:
            taken = [await queue.get()]
        except StopAsyncIteration:  # Faust ends the channel when the agent stops
            return
        if queue.qsize() < max_events and not queue.full():
            if delivered is None:
                await asyncio.sleep(within_s)
            elif not delivered.is_set():
                try:
                    async with asyncio.timeout(within_s):
                        await delivered.wait()
                except TimeoutError:
                    pass
        while len(taken) < max_events and not queue.empty():
            taken.append(queue.get_nowait())
        if app.rebalancing or not flow.is_active():
            continue
        generation = app.consumer_generation_id
        batch: list[EventT[Any]] = []
        fresh: list[Message] = []
        for event in taken:
            message = event.message
            if message.generation_id != generation:
                continue
            if message.topic in acking_topics and not message.tracked:
                message.tracked = True
                track(message)
                fresh.append(message)
            batch.append(event)
        sensors.received(fresh)
        if batch:
            yield batch
