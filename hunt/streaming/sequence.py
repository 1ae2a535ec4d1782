"""Offset continuity per source partition: the engine applies each partition's
records in unbroken offset order, or not at all.

hunt's replay guard is a per-product watermark (the highest source offset
applied), so applying offset X before X-1 would later skip X-1 as a replay.
Faust does not guarantee an unbroken sequence around rebalances: its fetch
loop compares fetched offsets with a read offset that ``perform_seek``
updates only after the consumer thread has already moved the position, so
records fetched in between are dropped as "already read" (measured in the
chaos suite: commits stuck on a head gap, events lost), and records fetched
before a seek can still be delivered after it. This guard turns any such
hole into a rewind: the records after the hole are left un-acknowledged and
the partition is sought back to the first missing offset.

After a rewind the records already fetched past the hole keep arriving for a
while (held, un-acknowledged); the first record whose offset does not exceed
the last one seen is the start of the re-read. If it is the missing offset,
the hole is closed; if it is a later one, the missing offsets hold no records
(transaction markers, or retention) and the hole is accepted with a warning.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["OffsetGuard", "Verdict"]

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    APPLY = "apply"  # the next offset, or one already seen (the watermark skips it)
    HOLD = "hold"  # after a hole, while the rewind takes effect: leave it un-acknowledged
    REWIND = "rewind"  # a hole before it: seek back to :attr:`OffsetGuard.rewind_to`
    GAP = "gap"  # apply it; offsets from :attr:`OffsetGuard.gap_from` up to it hold no records


@dataclass
class _Rewind:
    to: int  # the first missing offset, sought back to
    last: int  # the highest offset seen since: a record at or below it was re-read


class OffsetGuard:
    """Expected next offset per source partition (see module docstring)."""

    def __init__(self) -> None:
        self._next: dict[Hashable, int] = {}
        self._rewinds: dict[Hashable, _Rewind] = {}
        self.rewind_to = 0
        self.gap_from = 0
        self.accepted_gaps = 0

    def expected(self, tp: Hashable) -> int | None:
        """The next offset ``tp`` should deliver, once one of its records was seen."""
        return self._next.get(tp)

    def reset(self) -> None:
        """Forget every partition: after a rebalance each restarts at its commit."""
        self._next.clear()
        self._rewinds.clear()

    def check(self, tp: Hashable, offset: int, starts: Mapping[Any, int | None]) -> Verdict:
        """Judge ``offset`` on ``tp``; ``starts`` says where each partition's reading
        began (its commit, or its log start if it has none). A partition missing
        from it starts at its first record."""
        expected = self._next.get(tp)
        if expected is None:
            expected = starts.get(tp)
        if expected is None or offset == expected:
            self._next[tp] = offset + 1
            self._rewinds.pop(tp, None)
            return Verdict.APPLY
        if offset < expected:
            return Verdict.APPLY
        rewind = self._rewinds.get(tp)
        if rewind is None or rewind.to != expected:
            self._rewinds[tp] = _Rewind(expected, offset)
            self.rewind_to = expected
            return Verdict.REWIND
        if offset > rewind.last:
            rewind.last = offset
            return Verdict.HOLD  # fetched before the rewind took effect
        # The re-read starts past the missing offsets: they hold no records.
        log.warning("no records at %s offsets %d..%d: moving on", tp, expected, offset - 1)
        self.accepted_gaps += 1
        self.gap_from = expected
        self._next[tp] = offset + 1
        del self._rewinds[tp]
        return Verdict.GAP
