"""Duplicate deliveries: which event ids a product has applied, kept on disk.

An id is remembered under the key (:func:`dedup_key`)
``d\\0 <2-byte length of the product id> <product id> <topic code> <8-byte bucket> <event id>``
(ids as UTF-8) where ``bucket = ts // bucket_ms`` and ``bucket_ms`` is the dedup horizon, so
an earlier delivery within the horizon of ``ts`` can only sit in the buckets
``b-1, b, b+1``: three point reads at most, and only of buckets the product's
state lists as live. A whole bucket is forgotten (deleted by prefix) once the
product's newest event time is past its last possible ``ts`` by horizon + grace.

Ids may hold any character, NUL included, so no separator byte can delimit
them: the product id is length-prefixed and every other part but the last
has a fixed width. So a key has exactly one reading (no two ids share one),
and a product's prefix is never the prefix of another product's keys.

Each id's value also names the source partition and offset that applied it. The
ids of a batch reach the changelog before the product's record, so a crash
between them can leave ids whose application never landed; an id counts only
if the product's stored watermark covers its offset, so a replay of that
event is applied again instead of being taken for a duplicate.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from hunt.domain.product import ProductState

__all__ = [
    "DedupIndex",
    "DedupPolicy",
    "KeyValueStore",
    "MemoryStore",
    "dedup_key",
    "dedup_key_prefix",
]

_MIN_BUCKET_MS = 60_000  # a horizon of 0 (dedup off) still needs a positive bucket width.


class KeyValueStore(Protocol):
    """The few store operations dedup needs; the streaming layer backs them by RocksDB."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def keys_with_prefix(self, prefix: bytes) -> Iterable[bytes]: ...


class MemoryStore:
    """A :class:`KeyValueStore` over a dict: the rules without a worker (offline
    reports, tests); the worker backs the same operations by RocksDB."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)

    def keys_with_prefix(self, prefix: bytes) -> Iterator[bytes]:
        return iter(sorted(k for k in self.data if k.startswith(prefix)))


@dataclass(frozen=True, slots=True)
class DedupPolicy:
    """SPEC: horizon 10 minutes, forgotten after horizon + grace (60 minutes)."""

    horizon_ms: int = 600_000
    grace_ms: int = 3_600_000

    @property
    def bucket_ms(self) -> int:
        return max(self.horizon_ms, _MIN_BUCKET_MS)


# Products whose dedup key prefix is kept (a shop's hot set): at most ~1.2 KB an entry
# with 128-character ids of 4-byte characters, so ~20 MiB at worst, ~3 MiB typically.
_PREFIX_CACHE = 16_384


@functools.lru_cache(maxsize=_PREFIX_CACHE)
def dedup_key_prefix(product_id: str) -> bytes:
    """The start of every dedup key of one product, and of no other product's."""
    pid = product_id.encode()
    # 2 bytes hold any valid product id: 128 characters are at most 512 bytes.
    return b"d\x00" + len(pid).to_bytes(2, "big") + pid


def _bucket_prefix(product_id: str, topic_code: str, bucket: int) -> bytes:
    """Keys of one product, topic and bucket; ``topic_code`` is one ASCII character."""
    return dedup_key_prefix(product_id) + topic_code.encode() + bucket.to_bytes(8, "big")


def dedup_key(product_id: str, topic_code: str, bucket: int, event_id: str) -> bytes:
    """Where an applied id is kept (see the module docstring)."""
    return _bucket_prefix(product_id, topic_code, bucket) + event_id.encode()


class DedupIndex:
    """Remembers applied event ids per product and topic; answers "is this a repeat?"."""

    __slots__ = ("policy", "store")

    def __init__(self, store: KeyValueStore, policy: DedupPolicy) -> None:
        self.store = store
        self.policy = policy

    def is_duplicate(self, state: ProductState, topic_code: str, event_id: str, ts: int) -> bool:
        live = state.dedup_buckets.get(topic_code)
        if not live:
            return False
        b = ts // self.policy.bucket_ms
        for bucket in (b - 1, b, b + 1):
            if bucket in live:
                raw = self.store.get(dedup_key(state.product_id, topic_code, bucket, event_id))
                if raw is None:
                    continue
                seen_ts, source, offset = raw.decode().split(":")
                mark = state.offsets.get(source)
                if (
                    mark is not None
                    and int(offset) <= mark
                    and abs(int(seen_ts) - ts) <= self.policy.horizon_ms
                ):
                    return True
        return False

    def remember(
        self, state: ProductState, topic_code: str, event_id: str, ts: int, source: str, offset: int
    ) -> None:
        bucket = ts // self.policy.bucket_ms
        live = state.dedup_buckets.setdefault(topic_code, [])
        if bucket not in live:
            live.append(bucket)
            live.sort()
        key = dedup_key(state.product_id, topic_code, bucket, event_id)
        self.store.put(key, f"{ts}:{source}:{offset}".encode())

    def forget_expired(self, state: ProductState) -> int:
        """Delete buckets whose every id is past the horizon + grace; return ids deleted."""
        newest = state.last_event_ts
        if newest is None:
            return 0
        width = self.policy.bucket_ms
        keep_after = newest - self.policy.horizon_ms - self.policy.grace_ms
        deleted = 0
        for code, live in state.dedup_buckets.items():
            # Bucket b holds ts < (b + 1) * width; forgettable when that is <= keep_after.
            expired = [b for b in live if (b + 1) * width <= keep_after]
            for bucket in expired:
                keys = list(
                    self.store.keys_with_prefix(_bucket_prefix(state.product_id, code, bucket))
                )
                for key in keys:
                    self.store.delete(key)
                deleted += len(keys)
                live.remove(bucket)
        return deleted
