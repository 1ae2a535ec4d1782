"""The fetch loop's way into the agent's queue: bounded in records, and never
left waiting by a queue Faust emptied."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from mode.utils.queues import FlowControlEvent, ThrowableQueue

from hunt.streaming.adapter.inbox import Inbox


def records(n: int) -> list[Any]:
    return [SimpleNamespace(offset=i) for i in range(n)]


def inbox(maxsize: int) -> Inbox:
    flow = FlowControlEvent(initially_suspended=False)
    queue: ThrowableQueue[Any] = ThrowableQueue(
        maxsize=maxsize, flow_control=flow, clear_on_resume=True
    )
    return Inbox(queue, frozenset({"shop.behavior"}))


def test_the_fetch_loop_waits_while_the_agent_has_a_full_buffer_of_records() -> None:
    async def run() -> tuple[bool, bool]:
        box = inbox(maxsize=10)
        box.put(records(6))
        await asyncio.wait_for(box.room(), 1)  # 6 of 10: room
        box.put(records(6))
        waiting = asyncio.ensure_future(box.room())
        await asyncio.sleep(0)
        full = not waiting.done()
        box.queue.get_nowait()
        box.taken(6)
        await asyncio.wait_for(waiting, 1)
        return full, box.records == 6

    full, counted = asyncio.run(run())
    assert full and counted


def test_a_queue_emptied_by_faust_flow_control_does_not_hold_the_fetch_loop() -> None:
    async def run() -> int:
        box = inbox(maxsize=10)
        box.put(records(12))
        box.queue.clear()  # what FlowControlEvent.resume and clear do on a rebalance
        await asyncio.wait_for(box.room(), 1)
        box.put(records(3))
        return box.records

    assert asyncio.run(run()) == 3


def test_a_fetch_loop_starting_counts_what_is_queued() -> None:
    box = inbox(maxsize=10)
    box.queue.force_put_nowait(records(4))
    box.queue.force_put_nowait(SimpleNamespace(message=None))  # an event from the conductor
    box.recount()
    assert box.records == 5
