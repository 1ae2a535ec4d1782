"""Applying one validated event to a product exactly once (SPEC section 2).

Two guards, in this order:

1. the source watermark: each product stores the highest offset it applied per
   source partition, in the same table record as its counters. A record at or
   below it is a replay (after a crash, rebalance or re-forward) and is skipped
   silently: it was already counted, as applied or as a duplicate.
2. the dedup index: a new record whose ``event_id`` the product already applied
   within the horizon is a duplicate delivery, skipped and counted.

A new event moves the watermark and leaves its id only after the rules applied
it without raising, so a record the caller dead-letters leaves neither behind.
"""

from __future__ import annotations

import enum

from hunt.domain.dedup import DedupIndex
from hunt.domain.events import Event
from hunt.domain.product import Alert, ProductState, Rules

__all__ = ["Outcome", "apply_event"]


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REPLAYED = "replayed"


def apply_event(
    state: ProductState,
    topic_code: str,
    source: str,
    offset: int,
    ev: Event,
    rules: Rules,
    dedup: DedupIndex,
) -> tuple[Outcome, list[Alert]]:
    """Apply ``ev`` (read at ``offset`` of source partition ``source``) to ``state``."""
    mark = state.offsets.get(source)
    if mark is not None and offset <= mark:
        return Outcome.REPLAYED, []
    event_id: str = ev["event_id"]
    ts: int = ev["ts"]
    # Ask before moving the watermark: an id counts only if the watermark covers it.
    if dedup.is_duplicate(state, topic_code, event_id, ts):
        state.offsets[source] = offset
        return Outcome.DUPLICATE, []
    if topic_code == "b":
        alerts = state.apply_behavior(ev, rules)
    else:
        alerts = state.apply_inventory(ev, rules)
    state.offsets[source] = offset
    dedup.remember(state, topic_code, event_id, ts, source, offset)
    return Outcome.APPLIED, alerts
