"""The changelog queue of Faust's table recovery, closed to records of a past generation.

Faust's table recovery applies a changelog record only if its offset is above
the highest one it has seen (``Recovery._slurp_changelogs``). A record of the
previous consumer generation that reaches the queue after the next recovery
sought back makes that recovery skip every record between: the restored
product state is older than the changelog while the input offsets of its
events are committed, so events are lost, or replays counted again. Such a
record can still be on its way when a rebalance clears the queues: Faust's
conductor awaits flow control and the producer buffer before it inserts a
record, and a ``put`` waiting for flow control is not one of the queue's
waiting putters that the clear cancels. Measured in the chaos suite's
full-scale rolling restart (3 runs in 19 under load): a product restored from
changelog offset 727 though offsets 1483..2239 held its newer state, by a
recovery that resumed from 1343 after a rebalance had cut the one before it
short.

A record is stamped with the consumer generation it was fetched in
(``Message.generation_id``); this queue drops one whose generation has passed
at the moment it would be inserted, whichever path inserts it. The recovery of
the current generation seeks every changelog partition to where it must read,
so a dropped record is read again.
"""

from __future__ import annotations

import logging
from typing import Any

from mode.utils.queues import ThrowableQueue

__all__ = ["CurrentGenerationQueue", "install_changelog_queue"]

log = logging.getLogger(__name__)


class CurrentGenerationQueue(ThrowableQueue[Any]):
    """A Faust flow-control queue that refuses events of a past consumer generation."""

    def __init__(self, app: Any, maxsize: int, *, clear_on_resume: bool) -> None:
        self._app = app
        self.dropped = 0  # stale records refused since start (for tests and diagnostics)
        super().__init__(
            maxsize=maxsize, flow_control=app.flow_control, clear_on_resume=clear_on_resume
        )

    def _stale(self, event: Any) -> bool:
        """The record is of a past consumer generation (no side effects)."""
        generation = getattr(getattr(event, "message", None), "generation_id", None)
        return generation is not None and generation != self._app.consumer_generation_id

    def _drop(self, event: Any) -> None:
        message = event.message
        self.dropped += 1
        log.warning(
            "changelog record %s[%d]@%d of generation %d reached the queue in generation %d:"
            " dropped (the recovery reads it again)",
            message.topic,
            message.partition,
            message.offset,
            message.generation_id,
            self._app.consumer_generation_id,
        )

    def put_nowait(self, item: Any) -> None:
        # asyncio.Queue.put waits for room, then calls this.
        if self._stale(item):
            self._drop(item)
        else:
            super().put_nowait(item)

    def force_put_nowait(self, item: Any) -> None:
        # The conductor's path for a queue with room (put_nowait_enhanced).
        if self._stale(item):
            self._drop(item)
        else:
            super().force_put_nowait(item)


def install_changelog_queue(app: Any) -> CurrentGenerationQueue:
    """Give Faust's table manager a :class:`CurrentGenerationQueue` as its changelog
    queue, with the size and flags ``TableManager.changelog_queue`` would use."""
    tables = app.tables
    if tables._changelog_queue is not None:  # private: created on first use, not yet
        raise RuntimeError("Faust's changelog queue exists already: install before start")
    queue = CurrentGenerationQueue(
        app, maxsize=app.conf.stream_buffer_maxsize, clear_on_resume=True
    )
    tables._changelog_queue = queue  # private: _changelog_queue
    return queue
