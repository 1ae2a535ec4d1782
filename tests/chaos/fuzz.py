"""Poison pills and hypothesis-fuzzed input records, for scenario 6.

The fuzzed records are drawn once per run with a fixed derandomized seed, not
one broker round-trip per example: a single ``@given`` pass collects them and
the scenario sends them all. Mutations start from a valid event of one of a
few ``fz-`` products (so some are valid, some duplicates, most bad) and
replace, drop or add fields with values from the whole range of JSON: integers
beyond 64 bits, extreme floats, strings with NUL, control and non-BMP
characters or one past a length bound, up to 70 kB, nesting, wrong types; some
get a literal spliced in that no encoder writes (``NaN``, ``1e400``, a lone
surrogate escape, nesting one past the decoder's limit). Others are arbitrary
bytes or arbitrary JSON. Each record carries the Kafka timestamp to send it
with (the last two hours of the wall clock: older ones could fall to the
broker's time retention, and so could the DLQ copies that keep them), so the
event-time bound (ts at most an hour ahead of it) is judged the same by the
engine and the oracle; some events sit right at that bound. Each fuzzed record
is keyed by its product id when it has one, so one product's records keep
their order.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests import oracle

__all__ = ["POISON_PILLS", "FuzzRecord", "fuzz_record", "fuzzed_records"]

TopicKind = Literal["behavior", "inventory"]
# (topic kind, key, value, Kafka timestamp in ms or None for the producer's clock)
FuzzRecord = tuple[TopicKind, bytes | None, bytes, int | None]

START_TS = 1_764_147_600_000  # the trace's start (tests/integration/groundtruth.py)
HOUR_MS = 3_600_000  # SPEC 1 default HUNT_MAX_FUTURE_S, in ms
_DELETE = object()
_FIELDS = (
    "event_id",
    "ts",
    "product_id",
    "kind",
    "qty",
    "price",
    "warehouse",
    "user_id",
    "session_id",
)
_SPLICE = "\x00splice\x00"  # a placeholder string, replaced by a raw literal once encoded

# Records no parser should survive badly: each must land in the DLQ, the worker staying up.
POISON_PILLS: list[bytes] = [
    b"",
    b"\x00" * 512,
    b"\xff\xfe\xfa garbage",
    b"[" * 5_000 + b"]" * 5_000,  # nesting deeper than any decoder's recursion limit
    b'{"event_id": "x", "ts": 1, "product_id": "p", "kind": "view"',  # truncated
    b'{"a": ' + b"1" * 60_000 + b"}",  # a 60 000-digit number
    b'{"a": ' + b"1" * 100_000 + b"}",  # a 100 000-digit number, too large as well
    b'{"event_id": "' + b"e" * 500_000 + b'", "ts": 1, "product_id": "p", "kind": "view"}',
    b"null",
    b'"just a string"',
    b"NaN",
    b'{"event_id": "x", "ts": NaN, "product_id": "p", "kind": "view"}',
    b'{"event_id": "x", "ts": Infinity, "product_id": "p", "kind": "view"}',
    b'\xef\xbb\xbf{"event_id": "x", "ts": 1, "product_id": "p", "kind": "view"}',  # BOM
    b'{"event_id": "x", "ts": 1, "product_id": "\\ud800", "kind": "view"}',  # lone surrogate
    b'{"event_id": "x", "ts": 18446744073709551617, "product_id": "p", "kind": "view"}',
    b'{"event_id": "x", "ts": 1, "product_id": "p", "kind": "view", "a": '
    + b"[" * 1024
    + b"]" * 1024
    + b"}",  # one level deeper than the decoder takes
]

_EDGE_INTS = [
    *(0, 1, -1, 2, 2**31, -(2**31) - 1, 1_000_000, 1_000_001),
    *(10**9, 10**9 + 1, -(10**9), -(10**9) - 1, 2**53 - 1, 2**53, -(2**53)),
    *(2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 2**64 + 1, -(2**64) - 1),
    *(10**30, -(10**30), 10**400, -(10**400)),
]
_EDGE_FLOATS = [
    *(0.0, -0.0, 1.0, 2.0, 0.5, 1e9, 1e9 + 1e-6, -0.01, 5e-324, -5e-324, 1e-320),
    *(1e308, -1e308, 1.7976931348623157e308, 2.0**53, 2.0**63, 2.0**64, 1e19),
    *(float("inf"), float("-inf"), float("nan")),  # json writes Infinity/NaN, orjson null
]
_ODD_CHARS = st.sampled_from(
    [
        *("\x00", "\x01", "\t", "\n", "\x1f", "\x7f", "\x80", "\xa0", "\u2028", "\ufeff"),
        *("\uffff", "\U0001f600", "\U0010ffff", "\ud800", "\udfff", '"', "\\", "/", "é"),
    ]
)
_LONG_STRINGS = [
    *("x" * 128, "x" * 129, "\U0001f600" * 128, "\U0001f600" * 129, "\x00" * 128),
    *("\x00" * 129, "é" * 129, "y" * 60_000, "z" * 70_000),
]
_LITERALS = [
    *(b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1E19", b"1e308", b"5e-324"),
    *(b"-0.0", b"-0", b"1.0", b"1e0", b"9" * 30, b"-" + b"9" * 5_000, b"1" * 60_000),
    *(b"[" * 1023 + b"]" * 1023, b"[" * 1024 + b"]" * 1024, b'{"a":' * 1023 + b"1" + b"}" * 1023),
    *(b'"\\ud800"', b'"\\udc00\\ud800"', b'"\\ud83d\\ude00"', b'"\\u0000"', b"tru", b"01"),
]

_strings = st.text(max_size=8) | st.text(_ODD_CHARS, max_size=8) | st.sampled_from(_LONG_STRINGS)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(_EDGE_INTS)
    | st.integers()
    | st.sampled_from(_EDGE_FLOATS)
    | st.floats()
    | _strings
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def _mutated_event(draw: Any, record_ts: int) -> tuple[TopicKind, dict[str, Any]]:
    topic: TopicKind = draw(st.sampled_from(["behavior", "inventory"]))
    ahead = st.sampled_from([HOUR_MS - 1, HOUR_MS, HOUR_MS + 1, 10**12]).map(
        lambda d: record_ts + d
    )
    obj: dict[str, Any] = {
        "event_id": f"fz-e-{draw(st.integers(0, 30))}",
        "ts": draw(st.integers(START_TS, START_TS + 300_000) | ahead),
        "product_id": f"fz-p-{draw(st.integers(0, 5))}",
        "qty": draw(st.integers(-2, 5)),
    }
    if topic == "behavior":
        obj["kind"] = draw(st.sampled_from(["view", "cart_add", "cart_remove", "purchase", "buy"]))
        if draw(st.booleans()):
            obj["price"] = draw(st.integers(0, 50) | st.floats(-1, 100, allow_nan=False))
    else:
        obj["kind"] = draw(st.sampled_from(["restock", "sale", "adjust", "count", "steal"]))
        obj["warehouse"] = draw(st.sampled_from(["w-1", "w-2", ""]))
    for name, value in draw(
        st.lists(
            st.tuples(
                st.sampled_from([*_FIELDS, "extra"]),
                st.just(_DELETE) | st.just(_SPLICE) | _json,
            ),
            max_size=2,
        )
    ):
        if value is _DELETE:
            obj.pop(name, None)
        else:
            obj[name] = value
    return topic, obj


def _encode(obj: Any, how: str) -> bytes:
    if how == "orjson":
        try:
            return orjson.dumps(obj)
        except TypeError:  # an integer beyond 64 bits, a lone surrogate, deep nesting
            pass
    return json.dumps(obj, ensure_ascii=how == "ascii").encode("utf-8", "surrogatepass")


def _splice(value: bytes, literal: bytes) -> bytes:
    """``value`` with every placeholder string replaced by ``literal``."""
    return value.replace(b'"\\u0000splice\\u0000"', literal)


def _key(value: bytes) -> bytes | None:
    try:
        obj = json.loads(value)
        pid = obj.get("product_id") if isinstance(obj, dict) else None
        return pid.encode() if isinstance(pid, str) else None
    except (ValueError, UnicodeEncodeError, RecursionError):
        return None


def fuzz_record(record_ts: int) -> st.SearchStrategy[tuple[TopicKind, bytes, int]]:
    """One record to send with Kafka timestamp ``record_ts``."""
    mutated = st.tuples(
        _mutated_event(record_ts),
        st.sampled_from(["orjson", "json", "ascii"]),
        st.sampled_from(_LITERALS),
    ).map(lambda t: (t[0][0], _splice(_encode(t[0][1], t[1]), t[2]), record_ts))
    topics = st.sampled_from(["behavior", "inventory"])
    return st.one_of(
        mutated,
        st.tuples(topics, st.binary(max_size=40), st.just(record_ts)),
        st.tuples(topics, _json.map(lambda v: _encode(v, "orjson")), st.just(record_ts)),
    )


def fuzzed_records(examples: int, now_ms: int | None = None) -> list[FuzzRecord]:
    """``examples`` records per a fixed seed, keyed by product id where they carry one,
    with Kafka timestamps in the two hours before ``now_ms`` (default: the wall clock)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    drawn: list[tuple[TopicKind, bytes, int]] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.integers(now - 2 * HOUR_MS, now).flatmap(fuzz_record))
    def collect(record: tuple[TopicKind, bytes, int]) -> None:
        drawn.append(record)

    collect()
    return [(topic, _key(value), value, ts) for topic, value, ts in _unambiguous(drawn)]


# SPEC section 2: applied ids may be forgotten once the product's newest event time
# is past their ts by the horizon plus the grace (10 + 60 minutes by default).
_FORGETTABLE_AFTER_MS = 70 * 60_000


def _unambiguous(
    drawn: list[tuple[TopicKind, bytes, int]],
) -> list[tuple[TopicKind, bytes, int]]:
    """``drawn`` without the redeliveries whose verdict the contract leaves open.

    An id the engine may already have forgotten (its product's newest event is
    past it by horizon + grace) makes a later delivery of it either applied or
    a duplicate, depending on when the engine forgot: no oracle can say which.
    Mutated timestamps (a year ahead, 1970) make such pairs, so they are left out.
    """
    events: list[tuple[int, oracle.Event]] = []
    newest: dict[str, int] = {}
    for i, (topic, value, record_ts) in enumerate(drawn):
        try:
            ev = oracle.parse(topic, value, record_ts)
        except oracle.Rejected:
            continue
        events.append((i, ev))
        newest[ev.product_id] = max(newest.get(ev.product_id, ev.ts), ev.ts)
    first_ts: dict[tuple[str, str, str], int] = {}
    dropped: set[int] = set()
    for i, ev in events:
        key = (ev.topic, ev.product_id, ev.event_id)
        old = newest[ev.product_id] - _FORGETTABLE_AFTER_MS
        if key in first_ts and min(first_ts[key], ev.ts) <= old:
            dropped.add(i)
        else:
            first_ts[key] = min(first_ts.get(key, ev.ts), ev.ts)
    return [r for i, r in enumerate(drawn) if i not in dropped]
