"""One partition of the state table as a key-value store for one micro-batch.

Faust's ``Table.__setitem__`` and its RocksDB store pick the partition from the
*current event*, which is wrong for a batch that spans partitions, and send one
changelog record per assignment through Faust's per-message path (~150 µs
each). Here a batch reads through an overlay of its own writes, then writes each
touched key once: a single RocksDB ``WriteBatch`` into the table's partition
database, and one changelog record per key on the same partition number, so
Faust's own recovery (``apply_changelog_batch``) and standbys restore it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from rocksdict import Rdict, WriteBatch

from hunt.streaming.adapter.internals import partition_db

if TYPE_CHECKING:
    from faust.types import TP, TableT

__all__ = ["PartitionStore"]

# Upper end of a range holding every key: hunt's keys start with "s" or "d" and
# Faust's offset key with "_", all below 0xff.
_PAST_EVERY_KEY = b"\xff" * 8


class PartitionStore:
    """Reads and buffered writes of one table partition (see module docstring)."""

    __slots__ = ("_db", "_pending", "_store", "partition")

    def __init__(self, table: TableT[Any, Any], partition: int) -> None:
        self.partition = partition
        store: Any = table.data
        self._store = store
        self._db: Rdict = partition_db(table, partition)
        self._pending: dict[bytes, bytes | None] = {}

    def wipe(self, changelog: TP) -> None:
        """Delete every key, so that Faust's next recovery reads the whole changelog.

        The persisted offset is set to -1 rather than deleted: Faust's recovery
        falls back to the offset it read up to in memory when none is stored.
        """
        self._pending = {}
        self._db.delete_range(b"", _PAST_EVERY_KEY)
        self._store.set_persisted_offset(changelog, -1)

    def get(self, key: bytes) -> bytes | None:
        pending = self._pending
        if key in pending:
            return pending[key]
        value: bytes | None = self._db.get(key)
        return value

    def put(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def delete(self, key: bytes) -> None:
        self._pending[key] = None

    def keys_with_prefix(self, prefix: bytes) -> Iterator[bytes]:
        seen: set[bytes] = set()
        for key in cast(Iterator[bytes], self._db.keys(from_key=prefix)):
            if not key.startswith(prefix):
                break
            seen.add(key)
            if self._pending.get(key, b"") is not None:
                yield key
        for key, value in list(self._pending.items()):
            if value is not None and key.startswith(prefix) and key not in seen:
                yield key

    def drain(self) -> list[tuple[bytes, bytes | None]]:
        """Write the batch to RocksDB; return the changes, in write order, for the changelog."""
        changes = list(self._pending.items())
        if changes:
            batch = WriteBatch(raw_mode=True)
            for key, value in changes:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
            self._db.write(batch)
        self._pending = {}
        return changes
