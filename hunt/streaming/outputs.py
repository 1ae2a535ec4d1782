"""Every record the engine writes, and whether each one reached the broker.

An offset may be committed only once every output it depends on has been
acknowledged by the broker (the checkpoint in :mod:`hunt.streaming.engine`).
Faust's producer wrapper returns a future per record that nobody looks at: a
send that fails (a topic refusing the write, a broker away longer than the
producer's request timeout) is forgotten, and Faust's next commit covers the
events whose outputs were lost. Here every send is made through
:class:`Outputs`, which keeps the futures still in flight, reports the first
failure to the engine at once, and answers the commit's question "did
everything sent so far arrive?" (:meth:`Outputs.settled`).

Records are sent through aiokafka's producer directly, so the Kafka timestamp
is the exact event time in milliseconds (Faust's wrapper takes seconds as a
float and turns 0 into "now").

A send is refused while the worker may have lost its partitions without
knowing it (:class:`~hunt.streaming.fencing.CoordinatorFence`): a record sent
then could land after the new owner's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from aiokafka.errors import KafkaError, KafkaTimeoutError

from hunt.streaming.fencing import CoordinatorFence

__all__ = ["Header", "OutputFailed", "Outputs"]

log = logging.getLogger(__name__)

Header = tuple[str, bytes]


class OutputFailed(Exception):
    """An output could not be written; the engine redoes its work from the last commit."""


class Outputs:
    """Sends the engine's records and tracks them until the broker acknowledges them."""

    __slots__ = ("_epoch", "_fence", "_in_flight", "_on_failure", "_producer", "failure")

    def __init__(
        self,
        producer: Callable[[], Any],
        fence: CoordinatorFence,
        on_failure: Callable[[str], None],
    ) -> None:
        self._producer = producer  # the aiokafka producer, once Faust has started it
        self._fence = fence
        self._on_failure = on_failure
        self._in_flight: set[asyncio.Future[Any]] = set()
        self.failure: str | None = None  # the first failure since the last reset
        self._epoch = 0  # bumped by each reset: a late failure of an older send is moot

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        timestamp_ms: int | None,
        headers: Sequence[Header] | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        """Hand one record to the producer; raise :class:`OutputFailed` if it may not be sent."""
        producer = self._producer()
        fut: asyncio.Future[Any] = await self._hand_over(
            topic,
            lambda: producer.send(
                topic,
                value,
                key=key,
                partition=partition,
                timestamp_ms=timestamp_ms,
                headers=list(headers) if headers else None,
            ),
        )
        self._track(topic, fut)
        return fut

    async def send_batch(
        self,
        topic: str,
        partition: int,
        records: Sequence[tuple[bytes, bytes | None]],
        *,
        timestamps_ms: Sequence[int | None] | None = None,
        headers: Sequence[Header] = (),
    ) -> tuple[asyncio.Future[Any], int] | None:
        """Hand ``records`` (key, value) to the producer as whole record batches.

        One future per batch instead of one per record (aiokafka's ``send``
        costs 4-6 us and a future each; appending to a batch about 0.3 us).
        ``timestamps_ms`` gives each record's Kafka timestamp (None: the
        producer's clock); every record carries ``headers``. Returns the last
        batch's future and how many records it holds: its result's offset is
        that batch's first record. Records keep their order.
        """
        if not records:
            return None
        self._check()
        producer = self._producer()
        batch = producer.create_batch()
        count = 0
        head = list(headers)
        for i, (key, value) in enumerate(records):
            ts = None if timestamps_ms is None else timestamps_ms[i]
            if batch.append(key=key, value=value, timestamp=ts, headers=head) is None:
                await self._submit(producer, batch, topic, partition, count)
                batch, count = producer.create_batch(), 0
                if batch.append(key=key, value=value, timestamp=ts, headers=head) is None:
                    raise OutputFailed(f"a record of {len(value or b'')} bytes fits no batch")
            count += 1
        return await self._submit(producer, batch, topic, partition, count)

    async def _submit(
        self, producer: Any, batch: Any, topic: str, partition: int, count: int
    ) -> tuple[asyncio.Future[Any], int]:
        batch.close()
        fut: asyncio.Future[Any] = await self._hand_over(
            topic, lambda: producer.send_batch(batch, topic, partition=partition)
        )
        self._track(topic, fut)
        return fut, count

    async def _hand_over(
        self, topic: str, call: Callable[[], Awaitable[asyncio.Future[Any]]]
    ) -> asyncio.Future[Any]:
        """Give a record or batch to the producer, waiting while it has no room.

        aiokafka gives up on a hand-over with ``KafkaTimeoutError`` after its
        request timeout without room: a batch waits until the partition's
        earlier batches have left the accumulator, a record until the open
        batch has room. Under load that is back-pressure, not a failed write
        (measured at 10x overload: the snapshot timer's batches timed out every
        30-150 s): nothing was taken, so it is offered again. The wait ends when
        an earlier write fails (aiokafka expires what it could not send within
        the request timeout) or the fence closes. Any other error fails the
        output like a failed write, instead of escaping to the caller.
        """
        while True:
            self._check()
            try:
                return await call()
            except KafkaTimeoutError:
                log.info("the producer has no room for %s yet; offering it again", topic)
            except KafkaError as exc:
                self.fail(f"a write to {topic} was refused: {type(exc).__name__}: {exc}")
                raise OutputFailed(self.failure) from exc

    def _check(self) -> None:
        """Raise :class:`OutputFailed` if nothing may be sent now."""
        if self.failure is not None:
            raise OutputFailed(self.failure)
        silence = self._fence.silence()
        if silence is not None:
            self.fail(
                f"no word from the group coordinator for {silence:.1f} s (limit "
                f"{self._fence.limit_s:.1f} s): this worker may have lost its partitions"
            )
            raise OutputFailed(self.failure)

    def _track(self, topic: str, fut: asyncio.Future[Any]) -> None:
        self._in_flight.add(fut)
        fut.add_done_callback(partial(self._done, topic, self._epoch))

    def _done(self, topic: str, epoch: int, fut: asyncio.Future[Any]) -> None:
        self._in_flight.discard(fut)
        if fut.cancelled():
            reason = f"a write to {topic} was cancelled"
        elif (exc := fut.exception()) is not None:
            reason = f"a write to {topic} failed: {type(exc).__name__}: {exc}"
        else:
            return
        if epoch == self._epoch:
            self.fail(reason)
        else:  # sent before the last reset, whose replay does not depend on it
            log.info("%s (sent before the last reset)", reason)

    def fail(self, reason: str) -> None:
        """Record the first failure and tell the engine; later ones only log."""
        if self.failure is None:
            self.failure = reason
            log.error("%s; redoing the work from the last commit", reason)
            self._on_failure(reason)
        else:
            log.info("also: %s", reason)

    async def settled(self) -> bool:
        """Wait for every record sent so far; True if all of them were acknowledged.

        ``asyncio.wait``, not ``gather``: when the waiting commit is cancelled (Faust
        stops its commit timer at shutdown), ``gather`` would cancel every send it
        waits for, which fails them all and wipes the local tables (measured in
        the full-scale rolling restart: a SIGTERM that ended without a clean stop).
        """
        if self._in_flight:
            await asyncio.wait(list(self._in_flight))
        return self.failure is None

    def reset(self) -> None:
        """A new generation starts from the last commit: what was sent before is moot."""
        self.failure = None
        self._epoch += 1
        self._in_flight.clear()
