"""What hunt takes from inside faust-streaming, mode-streaming and aiokafka, checked.

hunt overrides, copies or calls upstream functions that are not public API,
and reads or writes private attributes. Their versions are pinned
(``constraints.txt``; the worker refuses others: :mod:`hunt.streaming.versions`).
When a pin moves, these tests say what changed and what in hunt to re-check:

* :data:`UPSTREAM` holds a hash of ``inspect.getsource`` of every upstream
  function or class hunt overrides, copies, wraps or relies on by name, as
  of the pinned version; a changed source fails with what to re-check.
* :data:`PRIVATE` lists every private upstream attribute the worker's code
  (``hunt/streaming``, ``hunt/web``, ``hunt/domain``, ``hunt/config.py``)
  touches, with its owner. A scan of that code must find exactly these, so
  a new private access cannot slip in unlisted; each must still exist upstream.
  Each is touched only inside ``hunt/streaming/adapter`` (the one door), on a
  line marked ``# private:``.

The 32 private attributes, by owner:

* faust ``transport.consumer.Consumer``: ``_acked``, ``_active_partitions``,
  ``_add_gap``, ``_buffered_partitions``, ``_commit_every``,
  ``_committed_offset``, ``_n_acked``, ``_paused_partitions``,
  ``_read_offset``, ``_to_message``, ``_unacked_messages``;
  ``ThreadDelegateConsumer``: ``_thread``;
  ``drivers.aiokafka.AIOKafkaConsumerThread``: ``_consumer``,
  ``_ensure_consumer``; ``drivers.aiokafka.Producer``: ``_producer``;
  ``stores.rocksdb.Store``: ``_db_for_partition``;
  ``web.base.BlueprintManager``: ``_enabled``;
  ``sensors.prometheus.PrometheusMonitor``: ``_metrics``;
  ``tables.manager.TableManager``: ``_changelog_queue``.
* mode ``services.Service``: ``_crash_reason``, ``_stopped``.
* aiokafka ``AIOKafkaConsumer``: ``_coordinator``, ``_fetch_max_wait_ms``,
  ``_fetch_min_bytes``, ``_subscription``; ``GroupCoordinator``:
  ``_do_heartbeat``, ``_on_join_complete``; ``TopicPartitionState``:
  ``_position``, ``_reset_strategy``; ``AIOKafkaProducer``:
  ``_message_accumulator``; ``MessageAccumulator``: ``_batches``.
* the standard library's ``asyncio.Queue``: ``_queue``.

To move a pin: install the new version, run this file, re-check each failure
against the hunt code it names, then ``python -m tests.unit.test_upstream``
prints the new hashes to paste into :data:`UPSTREAM`.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.metadata
import inspect
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hunt.streaming.versions import PINNED
from tests.harness import REPO

FAUST, MODE, AIOKAFKA = "faust-streaming", "mode-streaming", "aiokafka"


@dataclass(frozen=True)
class Upstream:
    """One upstream function or class hunt depends on by its source."""

    target: str  # "module:Qual.name", or "package/relative/file" for a non-Python source
    package: str
    version: str  # the package version ``sha`` was taken from
    sha: str  # first 16 hex digits of sha256 of inspect.getsource(target)
    hunt: str  # where hunt depends on it, and how
    recheck: str  # what to verify in hunt when it changes


UPSTREAM: tuple[Upstream, ...] = (
    # hunt/streaming/adapter/consumer.py
    Upstream(
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._create_worker_consumer",
        FAUST,
        "0.15.3",
        "c2701bfc3e6f6cad",
        "consumer.py _ConsumerThread._create_worker_consumer overrides it",
        "it still returns the unstarted aiokafka consumer, so the fetch settings set after it "
        "reach start(); whether it now passes fetch_max_wait_ms/fetch_min_bytes itself",
    ),
    Upstream(
        "aiokafka.consumer.consumer:AIOKafkaConsumer.__init__",
        AIOKAFKA,
        "0.14.0",
        "01506f316191f7c9",
        "consumer.py sets _fetch_max_wait_ms and _fetch_min_bytes after construction",
        "the two arguments are still stored under those names",
    ),
    Upstream(
        "aiokafka.consumer.consumer:AIOKafkaConsumer.start",
        AIOKAFKA,
        "0.14.0",
        "2f1ba70443327538",
        "consumer.py relies on start() handing _fetch_max_wait_ms/_fetch_min_bytes to the Fetcher",
        "the Fetcher is still built from those attributes in start()",
    ),
    Upstream(
        "faust.transport.drivers.aiokafka:Consumer._new_consumer_thread",
        FAUST,
        "0.15.3",
        "0870ec53dea75083",
        "consumer.py RewindingConsumer._new_consumer_thread overrides it",
        "the thread is still built with (consumer, loop=, beacon=)",
    ),
    Upstream(
        "mode.services:Service.__post_init__",
        MODE,
        "0.7.1",
        "f06a039bd6aae0ba",
        "consumer.py RewindingConsumer.__post_init__ extends it (creates `delivered`)",
        "it is still called once from __init__, on the event loop's thread",
    ),
    Upstream(
        "faust.transport.consumer:ThreadDelegateConsumer.seek_to_committed",
        FAUST,
        "0.15.3",
        "f1d483b861b0328b",
        "consumer.py RewindingConsumer.seek_to_committed overrides it",
        "it still returns {tp: committed offset} and is what Faust calls after a rebalance",
    ),
    Upstream(
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.seek_to_committed",
        FAUST,
        "0.15.3",
        "775ab0adc4b052ab",
        "consumer.py RewindingConsumer.seek_to_committed reaches it through super()",
        "the committed map still has 0/None for partitions without a commit",
    ),
    Upstream(
        "aiokafka.consumer.consumer:AIOKafkaConsumer.seek_to_committed",
        AIOKAFKA,
        "0.14.0",
        "f6cd85c8b70a4ccf",
        "consumer.py seeks partitions without a commit to their log start, which this skips",
        "whether partitions with no commit are still left unsought (the rewind's reason)",
    ),
    Upstream(
        "faust.transport.consumer:Consumer._wait_next_records",
        FAUST,
        "0.15.3",
        "6218e1969a636b3f",
        "consumer.py RewindingConsumer._wait_next_records overrides it (puts back what a flow "
        "stop would drop)",
        "it still returns (records, active partitions) and may return after the flow stopped",
    ),
    Upstream(
        "faust.transport.consumer:ThreadDelegateConsumer._seek",
        FAUST,
        "0.15.3",
        "4f95c631420410a5",
        "consumer.py RewindingConsumer._seek overrides it (seeks on the consumer thread)",
        "whether Faust still seeks from the main thread; the signature (partition, offset)",
    ),
    Upstream(
        "faust.transport.consumer:Consumer.seek",
        FAUST,
        "0.15.3",
        "b86a9fe05f956b30",
        "consumer.py and continuity.py seek through it; it calls the overridden _seek",
        "it still calls _seek, then sets _read_offset",
    ),
    Upstream(
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.seek",
        FAUST,
        "0.15.3",
        "1498560d05f02582",
        "consumer.py calls it on the consumer thread from _seek and _put_back",
        "it still seeks the aiokafka consumer synchronously",
    ),
    Upstream(
        "aiokafka.consumer.consumer:AIOKafkaConsumer.seek",
        AIOKAFKA,
        "0.14.0",
        "a9430f1f3b9ac419",
        "consumer.py moves seeks to the consumer thread because this drops prefetched records",
        "whether it still deletes the partition's fetched records (the KeyError race)",
    ),
    Upstream(
        "faust.transport.consumer:Consumer._drain_messages",
        FAUST,
        "0.15.3",
        "44a2500309e83c63",
        "consumer.py RewindingConsumer._drain_messages is a modified copy of it",
        "diff the new version against the copy: every attribute the copy reads, the commit "
        "every N acks, the flow-control and generation checks, the yield every 100 messages",
    ),
    Upstream(
        "faust.transport.consumer:Consumer.getmany",
        FAUST,
        "0.15.3",
        "4b168d84882a70d6",
        "consumer.py RewindingConsumer.fetch replaces it: one message list per partition "
        "per fetch, each partition's end offset tracked once",
        "diff the new version against fetch: the flow-stop seek, which partitions' records "
        "are kept, what else it does per record (the generation check is _drain_messages')",
    ),
    # hunt/streaming/adapter/inbox.py
    Upstream(
        "faust.transport.conductor:Conductor._compile_message_handler",
        FAUST,
        "0.15.3",
        "9fbc0538097aa4ec",
        "inbox.py: the fetch loop bypasses the on_message it compiles for the agent's input "
        "topics and queues their messages itself",
        "what on_message does per record besides waiting for flow control and the producer "
        "buffer, decoding an Event and queueing it with pressure callbacks",
    ),
    Upstream(
        "mode.utils.queues:FlowControlQueue.force_put_nowait",
        MODE,
        "0.7.1",
        "e029f3d278247909",
        "inbox.py puts each message list into the agent's channel queue with it",
        "it still queues without waiting and wakes a waiting get",
    ),
    Upstream(
        "mode.utils.queues:ThrowableQueue.clear",
        MODE,
        "0.7.1",
        "d18f09e451acf62e",
        "inbox.py: Faust's flow control empties the agent's queue through it, uncounted",
        "whether a clear can now leave items behind or call back (then count on it)",
    ),
    Upstream(
        "faust.sensors.prometheus:PrometheusMonitor.track_tp_end_offset",
        FAUST,
        "0.15.3",
        "85f7fca946f5c2be",
        "consumer.py getmany calls it once per partition per fetch instead of per record",
        "it still only sets a gauge (calling it less often loses nothing)",
    ),
    Upstream(
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._ensure_consumer",
        FAUST,
        "0.15.3",
        "ff4a4c693b7ec63f",
        "consumer.py fetch_states and rejoin reach the aiokafka consumer through it",
        "it still returns the started aiokafka consumer",
    ),
    Upstream(
        "aiokafka.consumer.subscription_state:Assignment.state_value",
        AIOKAFKA,
        "0.14.0",
        "183fea82ef48f3e6",
        "consumer.py fetch_states reads each partition's fetch state with it",
        "it still raises for a partition not assigned and returns a TopicPartitionState",
    ),
    Upstream(
        "aiokafka.consumer.subscription_state:TopicPartitionState",
        AIOKAFKA,
        "0.14.0",
        "2b83334afadf6d98",
        "consumer.py positions/_put_back and monitor.py read _position, position, "
        "has_valid_position, paused, _reset_strategy",
        "those names and their meaning (next offset to fetch)",
    ),
    Upstream(
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.on_start",
        FAUST,
        "0.15.3",
        "38b4e8bd1e10723a",
        "consumer.py _ConsumerThread.on_start extends it (listens to the group coordinator)",
        "the aiokafka consumer (self._consumer) is still created and started in it",
    ),
    Upstream(
        "aiokafka.consumer.group_coordinator:GroupCoordinator._do_heartbeat",
        AIOKAFKA,
        "0.14.0",
        "dc1d6632aaa68e96",
        "consumer.py _listen_to_coordinator wraps it: a True result proves the group holds us",
        "it is still looked up on the instance by the heartbeat loop and returns True on success",
    ),
    Upstream(
        "aiokafka.consumer.group_coordinator:GroupCoordinator._on_join_complete",
        AIOKAFKA,
        "0.14.0",
        "0b0b3d204b408f3c",
        "consumer.py _listen_to_coordinator wraps it: a completed join proves membership",
        "it is still awaited on the instance after each successful join",
    ),
    Upstream(
        "aiokafka.consumer.group_coordinator:GroupCoordinator.request_rejoin",
        AIOKAFKA,
        "0.14.0",
        "f70a261c91c38cb5",
        "consumer.py RewindingConsumer.rejoin calls it on the consumer thread",
        "it still makes the member rejoin (a rebalance), without closing the consumer",
    ),
    Upstream(
        "faust.transport.consumer:ThreadDelegateConsumer._commit",
        FAUST,
        "0.15.3",
        "a20eec84e4b2ed50",
        "consumer.py RewindingConsumer._commit overrides it (the commit gate)",
        "every commit still passes through it, after Faust flushed the producer",
    ),
    Upstream(
        "faust.transport.consumer:Consumer._commit_offsets",
        FAUST,
        "0.15.3",
        "1a69799041188441",
        "consumer.py RewindingConsumer._commit_offsets wraps it; the commit gate relies on "
        "it flushing the producer, then calling _commit",
        "every commit still goes through _commit, after app.producer.flush(); if it no "
        "longer records offsets as committed when _commit returned False, drop the wrapper",
    ),
    # hunt/streaming/engine.py and outputs.py send through Faust's aiokafka producer
    Upstream(
        "faust.transport.drivers.aiokafka:Producer.on_start",
        FAUST,
        "0.15.3",
        "219c9a7a785d77b2",
        "engine.py hands outputs.py app.producer._producer: the aiokafka producer made here",
        "_producer is still the started aiokafka producer, one per app",
    ),
    Upstream(
        "faust.transport.drivers.aiokafka:Producer.flush",
        FAUST,
        "0.15.3",
        "36d0cb3615f65b01",
        "outputs.py sends on the aiokafka producer directly; Faust's pre-commit flush covers "
        "those sends only because this flushes that producer",
        "it still flushes self._producer",
    ),
    # hunt/streaming/intake.py
    Upstream(
        "faust.streams:Stream._py_aiter",
        FAUST,
        "0.15.3",
        "3a48ee257a65435b",
        "intake.py Intake replaces it: drop across a rebalance, track un-acked, sensors",
        "what it does per event that the intake must also do (drops, tracking, sensors)",
    ),
    Upstream(
        "faust/_cython/streams.pyx",
        FAUST,
        "0.15.3",
        "0041622f4a251188",
        "intake.py Intake replaces the compiled StreamIterator Faust uses when built",
        "the same as for Stream._py_aiter, in the Cython iterator",
    ),
    Upstream(
        "faust.transport.consumer:Consumer.track_message",
        FAUST,
        "0.15.3",
        "217d7f1399a4cd8e",
        "intake.py inlines it (unacked.add, on_message_in), as Stream does",
        "whether tracking a message now does more",
    ),
    # hunt/streaming/continuity.py and ackqueue.py
    Upstream(
        "faust.transport.consumer:Consumer._add_gap",
        FAUST,
        "0.15.3",
        "4df2573ded7c1c2c",
        "continuity.py calls it to let Faust commit past offsets that hold no records",
        "the signature (tp, offset_from, offset_to), inclusive, and that commits honour gaps",
    ),
    Upstream(
        "faust.transport.consumer:Consumer._new_offset",
        FAUST,
        "0.15.3",
        "1d2c7ea89a7ad4f1",
        "ackqueue.py acks in offset order because this commits only below the first hole",
        "how the committable offset is computed from acked offsets and gaps",
    ),
    # hunt/streaming/store.py and checkpoint.py
    Upstream(
        "faust.stores.rocksdb:Store._db_for_partition",
        FAUST,
        "0.15.3",
        "cb7e67d5f9efc4bc",
        "store.py and monitor.py open a table partition's database through it",
        "it still opens (or reuses) the partition's Rdict, in raw bytes mode",
    ),
    Upstream(
        "faust.stores.rocksdb:Store.apply_changelog_batch",
        FAUST,
        "0.15.3",
        "ea3344d369fc4ab5",
        "Faust's recovery restores what store.py/checkpoint.py write to the changelog through it",
        "raw key/value bytes, None as delete, into the record's partition",
    ),
    Upstream(
        "faust.tables.base:Collection._send_changelog",
        FAUST,
        "0.15.3",
        "ffe705dc73c1e67c",
        "checkpoint.py writes changelog records the way this does, without the table",
        "topic, key/value bytes, partition = the key's partition, no headers",
    ),
    Upstream(
        "faust.tables.base:Collection._on_changelog_sent",
        FAUST,
        "0.15.3",
        "60122c86a120d82c",
        "checkpoint.py records the persisted changelog offset on send as this does",
        "it still calls data.set_persisted_offset(tp, offset)",
    ),
    # hunt/streaming/app.py, routing.py; hunt/web/dashboard.py
    Upstream(
        "faust.transport.base:Transport.create_consumer",
        FAUST,
        "0.15.3",
        "46cc2bf5ab14acfa",
        "app.py swaps transport.Consumer for RewindingConsumer before Faust makes its consumer",
        "it still builds the consumer from self.Consumer",
    ),
    Upstream(
        "aiokafka.partitioner:DefaultPartitioner.__call__",
        AIOKAFKA,
        "0.14.0",
        "4911320054e76343",
        "routing.py home_partition copies it (murmur2 & 0x7fffffff % partitions)",
        "products' home partitions: a change moves every product (state on the wrong partition)",
    ),
    Upstream(
        "aiokafka.partitioner:murmur2",
        AIOKAFKA,
        "0.14.0",
        "62179ca184949379",
        "routing.py home_partition: the Java client's partitioner hash",
        "it still equals the Java client's murmur2 (products must keep their partitions)",
    ),
    Upstream(
        "faust.web.base:BlueprintManager",
        FAUST,
        "0.15.3",
        "9e9b787275204d13",
        "dashboard.py free_root rewrites _enabled before the blueprints are applied",
        "_enabled is still the (prefix, blueprint) list apply() reads",
    ),
    Upstream(
        "faust.serializers.schemas:Schema.compile",
        FAUST,
        "0.15.3",
        "d46eec5ce3195b2c",
        "intake.py RawSchema.compile replaces it (the event holds the record's bytes)",
        "the decode function's signature (message, *, propagate) and that it returns the event",
    ),
    Upstream(
        "faust.topics:Topic._compile_decode",
        FAUST,
        "0.15.3",
        "6474178f8c211c05",
        "intake.py relies on it compiling the topic's schema once into Topic.decode",
        "it still calls schema.compile(app, on_key_decode_error=, on_value_decode_error=)",
    ),
    Upstream(
        "faust.transport.producer:ProducerBuffer.wait_until_ebb",
        FAUST,
        "0.15.3",
        "758dd5744044071b",
        "producer.py _LeanBuffer.wait_until_ebb defers to it only when the pending queue "
        "is over max_messages",
        "it still waits only while size > max_messages, and size is still the pending "
        "queue when the producer is not threaded",
    ),
    Upstream(
        "faust.transport.producer:Producer.__init__",
        FAUST,
        "0.15.3",
        "5c53a4b47aa1372b",
        "producer.py LeanBufferProducer replaces the buffer it creates",
        "the buffer is still created here, given app afterwards, and started by on_start "
        "from self.buffer",
    ),
    # hunt/streaming/adapter/sensors.py, intake.py and engine.py's _ack
    Upstream(
        "faust.streams:Stream.ack",
        FAUST,
        "0.15.3",
        "32d7171a89b0931d",
        "engine.py _ack does what it does (Consumer.ack) without its per-event sensor calls; "
        "sensors.py counts them per batch",
        "whether it now does more than Event.ack and the two sensor calls",
    ),
    Upstream(
        "faust.transport.consumer:Consumer.ack",
        FAUST,
        "0.15.3",
        "5fcf41cf45153475",
        "engine.py _ack calls it for each message (Event.ack ends in it) and takes its result "
        "as 'newly acknowledged'",
        "it still records the offset for _new_offset, drops the message from the un-acked "
        "set and returns whether it did",
    ),
    Upstream(
        "faust.sensors.monitor:Monitor.on_message_in",
        FAUST,
        "0.15.3",
        "b2a9a9045b2f456c",
        "sensors.py BatchSensors.received keeps its counters per batch",
        "every counter it updates is updated by received()",
    ),
    Upstream(
        "faust.sensors.prometheus:PrometheusMonitor.on_message_in",
        FAUST,
        "0.15.3",
        "ca24793cbc41deb7",
        "sensors.py BatchSensors.received keeps its series per batch",
        "every series it updates is updated by received(), with the same labels",
    ),
    Upstream(
        "faust.sensors.monitor:Monitor.on_message_out",
        FAUST,
        "0.15.3",
        "7c4054247cde96c3",
        "sensors.py BatchSensors.acknowledged keeps its counter per batch",
        "every counter it updates (but the per-message times) is updated by acknowledged()",
    ),
    Upstream(
        "faust.sensors.prometheus:PrometheusMonitor.on_message_out",
        FAUST,
        "0.15.3",
        "347089e00334fd75",
        "sensors.py BatchSensors.acknowledged keeps its gauge per batch",
        "every series it updates is updated by acknowledged()",
    ),
    # hunt/streaming/adapter/queues.py
    Upstream(
        "faust.tables.manager:TableManager.__init__",
        FAUST,
        "0.15.3",
        "f13ed9db7ccd1a53",
        "queues.py install_changelog_queue sets _changelog_queue before its first use",
        "the changelog queue is still created lazily from _changelog_queue, with the same size"
        " and clear_on_resume",
    ),
    Upstream(
        "faust.tables.recovery:Recovery",
        FAUST,
        "0.15.3",
        "a652ef029484ee3a",
        "queues.py: _slurp_changelogs skips a record at or below the highest offset seen",
        "whether a stale record can still make a recovery skip records (then keep the queue)",
    ),
    Upstream(
        "mode.utils.queues:FlowControlQueue.put",
        MODE,
        "0.7.1",
        "0ba84eb5e357a17e",
        "queues.py: a put waits for flow control, then asyncio.Queue.put -> put_nowait",
        "CurrentGenerationQueue still sees every insertion in put_nowait/force_put_nowait",
    ),
)

#: Private attribute -> the upstream class that defines it ("module:Class").
PRIVATE: dict[str, str] = {
    "_acked": "faust.transport.consumer:Consumer",
    "_active_partitions": "faust.transport.consumer:Consumer",
    "_add_gap": "faust.transport.consumer:Consumer",
    "_buffered_partitions": "faust.transport.consumer:Consumer",
    "_commit_every": "faust.transport.consumer:Consumer",
    "_committed_offset": "faust.transport.consumer:Consumer",
    "_n_acked": "faust.transport.consumer:Consumer",
    "_paused_partitions": "faust.transport.consumer:Consumer",
    "_read_offset": "faust.transport.consumer:Consumer",
    "_unacked_messages": "faust.transport.consumer:Consumer",
    "_thread": "faust.transport.consumer:ThreadDelegateConsumer",
    "_consumer": "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread",
    "_ensure_consumer": "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread",
    "_producer": "faust.transport.drivers.aiokafka:Producer",
    "_db_for_partition": "faust.stores.rocksdb:Store",
    "_enabled": "faust.web.base:BlueprintManager",
    "_crash_reason": "mode.services:Service",
    "_stopped": "mode.services:Service",
    "_coordinator": "aiokafka.consumer.consumer:AIOKafkaConsumer",
    "_fetch_max_wait_ms": "aiokafka.consumer.consumer:AIOKafkaConsumer",
    "_fetch_min_bytes": "aiokafka.consumer.consumer:AIOKafkaConsumer",
    "_subscription": "aiokafka.consumer.consumer:AIOKafkaConsumer",
    "_do_heartbeat": "aiokafka.consumer.group_coordinator:GroupCoordinator",
    "_on_join_complete": "aiokafka.consumer.group_coordinator:GroupCoordinator",
    "_position": "aiokafka.consumer.subscription_state:TopicPartitionState",
    "_reset_strategy": "aiokafka.consumer.subscription_state:TopicPartitionState",
    "_message_accumulator": "aiokafka.producer.producer:AIOKafkaProducer",
    "_batches": "aiokafka.producer.message_accumulator:MessageAccumulator",
    "_queue": "asyncio.queues:Queue",
    "_to_message": "faust.transport.consumer:Consumer",
    "_metrics": "faust.sensors.prometheus:PrometheusMonitor",
    "_changelog_queue": "faust.tables.manager:TableManager",
}

_SCANNED = ("hunt/streaming", "hunt/web", "hunt/domain")
_SCANNED_FILES = ("hunt/config.py",)
_DOOR = "hunt/streaming/adapter/"  # the one package allowed to touch them
_UPSTREAM_ROOTS = ("faust", "mode", "aiokafka", "rocksdict")
# Underscore names that are public API: os._exit, namedtuple's _replace and friends.
_DOCUMENTED = frozenset({"_exit", "_replace", "_asdict", "_fields", "_make"})


def _resolve(target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def source_of(target: str) -> str:
    if ":" not in target:  # a file shipped in the package (Cython source)
        root, _, rel = target.partition("/")
        base = Path(importlib.import_module(root).__file__ or "").parent
        return (base / rel).read_text()
    return inspect.getsource(_resolve(target))


def sha_of(target: str) -> str:
    return hashlib.sha256(source_of(target).encode()).hexdigest()[:16]


# -- pins ----------------------------------------------------------------------------


def _constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[_canonical(name)] = version
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_checked_pins_agree_in_constraints_pyproject_and_the_worker() -> None:
    pins = _constraints()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = pyproject["project"]
    assert pyproject["build-system"]["requires"] == [f"setuptools=={pins['setuptools']}"]
    declared = dict(
        (_canonical(name), version)
        for name, _, version in (d.partition("==") for d in project["dependencies"])
        if version
    )
    for name, version in PINNED.items():
        assert pins.get(name) == version, f"constraints.txt pins {name} {pins.get(name)}"
        assert declared.get(name) == version, f"pyproject.toml pins {name} {declared.get(name)}"
    assert {u.package for u in UPSTREAM} <= set(PINNED)
    for u in UPSTREAM:
        assert u.version == PINNED[u.package] or u.sha == sha_of(u.target), u.target


def _requirements(dist: str) -> list[str]:
    from packaging.requirements import Requirement

    out = []
    for raw in importlib.metadata.requires(dist) or []:
        req = Requirement(raw)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            out.append(req.name)
    return out


def test_every_installed_runtime_dependency_is_pinned_at_its_installed_version() -> None:
    pins = _constraints()
    seen: set[str] = set()
    todo = _requirements("hunt")
    while todo:
        name = _canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        installed = importlib.metadata.version(name)
        assert name in pins, f"{name} (a runtime dependency) is not pinned in constraints.txt"
        assert pins[name] == installed, (
            f"{name} {installed} is installed but constraints.txt pins {pins[name]}: "
            "make install, or move the pin"
        )
        todo.extend(_requirements(name))
    assert set(PINNED) <= seen


# -- upstream sources ----------------------------------------------------------------


@pytest.mark.parametrize("u", UPSTREAM, ids=[u.target for u in UPSTREAM])
def test_upstream_source_is_the_one_hunt_was_written_against(u: Upstream) -> None:
    now = sha_of(u.target)
    installed = importlib.metadata.version(u.package)
    assert now == u.sha, (
        f"{u.target} changed upstream ({u.package} {u.version} -> {installed}; "
        f"source sha {u.sha} -> {now}). hunt depends on it: {u.hunt}. Re-check: {u.recheck}. "
        "Then record the new sha and version in tests/unit/test_upstream.py."
    )


# -- private attributes --------------------------------------------------------------


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in _DOCUMENTED


def _upstream_imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in _UPSTREAM_ROOTS:
                names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in _UPSTREAM_ROOTS:
                    names.add((a.asname or a.name).split(".")[0])
    return names


def _own_privates(tree: ast.Module, imported: set[str]) -> tuple[set[str], list[ast.ClassDef]]:
    """Names the module defines itself, and its classes that extend an upstream class."""
    own: set[str] = set()
    extending: list[ast.ClassDef] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        if not isinstance(node, ast.ClassDef):
            continue
        if any(_root_name(b) in imported for b in node.bases):
            extending.append(node)
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign | ast.AnnAssign):
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                for t in targets:
                    if isinstance(t, ast.Attribute) and _root_name(t) == "self":
                        own.add(t.attr)
                    elif isinstance(t, ast.Name):
                        own.add(t.id)
                        if t.id == "__slots__" and sub.value is not None:
                            own |= {
                                c.value
                                for c in ast.walk(sub.value)
                                if isinstance(c, ast.Constant) and isinstance(c.value, str)
                            }
    return own, extending


def scan_private_accesses(repo: Path = REPO) -> dict[str, set[str]]:
    """Private attribute -> the modules of the worker's code that touch it."""
    found: dict[str, set[str]] = {}
    for name, rel, _ in scan_private_lines(repo):
        found.setdefault(name, set()).add(rel)
    return found


def scan_private_lines(repo: Path = REPO) -> set[tuple[str, str, int]]:
    """(private attribute, module, line) for each place the worker's code touches a
    private attribute on an object hunt did not define (``x._a``, ``getattr(x, "_a")``,
    or ``self._a`` in a class extending an upstream one without declaring ``_a``)."""
    paths = [p for d in _SCANNED for p in sorted((repo / d).rglob("*.py"))]
    paths += [repo / f for f in _SCANNED_FILES]
    found: set[tuple[str, str, int]] = set()
    for path in paths:
        tree = ast.parse(path.read_text())
        rel = str(path.relative_to(repo))
        own, extending = _own_privates(tree, _upstream_imports(tree))
        for cls in extending:
            declared = {
                n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            } | {
                n.target.id
                for n in cls.body
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
            }
            for node in ast.walk(cls):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                    and _is_private(node.attr)
                    and node.attr not in declared
                ):
                    found.add((node.attr, rel, node.lineno))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    name = node.attr if node.attr not in own else None
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "setattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _is_private(node.args[1].value)
            ):
                name = node.args[1].value
            if name is not None:
                found.add((name, rel, getattr(node, "lineno", 0)))
    return found


def test_every_private_upstream_attribute_hunt_touches_is_listed() -> None:
    found = scan_private_accesses()
    unlisted = {name: sorted(where) for name, where in found.items() if name not in PRIVATE}
    assert not unlisted, (
        f"private upstream attributes used but not listed in PRIVATE: {unlisted}. List each with "
        "its owner (and the module docstring), and add the upstream functions they depend on "
        "to UPSTREAM"
    )
    stale = sorted(set(PRIVATE) - set(found))
    assert not stale, f"listed in PRIVATE but no longer used: {stale}; remove them"


def test_private_accesses_live_in_the_adapter_package_each_marked() -> None:
    """One door: a private upstream attribute is touched only in ``hunt/streaming/adapter``,
    on a line (or the line above it) that says ``# private:``."""
    outside = sorted(
        (rel, line, name) for name, rel, line in scan_private_lines() if not rel.startswith(_DOOR)
    )
    assert not outside, f"private upstream access outside {_DOOR}: {outside}"
    unmarked = []
    for name, rel, line in sorted(scan_private_lines()):
        lines = (REPO / rel).read_text().splitlines()
        near = lines[line - 1] + (lines[line - 2] if line >= 2 else "")
        if "# private" not in near:
            unmarked.append(f"{rel}:{line} {name}")
    assert not unmarked, f"private accesses without a '# private:' mark: {unmarked}"


def test_the_docstring_lists_the_same_private_attributes() -> None:
    doc = __doc__ or ""
    listed = set(re.findall(r"``(_[a-z]\w*)``", doc.split("To move a pin")[0]))
    assert listed == set(PRIVATE)
    assert f"The {len(PRIVATE)} private attributes" in doc


def _class_source(cls: type) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):  # builtins, and classes made at run time (typing's)
        return ""


@pytest.mark.parametrize("name", sorted(PRIVATE))
def test_each_listed_private_attribute_still_exists_upstream(name: str) -> None:
    owner = _resolve(PRIVATE[name])
    sources = "".join(_class_source(c) for c in owner.__mro__)
    assert hasattr(owner, name) or f"self.{name}" in sources, (
        f"{PRIVATE[name]} no longer has {name}: re-check every use of it in "
        f"{sorted(scan_private_accesses().get(name, ()))}"
    )


if __name__ == "__main__":  # print the current hashes, to update UPSTREAM after a re-check
    for u in UPSTREAM:
        version = importlib.metadata.version(u.package)
        print(f"{sha_of(u.target)}  {u.package} {version}  {u.target}")
