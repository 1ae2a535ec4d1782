"""Check records read from hunt's output topics against the published contract.

:func:`validate_output` checks one record the way a downstream consumer would
rely on it: the value (for a DLQ record, its headers) against the JSON Schema
hunt serves, the ``hunt.schema`` header, the Kafka timestamp against the event
time, and the key and partition. :func:`check_output_records` does it for a
whole topic; ``tests.harness.read_topic`` calls it, so every test that reads an
output topic validates what it read.

The published schemas are open (a consumer ignores fields it does not know,
so a new optional field keeps the version); here they are closed, so hunt
cannot emit a field its schema does not declare and bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from hunt.schemas import HEADER, OUTPUT_HEADERS, schema
from hunt.streaming.routing import home_partition

__all__ = [
    "OutputRecordError",
    "check_output_records",
    "closed",
    "inlined",
    "output_kind",
    "source_records",
    "validate_output",
]

_TOPIC_SUFFIXES = {"alerts": "alert", "product-state": "product-state", "dlq": "dlq"}
_CREATE_TIME = 0  # Kafka timestamp type: set by the producer (hunt), not by the broker.
_MAX_MESSAGE_BYTES = 1024  # SPEC section 3: hunt.error.message is at most 1,024 bytes.
_SOURCE_WAIT_S = 30.0  # how long a DLQ record's source may take to be fetched.

Coordinates = tuple[str, int, int]  # topic, partition, offset
_CHECKED: set[Coordinates] = set()  # output records already validated in this process


class OutputRecordError(AssertionError):
    """An output record breaks the contract; the message names the record."""


def output_kind(topic: str) -> str | None:
    """``alert``, ``product-state`` or ``dlq`` for an output topic's name, else None.

    Output topics are ``hunt.alerts``, ``hunt.product-state`` and ``hunt.dlq``,
    or ``<prefix>.alerts`` and so on in the tests.
    """
    return _TOPIC_SUFFIXES.get(topic.rsplit(".", 1)[-1])


def closed(node: Any) -> Any:
    """A copy of a schema where every object with declared properties allows no others."""
    if isinstance(node, list):
        return [closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: closed(value) for key, value in node.items()}
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def inlined(node: Any, defs: dict[str, Any]) -> Any:
    """A copy of a schema with every ``#/$defs/...`` reference replaced by its target.

    Same verdicts; jsonschema spends most of a record's time resolving references.
    """
    if isinstance(node, list):
        return [inlined(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: inlined(value, defs) for key, value in node.items() if key not in ("$ref", "$defs")}
    ref = node.get("$ref")
    if ref is not None:
        out = {**inlined(defs[ref.removeprefix("#/$defs/")], defs), **out}
    return out


@cache
def _validator(kind: str) -> Draft202012Validator:
    published = schema(kind)
    Draft202012Validator.check_schema(published)
    return Draft202012Validator(closed(inlined(published, published.get("$defs", {}))))


def _fail(record: Any, problem: str) -> OutputRecordError:
    return OutputRecordError(
        f"{record.topic}[{record.partition}]@{record.offset} (key {record.key!r}): {problem}"
    )


def _check_schema(kind: str, record: Any, body: Any) -> None:
    error = best_match(_validator(kind).iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise _fail(record, f"not a valid {OUTPUT_HEADERS[kind]}: at {where}: {error.message}")


def _headers(record: Any) -> dict[str, str]:
    """hunt's own headers (``hunt.*``), decoded; other headers are not hunt's to check."""
    decoded: dict[str, str] = {}
    for name, raw in record.headers or ():
        if not name.startswith("hunt."):
            continue
        if name in decoded:
            raise _fail(record, f"header {name} appears twice")
        try:
            decoded[name] = raw.decode()
        except UnicodeDecodeError as exc:
            raise _fail(record, f"header {name} is not UTF-8: {exc}") from None
    return decoded


def validate_output(
    topic_kind: str,
    record: Any,
    *,
    partitions: int | None = None,
    source: Any = None,
) -> Any:
    """Check one output record; return its decoded value (a DLQ record: its hunt.* headers).

    ``topic_kind`` is ``alert``, ``product-state`` or ``dlq``; ``record`` an
    aiokafka ``ConsumerRecord``. ``partitions``, the output topic's partition
    count, adds the check that the record sits on its product's home partition.
    A DLQ record needs ``source``, the rejected input record it copies: its
    timestamp, key and value are what the DLQ record must carry.
    Raises :class:`OutputRecordError`.
    """
    headers = _headers(record)
    expected = OUTPUT_HEADERS[topic_kind]
    if headers.get(HEADER) != expected:
        raise _fail(record, f"header {HEADER} is {headers.get(HEADER)!r}, expected {expected!r}")
    if record.timestamp_type != _CREATE_TIME:
        raise _fail(record, "Kafka timestamp is the broker's LogAppendTime, not the event time")
    if topic_kind == "dlq":
        return _validate_dlq(record, headers, source)
    try:
        value = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        raise _fail(record, f"value is not JSON: {exc}") from None
    _check_schema(topic_kind, record, value)
    event_time = value["ts"] if topic_kind == "alert" else value["last_event_ts"]
    if record.timestamp != event_time:
        raise _fail(
            record, f"Kafka timestamp {record.timestamp} is not the event time {event_time}"
        )
    key = value["product_id"].encode()
    if record.key != key:
        raise _fail(record, f"key is not the product_id {key!r}")
    if partitions is not None and record.partition != home_partition(key, partitions):
        raise _fail(record, f"not on the product's home partition of {partitions}")
    if topic_kind == "alert":
        alert_id = f"{value['product_id']}:{value['kind']}:{value['cause_event_id']}"
        if value["alert_id"] != alert_id:
            raise _fail(record, f"alert_id {value['alert_id']!r} is not {alert_id!r}")
    return value


def _validate_dlq(record: Any, headers: dict[str, str], source: Any) -> dict[str, str]:
    own = headers
    _check_schema("dlq", record, own)
    message_bytes = len(own["hunt.error.message"].encode())
    if message_bytes > _MAX_MESSAGE_BYTES:
        raise _fail(record, f"hunt.error.message is {message_bytes} bytes")
    if source is None:
        raise TypeError("a DLQ record is validated against its source record: pass source=")
    coordinates = (source.topic, str(source.partition), str(source.offset))
    named = (own["hunt.source.topic"], own["hunt.source.partition"], own["hunt.source.offset"])
    if named != coordinates:
        raise _fail(record, f"names source {named}, validated against {coordinates}")
    if record.timestamp != source.timestamp:
        raise _fail(
            record, f"Kafka timestamp {record.timestamp} is not the source's {source.timestamp}"
        )
    for name, mine, theirs in (
        ("value", record.value, source.value),
        ("key", record.key, source.key),
    ):
        header = "hunt.error.truncated" + ("" if name == "value" else ".key")
        truncated = own.get(header)
        if truncated is None:
            if mine != theirs:
                raise _fail(record, f"{name} differs from the source record's bytes")
            continue
        if mine is None or theirs is None or len(mine) >= len(theirs):
            raise _fail(record, f"{header}={truncated} but the {name} was not cut")
        if not theirs.startswith(mine) or len(theirs) != int(truncated):
            raise _fail(record, f"{name} is not the first bytes of the source's {len(theirs)}")
    return own


async def source_records(
    bootstrap: str, coordinates: Iterable[Coordinates]
) -> dict[Coordinates, Any]:
    """The input records at ``coordinates`` (topic, partition, offset), fetched from Kafka."""
    wanted: dict[TopicPartition, set[int]] = {}
    for topic, partition, offset in coordinates:
        wanted.setdefault(TopicPartition(topic, partition), set()).add(offset)
    if not wanted:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: dict[Coordinates, Any] = {}
    try:
        for topic in {tp.topic for tp in wanted}:
            consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        consumer.assign(list(wanted))
        for tp, offsets in wanted.items():
            consumer.seek(tp, min(offsets))
        last = {tp: max(offsets) for tp, offsets in wanted.items()}
        deadline = time.monotonic() + _SOURCE_WAIT_S
        while last and time.monotonic() < deadline:
            batch = await consumer.getmany(*last, timeout_ms=1000)
            for tp, msgs in batch.items():
                for msg in msgs:
                    if msg.offset in wanted[tp]:
                        found[tp.topic, tp.partition, msg.offset] = msg
                if msgs and msgs[-1].offset >= last[tp]:
                    del last[tp]
                    consumer.pause(tp)
        return found
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


async def check_output_records(
    bootstrap: str, topic: str, records: Sequence[Any], partitions: int
) -> None:
    """Validate every record read from ``topic`` if it is an output topic (see module doc)."""
    kind = output_kind(topic)
    if kind is None:
        return
    # A record at an offset never changes, and polling readers re-read a topic
    # many times: each record is checked once per test process.
    records = [r for r in records if (r.topic, r.partition, r.offset) not in _CHECKED]
    if not records:
        return
    if kind != "dlq":
        for record in records:
            validate_output(kind, record, partitions=partitions)
            _CHECKED.add((record.topic, record.partition, record.offset))
        return
    named: list[tuple[Any, Coordinates]] = []
    for record in records:
        headers = dict(record.headers or ())
        try:
            coordinates = (
                headers["hunt.source.topic"].decode(),
                int(headers["hunt.source.partition"]),
                int(headers["hunt.source.offset"]),
            )
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise _fail(record, f"no valid hunt.source.* headers: {exc!r}") from None
        named.append((record, coordinates))
    sources = await source_records(bootstrap, (c for _, c in named))
    for record, coordinates in named:
        if coordinates not in sources:
            raise _fail(record, f"its source record {coordinates} is not in Kafka")
        validate_output(kind, record, source=sources[coordinates])
        _CHECKED.add((record.topic, record.partition, record.offset))
