"""The one door to Faust, mode and aiokafka internals.

hunt runs on Faust's consumer, group, flow control, commits and tables, and
bypasses them only where a measured cost or a found race demands it. Every
such reach into a private upstream attribute lives in this package, marked
``# private:`` (``tests/unit/test_upstream.py`` fails on one anywhere else),
behind a typed interface:

* :mod:`.consumer`: Faust's consumer with hunt's fetch loop (one rewind-safe
  delivery per fetch), fetch settings, seeks on the consumer thread and the
  coordinator fence's hooks;
* :mod:`.queues`: the changelog queue that drops records of a past consumer
  generation before Faust's recovery sees them;
* :mod:`.sensors`: Faust's Prometheus sensors fed once per batch;
* :mod:`.internals`: small accessors (the aiokafka producer, a table
  partition's RocksDB, gaps, blueprints, diagnostics).
"""

from hunt.streaming.adapter.consumer import RewindingConsumer
from hunt.streaming.adapter.internals import (
    add_gap,
    aiokafka_producer,
    committed_offsets,
    consumer_diagnostics,
    crash_reason,
    enabled_blueprints,
    partition_db,
    paused_partitions,
    queued,
    queued_records,
    set_enabled_blueprints,
)
from hunt.streaming.adapter.queues import install_changelog_queue
from hunt.streaming.adapter.sensors import BatchSensors

__all__ = [
    "BatchSensors",
    "RewindingConsumer",
    "add_gap",
    "aiokafka_producer",
    "committed_offsets",
    "consumer_diagnostics",
    "crash_reason",
    "enabled_blueprints",
    "install_changelog_queue",
    "partition_db",
    "paused_partitions",
    "queued",
    "queued_records",
    "set_enabled_blueprints",
]
