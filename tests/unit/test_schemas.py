"""The published JSON Schemas: the contract's bounds, hunt's own verdicts, the view, the helper."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import faust
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka.structs import ConsumerRecord
from jsonschema import Draft202012Validator

from hunt.domain.errors import Rejected
from hunt.domain.events import parse_behavior, parse_inventory
from hunt.domain.product import ProductState, Rules
from hunt.schemas import NAMES, OUTPUT_HEADERS, schema, schema_bytes, schema_id
from hunt.streaming.routing import home_partition
from hunt.web import schema_view
from tests.schemas import (
    OutputRecordError,
    check_output_records,
    closed,
    inlined,
    output_kind,
    validate_output,
)


def _short(value: Any) -> str:
    """A readable test id for a case that may hold a 129-character string."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


REPO = Path(__file__).resolve().parents[2]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TS = 2**53 - 1
MAX_REQUEST_BYTES = 1_000_000  # Faust's producer_max_request_size default, which hunt keeps.


def valid(name: str, instance: Any) -> bool:
    """The verdict of the published (open) schema, as a consumer would get it."""
    return bool(Draft202012Validator(schema(name)).is_valid(instance))


# -- the files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_draft_2020_12_with_its_versioned_id(name: str) -> None:
    s = schema(name)
    Draft202012Validator.check_schema(s)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["$id"] == schema_id(name)
    assert s["description"]


def test_output_ids_are_the_prefix_and_the_header_value() -> None:
    assert OUTPUT_HEADERS == {
        "alert": "hunt.alert/2",
        "product-state": "hunt.product-state/2",
        "dlq": "hunt.dlq/2",
    }
    for name, header in OUTPUT_HEADERS.items():
        assert schema_id(name) == "urn:hunt:schema:" + header
    assert schema("dlq")["properties"]["hunt.schema"] == {"const": "hunt.dlq/2"}


def test_unknown_names_are_not_files() -> None:
    for name in ("nope", "../pyproject", "__init__", "alert.json"):
        with pytest.raises(KeyError):
            schema_bytes(name)


def _unbounded(node: Any, path: str) -> list[str]:
    """Paths of strings without maxLength, maps without maxProperties, arrays without maxItems."""
    found: list[str] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            found += _unbounded(item, f"{path}/{i}")
        return found
    if not isinstance(node, dict):
        return found
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "string" in types and "maxLength" not in node:
        found.append(path)
    if "array" in types and "maxItems" not in node:
        found.append(path)
    if isinstance(node.get("additionalProperties"), dict):
        if "maxProperties" not in node or "maxLength" not in node.get("propertyNames", {}):
            found.append(path)
    for key, value in node.items():
        found += _unbounded(value, f"{path}/{key}")
    return found


@pytest.mark.parametrize("name", ["alert", "product-state", "dlq"])
def test_every_string_and_map_of_an_output_is_bounded(name: str) -> None:
    assert _unbounded(schema(name), "#") == []


def test_the_schema_files_ship_in_the_package() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["hunt"]
    files = sorted(p.name for p in (REPO / "hunt" / "schemas").glob("*.json"))
    assert files == sorted(f"{n}.json" for n in NAMES)
    for f in files:
        assert any(fnmatch.fnmatch(f"schemas/{f}", g) for g in globs), f


def test_serving_the_schemas_does_not_need_jsonschema() -> None:
    code = (
        "import sys; sys.modules['jsonschema'] = None\n"
        "import hunt.web.views, hunt.web.schema_view\n"
        "from hunt.schemas import NAMES, schema_bytes\n"
        "assert all(schema_bytes(n) for n in NAMES)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


# -- inputs: the schema and hunt's parser agree ------------------------------------------

BEHAVIOR: dict[str, Any] = {
    "event_id": "b-9f1c",
    "ts": 1764147600123,
    "user_id": "u-42",
    "session_id": "s-9",
    "product_id": "p-00017",
    "kind": "purchase",
    "qty": 2,
    "price": 19.99,
}
INVENTORY: dict[str, Any] = {
    "event_id": "i-77a0",
    "ts": 1764147600999,
    "product_id": "p-00017",
    "warehouse": "w-1",
    "kind": "restock",
    "qty": 40,
}
DROP = object()  # a case's marker for "remove this field"
SMILE = "\U0001f600"  # one code point, four UTF-8 bytes: lengths count code points.


def record(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not DROP}


BEHAVIOR_CASES: list[tuple[dict[str, Any], bool]] = [
    ({}, True),
    ({"kind": "view", "qty": DROP, "price": DROP, "user_id": DROP, "session_id": DROP}, True),
    ({"kind": "cart_add", "price": None}, True),
    ({"kind": "cart_remove"}, True),
    ({"event_id": "e"}, True),
    ({"event_id": "e" * 128}, True),
    ({"event_id": SMILE * 128}, True),
    ({"event_id": SMILE * 129}, False),
    ({"event_id": ""}, False),
    ({"event_id": "e" * 129}, False),
    ({"event_id": DROP}, False),
    ({"event_id": None}, False),
    ({"event_id": 7}, False),
    ({"ts": 0}, True),
    ({"ts": MAX_TS}, True),
    ({"ts": -1}, False),
    ({"ts": MAX_TS + 1}, False),
    ({"ts": 2**64}, False),
    ({"ts": "1764147600123"}, False),
    ({"ts": True}, False),
    ({"ts": DROP}, False),
    ({"product_id": "p" * 128}, True),
    ({"product_id": ""}, False),
    ({"product_id": "p" * 129}, False),
    ({"product_id": DROP}, False),
    ({"user_id": ""}, True),
    ({"user_id": "u" * 128, "session_id": "s" * 128}, True),
    ({"user_id": None, "session_id": None}, True),
    ({"user_id": "u" * 129}, False),
    ({"session_id": "s" * 129}, False),
    ({"user_id": 42}, False),
    ({"kind": "buy"}, False),
    ({"kind": "Purchase"}, False),
    ({"kind": DROP}, False),
    ({"kind": None}, False),
    ({"qty": 1}, True),
    ({"qty": 1_000_000}, True),
    ({"qty": None}, True),
    ({"qty": DROP}, True),
    ({"qty": 0}, False),
    ({"qty": 1_000_001}, False),
    ({"qty": -1}, False),
    ({"qty": 2.5}, False),
    ({"qty": "2"}, False),
    ({"qty": True}, False),
    ({"qty": 2**64}, False),
    ({"price": 0}, True),
    ({"price": 1_000_000_000}, True),
    ({"price": 1e9}, True),
    ({"price": 5}, True),
    ({"price": -0.01}, False),
    ({"price": 1_000_000_000.01}, False),
    ({"price": "19.99"}, False),
    ({"price": True}, False),
    ({"price": DROP}, False),
    ({"price": None}, False),
    ({"extra": {"nested": [1, 2]}, "Price": "x"}, True),
]

INVENTORY_CASES: list[tuple[dict[str, Any], bool]] = [
    ({}, True),
    ({"warehouse": "w" * 128}, True),
    ({"warehouse": SMILE * 128}, True),
    ({"warehouse": ""}, False),
    ({"warehouse": "w" * 129}, False),
    ({"warehouse": DROP}, False),
    ({"warehouse": None}, False),
    ({"warehouse": 1}, False),
    ({"qty": DROP}, False),
    ({"qty": None}, False),
    ({"qty": "40"}, False),
    ({"kind": "move"}, False),
    ({"kind": DROP}, False),
    ({"ts": -1}, False),
    ({"event_id": "e" * 129}, False),
    ({"extra": True}, True),
]
for kind, lo, hi in (
    ("restock", 1, 10**9),
    ("sale", 1, 10**9),
    ("adjust", -(10**9), 10**9),
    ("count", 0, 10**9),
):
    INVENTORY_CASES += [
        ({"kind": kind, "qty": lo}, True),
        ({"kind": kind, "qty": hi}, True),
        ({"kind": kind, "qty": lo - 1}, kind == "adjust" and lo - 1 == 0),
        ({"kind": kind, "qty": hi + 1}, False),
    ]
INVENTORY_CASES += [
    ({"kind": "adjust", "qty": 0}, False),
    ({"kind": "adjust", "qty": -1}, True),
    ({"kind": "adjust", "qty": 1}, True),
    ({"kind": "adjust", "qty": -(10**9) - 1}, False),
]


def hunt_accepts(parse: Any, raw: bytes) -> bool:
    try:
        parse(raw)
    except Rejected:
        return False
    return True


@pytest.mark.parametrize(("changes", "expected"), BEHAVIOR_CASES, ids=repr)
def test_behavior_schema_and_hunt_agree_over_the_whole_range(
    changes: dict[str, Any], expected: bool
) -> None:
    rec = record(BEHAVIOR, changes)
    raw = json.dumps(rec).encode()
    assert valid("behavior", json.loads(raw)) is expected
    assert hunt_accepts(parse_behavior, raw) is expected


@pytest.mark.parametrize(("changes", "expected"), INVENTORY_CASES, ids=repr)
def test_inventory_schema_and_hunt_agree_over_the_whole_range(
    changes: dict[str, Any], expected: bool
) -> None:
    rec = record(INVENTORY, changes)
    raw = json.dumps(rec).encode()
    assert valid("inventory", json.loads(raw)) is expected
    assert hunt_accepts(parse_inventory, raw) is expected


@pytest.mark.parametrize("raw", [b"[]", b'"p-1"', b"17", b"null"])
def test_a_value_that_is_not_an_object_fails_both(raw: bytes) -> None:
    assert not valid("behavior", json.loads(raw)) and not valid("inventory", json.loads(raw))
    assert not hunt_accepts(parse_behavior, raw) and not hunt_accepts(parse_inventory, raw)


def test_a_price_beyond_a_double_fails_both() -> None:
    raw = json.dumps(BEHAVIOR).replace("19.99", "1e400").encode()
    assert not valid("behavior", json.loads(raw))
    assert not hunt_accepts(parse_behavior, raw)


@pytest.mark.parametrize(
    ("name", "parse", "base", "field"),
    [
        ("behavior", parse_behavior, BEHAVIOR, "qty"),
        ("behavior", parse_behavior, BEHAVIOR, "ts"),
        ("inventory", parse_inventory, INVENTORY, "qty"),
    ],
)
def test_schema_integer_admits_1_0_where_hunt_rejects_it(
    name: str, parse: Any, base: dict[str, Any], field: str
) -> None:
    """JSON Schema's "integer" is any number with a zero fraction; SPEC's is an integer literal.

    The schemas' descriptions say so: the one verdict a consumer's validator and
    hunt give differently.
    """
    rec = {**base, field: float(base[field])}
    raw = json.dumps(rec).encode()
    assert b".0" in raw
    assert valid(name, json.loads(raw))
    with pytest.raises(Rejected) as caught:
        parse(raw)
    assert caught.value.code == "wrong_type"
    assert '"integer" also admits 1.0' in schema(name)["description"]


# -- outputs ---------------------------------------------------------------------------

ALERT: dict[str, Any] = {  # SPEC section 3's example
    "alert_id": "p-00017:stockout:i-77a0",
    "kind": "stockout",
    "product_id": "p-00017",
    "ts": 1764147600999,
    "cause_event_id": "i-77a0",
    "available": 0,
    "demand_per_min": 1.4,
    "minutes_to_stockout": None,
    "window_start": None,
    "value": None,
    "baseline": None,
    "threshold": None,
}
LOW_STOCK = {
    **ALERT,
    "alert_id": "p-00017:low_stock:b-1",
    "kind": "low_stock",
    "cause_event_id": "b-1",
    "available": 50,
    "demand_per_min": 2.0,
    "minutes_to_stockout": 25.0,
    "value": 25.0,
    "threshold": 60.0,
}
SPIKE = {
    **ALERT,
    "alert_id": "p-00017:demand_spike:b-2",
    "kind": "demand_spike",
    "cause_event_id": "b-2",
    "available": 500,
    "minutes_to_stockout": 357.1,
    "window_start": 1764147600000,
    "value": 24,
    "baseline": 1.2,
    "threshold": 20,
}
BACK = {
    **ALERT,
    "alert_id": "p-00017:back_in_stock:i-77a1",
    "kind": "back_in_stock",
    "cause_event_id": "i-77a1",
    "available": 3,
    "minutes_to_stockout": 2.1,
}


@pytest.mark.parametrize("alert", [ALERT, LOW_STOCK, SPIKE, BACK], ids=lambda a: a["kind"])
def test_an_alert_of_each_kind_validates(alert: dict[str, Any]) -> None:
    assert valid("alert", alert)


@pytest.mark.parametrize(
    ("base", "changes"),
    [
        (ALERT, {"value": 3}),
        (ALERT, {"available": 1}),
        (ALERT, {"minutes_to_stockout": 5.0}),
        (ALERT, {"window_start": 1764147600000}),
        (ALERT, {"kind": "sold_out"}),
        (ALERT, {"ts": -1}),
        (ALERT, {"ts": MAX_TS + 1}),
        (ALERT, {"available": INT64_MAX + 1}),
        (ALERT, {"demand_per_min": -0.5}),
        (ALERT, {"alert_id": "p-00017:i-77a0"}),
        (ALERT, {"alert_id": "p-00017:low_stock:i-77a0"}),
        (ALERT, {"alert_id": "p" * 128 + ":stockout:" + "i" * 129}),
        (ALERT, {"product_id": "p" * 129}),
        (ALERT, {"cause_event_id": ""}),
        (ALERT, {"threshold": DROP}),
        (BACK, {"available": 0}),
        (BACK, {"baseline": 1.0}),
        (LOW_STOCK, {"threshold": None}),
        (LOW_STOCK, {"value": None}),
        (LOW_STOCK, {"minutes_to_stockout": None}),
        (LOW_STOCK, {"baseline": 0.0}),
        (LOW_STOCK, {"minutes_to_stockout": 0.0}),
        (SPIKE, {"window_start": None}),
        (SPIKE, {"window_start": 1764147600001}),
        (SPIKE, {"value": 24.5}),
        (SPIKE, {"baseline": None}),
        (SPIKE, {"threshold": 0}),
    ],
    ids=_short,
)
def test_an_alert_breaking_a_rule_of_section_3_fails(
    base: dict[str, Any], changes: dict[str, Any]
) -> None:
    assert not valid("alert", record(base, changes))


def test_the_longest_alert_id_is_allowed() -> None:
    pid, eid = "p" * 128, "e" * 128
    alert = {**BACK, "product_id": pid, "cause_event_id": eid}
    alert["alert_id"] = f"{pid}:back_in_stock:{eid}"
    assert len(alert["alert_id"]) == 271
    assert valid("alert", alert)


RECENT = {
    "minutes": 3,
    "views": 40,
    "cart_adds": 8,
    "cart_removes": 1,
    "purchases": 2,
    "units": 3,
    "revenue": 59.97,
    "view_to_cart": 0.2,
    "cart_to_purchase": 0.25,
}
STATE: dict[str, Any] = {
    "product_id": "p-00017",
    "available": 37,
    "on_hand": {"w-1": 40, "w-2": -3},
    "stock_state": "in_stock",
    "totals": {
        "views": 400,
        "cart_adds": 60,
        "cart_removes": 9,
        "purchases": 20,
        "units": 31,
        "revenue": 619.69,
    },
    "recent": RECENT,
    "demand_per_min": 1.0,
    "minutes_to_stockout": 37.0,
    "events_applied": 490,
    "last_event_ts": 1764147600999,
}
NEW_PRODUCT: dict[str, Any] = {  # one inventory event, no behaviour yet
    **STATE,
    "available": 0,
    "on_hand": {"w-1": 0},
    "stock_state": "out",
    "totals": dict.fromkeys(("views", "cart_adds", "cart_removes", "purchases", "units"), 0)
    | {"revenue": 0.0},
    "recent": None,
    "demand_per_min": 0.0,
    "minutes_to_stockout": None,
    "events_applied": 1,
}
UNSTOCKED: dict[str, Any] = {  # behaviour only, no inventory event yet
    **STATE,
    "available": 0,
    "on_hand": {},
    "stock_state": "unknown",
    "minutes_to_stockout": None,
}


def test_product_states_of_each_stock_state_validate() -> None:
    assert valid("product-state", STATE)
    assert valid("product-state", NEW_PRODUCT)
    assert valid("product-state", UNSTOCKED)
    funnel_undefined = {**RECENT, "views": 0, "view_to_cart": None}
    assert valid("product-state", {**STATE, "recent": funnel_undefined})
    edges = {**RECENT, "minutes": 1}, {**RECENT, "minutes": 15}
    assert all(valid("product-state", {**STATE, "recent": r}) for r in edges)


def test_a_product_holds_at_most_1000_warehouses_of_1_to_128_chars() -> None:
    full = {f"w-{i}": 1 for i in range(1000)}
    state = {**STATE, "on_hand": full, "available": 1000}
    assert valid("product-state", state)
    assert not valid("product-state", {**state, "on_hand": {**full, "w-1000": 0}})
    assert valid("product-state", {**STATE, "on_hand": {"w" * 128: 37}})
    assert not valid("product-state", {**STATE, "on_hand": {"w" * 129: 37}})
    assert not valid("product-state", {**STATE, "on_hand": {"": 37}})
    assert not valid("product-state", {**STATE, "on_hand": {"w-1": 1.5}})


PRODUCT_STATE_BREAKS: list[dict[str, Any]] = [
    {"recent": {**RECENT, "minutes": 0}},
    {"recent": {**RECENT, "minutes": 16}},
    {"recent": {**RECENT, "cart_to_purchase": -0.1}},
    {"recent": record(RECENT, {"view_to_cart": DROP})},
    {"recent": {**RECENT, "units": -1}},
    {"recent": None},  # demand_per_min 1.0 without any behaviour
    {"recent": DROP},
    {"stock_state": "unknown"},  # with warehouses and stock
    {"available": 0},  # in_stock
    {"stock_state": "out"},  # with 37 available
    {"stock_state": "low"},
    {"minutes_to_stockout": 0.0},
    {"events_applied": 0},
    {"last_event_ts": None},
    {"last_event_ts": MAX_TS + 1},
    {"totals": record(STATE["totals"], {"revenue": DROP})},
    {"totals": {**STATE["totals"], "views": INT64_MAX + 1}},
    {"product_id": ""},
]


@pytest.mark.parametrize("changes", PRODUCT_STATE_BREAKS, ids=_short)
def test_a_product_state_breaking_section_2_fails(changes: dict[str, Any]) -> None:
    assert not valid("product-state", record(STATE, changes))


def test_the_largest_product_state_fits_one_produce_request() -> None:
    """Every field at its bound, every string at its longest JSON escape (6 bytes a char)."""
    ctrl = "\x01" * 128
    on_hand = {f"{i:04d}" + "\x01" * 124: INT64_MIN for i in range(1000)}
    big = 2**63 - 1
    counters = dict.fromkeys(("views", "cart_adds", "cart_removes", "purchases", "units"), big)
    state = {
        "product_id": ctrl,
        "available": INT64_MIN,
        "on_hand": on_hand,
        "stock_state": "out",
        "totals": counters | {"revenue": 1.7976931348623157e308},
        "recent": counters
        | {
            "minutes": 15,
            "revenue": 1.7976931348623157e308,
            "view_to_cart": 1.7976931348623157e308,
            "cart_to_purchase": 2.2250738585072014e-308,
        },
        "demand_per_min": 1.7976931348623157e308,
        "minutes_to_stockout": None,
        "events_applied": big,
        "last_event_ts": MAX_TS,
    }
    assert valid("product-state", state)
    size = len(orjson.dumps(state))
    assert size < 800_000 < MAX_REQUEST_BYTES


# -- the view ----------------------------------------------------------------------------


def test_get_schemas_serves_the_five_and_nothing_else() -> None:
    async def run() -> None:
        app = faust.App("test-schema-view", broker="kafka://127.0.0.1:1", web_enabled=True)
        schema_view.install(app)
        async with TestClient(TestServer(app.web.web_app)) as client:  # type: ignore[attr-defined]
            for name in NAMES:
                r = await client.get(f"/schemas/{name}.json")
                assert r.status == 200, name
                assert r.content_type == "application/schema+json"
                body = await r.read()
                assert body == (REPO / "hunt" / "schemas" / f"{name}.json").read_bytes()
                assert orjson.loads(body)["$id"] == schema_id(name)
            for path in (
                "/schemas/nope.json",
                "/schemas/Alert.json",
                "/schemas/alert.json.json",
                "/schemas/__init__.json",
                "/schemas/..%2F..%2Fpyproject.toml.json",
                "/schemas/%2e%2e%2fsecret.json",
                "/schemas/../pyproject.toml",
                "/schemas/alert",
                "/schemas/.json",
            ):
                r = await client.get(path)
                assert r.status == 404, path
                assert b"$schema" not in await r.read()

    asyncio.run(run())


# -- the helper that integration tests call ----------------------------------------------


def kafka_record(
    value: bytes | None,
    *,
    topic: str = "t.alerts",
    key: bytes | None = b"p-00017",
    timestamp: int = 1764147600999,
    headers: list[tuple[str, bytes]] | None = None,
    partition: int = 0,
    offset: int = 5,
    timestamp_type: int = 0,
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic,
        partition,
        offset,
        timestamp,
        timestamp_type,
        key,
        value,
        None,
        len(key or b""),
        len(value or b""),
        headers if headers is not None else [("hunt.schema", b"hunt.alert/2")],
    )


def test_output_kind_comes_from_the_topic_name() -> None:
    assert output_kind("hunt.alerts") == "alert"
    assert output_kind("t3f.product-state") == "product-state"
    assert output_kind("hunt.dlq") == "dlq"
    for topic in ("hunt.behavior", "hunt.inventory", "hunt-reroute", "hunt-state-changelog"):
        assert output_kind(topic) is None


def test_a_good_alert_record_passes_and_comes_back_decoded() -> None:
    home = home_partition(b"p-00017", 8)
    rec = kafka_record(orjson.dumps(ALERT), partition=home)
    assert validate_output("alert", rec, partitions=8) == ALERT


def test_a_good_product_state_record_passes() -> None:
    rec = kafka_record(
        orjson.dumps(STATE),
        topic="t.product-state",
        headers=[("hunt.schema", b"hunt.product-state/2")],
    )
    assert validate_output("product-state", rec) == STATE


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"headers": []}, "header hunt.schema is None"),
        ({"headers": [("hunt.schema", b"hunt.alert/1")]}, "expected 'hunt.alert/2'"),
        (
            {"headers": [("hunt.schema", b"hunt.alert/2")] * 2},
            "appears twice",
        ),
        ({"timestamp": 1764147601000}, "is not the event time 1764147600999"),
        ({"timestamp_type": 1}, "LogAppendTime"),
        ({"key": b"p-00018"}, "key is not the product_id"),
        ({"key": None}, "key is not the product_id"),
        ({"value": b"{not json"}, "value is not JSON"),
        ({"value": orjson.dumps({**ALERT, "ts": "soon"})}, "at ts"),
        ({"value": orjson.dumps({**ALERT, "alert_id": "p-00017:stockout:x"})}, "alert_id"),
    ],
    ids=_short,
)
def test_an_alert_record_breaking_the_contract_is_named(
    changes: dict[str, Any], problem: str
) -> None:
    args: dict[str, Any] = {"value": orjson.dumps(ALERT), **changes}
    value = args.pop("value")
    with pytest.raises(OutputRecordError, match=re.escape("t.alerts[0]@5")) as caught:
        validate_output("alert", kafka_record(value, **args))
    assert problem in str(caught.value)


def test_a_record_off_its_home_partition_fails() -> None:
    home = home_partition(b"p-00017", 8)
    rec = kafka_record(orjson.dumps(ALERT), partition=(home + 1) % 8)
    with pytest.raises(OutputRecordError, match="home partition"):
        validate_output("alert", rec, partitions=8)


def test_an_undeclared_field_fails_here_though_consumers_may_ignore_it() -> None:
    extra = {**ALERT, "severity": "high"}
    assert valid("alert", extra)  # published schema: open, a new optional field keeps /2
    with pytest.raises(OutputRecordError, match="severity"):
        validate_output("alert", kafka_record(orjson.dumps(extra)))
    nested = {**STATE, "recent": {**RECENT, "sessions": 3}}
    assert valid("product-state", nested)
    with pytest.raises(OutputRecordError, match="sessions"):
        validate_output(
            "product-state",
            kafka_record(
                orjson.dumps(nested),
                topic="t.product-state",
                headers=[("hunt.schema", b"hunt.product-state/2")],
            ),
        )


def test_closing_a_schema_leaves_maps_and_conditions_open() -> None:
    c = closed(schema("product-state"))
    assert c["additionalProperties"] is False
    assert c["$defs"]["recent"]["additionalProperties"] is False
    assert isinstance(c["properties"]["on_hand"]["additionalProperties"], dict)
    assert all("additionalProperties" not in rule["then"] for rule in c["allOf"])


def test_inlining_references_keeps_every_verdict() -> None:
    s = schema("product-state")
    flat = Draft202012Validator(inlined(s, s["$defs"]))
    assert "$ref" not in json.dumps(flat.schema) and "$defs" not in flat.schema
    cases = [STATE, NEW_PRODUCT, UNSTOCKED]
    cases += [record(STATE, c) for c in PRODUCT_STATE_BREAKS]
    cases += [{**STATE, "totals": {**STATE["totals"], "units": -1}}]
    assert [flat.is_valid(c) for c in cases] == [valid("product-state", c) for c in cases]
    assert sum(flat.is_valid(c) for c in cases) == 3


def test_each_output_record_is_checked_once_however_often_it_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tests.schemas as helper

    seen: list[int] = []
    real = helper.validate_output

    def counting(kind: str, rec: Any, **kwargs: Any) -> Any:
        seen.append(rec.offset)
        return real(kind, rec, **kwargs)

    monkeypatch.setattr(helper, "validate_output", counting)
    topic = f"t-{id(seen)}.alerts"
    good = [kafka_record(orjson.dumps(ALERT), topic=topic, offset=o) for o in (0, 1)]
    bad = kafka_record(orjson.dumps(ALERT), topic=topic, offset=2, headers=[])
    asyncio.run(check_output_records("unused:9092", topic, good, 1))
    asyncio.run(check_output_records("unused:9092", topic, good, 1))
    assert seen == [0, 1]
    for _ in range(2):  # a bad record is not remembered: every read fails
        with pytest.raises(OutputRecordError):
            asyncio.run(check_output_records("unused:9092", topic, [*good, bad], 1))
    assert seen == [0, 1, 2, 2]
    asyncio.run(check_output_records("unused:9092", "t.behavior", [bad], 1))  # not an output


SOURCE = kafka_record(
    b'{"event_id": 7}', topic="t.behavior", key=b"k", timestamp=1700000000000, offset=41
)


def dlq_record(
    *,
    value: bytes | None = b'{"event_id": 7}',
    key: bytes | None = b"k",
    timestamp: int = 1700000000000,
    message: str = "event_id must be a string",
    extra: list[tuple[str, bytes]] | None = None,
    drop: str | None = None,
) -> ConsumerRecord[bytes, bytes]:
    headers = [
        ("hunt.error.code", b"wrong_type"),
        ("hunt.error.message", message.encode()),
        ("hunt.source.topic", b"t.behavior"),
        ("hunt.source.partition", b"0"),
        ("hunt.source.offset", b"41"),
        ("hunt.schema", b"hunt.dlq/2"),
        *(extra or []),
    ]
    headers = [h for h in headers if h[0] != drop]
    return kafka_record(value, topic="t.dlq", key=key, timestamp=timestamp, headers=headers)


def test_a_good_dlq_record_passes_and_its_headers_come_back() -> None:
    got = validate_output("dlq", dlq_record(extra=[("trace-id", b"\xff")]), source=SOURCE)
    assert got["hunt.error.code"] == "wrong_type"
    assert "trace-id" not in got  # foreign headers are not hunt's to declare


def test_a_dlq_record_needs_its_source() -> None:
    with pytest.raises(TypeError):
        validate_output("dlq", dlq_record())


def test_a_message_of_1024_bytes_passes_and_1025_fails() -> None:
    euro = "\u20ac"  # three UTF-8 bytes
    ok = euro * 341 + "x"
    assert len(ok.encode()) == 1024
    validate_output("dlq", dlq_record(message=ok), source=SOURCE)
    too_long = euro * 341 + "xy"
    assert len(too_long) <= 1024 < len(too_long.encode())
    with pytest.raises(OutputRecordError, match="1025 bytes"):
        validate_output("dlq", dlq_record(message=too_long), source=SOURCE)


def test_a_cut_value_must_be_the_sources_first_bytes_and_say_its_length() -> None:
    big = kafka_record(b"x" * 100, topic="t.behavior", key=b"k", timestamp=1700000000000, offset=41)
    cut = dlq_record(value=b"x" * 64, extra=[("hunt.error.truncated", b"100")])
    assert validate_output("dlq", cut, source=big)["hunt.error.truncated"] == "100"
    wrong_length = dlq_record(value=b"x" * 64, extra=[("hunt.error.truncated", b"99")])
    with pytest.raises(OutputRecordError, match="first bytes"):
        validate_output("dlq", wrong_length, source=big)
    with pytest.raises(OutputRecordError, match="value differs"):
        validate_output("dlq", dlq_record(value=b"x" * 64), source=big)
    uncut = dlq_record(extra=[("hunt.error.truncated", b"100")])
    with pytest.raises(OutputRecordError, match="was not cut"):
        validate_output("dlq", uncut, source=SOURCE)
    big_key = kafka_record(
        b"v", topic="t.behavior", key=b"k" * 9, timestamp=1700000000000, offset=41
    )
    key_cut = dlq_record(value=b"v", key=b"k" * 4, extra=[("hunt.error.truncated.key", b"9")])
    validate_output("dlq", key_cut, source=big_key)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"timestamp": 1700000000001}, "not the source's 1700000000000"),
        ({"value": b'{"event_id": 8}'}, "value differs"),
        ({"key": None}, "key differs"),
        ({"drop": "hunt.error.code"}, "hunt.error.code"),
        ({"drop": "hunt.schema"}, "hunt.schema"),
        ({"extra": [("hunt.error.code", b"x")]}, "appears twice"),
        ({"extra": [("hunt.error.hint", b"x")]}, "hunt.error.hint"),
    ],
    ids=_short,
)
def test_a_dlq_record_breaking_the_contract_is_named(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(OutputRecordError) as caught:
        validate_output("dlq", dlq_record(**kwargs), source=SOURCE)
    assert problem in str(caught.value)


def test_a_dlq_code_outside_section_4_fails() -> None:
    rec = dlq_record(drop="hunt.error.code", extra=[("hunt.error.code", b"bad_input")])
    with pytest.raises(OutputRecordError, match=r"hunt\.error\.code"):
        validate_output("dlq", rec, source=SOURCE)


# -- hunt's own records ------------------------------------------------------------------

T0 = 1764147600000


def behavior(i: int, kind: str, ts: int, qty: int = 1) -> dict[str, Any]:
    ev: dict[str, Any] = {"event_id": f"b-{i}", "ts": ts, "product_id": "p-1", "kind": kind}
    ev["qty"] = qty
    if kind == "purchase":
        ev["price"] = 19.99
    return ev


def inventory(i: int, kind: str, qty: int, ts: int) -> dict[str, Any]:
    return {
        "event_id": f"i-{i}",
        "ts": ts,
        "product_id": "p-1",
        "warehouse": "w-1",
        "kind": kind,
        "qty": qty,
    }


def frozen(state: ProductState) -> dict[str, Any]:
    """The snapshot as the engine writes it: encoded at once (it shares on_hand with state)."""
    snapshot: dict[str, Any] = orjson.loads(orjson.dumps(state.snapshot()))
    return snapshot


def test_real_snapshots_and_alerts_validate() -> None:
    """A product through its life: new, stocked, selling, a spike, low, out, back."""
    state = ProductState("p-1")
    rules = Rules()
    alerts: list[dict[str, Any]] = []
    snapshots: list[dict[str, Any]] = []
    alerts += state.apply_behavior(behavior(0, "view", T0), rules)
    snapshots.append(frozen(state))  # behaviour only: stock unknown
    alerts += state.apply_inventory(inventory(1, "restock", 500, T0 + 1), rules)
    snapshots.append(frozen(state))
    n = 2
    for minute in range(16):  # 15 quiet minutes of history, then a burst
        ts = T0 + minute * 60_000 + 5
        burst = 30 if minute == 15 else 1
        for _ in range(burst):
            alerts += state.apply_behavior(behavior(n, "cart_add", ts), rules)
            alerts += state.apply_behavior(behavior(n + 1, "purchase", ts, qty=2), rules)
            n += 2
        snapshots.append(frozen(state))
    alerts += state.apply_inventory(inventory(n, "sale", state.available - 5, T0 + 960_000), rules)
    alerts += state.apply_inventory(inventory(n + 1, "count", 0, T0 + 960_001), rules)
    snapshots.append(frozen(state))
    alerts += state.apply_inventory(inventory(n + 2, "restock", 40, T0 + 960_002), rules)
    snapshots.append(frozen(state))
    assert {a["kind"] for a in alerts} == {"demand_spike", "low_stock", "stockout", "back_in_stock"}
    for a in alerts:
        body = orjson.loads(orjson.dumps(a))
        validate_output("alert", kafka_record(orjson.dumps(a), key=b"p-1", timestamp=a["ts"]))
        assert body == a
    for s in snapshots:
        rec = kafka_record(
            orjson.dumps(s),
            topic="t.product-state",
            key=b"p-1",
            timestamp=s["last_event_ts"],
            headers=[("hunt.schema", b"hunt.product-state/2")],
        )
        validate_output("product-state", rec)
