"""hunt's validation and the oracle's independent reading give every record the same
verdict: the same DLQ code, or the same event. The chaos suite and the ground-truth
tests judge the engine by the oracle, so a disagreement here would mislead them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hunt.domain.errors import Rejected
from hunt.domain.events import parse_behavior, parse_inventory
from tests import oracle
from tests.chaos.fuzz import POISON_PILLS, START_TS, fuzz_record

PARSERS = {"behavior": parse_behavior, "inventory": parse_inventory}
FIELDS = ("event_id", "ts", "product_id", "kind", "qty", "warehouse")


def engine_verdict(topic: oracle.TopicKind, value: bytes, record_ts: int | None) -> Any:
    try:
        ev = PARSERS[topic](value, record_ts)
    except Rejected as exc:
        return exc.code
    if topic == "inventory":
        return (*(ev[name] for name in FIELDS), None)
    price = ev.get("price")
    return (
        *(ev.get(name) for name in FIELDS[:-1]),
        None,  # a warehouse field on a behaviour event is an unknown one, ignored
        None if price is None else Decimal(repr(price) if type(price) is float else price),
    )


def oracle_verdict(topic: oracle.TopicKind, value: bytes, record_ts: int | None) -> Any:
    try:
        ev = oracle.parse(topic, value, record_ts)
    except oracle.Rejected as exc:
        return exc.code
    return (*(getattr(ev, name) for name in FIELDS), ev.price)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.integers(START_TS - 7_200_000, START_TS).flatmap(fuzz_record))
def test_fuzzed_records_get_the_same_verdict(record: tuple[oracle.TopicKind, bytes, int]) -> None:
    topic, value, record_ts = record
    assert engine_verdict(topic, value, record_ts) == oracle_verdict(topic, value, record_ts)


@pytest.mark.parametrize("value", POISON_PILLS)
@pytest.mark.parametrize("topic", ["behavior", "inventory"])
def test_poison_pills_get_the_same_code(topic: oracle.TopicKind, value: bytes) -> None:
    code = engine_verdict(topic, value, None)
    assert isinstance(code, str)
    assert code == oracle_verdict(topic, value, None)
