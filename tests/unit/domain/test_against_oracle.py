"""The domain rules agree with the independent oracle (tests/oracle.py) on random traces.

Both read the same records in the same serial order; every product state, every
alert (all fields) and every outcome must be equal. The engine side runs the way
the streaming layer does: parse, ``apply_event`` on a clone, keep the clone only
if nothing raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hunt.domain.dedup import DedupIndex, DedupPolicy
from hunt.domain.errors import Rejected
from hunt.domain.events import parse_behavior, parse_inventory
from hunt.domain.processing import Outcome, apply_event
from hunt.domain.product import ProductState, Rules
from hunt.ops.traffic import generate
from tests.oracle import Oracle, TopicKind, run

T0 = 1_764_147_600_000
MIN = 60_000
PRICES = [0, 0.005, 1.005, 19.99, 5e-324, 1e9]


class DictStore:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)

    def keys_with_prefix(self, prefix: bytes) -> Iterator[bytes]:
        return iter(sorted(k for k in self.data if k.startswith(prefix)))


PRICES = [0, 0.005, 1.005, 19.99, 5e-324, 1e9]
# Windows from the product's newest behaviour window: mostly on, some late, some far ahead.
MOVES = [0] * 8 + [1] * 4 + [-1, -2, -14, -15, -16, -45, -60, -61, -70, 2, 14, 15, 16, 61, 10**6]

behaviour = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["view", "cart_add", "cart_add", "purchase", "cart_remove"]),
        "qty": st.one_of(st.integers(1, 4), st.just(1_000_000)),
        "price": st.one_of(st.sampled_from(PRICES), st.floats(0, 1e9)),
    }
)
inventory = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.sampled_from(["restock", "restock", "sale"]), "qty": st.integers(1, 200)}
    ),
    st.fixed_dictionaries({"kind": st.just("adjust"), "qty": st.integers(-50, 50).filter(bool)}),
    st.fixed_dictionaries({"kind": st.just("count"), "qty": st.integers(0, 300)}),
)
records = st.lists(
    st.tuples(
        st.sampled_from(["p-1", "p-2"]),
        st.sampled_from(MOVES),
        st.integers(0, MIN - 1),
        st.sampled_from([f"e{n}" for n in range(6)] + ["unique"] * 6),
        st.one_of(
            behaviour.map(lambda b: ("behavior", b)),
            st.tuples(st.just("inventory"), inventory),
        ),
        st.sampled_from(["w-1", "w-2", "w-3"]),
    ),
    min_size=1,
    max_size=150,
)


def build(trace: list[Any]) -> list[tuple[TopicKind, bytes]]:
    out: list[tuple[TopicKind, bytes]] = []
    newest = {"p-1": T0, "p-2": T0}
    for n, (pid, move, ms, eid, (topic, body), wh) in enumerate(trace):
        ts = max(0, newest[pid] - newest[pid] % MIN + move * MIN + ms)
        if topic == "behavior":
            newest[pid] = max(newest[pid], ts)
        rec = {"event_id": f"{eid}-{n}" if eid == "unique" else eid, "ts": ts, "product_id": pid}
        rec.update(body)
        if topic == "inventory":
            rec["warehouse"] = wh
        out.append((topic, orjson.dumps(rec)))
    return out


def engine_run(trace: list[tuple[TopicKind, bytes]], rules: Rules) -> Any:
    dedup = DedupIndex(DictStore(), DedupPolicy())
    states: dict[str, ProductState] = {}
    alerts: list[dict[str, Any]] = []
    outcomes: list[str] = []
    for offset, (topic, value) in enumerate(trace):
        code = "b" if topic == "behavior" else "i"
        try:
            ev = (parse_behavior if code == "b" else parse_inventory)(value)
        except Rejected:
            outcomes.append("rejected")
            continue
        pid = ev["product_id"]
        state = states.get(pid) or ProductState(pid)
        trial = state.clone()
        try:
            outcome, fired = apply_event(trial, code, f"{code}0", offset, ev, rules, dedup)
        except Rejected:
            outcomes.append("rejected")
            continue
        states[pid] = trial
        assert outcome is not Outcome.REPLAYED
        outcomes.append(outcome.value)
        alerts += fired
        # What is stored is what is loaded: a round trip changes nothing.
        assert ProductState.from_bytes(trial.to_bytes()).snapshot() == trial.snapshot()
    snapshots = {pid: orjson.loads(orjson.dumps(s.snapshot())) for pid, s in states.items()}
    return snapshots, alerts, outcomes


@settings(max_examples=150, deadline=None)
@given(records, st.sampled_from([Rules(), Rules(600.0, 3, 1.5)]))
def test_engine_rules_equal_the_oracle(trace: list[Any], rules: Rules) -> None:
    recs = build(trace)
    oracle = Oracle(
        low_stock_minutes=rules.low_stock_minutes,
        spike_floor=rules.spike_floor,
        spike_factor=rules.spike_factor,
    )
    for topic, value in recs:
        oracle.feed(topic, value)
    expected = oracle.result()
    snapshots, alerts, outcomes = engine_run(recs, rules)
    assert outcomes == expected.outcomes
    assert snapshots == expected.products
    key = lambda a: a["alert_id"]  # noqa: E731
    assert sorted(alerts, key=key) == sorted(expected.alert_records, key=key)


def test_engine_rules_equal_the_oracle_on_simulated_traffic() -> None:
    """A seeded shop trace (flash sales, sell-outs, late and duplicate records)."""
    recs = [(r.topic_kind, r.value) for r in generate(7, 100, 8_000, T0, 4.0)]  # 33 minutes
    expected = run(recs)
    snapshots, alerts, outcomes = engine_run(recs, Rules())
    assert outcomes == expected.outcomes
    assert snapshots == expected.products
    key = lambda a: a["alert_id"]  # noqa: E731
    assert sorted(alerts, key=key) == sorted(expected.alert_records, key=key)
    assert {"stockout", "low_stock"} <= {a["kind"] for a in alerts}
