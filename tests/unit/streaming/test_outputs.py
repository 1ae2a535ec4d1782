"""A record the producer will not take fails the output; it never escapes to the caller.

The producer here raises at once what aiokafka's ``send`` and ``send_batch``
raise once the broker has been away for the producer's request timeout
(``KafkaTimeoutError``: no room in the accumulator). The broker-backed side of
it is the chaos scenario "broker outage longer than the producer timeout".
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.producer.message_accumulator import BatchBuilder

from hunt.streaming.fencing import CoordinatorFence
from hunt.streaming.outputs import OutputFailed, Outputs


class RefusingProducer:
    """Takes nothing: each hand-over times out, as aiokafka's does without a broker."""

    def create_batch(self) -> Any:
        return BatchBuilder(16384, 0)

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        raise KafkaTimeoutError()

    async def send_batch(self, *args: Any, **kwargs: Any) -> Any:
        raise KafkaTimeoutError()


@pytest.mark.parametrize("how", ["send", "send_batch"])
def test_a_refused_hand_over_fails_the_output_once(how: str) -> None:
    failures: list[str] = []
    outputs = Outputs(RefusingProducer, CoordinatorFence(10.0), failures.append)

    async def write() -> None:
        if how == "send":
            await outputs.send("t", b"k", b"v", timestamp_ms=1)
        else:
            await outputs.send_batch("t", 0, [(b"k", b"v")], timestamps_ms=[1])

    for _ in range(2):
        with pytest.raises(OutputFailed):
            asyncio.run(write())
    assert len(failures) == 1 and "KafkaTimeoutError" in failures[0]
    assert outputs.failure == failures[0]
    assert asyncio.run(outputs.settled()) is False  # nothing may be committed
