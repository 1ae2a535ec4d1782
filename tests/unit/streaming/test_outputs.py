"""What the engine's outputs do when the producer will not take a record.

The producer here raises what aiokafka's ``send`` and ``send_batch`` raise at
hand-over: ``KafkaTimeoutError`` when its accumulator had no room within the
request timeout (back-pressure: offered again), or another ``KafkaError``
(the output fails; it never escapes to the caller). The broker-backed side is
the chaos scenario "broker outage longer than the producer timeout" and the
benchmark's overload phase.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError
from aiokafka.producer.message_accumulator import BatchBuilder

from hunt.streaming.fencing import CoordinatorFence
from hunt.streaming.outputs import OutputFailed, Outputs


class Producer:
    """Raises ``errors`` one by one at hand-over, then takes what it is given."""

    def __init__(self, errors: list[Exception], before: Callable[[], None] = lambda: None):
        self.errors = errors
        self.before = before
        self.taken = 0

    def create_batch(self) -> Any:
        return BatchBuilder(16384, 0)

    async def _take(self) -> Any:
        self.before()
        if self.errors:
            raise self.errors.pop(0)
        self.taken += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        return await self._take()

    async def send_batch(self, *args: Any, **kwargs: Any) -> Any:
        return await self._take()


async def _write(outputs: Outputs, how: str) -> None:
    if how == "send":
        await outputs.send("t", b"k", b"v", timestamp_ms=1)
    else:
        await outputs.send_batch("t", 0, [(b"k", b"v")], timestamps_ms=[1])


@pytest.mark.parametrize("how", ["send", "send_batch"])
def test_no_room_yet_is_back_pressure_and_the_record_is_offered_again(how: str) -> None:
    failures: list[str] = []
    producer = Producer([KafkaTimeoutError(), KafkaTimeoutError()])
    outputs = Outputs(lambda: producer, CoordinatorFence(10.0), failures.append)
    asyncio.run(_write(outputs, how))
    assert producer.taken == 1 and failures == []
    assert asyncio.run(outputs.settled()) is True


@pytest.mark.parametrize("how", ["send", "send_batch"])
def test_waiting_for_room_ends_when_an_earlier_write_fails(how: str) -> None:
    failures: list[str] = []
    outputs: Outputs

    def earlier_write_fails() -> None:  # aiokafka expired a batch it could not send
        if producer.errors and len(producer.errors) == 1:
            outputs.fail("a write to t failed: KafkaTimeoutError")

    producer = Producer([KafkaTimeoutError(), KafkaTimeoutError()], earlier_write_fails)
    outputs = Outputs(lambda: producer, CoordinatorFence(10.0), failures.append)
    with pytest.raises(OutputFailed):
        asyncio.run(_write(outputs, how))
    assert producer.taken == 0 and len(failures) == 1
    assert asyncio.run(outputs.settled()) is False  # nothing may be committed


@pytest.mark.parametrize("how", ["send", "send_batch"])
def test_a_refused_hand_over_fails_the_output_once(how: str) -> None:
    failures: list[str] = []
    producer = Producer([UnknownTopicOrPartitionError(), UnknownTopicOrPartitionError()])
    outputs = Outputs(lambda: producer, CoordinatorFence(10.0), failures.append)
    for _ in range(2):
        with pytest.raises(OutputFailed):
            asyncio.run(_write(outputs, how))
    assert len(failures) == 1 and "UnknownTopicOrPartitionError" in failures[0]
    assert asyncio.run(outputs.settled()) is False


def test_a_commit_cancelled_while_it_waits_leaves_the_writes_in_flight() -> None:
    """Faust cancels its commit timer at shutdown, maybe while the commit waits for the
    outputs: the writes it waited for must go on, not fail (a failed write wipes the
    local tables and makes the stop unclean)."""

    async def scenario() -> tuple[bool, list[str], bool]:
        failures: list[str] = []
        pending: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        class Slow(Producer):
            async def send(self, *args: Any, **kwargs: Any) -> Any:
                return pending

        outputs = Outputs(lambda: Slow([]), CoordinatorFence(10.0), failures.append)
        await outputs.send("t", b"k", b"v", timestamp_ms=1)
        commit = asyncio.ensure_future(outputs.settled())
        await asyncio.sleep(0)
        commit.cancel()
        await asyncio.sleep(0)
        still_pending = not pending.done()
        pending.set_result(None)  # the broker acknowledges it after all
        return still_pending, failures, await outputs.settled()

    still_pending, failures, settled = asyncio.run(scenario())
    assert still_pending and failures == [] and settled is True
