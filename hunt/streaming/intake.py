"""Micro-batches of input records, taken straight from the agent's channel queue.

Faust's ``Stream`` hands events over one at a time: per event it yields to the
event loop, runs the stream sensors, sets a context variable and runs the
processors, and ``noack_take`` then buffers them again behind a timer. For a
batch engine that is pure overhead. Here the batch is everything the fetch
loop has queued (up to ``max_events``), taken in one go, as Faust ``Message``
objects: no ``Event`` is built (:mod:`hunt.streaming.adapter.inbox`). Measured with
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
from faust.types import TP, AppT, Message

from hunt.streaming.adapter.inbox import Inbox
from hunt.streaming.adapter.internals import queued
from hunt.streaming.adapter.sensors import BatchSensors

__all__ = ["Intake", "RawSchema"]


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


class Intake:
    """Micro-batches of messages from the agent's channel queue (see module docstring).

    The fetch loop puts one list of messages per partition per fetch there
    (:mod:`hunt.streaming.adapter.inbox`); records that came through Faust's
    conductor instead (before the agent started) come as one ``Event`` each.
    """

    def __init__(
        self,
        stream: Any,
        max_events: int,
        within_s: float,
        delivered: asyncio.Event | None = None,
        inbox: Inbox | None = None,
    ) -> None:
        self.stream = stream
        self.max_events = max_events
        self.within_s = within_s
        self.delivered = delivered
        self.inbox = inbox
        self._carry: list[Message] = []  # taken from the queue, for the next batch

    def waiting(self) -> set[TP]:
        """Partitions with messages queued or taken and not yet handed over."""
        tps = {m.tp for m in self._carry}
        for item in queued(self.stream.channel.queue):
            tps.add(item[0].tp if isinstance(item, list) else item.message.tp)
        return tps

    async def __aiter__(self) -> AsyncIterator[list[Message]]:
        """Yield lists of messages, never empty.

        After the first list the batch is taken once the fetch loop has queued
        everything it fetched (``delivered``, set by
        :class:`~hunt.streaming.adapter.consumer.RewindingConsumer`), or after
        ``within_s`` at most, unless the queue already holds a full batch.
        Taking only what is there at once would make batches of one partition
        and pay the per-batch writes for each; a fixed wait made every event
        wait for it (measured at 50% load, ``hunt bench --only hunt,latency``:
        p50 33 -> 25 ms with the cue instead of a 5 ms wait). Without
        ``delivered`` the wait is ``within_s``.
        """
        stream = self.stream
        app = stream.app
        queue = stream.channel.queue
        flow = app.flow_control
        track = app.consumer.unacked.add
        sensors = BatchSensors(app.sensors)
        acking_topics = app.topics.acking_topics
        max_events = self.max_events
        while not stream.should_stop:
            taken = self._carry
            self._carry = []
            if not taken:
                try:
                    taken = self._take(await queue.get())
                except StopAsyncIteration:  # Faust ends the channel when the agent stops
                    return
                if len(taken) < max_events and not queue.full():
                    await self._cue()
            while len(taken) < max_events and not queue.empty():
                taken.extend(self._take(queue.get_nowait()))
            if len(taken) > max_events:
                self._carry = taken[max_events:]
                del taken[max_events:]
            if app.rebalancing or not flow.is_active():
                self._carry = []
                continue
            generation = app.consumer_generation_id
            batch: list[Message] = []
            fresh: list[Message] = []
            for message in taken:
                if message.generation_id != generation:
                    continue
                if message.topic in acking_topics and not message.tracked:
                    message.tracked = True
                    track(message)
                    fresh.append(message)
                batch.append(message)
            sensors.received(fresh)
            if batch:
                yield batch

    def _take(self, item: Any) -> list[Message]:
        if isinstance(item, list):
            if self.inbox is not None:
                self.inbox.taken(len(item))
            return item
        return [item.message]

    async def _cue(self) -> None:
        delivered = self.delivered
        if delivered is None:
            await asyncio.sleep(self.within_s)
        elif not delivered.is_set():
            try:
                async with asyncio.timeout(self.within_s):
                    await delivered.wait()
            except TimeoutError:
                pass
