"""Keeps every source partition's records flowing into the engine without holes.

:mod:`hunt.streaming.sequence` decides, record by record, whether a record
continues its partition's offsets; this adapter applies those decisions to
Faust's consumer: a hole is sought back to its first missing offset. It also
catches the hole no later record reveals: Faust can drop the *last* records it
fetched (what it fetched while pausing or seeking for a rebalance), after which
nothing arrives and the partition would wait, un-committed, until the next
rebalance (measured in the chaos suite's repeated-SIGKILL scenario: stalled
commits, lost events). A partition whose fetch position is past the next
offset the engine expects, with none of its records applied, queued or
awaiting their ack for :data:`QUIET_S`, is sought back to that offset.
Rewinding is always safe: the per-product watermarks skip what was applied.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

import faust
from faust.types import TP, Message

from hunt.streaming.adapter.internals import add_gap
from hunt.streaming.metrics import Metrics
from hunt.streaming.sequence import OffsetGuard, Verdict

__all__ = ["QUIET_S", "Continuity"]

log = logging.getLogger(__name__)

QUIET_S = 2.0  # no record of a partition for this long while it has fetched ones: a hole.


class Continuity:
    """Hole detection and rewinds for the engine's source partitions."""

    def __init__(self, app: faust.App, inputs: Iterable[str], metrics: Metrics) -> None:
        self.app = app
        self.inputs = frozenset(inputs)
        self.metrics = metrics
        self.guard = OffsetGuard()
        self._delivered_at: dict[TP, float] = {}  # last record seen per source partition
        self._assigned_at = time.monotonic()

    def reset(self) -> None:
        """After a rebalance: Faust seeks every partition to its commit (or, for
        one without, ``RewindingConsumer`` to its log start)."""
        self.guard.reset()
        self._assigned_at = time.monotonic()
        self._delivered_at.clear()

    def _starts(self) -> Mapping[TP, int]:
        """Where each input partition's reading began (``RewindingConsumer``)."""
        starts: Mapping[TP, int] = getattr(self.app.consumer, "start_offsets", {})
        return starts

    async def in_sequence(self, events: list[Message]) -> list[Message]:
        """The events that continue their partition's offsets; a partition with a
        hole is sought back to it and its later events wait, un-acknowledged."""
        check = self.guard.check
        starts = self._starts()
        kept: list[Message] = []
        now = time.monotonic()
        delivered_at = self._delivered_at
        for msg in events:
            delivered_at[msg.tp] = now
            verdict = check(msg.tp, msg.offset, starts)
            if verdict is Verdict.APPLY:
                kept.append(msg)
            elif verdict is Verdict.GAP:
                kept.append(msg)
                # Let Faust commit past offsets that hold no records (its fetch
                # loop no longer marks gaps itself: see consumer.py).
                await add_gap(self.app.consumer, msg.tp, self.guard.gap_from, msg.offset - 1)
            elif verdict is Verdict.REWIND:
                to = self.guard.rewind_to
                log.warning("offset hole on %s: got %d, rewinding to %d", msg.tp, msg.offset, to)
                await self._rewind(msg.tp, to)
        return kept

    async def heal(
        self,
        owned: set[int],
        waiting: set[TP],
        positions: Callable[[set[TP]], dict[TP, int | None]],
    ) -> None:
        """Rewind owned partitions that fetched records which never arrived.

        ``waiting``: partitions with records queued or applied but not yet acked.
        """
        now = time.monotonic()
        quiet = {
            tp
            for tp in self.app.consumer.assignment()
            if tp.topic in self.inputs
            and tp.partition in owned
            and tp not in waiting
            and now - self._delivered_at.get(tp, self._assigned_at) > QUIET_S
        }
        if not quiet:
            return
        starts = self._starts()
        for tp, position in positions(quiet).items():
            expected = self.guard.expected(tp)
            if expected is None:
                expected = starts.get(tp)
            if position is None or expected is None or position <= expected:
                continue
            log.warning(
                "%s fetched up to %d but delivered only to %d: rewinding", tp, position, expected
            )
            self._delivered_at[tp] = now
            await self._rewind(tp, expected)

    async def _rewind(self, tp: TP, offset: int) -> None:
        self.metrics.rewinds.inc()
        try:
            await self.app.consumer.seek(tp, offset)
        except Exception as exc:  # revoked meanwhile: its next owner reads it
            log.warning("could not rewind %s: %r", tp, exc)
