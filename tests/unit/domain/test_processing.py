"""Exactly-once guards: source watermarks (replays) and the dedup index (duplicates)."""

from __future__ import annotations

from typing import Any

from hunt.domain.dedup import DedupIndex, DedupPolicy, MemoryStore
from hunt.domain.processing import Outcome, apply_event
from hunt.domain.product import ProductState, Rules


def view(eid: str, ts: int) -> dict[str, Any]:
    return {"event_id": eid, "ts": ts, "product_id": "p", "kind": "view", "qty": 1}


def setup() -> tuple[ProductState, DedupIndex, MemoryStore]:
    store = MemoryStore()
    return ProductState("p"), DedupIndex(store, DedupPolicy()), store


def test_replayed_offsets_are_skipped_silently() -> None:
    s, dedup, _ = setup()
    assert apply_event(s, "b", "b0", 5, view("e1", 0), Rules(), dedup)[0] is Outcome.APPLIED
    assert apply_event(s, "b", "b0", 5, view("e1", 0), Rules(), dedup)[0] is Outcome.REPLAYED
    assert apply_event(s, "b", "b0", 4, view("e0", 0), Rules(), dedup)[0] is Outcome.REPLAYED
    assert s.events_applied == 1


def test_watermarks_are_per_source_partition() -> None:
    s, dedup, _ = setup()
    apply_event(s, "b", "b0", 9, view("e1", 0), Rules(), dedup)
    assert apply_event(s, "b", "b3", 1, view("e2", 0), Rules(), dedup)[0] is Outcome.APPLIED


def test_duplicate_within_horizon_is_skipped_and_beyond_it_applied() -> None:
    s, dedup, _ = setup()
    apply_event(s, "b", "b0", 1, view("e1", 1_000_000), Rules(), dedup)
    assert (
        apply_event(s, "b", "b1", 1, view("e1", 1_600_000), Rules(), dedup)[0] is Outcome.DUPLICATE
    )
    assert apply_event(s, "b", "b1", 2, view("e1", 400_000), Rules(), dedup)[0] is Outcome.DUPLICATE
    assert apply_event(s, "b", "b1", 3, view("e1", 1_600_001), Rules(), dedup)[0] is Outcome.APPLIED
    assert s.events_applied == 2


def test_same_event_id_on_the_other_topic_is_not_a_duplicate() -> None:
    s, dedup, _ = setup()
    apply_event(s, "b", "b0", 1, view("x", 0), Rules(), dedup)
    inv = {
        "event_id": "x",
        "ts": 0,
        "product_id": "p",
        "warehouse": "w",
        "kind": "restock",
        "qty": 1,
    }
    assert apply_event(s, "i", "i0", 1, inv, Rules(), dedup)[0] is Outcome.APPLIED


def test_ids_are_forgotten_only_after_horizon_plus_grace() -> None:
    s, dedup, store = setup()
    apply_event(s, "b", "b0", 1, view("old", 0), Rules(), dedup)
    horizon, grace = DedupPolicy().horizon_ms, DedupPolicy().grace_ms
    apply_event(s, "b", "b0", 2, view("new", horizon + grace), Rules(), dedup)
    assert dedup.forget_expired(s) == 0  # "old" (ts 0) is exactly horizon + grace behind
    apply_event(s, "b", "b0", 3, view("newer", 2 * horizon + grace), Rules(), dedup)
    assert dedup.forget_expired(s) == 1
    assert not any(b"old" in k for k in store.data)
    assert s.dedup_buckets["b"] == sorted(s.dedup_buckets["b"]) and 0 not in s.dedup_buckets["b"]


def test_ids_whose_application_never_landed_do_not_make_duplicates() -> None:
    """A crash after a batch's ids reached the changelog but before the product's
    record did: the restored state lacks the watermark, so the replay applies."""
    s, dedup, _ = setup()
    apply_event(s, "b", "b0", 6, view("e0", 0), Rules(), dedup)
    before = s.to_bytes()  # the product's last record that reached the changelog
    apply_event(s, "b", "b0", 7, view("e1", 0), Rules(), dedup)  # its id landed, its record not
    restored = ProductState.from_bytes(before)
    assert apply_event(restored, "b", "b0", 7, view("e1", 0), Rules(), dedup)[0] is Outcome.APPLIED
    assert restored.events_applied == 2
    # ...while the same id from another partition, once the watermark covers it, is a duplicate.
    assert (
        apply_event(restored, "b", "b5", 1, view("e1", 0), Rules(), dedup)[0] is Outcome.DUPLICATE
    )
