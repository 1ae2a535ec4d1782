"""The intake hands the engine only records it may apply: none delivered while
Faust is still rebalancing (it may empty the stream buffer under them), in
batches of at most ``max_events``, whether the fetch loop queued them as lists
(:mod:`hunt.streaming.adapter.inbox`) or the conductor as one event each."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from faust.sensors import Monitor

from hunt.streaming.intake import Intake

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


def message(offset: int, generation: int = 1, partition: int = 0) -> Any:
    return SimpleNamespace(
        topic=TOPIC,
        partition=partition,
        tp=(TOPIC, partition),
        offset=offset,
        generation_id=generation,
        tracked=False,
    )


def fetched(*offsets: int, generation: int = 1, partition: int = 0) -> list[Any]:
    """One partition's records of one fetch, as the fetch loop queues them."""
    return [message(o, generation, partition) for o in offsets]


def event(offset: int) -> Any:
    """One record as Faust's conductor queues it (before the agent took over)."""
    return SimpleNamespace(message=message(offset))


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
    for item in queued:
        queue.put_nowait(item)
    intake = Intake(stream, max_events=100, within_s=0.001).__aiter__()
    pending = asyncio.ensure_future(intake.__anext__())
    idle = asyncio.ensure_future(queue.idle.wait())
    # Everything queued so far was taken: dropped (the intake waits again), or handed over.
    await asyncio.wait({pending, idle}, return_when=asyncio.FIRST_COMPLETED)
    idle.cancel()
    app.rebalancing = False
    for item in then:
        queue.put_nowait(item)
    batch = await asyncio.wait_for(pending, 5)
    return [m.offset for m in batch]


def test_events_delivered_during_a_rebalance_are_dropped_untracked() -> None:
    app = FakeApp(rebalancing=True)
    got = asyncio.run(take_one_batch(app, [fetched(0, 1)], [fetched(2, 3)]))
    assert got == [2, 3]
    assert app.tracked == [2, 3]  # 0 and 1 are neither handed over nor awaited for an ack
    # Faust's sensor counts what was handed over, as it would per message.
    assert app.monitor.messages_received_total == 2
    assert app.monitor.messages_received_by_topic[TOPIC] == 2


def test_events_of_an_older_generation_are_dropped() -> None:
    app = FakeApp(consumer_generation_id=2)
    got = asyncio.run(
        take_one_batch(app, [], [fetched(7, generation=1) + fetched(8, generation=2)])
    )
    assert got == [8]


async def take_after_cue(within_s: float) -> tuple[list[int], bool]:
    """Queue one event, let the intake wait, queue two more, then give the cue."""
    app = FakeApp()
    queue = WatchedQueue()
    stream = SimpleNamespace(app=app, channel=SimpleNamespace(queue=queue), should_stop=False)
    delivered = asyncio.Event()
    queue.put_nowait(fetched(0))
    intake = Intake(stream, max_events=100, within_s=within_s, delivered=delivered)
    pending = asyncio.ensure_future(intake.__aiter__().__anext__())
    await asyncio.sleep(0)  # the intake takes record 0, then waits for the cue
    early = pending.done()
    queue.put_nowait(fetched(1, partition=1))
    queue.put_nowait(fetched(2, partition=2))
    delivered.set()
    batch = await asyncio.wait_for(pending, 5)
    return [m.offset for m in batch], early


def test_a_batch_is_taken_when_the_fetch_loop_says_its_fetch_is_queued() -> None:
    # An hour's wait would time the test out: the cue, not the wait, ends the batch.
    got, early = asyncio.run(take_after_cue(within_s=3600))
    assert not early
    assert got == [0, 1, 2]


async def take_batches(queued: list[Any], max_events: int, n: int) -> tuple[list[list[int]], Any]:
    app = FakeApp()
    queue = WatchedQueue()
    stream = SimpleNamespace(app=app, channel=SimpleNamespace(queue=queue), should_stop=False)
    for item in queued:
        queue.put_nowait(item)
    intake = Intake(stream, max_events=max_events, within_s=0.001)
    it = intake.__aiter__()
    got = [[m.offset for m in await asyncio.wait_for(it.__anext__(), 5)] for _ in range(n)]
    return got, intake


def test_a_batch_holds_at_most_max_events_and_the_rest_comes_next_in_order() -> None:
    got, intake = asyncio.run(take_batches([fetched(0, 1, 2), fetched(3, 4, 5, 6, 7)], 3, 2))
    assert got == [[0, 1, 2], [3, 4, 5]]
    # Records taken out of the queue but not handed over yet count as waiting.
    assert intake.waiting() == {(TOPIC, 0)}


def test_records_queued_by_the_conductor_come_in_the_same_batches() -> None:
    got, _ = asyncio.run(take_batches([event(0), fetched(1, 2), event(3)], 100, 1))
    assert got == [[0, 1, 2, 3]]
