"""The intake hands the engine only events it may apply: none delivered while
Faust is still rebalancing (it may empty the stream buffer under them)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from faust.sensors import Monitor

from hunt.streaming.intake import batches

TOPIC = "shop.behavior"


@dataclass
class FakeApp:
    """The attributes of ``faust.App`` the intake reads."""

    rebalancing: bool = False
    consumer_generation_id: int = 1
    tracked: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.flow_control = SimpleNamespace(is_active=lambda: True)
        self.consumer = SimpleNamespace(unacked=SimpleNamespace(add=self._track))
        self.monitor = Monitor()
        self.sensors = [self.monitor]
        self.topics = SimpleNamespace(acking_topics={TOPIC})

    def _track(self, message: Any) -> None:
        self.tracked.append(message.offset)


def event(offset: int, generation: int = 1) -> Any:
    message = SimpleNamespace(
        topic=TOPIC,
        partition=0,
        tp=(TOPIC, 0),
        offset=offset,
        generation_id=generation,
        tracked=False,
    )
    return SimpleNamespace(message=message)


class WatchedQueue(asyncio.Queue[Any]):
    """Tells when the intake waits on an empty queue: it has dealt with all before."""

    def __init__(self) -> None:
        super().__init__()
        self.idle = asyncio.Event()

    async def get(self) -> Any:
        if self.empty():
            self.idle.set()
        return await super().get()


async def take_one_batch(app: FakeApp, queued: list[Any], then: list[Any]) -> list[int]:
    """Queue ``queued``, let the intake deal with it, end the rebalance, queue ``then``."""
    queue = WatchedQueue()
    stream = SimpleNamespace(app=app, channel=SimpleNamespace(queue=queue), should_stop=False)
    for e in queued:
        queue.put_nowait(e)
    intake = batches(stream, max_events=100, within_s=0.001)
    pending = asyncio.ensure_future(intake.__anext__())
    idle = asyncio.ensure_future(queue.idle.wait())
    # Everything queued so far was taken: dropped (the intake waits again), or handed over.
    await asyncio.wait({pending, idle}, return_when=asyncio.FIRST_COMPLETED)
    idle.cancel()
    app.rebalancing = False
    for e in then:
        queue.put_nowait(e)
    batch = await asyncio.wait_for(pending, 5)
    return [e.message.offset for e in batch]


def test_events_delivered_during_a_rebalance_are_dropped_untracked() -> None:
    app = FakeApp(rebalancing=True)
    got = asyncio.run(take_one_batch(app, [event(0), event(1)], [event(2), event(3)]))
    assert got == [2, 3]
    assert app.tracked == [2, 3]  # 0 and 1 are neither handed over nor awaited for an ack
    # Faust's sensor counts what was handed over, as it would per message.
    assert app.monitor.messages_received_total == 2
    assert app.monitor.messages_received_by_topic[TOPIC] == 2


def test_events_of_an_older_generation_are_dropped() -> None:
    app = FakeApp(consumer_generation_id=2)
    got = asyncio.run(take_one_batch(app, [], [event(7, generation=1), event(8, generation=2)]))
    assert got == [8]


async def take_after_cue(within_s: float) -> tuple[list[int], bool]:
    """Queue one event, let the intake wait, queue two more, then give the cue."""
    app = FakeApp()
    queue = WatchedQueue()
    stream = SimpleNamespace(app=app, channel=SimpleNamespace(queue=queue), should_stop=False)
    delivered = asyncio.Event()
    queue.put_nowait(event(0))
    pending = asyncio.ensure_future(
        batches(stream, max_events=100, within_s=within_s, delivered=delivered).__anext__()
    )
    await asyncio.sleep(0)  # the intake takes event 0, then waits for the cue
    early = pending.done()
    queue.put_nowait(event(1))
    queue.put_nowait(event(2))
    delivered.set()
    batch = await asyncio.wait_for(pending, 5)
    return [e.message.offset for e in batch], early


def test_a_batch_is_taken_when_the_fetch_loop_says_its_fetch_is_queued() -> None:
    # An hour's wait would time the test out: the cue, not the wait, ends the batch.
    got, early = asyncio.run(take_after_cue(within_s=3600))
    assert not early
    assert got == [0, 1, 2]
