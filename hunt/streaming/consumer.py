"""Faust's aiokafka consumer with one fix: rewind partitions that have no commit.

During a rebalance Faust abandons messages it has already fetched (the
``suspend_flow`` wait in ``Consumer._drain_messages``) and relies on seeking
every partition back to its committed offset afterwards. aiokafka's
``seek_to_committed`` skips a partition whose committed offset is missing or
0, so for a partition the group never committed (a new deployment, or one
whose owners were killed before their first commit) the abandoned messages
are never fetched again: they are silently skipped and the partition looks
stalled. Measured here with two workers killed and restarted in quick
succession. Such partitions are sought to their beginning instead, which
re-reads from the start; hunt's per-product watermarks skip what was applied.
"""

from __future__ import annotations

from collections.abc import Mapping

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

__all__ = ["RewindingConsumer"]


class RewindingConsumer(faust_aiokafka.Consumer):
    """See module docstring."""

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        for tp, offset in committed.items():
            if not offset:
                await self.seek(TP(tp.topic, tp.partition), 0)
        return committed
