"""The agent's channel queue, fed one list of records per partition per fetch.

Faust hands each record to its conductor, which takes a lock, waits for flow
control and the producer, builds an ``Event`` and queues it for the agent:
about a fifth of the worker's CPU draining a backlog (py-spy, ``hunt bench
--only hunt``), for a batch engine that takes the records a hundred at a time
anyway. Here the fetch loop (:class:`~hunt.streaming.adapter.consumer.RewindingConsumer`)
puts each partition's fetched :class:`~faust.types.Message` list of the
agent's input topics straight into the agent's channel queue; records of every
other topic (the table's changelog) still take the conductor's path.

The queue stays Faust's: Faust's flow control empties it on a rebalance as it
did, and stopping the agent still ends the intake through it. What the
conductor's buffer limit did is done here: the fetch loop waits while the
queue holds ``maxsize`` records not yet taken (Faust's ``stream_buffer_maxsize``,
sized by :mod:`hunt.streaming.memory`), so a backlog stays in Kafka.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import Message
from mode.utils.queues import ThrowableQueue

from hunt.streaming.adapter.internals import queued

__all__ = ["Inbox"]

# Faust empties the queue on a rebalance without a word: a fetch loop waiting for
# room looks again this often (a wait only happens while the agent is behind).
_RECHECK_S = 0.1


class Inbox:
    """Record lists for the agent, bounded in records (see module docstring)."""

    def __init__(self, queue: ThrowableQueue[Any], topics: frozenset[str]) -> None:
        self.queue = queue
        self.topics = topics  # whose records come here
        self.max_records = max(1, queue.maxsize)
        self.records = 0  # put and not yet taken
        self._room = asyncio.Event()
        self._room.set()

    def recount(self) -> None:
        """Count what waits in the queue (a fetch loop starting after a rebalance)."""
        self.records = sum(
            len(item) if isinstance(item, list) else 1 for item in queued(self.queue)
        )

    def put(self, messages: list[Message]) -> None:
        """Queue one partition's records of one fetch, in offset order."""
        if self.queue.empty():
            self.records = 0  # whatever was counted was taken, or emptied by Faust
        self.records += len(messages)
        self.queue.force_put_nowait(messages)

    def taken(self, n: int) -> None:
        """The intake took ``n`` records out of the queue."""
        self.records = max(0, self.records - n)
        if self.records < self.max_records:
            self._room.set()

    async def room(self) -> None:
        """Wait while the queue is full."""
        while self.records >= self.max_records and not self.queue.empty():
            self._room.clear()
            try:
                async with asyncio.timeout(_RECHECK_S):
                    await self._room.wait()
            except TimeoutError:
                pass
