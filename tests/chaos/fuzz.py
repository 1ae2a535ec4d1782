"""Poison pills and hypothesis-fuzzed input records, for scenario 6.

The fuzzed records are drawn once per run with a fixed derandomized seed, not
one broker round-trip per example: a single ``@given`` pass collects them and
the scenario sends them all. Mutations start from a valid event of one of a
few ``fz-`` products (so some are valid, some duplicates, most bad) and
replace, drop or add fields with arbitrary JSON; others are arbitrary bytes
or arbitrary JSON. Each fuzzed record is keyed by its product id when it has
one, so one product's records keep their order.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

__all__ = ["POISON_PILLS", "FuzzRecord", "fuzzed_records"]

TopicKind = Literal["behavior", "inventory"]
FuzzRecord = tuple[TopicKind, bytes | None, bytes]  # (topic kind, key, value)

START_TS = 1_764_147_600_000  # the trace's start (tests/integration/groundtruth.py)
_DELETE = object()
_FIELDS = ("event_id", "ts", "product_id", "kind", "qty", "price", "warehouse", "user_id")

# Records no parser should survive badly: each must land in the DLQ, the worker staying up.
POISON_PILLS: list[bytes] = [
    b"",
    b"\x00" * 512,
    b"\xff\xfe\xfa garbage",
    b"[" * 5_000 + b"]" * 5_000,  # nesting deeper than any decoder's recursion limit
    b'{"event_id": "x", "ts": 1, "product_id": "p", "kind": "view"',  # truncated
    b'{"a": ' + b"1" * 100_000 + b"}",  # a 100 000-digit number
    b'{"event_id": "' + b"e" * 500_000 + b'", "ts": 1, "product_id": "p", "kind": "view"}',
    b"null",
    b'"just a string"',
    b"NaN",
    b'{"event_id": "x", "ts": NaN, "product_id": "p", "kind": "view"}',
    b'{"event_id": "x", "ts": Infinity, "product_id": "p", "kind": "view"}',
    b'\xef\xbb\xbf{"event_id": "x", "ts": 1, "product_id": "p", "kind": "view"}',  # BOM
]

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, -(2**63)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def _mutated_event(draw: Any) -> tuple[TopicKind, dict[str, Any]]:
    topic: TopicKind = draw(st.sampled_from(["behavior", "inventory"]))
    obj: dict[str, Any] = {
        "event_id": f"fz-e-{draw(st.integers(0, 30))}",
        "ts": START_TS + draw(st.integers(0, 300_000)),
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
            st.tuples(st.sampled_from([*_FIELDS, "extra"]), st.just(_DELETE) | _json), max_size=2
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
        except TypeError:  # an integer beyond 64 bits
            pass
    return json.dumps(obj, ensure_ascii=how == "ascii").encode("utf-8", "surrogatepass")


def _key(value: bytes) -> bytes | None:
    try:
        obj = json.loads(value)
        pid = obj.get("product_id") if isinstance(obj, dict) else None
        return pid.encode() if isinstance(pid, str) else None
    except (ValueError, UnicodeEncodeError, RecursionError):
        return None


_record = st.one_of(
    st.tuples(_mutated_event(), st.sampled_from(["orjson", "json", "ascii"])).map(
        lambda t: (t[0][0], _encode(t[0][1], t[1]))
    ),
    st.tuples(st.sampled_from(["behavior", "inventory"]), st.binary(max_size=40)),
    st.tuples(
        st.sampled_from(["behavior", "inventory"]), _json.map(lambda v: _encode(v, "orjson"))
    ),
)


def fuzzed_records(examples: int) -> list[FuzzRecord]:
    """``examples`` records per a fixed seed, keyed by product id where they carry one."""
    drawn: list[tuple[TopicKind, bytes]] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(_record)
    def collect(record: tuple[TopicKind, bytes]) -> None:
        drawn.append(record)

    collect()
    return [(topic, _key(value), value) for topic, value in drawn]
