"""The changelog queue refuses a record that waited for room across a rebalance."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from mode.utils.queues import FlowControlEvent

from hunt.streaming.adapter.queues import CurrentGenerationQueue


@dataclass
class _Message:
    offset: int
    generation_id: int
    topic: str = "app-state-changelog"
    partition: int = 4


@dataclass
class _Event:
    message: _Message


class _App:
    def __init__(self) -> None:
        self.flow_control = FlowControlEvent()
        self.flow_control.resume()
        self.consumer_generation_id = 6


def test_a_record_waiting_for_flow_control_across_a_rebalance_is_dropped() -> None:
    """A ``put`` of the old generation waits for flow control while the rebalance
    clears the queue and moves the generation on; when the next recovery resumes
    the flow it goes through, and must not reach that recovery ahead of the
    records it sought back to."""

    async def scenario() -> tuple[list[int], int]:
        app = _App()
        queue = CurrentGenerationQueue(app, maxsize=2, clear_on_resume=True)
        queue.force_put_nowait(_Event(_Message(100, 6)))
        app.flow_control.suspend()  # the rebalance: flow stops, queues are cleared
        waiting = asyncio.ensure_future(queue.put(_Event(_Message(2300, 6))))
        await asyncio.sleep(0)
        assert not waiting.done()  # waits for flow control, not among the putters
        app.flow_control.clear()
        app.consumer_generation_id = 7
        app.flow_control.resume()  # the next recovery starts
        await asyncio.wait_for(waiting, 1.0)
        queue.force_put_nowait(_Event(_Message(1344, 7)))  # the sought-back read
        got = [queue.get_nowait().message.offset for _ in range(queue.qsize())]
        return got, queue.dropped

    got, dropped = asyncio.run(scenario())
    assert got == [1344]
    assert dropped == 1


def test_records_of_the_current_generation_pass_in_order() -> None:
    async def scenario() -> list[int]:
        app = _App()
        queue = CurrentGenerationQueue(app, maxsize=10, clear_on_resume=True)
        for offset in (5, 6, 7):
            await queue.put(_Event(_Message(offset, 6)))
        queue.force_put_nowait(_Event(_Message(8, 6)))
        return [queue.get_nowait().message.offset for _ in range(queue.qsize())]

    assert asyncio.run(scenario()) == [5, 6, 7, 8]


def test_the_app_builds_its_table_recovery_on_this_queue(tmp_path: Any) -> None:
    from hunt.config import Settings
    from hunt.streaming.app import build

    settings = Settings.from_env({"HUNT_DATA_DIR": str(tmp_path), "HUNT_BROKER": "127.0.0.1:1"})
    hunt = build(settings)
    assert isinstance(hunt.app.tables.changelog_queue, CurrentGenerationQueue)


def test_a_full_queue_cleared_at_a_rebalance_lets_no_waiting_record_in() -> None:
    """Faust's own guard, kept: a ``put`` waiting for room is cancelled by the clear."""

    async def scenario() -> bool:
        app = _App()
        queue = CurrentGenerationQueue(app, maxsize=1, clear_on_resume=True)
        queue.force_put_nowait(_Event(_Message(100, 6)))
        waiting = asyncio.ensure_future(queue.put(_Event(_Message(2300, 6))))
        await asyncio.sleep(0)
        app.flow_control.suspend()
        app.flow_control.clear()
        await asyncio.wait([waiting], timeout=1.0)
        return waiting.cancelled() and queue.qsize() == 0

    assert asyncio.run(scenario())
