"""Hostile input on the real broker (SPEC v2 sections 1 and 4).

Every bound at its edge and one past it, integers beyond 64 bits, non-finite
and extreme numbers, NUL and control characters in ids, a record of 1 MB,
event times ahead of their record's Kafka timestamp, a product's 1,001st
warehouse, and foreign records on the reroute topic. The worker stays up; each
input record is applied, a duplicate or dead-lettered (with its SPEC code, its
original key and value or their first ``HUNT_MAX_RECORD_BYTES`` bytes, and a
message of at most 1,024 bytes), exactly once; the applied ones give exactly
the oracle's product states.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from hunt.streaming.routing import home_partition
from tests import oracle
from tests.harness import Deployment, Worker, latest_states, read_topic, wait_for, workers
from tests.integration import groundtruth as gt

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000  # SPEC 1: default HUNT_MAX_FUTURE_S
LIMIT = oracle.MAX_RECORD_BYTES  # SPEC 1: default HUNT_MAX_RECORD_BYTES
SPEC_CODES = {
    "invalid_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "unknown_kind",
    "too_large",
    "too_many_warehouses",
    "internal_error",
}
BEYOND_64_BITS = [2**64 + 1, -(2**64) - 1, 10**30]
_LITERAL = "\x00literal\x00"  # a placeholder string, replaced by a raw JSON literal


@dataclass
class Sent:
    """One record to produce, and where it landed."""

    topic: str
    kind: oracle.TopicKind | None  # None: a record on the reroute topic
    key: bytes | None
    value: bytes | None
    timestamp: int
    partition: int | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    offset: int = -1

    @property
    def source(self) -> tuple[str, int, int]:
        assert self.partition is not None
        return (self.topic, self.partition, self.offset)


def encode(obj: dict[str, Any], literal: bytes | None = None) -> bytes:
    """JSON of ``obj`` (integers of any size); ``literal`` replaces the placeholder."""
    raw = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return raw if literal is None else raw.replace(b'"\\u0000literal\\u0000"', literal)


class Cases:
    """Builds the records: each case gets a product of its own unless it names one."""

    def __init__(self, dep: Deployment, record_ts: int) -> None:
        self.dep = dep
        self.record_ts = record_ts
        self.ts = record_ts - 30 * 60_000  # event time half an hour before the record's
        self.records: list[Sent] = []
        self.n = 0

    def pid(self) -> str:
        self.n += 1
        return f"hx-{self.n}"

    def add(
        self,
        kind: oracle.TopicKind,
        value: bytes | None,
        *,
        key: bytes | None = None,
        record_ts: int | None = None,
        partition: int | None = None,
    ) -> None:
        topic = self.dep.topics[kind]
        ts = self.record_ts if record_ts is None else record_ts
        if value is None and key is None:
            key = b"tombstone"  # Kafka takes no record without both
        self.records.append(Sent(topic, kind, key, value, ts, partition))

    def behavior(self, literal: bytes | None = None, /, **fields: Any) -> None:
        obj = {"event_id": "e-1", "ts": self.ts, "product_id": self.pid(), "kind": "view"}
        obj.update(fields)
        self._add_obj("behavior", obj, literal)

    def inventory(self, literal: bytes | None = None, /, **fields: Any) -> None:
        obj = {"event_id": "i-1", "ts": self.ts, "product_id": self.pid(), "kind": "restock"}
        obj.update({"warehouse": "w-1", "qty": 1, **fields})
        self._add_obj("inventory", obj, literal)

    def _add_obj(self, kind: oracle.TopicKind, obj: dict[str, Any], literal: bytes | None) -> None:
        pid = obj.get("product_id")
        key = pid.encode("utf-8", "surrogatepass") if isinstance(pid, str) else None
        self.add(kind, encode(obj, literal), key=key)

    def reroute(
        self, value: bytes | None, partition: int, headers: list[tuple[str, bytes]]
    ) -> None:
        topic = f"{self.dep.name}-reroute"
        self.records.append(
            Sent(topic, None, b"foreign", value, self.record_ts, partition, headers)
        )


def bounds(c: Cases) -> None:
    """Every SPEC v2 section 1 bound at its edge and one past it."""
    for name in ("event_id", "user_id", "session_id"):
        for size in (128, 129):
            c.behavior(**{name: "x" * size})
            c.behavior(**{name: "\U0001f600" * size})  # characters, not UTF-8 bytes
    for size in (128, 129):
        c.behavior(product_id="p" * (size - 1) + str(c.n % 10))
        c.inventory(warehouse="w" * size)
    for empty in ("event_id", "product_id"):
        c.behavior(**{empty: ""})
    c.inventory(warehouse="")
    c.behavior(user_id="", session_id="")
    for ts in (0, -1, 2**53 - 1, 2**53):
        c.behavior(ts=ts)
    for qty in (1, 0, 1_000_000, 1_000_001):
        c.behavior(kind="purchase", qty=qty, price=1)
    for price in (0, -0.01, 1_000_000_000, 1_000_000_001, 1e9, 1e9 + 1e-6, 0.01):
        c.behavior(kind="purchase", price=price)
    for kind, low, high in (
        ("restock", 1, 10**9),
        ("sale", 1, 10**9),
        ("adjust", -(10**9), 10**9),
        ("count", 0, 10**9),
    ):
        for qty in (low, low - 1, high, high + 1):
            c.inventory(kind=kind, qty=qty)
    c.inventory(kind="adjust", qty=0)
    c.inventory(kind="adjust", qty=-1)


def numbers(c: Cases) -> None:
    """Integers beyond 64 bits, non-finite and extreme numbers, wrong types."""
    for big in BEYOND_64_BITS:
        c.behavior(ts=big)
        c.behavior(kind="purchase", qty=big, price=1)
        c.behavior(kind="purchase", price=big)
        c.inventory(qty=big)
    for literal in (b"1" + b"0" * 400, b"-" + b"9" * 5_000):
        c.behavior(literal, kind="cart_add", qty=_LITERAL)
    for literal in (b"1e400", b"-1e400", b"1e308", b"5e-324", b"-0.0", b"NaN", b"Infinity"):
        c.behavior(literal, kind="purchase", price=_LITERAL)
    for literal in (b"1e400", b"1e19", b"1.0", b"1E0", b"-Infinity"):
        c.behavior(literal, kind="cart_add", qty=_LITERAL)
        c.inventory(literal, qty=_LITERAL)
    c.behavior(b"1e400", extra=_LITERAL)  # an unknown field may hold any JSON number
    for bad in ("1", True, [1], {"n": 1}):
        c.behavior(kind="purchase", qty=bad, price=1)
        c.behavior(ts=bad)
        c.inventory(qty=bad)
    c.behavior(kind="purchase", price=True)
    c.behavior(kind="purchase", price="19.99")
    c.behavior(user_id=5)
    c.behavior(kind="refund")
    c.behavior(kind="k" * 60_000)  # its message must stay short
    c.behavior(kind="purchase", price=None)
    c.behavior(user_id=None, session_id=None, qty=None, price=None)


def strings_and_shapes(c: Cases) -> None:
    """NUL and control characters in ids, nesting, encodings, sizes, non-objects."""
    for pid in ("hx-nul\x00", "\x00", "hx-ctl\x01\x1f\x7f\n", "hx-\u2028\ufeff", "hx-\U0010ffff"):
        c.add(
            "behavior",
            encode({"event_id": "\x00e", "ts": c.ts, "product_id": pid, "kind": "view"}),
            key=pid.encode(),
        )
        c.add(
            "inventory",
            encode(
                {
                    "event_id": "\x01i",
                    "ts": c.ts,
                    "product_id": pid,
                    "warehouse": "\x00w",
                    "kind": "count",
                    "qty": 3,
                }
            ),
        )  # unkeyed
    # Ids that one NUL-separated key layout would confuse: all distinct events.
    bucket = "\x00" * 7 + "A"
    for pid, eid in (("hx-a", "y\x00b" + bucket + "\x00e"), ("hx-a\x00b" + bucket + "\x00y", "e")):
        c.add(
            "behavior",
            encode({"event_id": eid, "ts": c.ts, "product_id": pid, "kind": "view"}),
            key=pid.encode(),
        )
    c.behavior(b'"\\ud800"', product_id=_LITERAL)  # a lone surrogate escape
    c.behavior(b'"\\ud83d\\ude00"', extra=_LITERAL)  # a valid pair
    c.behavior(b"[" * 1023 + b"]" * 1023, extra=_LITERAL)  # 1,024 levels with the record
    c.behavior(b"[" * 1024 + b"]" * 1024, extra=_LITERAL)
    c.behavior(b'"\x01"', extra=_LITERAL)  # an unescaped control character
    for raw in (None, b"", b"null", b"[1]", b'"x"', b"\xff\xfe", b"\xef\xbb\xbf{}", b"{"):
        c.add("behavior", raw)
        c.add("inventory", raw)
    view: dict[str, Any] = {
        "event_id": "e",
        "ts": c.ts,
        "product_id": c.pid(),
        "kind": "view",
        "pad": "",
    }
    view["pad"] = "x" * (LIMIT - len(encode(view)))
    c.add("behavior", encode(view), key=view["product_id"].encode())  # exactly the limit
    view = {**view, "product_id": c.pid(), "pad": view["pad"] + "x"}
    c.add("behavior", encode(view), key=view["product_id"].encode())  # one byte past
    c.add("behavior", encode({**view, "product_id": c.pid(), "pad": "y" * 1_000_000}))
    c.add("inventory", b"[" * 1_000_000)
    c.add("behavior", b"{not json", key=b"k" * 70_000)  # a key too long for the DLQ


def event_time(c: Cases) -> None:
    """ts against the Kafka timestamp of its record."""
    for ahead in (HOUR_MS - 1, HOUR_MS, HOUR_MS + 1, 10 * 365 * 24 * HOUR_MS):
        c.behavior(ts=c.record_ts + ahead)
        c.inventory(ts=c.record_ts + ahead)
    older = c.record_ts - 3 * HOUR_MS
    pid = c.pid()
    c.add(
        "behavior",
        encode({"event_id": "e", "ts": older + HOUR_MS, "product_id": pid, "kind": "view"}),
        key=pid.encode(),
        record_ts=older,
    )
    pid = c.pid()
    c.add(
        "behavior",
        encode({"event_id": "e", "ts": older + HOUR_MS + 1, "product_id": pid, "kind": "view"}),
        key=pid.encode(),
        record_ts=older,
    )


def warehouses_and_duplicates(c: Cases) -> None:
    """A product's 1,001st warehouse, and repeated deliveries."""
    pid = c.pid()
    key = pid.encode()

    def restock(eid: str, warehouse: str, kind: str = "restock") -> None:
        body = {
            "event_id": eid,
            "ts": c.ts,
            "product_id": pid,
            "warehouse": warehouse,
            "kind": kind,
            "qty": 2,
        }
        c.add("inventory", encode(body), key=key)

    for n in range(oracle.MAX_WAREHOUSES):
        restock(f"i-{n}", f"w-{n}")
    restock("i-1000", "w-1000")  # the 1,001st: too_many_warehouses
    restock("i-5", "w-5")  # a repeat of an applied event: a duplicate
    restock("i-1001", "w-7", "sale")  # an existing warehouse: applied
    restock("i-1000", "w-1000")  # rejected again, not a duplicate
    restock("i-1002", "\x00w-1002", "count")  # rejected
    twice: dict[str, Any] = {
        "event_id": "b-dup",
        "ts": c.ts,
        "product_id": c.pid(),
        "kind": "cart_add",
    }
    for _ in range(2):
        c.add("behavior", encode(twice), key=twice["product_id"].encode())


def foreign_reroutes(c: Cases, partitions: int) -> list[Sent]:
    """Records written to the reroute topic by someone other than hunt."""
    pid = c.pid()
    home = home_partition(pid.encode(), partitions)
    other = (home + 1) % partitions
    view = encode({"event_id": "r", "ts": c.ts, "product_id": pid, "kind": "view"})
    first = len(c.records)
    c.reroute(view, home, [])  # no hunt.src header
    for header in (b"", b"\xff\xfe", b"b:1", b"b:1:2:3", b"x:1:2", b"b:-1:2", b"b:a:2", b"9" * 200):
        c.reroute(view, home, [("hunt.src", header)])
    c.reroute(view, home, [("hunt.src", f"b:{partitions}:1".encode())])  # no such partition
    c.reroute(view, home, [("hunt.src", f"b:{home}:1".encode())])  # its own partition
    c.reroute(view, other, [("hunt.src", f"b:{home}:1".encode())])  # not the product's home
    c.reroute(b"{not json", home, [("hunt.src", f"b:{other}:3".encode())])
    c.reroute(None, home, [("hunt.src", f"i:{other}:4".encode())])
    c.reroute(b"x" * (LIMIT + 1), home, [("hunt.src", f"b:{other}:5".encode())])
    return c.records[first:]


async def _send(bootstrap: str, records: list[Sent]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=3 * 1024 * 1024
    )
    await producer.start()
    try:
        futures = [
            await producer.send(
                r.topic,
                r.value,
                key=r.key,
                partition=r.partition,
                timestamp_ms=r.timestamp,
                headers=r.headers or None,
            )
            for r in records
        ]
        for r, meta in zip(records, await asyncio.gather(*futures), strict=True):
            r.partition, r.offset = meta.partition, meta.offset
    finally:
        await producer.stop()


def metric(worker: Worker, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    status, body = worker.get("/metrics")
    assert status == 200
    total = 0.0
    for line in body.decode().splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_hostile_records_are_each_applied_skipped_or_dead_lettered_once(
    kafka: Any, tmp_path: Path
) -> None:
    dep = Deployment(kafka.bootstrap, tmp_path)
    now = int(time.time() * 1000)
    c = Cases(dep, record_ts=now - 2 * HOUR_MS)  # recent: no broker retention takes them
    for group in (bounds, numbers, strings_and_shapes, event_time, warehouses_and_duplicates):
        group(c)
    foreign = foreign_reroutes(c, dep.partitions)
    inputs = [r for r in c.records if r.kind is not None]
    expected = oracle.run([(r.kind, r.value, r.timestamp) for r in inputs if r.kind])
    assert expected.applied > 100 and expected.rejected > 100 and expected.duplicate == 2
    assert expected.codes.count("too_many_warehouses") == 3

    with workers(dep, 1) as (worker,):
        asyncio.run(_send(dep.bootstrap, c.records))
        rejected = {r.source: code for r, code in zip(inputs, expected.codes, strict=True) if code}
        dead: dict[tuple[str, int, int], Any] = {}

        def dlq_complete() -> bool:
            for rec in asyncio.run(read_topic(dep.bootstrap, dep.topics["dlq"])):
                h = {k: v.decode() for k, v in rec.headers if k.startswith("hunt.source")}
                source = (
                    h["hunt.source.topic"],
                    int(h["hunt.source.partition"]),
                    int(h["hunt.source.offset"]),
                )
                dead.setdefault(source, rec)
            return len(dead) >= len(rejected) + len(foreign)

        wait_for(dlq_complete, 120, "every bad record in the DLQ", worker._alive)
        _await_oracle_states(dep, expected, worker)
        assert worker.get("/healthz")[0] == 200, "the worker stays up"
        resets = metric(worker, "hunt_resets_total")
        duplicates = metric(worker, "hunt_events_total", outcome="duplicate")
        internal = metric(worker, "hunt_dead_lettered_total", code="internal_error")
        worker._alive()

    # Exactly the records the oracle rejects, plus every foreign reroute, each once.
    assert set(dead) == set(rejected) | {r.source for r in foreign}
    by_source = {r.source: r for r in c.records}
    for source, rec in dead.items():
        sent = by_source[source]
        headers = dict(rec.headers)
        code = headers["hunt.error.code"].decode()
        message = headers["hunt.error.message"]
        assert 0 < len(message) <= 1024, (source, len(message))
        assert code in SPEC_CODES - {"internal_error"}, (source, code, message)
        if sent.kind is not None:
            assert code == rejected[source], (sent.value and sent.value[:120], code, message)
        assert rec.timestamp == sent.timestamp, "a DLQ record carries its source's timestamp"
        for what, original, got, header in (
            ("value", sent.value, rec.value, "hunt.error.truncated"),
            ("key", sent.key, rec.key, "hunt.error.truncated.key"),
        ):
            if original is not None and len(original) > LIMIT:
                assert got == original[:LIMIT], (source, what)
                assert headers[header] == str(len(original)).encode(), (source, what)
            else:
                assert got == original, (source, what)
                assert header not in headers
    assert internal == 0, "no record made hunt's own code fail"
    final = latest_states(dep.bootstrap, dep.topics["product_state"])
    assert gt.state_mismatches(expected.products, final) == []
    assert sum(s["events_applied"] for s in final.values()) == expected.applied
    if resets == 0:  # counters restart with a redo from the last commit
        assert duplicates == expected.duplicate


def test_events_ahead_of_the_broker_clock_are_applied(kafka: Any, tmp_path: Path) -> None:
    """A record may carry a timestamp up to an hour ahead of the broker's clock (Kafka
    4's message.timestamp.after.max.ms) and its event up to an hour ahead of that: hunt
    applies it and stays up, though its outputs' event-time timestamps are then ahead
    of the broker's clock by more than an hour."""
    dep = Deployment(kafka.bootstrap, tmp_path)
    now = int(time.time() * 1000)
    c = Cases(dep, record_ts=now + 50 * 60_000)
    c.inventory(ts=c.record_ts + 55 * 60_000, kind="restock", qty=5)
    c.inventory(ts=c.record_ts + 55 * 60_000, kind="sale", qty=5, event_id="i-2", product_id="hx-1")
    c.behavior(ts=c.record_ts + HOUR_MS, kind="purchase", price=1)
    expected = oracle.run([(r.kind, r.value, r.timestamp) for r in c.records if r.kind])
    assert expected.applied == 3
    with workers(dep, 1) as (worker,):
        asyncio.run(_send(dep.bootstrap, c.records))
        _await_oracle_states(dep, expected, worker)
        assert worker.get("/healthz")[0] == 200
        worker._alive()
    # SPEC 3: output records carry event time as their Kafka timestamp.
    for rec in asyncio.run(read_topic(dep.bootstrap, dep.topics["product_state"])):
        assert rec.timestamp == json.loads(rec.value)["last_event_ts"]
    alerts = asyncio.run(read_topic(dep.bootstrap, dep.topics["alerts"]))
    assert {json.loads(a.value)["kind"] for a in alerts} >= {"stockout"}
    for rec in alerts:
        assert rec.timestamp == json.loads(rec.value)["ts"]


def _await_oracle_states(dep: Deployment, expected: oracle.OracleResult, worker: Worker) -> None:
    """Wait until every product's last state record equals the oracle's; name the misses."""
    try:
        wait_for(
            lambda: (
                not gt.state_mismatches(
                    expected.products, latest_states(dep.bootstrap, dep.topics["product_state"])
                )
            ),
            60,
            "product states to match the oracle",
            worker._alive,
        )
    except AssertionError:
        actual = latest_states(dep.bootstrap, dep.topics["product_state"])
        problems = gt.state_mismatches(expected.products, actual)
        raise AssertionError(f"{len(problems)} mismatches: {problems[:20]}") from None
