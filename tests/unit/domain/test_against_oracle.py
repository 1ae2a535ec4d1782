"""The domain rules agree with the independent oracle (tests/oracle.py) on random traces.

Both read the same records in the same serial order; every product state, every
alert (all fields) and every outcome must be equal. The engine side runs the way
the streaming layer does, a batch at a time: parse, ``apply_event`` to the
product; once a record raises, rebuild the product from its stored form plus the
records the batch applied to it before, and apply its later records in the batch
to a copy read back from its stored form. Each product is stored at the end of
the batch.

The engine side also meets "boom" records, which the oracle never sees: they
fail once the rules have changed the product, so the product must come out as if
they had never been read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hunt.domain.dedup import DedupIndex, DedupPolicy, MemoryStore
from hunt.domain.errors import Rejected
from hunt.domain.events import Event, parse_behavior, parse_inventory
from hunt.domain.processing import Outcome, apply_event
from hunt.domain.product import Alert, ProductState, Rules
from hunt.ops.traffic import generate
from tests.oracle import Oracle, TopicKind, run

T0 = 1_764_147_600_000
MIN = 60_000
PRICES = [0, 0.005, 1.005, 19.99, 5e-324, 1e9]
BOOM = "boom"  # event ids that fail in the rules, half-way through a record


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
        st.sampled_from([f"e{n}" for n in range(6)] + ["unique"] * 6 + [BOOM]),
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
        event_id = f"{eid}-{n}" if eid in ("unique", BOOM) else eid
        rec = {"event_id": event_id, "ts": ts, "product_id": pid}
        rec.update(body)
        if topic == "inventory":
            rec["warehouse"] = wh
        out.append((topic, orjson.dumps(rec)))
    return out


class Faulty(ProductState):
    """A product whose rules raise on a boom record, after they changed it."""

    __slots__ = ()

    def apply_behavior(self, ev: Event, rules: Rules) -> list[Alert]:
        alerts = super().apply_behavior(ev, rules)
        _fail_on_boom(ev)
        return alerts

    def apply_inventory(self, ev: Event, rules: Rules) -> list[Alert]:
        alerts = super().apply_inventory(ev, rules)
        _fail_on_boom(ev)
        return alerts


def _fail_on_boom(ev: Event) -> None:
    if ev["event_id"].startswith(BOOM):
        raise RuntimeError("injected failure after the rules changed the product")


def is_boom(value: bytes) -> bool:
    try:
        event_id = orjson.loads(value).get("event_id")
    except (orjson.JSONDecodeError, AttributeError):
        return False  # not a JSON object: no event, no boom
    return isinstance(event_id, str) and event_id.startswith(BOOM)


Applied = tuple[str, int, Event]  # topic code, offset, event


def stored(table: dict[str, bytes], pid: str) -> ProductState:
    raw = table.get(pid)
    return Faulty.from_bytes(raw) if raw is not None else Faulty(pid)


def engine_run(trace: list[tuple[TopicKind, bytes]], rules: Rules, batch: int) -> Any:
    """Final snapshots, alerts and outcomes (``internal_error`` for a record that
    raised anything but ``Rejected``) of ``trace`` applied ``batch`` records at a time."""
    dedup = DedupIndex(MemoryStore(), DedupPolicy())
    table: dict[str, bytes] = {}  # each product as stored at the end of a batch
    states: dict[str, ProductState] = {}  # kept across batches, as the engine's cache does
    alerts: list[dict[str, Any]] = []
    outcomes: list[str] = []
    for first in range(0, len(trace), batch):
        applied: dict[str, list[Applied]] = {}  # per product, what this batch applied to it
        fragile: set[str] = set()  # products a record of this batch failed on
        for offset in range(first, min(first + batch, len(trace))):
            topic, value = trace[offset]
            code = "b" if topic == "behavior" else "i"
            try:
                ev = (parse_behavior if code == "b" else parse_inventory)(value)
            except Rejected:
                outcomes.append("rejected")
                continue
            pid = ev["product_id"]
            state = states.get(pid)
            if state is None:
                state = states[pid] = stored(table, pid)
            work = Faulty.from_bytes(state.to_bytes()) if pid in fragile else state
            try:
                outcome, fired = apply_event(work, code, f"{code}0", offset, ev, rules, dedup)
            except Exception as exc:
                if pid not in fragile:
                    rebuilt = stored(table, pid)
                    for c, o, e in applied.get(pid, []):
                        apply_event(rebuilt, c, f"{c}0", o, e, rules, dedup)  # alerts sent once
                    states[pid] = rebuilt
                    fragile.add(pid)
                outcomes.append("rejected" if isinstance(exc, Rejected) else "internal_error")
                continue
            states[pid] = work
            applied.setdefault(pid, []).append((code, offset, ev))
            assert outcome is not Outcome.REPLAYED
            outcomes.append(outcome.value)
            alerts += fired
            # What is stored is what is loaded: a round trip changes nothing.
            assert ProductState.from_bytes(work.to_bytes()).snapshot() == work.snapshot()
        # A product nothing was applied to is as stored, or was never seen: not written.
        for pid in applied:
            table[pid] = states[pid].to_bytes()
    snapshots = {
        pid: orjson.loads(orjson.dumps(ProductState.from_bytes(raw).snapshot()))
        for pid, raw in table.items()
    }
    return snapshots, alerts, outcomes


def with_booms(
    trace: list[tuple[TopicKind, bytes]], outcomes: Sequence[str], every: int = 97
) -> list[tuple[TopicKind, bytes]]:
    """``trace`` with a boom copy after every ``every``-th record the oracle applied."""
    out: list[tuple[TopicKind, bytes]] = []
    applied = 0
    for n, ((topic, value), outcome) in enumerate(zip(trace, outcomes, strict=True)):
        out.append((topic, value))
        if outcome == "applied":
            applied += 1
            if applied % every == 0:
                boom = {**orjson.loads(value), "event_id": f"{BOOM}-{n}"}
                out.append((topic, orjson.dumps(boom)))
    return out


def without_booms(
    trace: list[tuple[TopicKind, bytes]], outcomes: Sequence[str]
) -> tuple[list[tuple[TopicKind, bytes]], list[str]]:
    """The records the oracle reads, and the engine's outcomes of them; every boom
    record must have failed as an internal error."""
    booms = [is_boom(value) for _, value in trace]
    assert all(o == "internal_error" for o, boom in zip(outcomes, booms, strict=True) if boom)
    kept = [r for r, boom in zip(trace, booms, strict=True) if not boom]
    return kept, [o for o, boom in zip(outcomes, booms, strict=True) if not boom]


@settings(max_examples=150, deadline=None)
@given(records, st.sampled_from([Rules(), Rules(600.0, 3, 1.5)]), st.integers(1, 40))
def test_engine_rules_equal_the_oracle(trace: list[Any], rules: Rules, batch: int) -> None:
    recs = build(trace)
    snapshots, alerts, outcomes = engine_run(recs, rules, batch)
    recs, outcomes = without_booms(recs, outcomes)
    oracle = Oracle(
        low_stock_minutes=rules.low_stock_minutes,
        spike_floor=rules.spike_floor,
        spike_factor=rules.spike_factor,
    )
    for topic, value in recs:
        oracle.feed(topic, value)
    expected = oracle.result()
    assert outcomes == expected.outcomes
    assert snapshots == expected.products
    key = lambda a: a["alert_id"]  # noqa: E731
    assert sorted(alerts, key=key) == sorted(expected.alert_records, key=key)


def test_engine_rules_equal_the_oracle_on_simulated_traffic() -> None:
    """A seeded shop trace (flash sales, sell-outs, late and duplicate records)."""
    recs = [(r.topic_kind, r.value) for r in generate(7, 100, 8_000, T0, 4.0)]  # 33 minutes
    expected = run(recs)
    fed = with_booms(recs, expected.outcomes)
    snapshots, alerts, outcomes = engine_run(fed, Rules(), 500)
    assert outcomes.count("internal_error") == len(fed) - len(recs) > 50
    _, outcomes = without_booms(fed, outcomes)
    assert outcomes == expected.outcomes
    assert snapshots == expected.products
    key = lambda a: a["alert_id"]  # noqa: E731
    assert sorted(alerts, key=key) == sorted(expected.alert_records, key=key)
    assert {"stockout", "low_stock"} <= {a["kind"] for a in alerts}
