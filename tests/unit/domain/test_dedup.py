"""Dedup keys: one reading per key, for any ids the contract allows (NUL included)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hunt.domain.dedup import DedupIndex, DedupPolicy, MemoryStore, dedup_key, dedup_key_prefix
from hunt.domain.events import MAX_ID_LEN, MAX_TS
from hunt.domain.product import ProductState

# Any string of 1..128 characters: NUL, control characters and non-BMP ones included
# (surrogates excluded: they cannot be UTF-8 and no JSON decoder yields them).
ids = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=MAX_ID_LEN)
odd_ids = st.text(st.sampled_from("\x00\x01\x7f\xff\U0001f600ab"), min_size=1, max_size=12)
any_id = ids | odd_ids
codes = st.sampled_from(["b", "i"])
buckets = st.integers(0, MAX_TS // DedupPolicy().bucket_ms + 1)
parts = st.tuples(any_id, codes, buckets, any_id)


def read_key(key: bytes) -> tuple[str, str, int, str]:
    """The one reading of a dedup key: its product, topic code, bucket and event id."""
    assert key[:2] == b"d\x00"
    size = int.from_bytes(key[2:4], "big")
    pid_end = 4 + size
    product = key[4:pid_end].decode()
    code = key[pid_end : pid_end + 1].decode()
    bucket = int.from_bytes(key[pid_end + 1 : pid_end + 9], "big")
    return product, code, bucket, key[pid_end + 9 :].decode()


@given(parts)
def test_a_key_reads_back_as_exactly_its_parts(p: tuple[str, str, int, str]) -> None:
    assert read_key(dedup_key(*p)) == p


@given(parts, parts)
def test_different_ids_never_share_a_key(
    a: tuple[str, str, int, str], b: tuple[str, str, int, str]
) -> None:
    assert (dedup_key(*a) == dedup_key(*b)) == (a == b)


@given(parts, any_id)
def test_one_products_prefix_never_matches_another_products_keys(
    p: tuple[str, str, int, str], other: str
) -> None:
    key = dedup_key(*p)
    assert key.startswith(dedup_key_prefix(p[0]))
    if other != p[0]:
        assert not key.startswith(dedup_key_prefix(other))


def test_nul_in_ids_no_longer_joins_two_products_keys() -> None:
    # With NUL-separated parts, product "x" bucket 65 ("\0"*7 + "A") was a prefix of
    # every key of product "x\0b\0\0\0\0\0\0\0A\0y": forgetting one bucket of "x"
    # would have deleted the other product's ids.
    bucket = 0x41
    sneaky = "x\x00b" + "\x00" * 7 + "A\x00y"
    assert not dedup_key(sneaky, "b", 3, "e").startswith(dedup_key("x", "b", bucket, ""))
    # ... and product "x" event "y\0b\0\0\0\0\0\0\0A\0e" had the key of that product's event "e".
    assert dedup_key("x", "b", bucket, "y\x00b" + "\x00" * 7 + "A\x00e") != dedup_key(
        sneaky, "b", bucket, "e"
    )


@given(st.lists(st.tuples(any_id, any_id), min_size=1, max_size=8, unique=True))
def test_forgetting_a_products_buckets_leaves_other_products_alone(
    events: list[tuple[str, str]],
) -> None:
    store = MemoryStore()
    policy = DedupPolicy()
    dedup = DedupIndex(store, policy)
    states: dict[str, ProductState] = {}
    for n, (pid, eid) in enumerate(events):
        state = states.setdefault(pid, ProductState(pid))
        dedup.remember(state, "b", eid, 0, "b0", n)
        state.offsets["b0"] = n
    first = events[0][0]
    victim = states[first]
    victim.last_event_ts = policy.horizon_ms + policy.grace_ms + policy.bucket_ms
    mine = sum(1 for pid, _ in events if pid == first)
    assert dedup.forget_expired(victim) == mine
    for pid, eid in events:
        if pid != first:
            assert dedup.is_duplicate(states[pid], "b", eid, 0)
    assert len(store.data) == len(events) - mine
