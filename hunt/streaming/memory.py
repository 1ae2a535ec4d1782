"""One memory budget (``HUNT_MEMORY_BUDGET_MIB``) split over every bounded buffer.

Faust's defaults give each partition database a 2 GiB block cache and leave
the rest unbounded in practice; here each consumer of memory gets a share of
the budget, sized per partition, so a worker owning every partition stays
inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hunt.config import ConfigError, Settings

__all__ = ["MemoryPlan"]

_PYTHON_BASE_MIB = 150  # interpreter + Faust + aiokafka + rocksdict, measured RSS at idle.
_ROCKSDB_SHARE = 0.25  # block caches and memtables of every open partition database.
_STREAM_SHARE = 0.10  # Faust's per-partition stream buffers (decoded, unprocessed events).
_FETCH_SHARE = 0.10  # raw fetch responses held by the consumer.
_PRODUCER_SHARE = 0.05  # aiokafka keeps about two open batches per output partition.
_EVENT_BYTES = 1500  # a buffered Message + ~200-byte value: measured with an Event too, so high.
_INPUT_TOPICS = 3  # behaviour, inventory and the reroute topic feed each partition.
_OUTPUT_TOPICS = 5  # changelog, reroute, product-state, alerts, dlq.
_MIN_STREAM_EVENTS = 100  # below this, per-partition buffers starve the batcher.
_MAX_FETCH_BYTES = 1 << 20  # Kafka's default max.partition.fetch.bytes; more buys nothing.
_MAX_PRODUCER_BATCH = 256 << 10  # larger batches stop paying back in requests saved.
_WRITE_BUFFERS = 2  # memtables per database: one filling while one flushes.


@dataclass(frozen=True)
class MemoryPlan:
    """Byte and count limits derived from the budget and the partition count."""

    budget_bytes: int
    block_cache_bytes: int
    write_buffer_bytes: int
    stream_buffer_events: int
    fetch_bytes_per_partition: int
    producer_batch_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryPlan:
        budget = settings.memory_budget_bytes
        usable = budget - _PYTHON_BASE_MIB * 1024 * 1024
        if usable <= 0:
            raise ConfigError(
                f"HUNT_MEMORY_BUDGET_MIB={settings.memory_budget_mib}: must exceed "
                f"{_PYTHON_BASE_MIB} MiB, the worker's own footprint"
            )
        # Sized when standbys shared the budget (two databases per partition). They
        # are off now (app.py); halving the share per database is kept until the
        # overload RSS is measured with larger caches.
        databases = 2 * settings.partitions
        per_db = int(budget * _ROCKSDB_SHARE) // databases
        inputs = _INPUT_TOPICS * settings.partitions
        return cls(
            budget_bytes=budget,
            block_cache_bytes=per_db // 2,
            write_buffer_bytes=max(1 << 20, per_db // 2 // _WRITE_BUFFERS),
            stream_buffer_events=max(
                _MIN_STREAM_EVENTS, int(budget * _STREAM_SHARE) // _EVENT_BYTES // inputs
            ),
            fetch_bytes_per_partition=min(_MAX_FETCH_BYTES, int(budget * _FETCH_SHARE) // inputs),
            producer_batch_bytes=min(
                _MAX_PRODUCER_BATCH,
                int(budget * _PRODUCER_SHARE) // (2 * _OUTPUT_TOPICS * settings.partitions),
            ),
        )

    def rocksdb_options(self) -> dict[str, Any]:
        """Faust ``Table(options=...)`` for each partition database (a fresh dict:
        Faust pops keys from it)."""
        return {
            "block_cache_size": self.block_cache_bytes,
            "block_cache_compressed_size": 0,
            "write_buffer_size": self.write_buffer_bytes,
            "max_write_buffer_number": _WRITE_BUFFERS,
            "max_open_files": 256,  # file handles per database; the OS limit is shared.
        }
