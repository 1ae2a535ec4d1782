"""A record that makes hunt's own code fail (SPEC section 4, ``internal_error``).

The fault is injected into a real worker: a rule that changes the product
half-way and then raises, on records whose ``event_id`` starts with ``boom``.
The worker must stay up, dead-letter exactly those records with
``internal_error`` and the exception in the message, name their topic,
partition and offset in its log, and leave each product exactly as it would be
without them, however many times the record is met (it is met again after any
restart or reset, and fails again).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.harness import Deployment, Worker, latest_states, produce, read_topic, wait_for

pytestmark = pytest.mark.integration

BOOM = """
from hunt.domain.product import ProductState

_apply = ProductState.apply_behavior
_inventory = ProductState.apply_inventory


def apply_behavior(self, ev, rules):
    if ev["event_id"].startswith("boom"):
        self.totals[0] += 1000  # a half-applied change the rollback must undo
        self.events_applied += 1000
        raise RuntimeError("injected failure in apply_behavior")
    return _apply(self, ev, rules)


def apply_inventory(self, ev, rules):
    if ev["event_id"].startswith("boom"):
        self.on_hand["w-boom"] = 10**6
        raise KeyError("injected failure in apply_inventory")
    return _inventory(self, ev, rules)


ProductState.apply_behavior = apply_behavior
ProductState.apply_inventory = apply_inventory
"""

T0 = 1_764_147_600_000


def _view(event_id: str, pid: str, i: int) -> bytes:
    return orjson.dumps({"event_id": event_id, "ts": T0 + i, "product_id": pid, "kind": "view"})


def _restock(event_id: str, pid: str, i: int, qty: int) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "ts": T0 + i,
            "product_id": pid,
            "warehouse": "w-1",
            "kind": "restock",
            "qty": qty,
        }
    )


def test_a_failing_record_is_dead_lettered_and_leaves_its_product_as_it_was(
    kafka: Any, tmp_path: Path
) -> None:
    dep = Deployment(kafka.bootstrap, tmp_path, partitions=2)
    t = dep.topics
    records: list[tuple[str, bytes | None, bytes]] = []
    for p in range(6):
        pid = f"p-{p}"
        records += [
            (t["behavior"], pid.encode(), _view(f"v-{p}-1", pid, 1)),
            (t["behavior"], pid.encode(), _view(f"boom-{p}", pid, 2)),
            (t["inventory"], pid.encode(), _restock(f"r-{p}", pid, 3, 5)),
            (t["inventory"], pid.encode(), _restock(f"boom-i-{p}", pid, 4, 7)),
            (t["behavior"], pid.encode(), _view(f"v-{p}-2", pid, 5)),
        ]
    # A product whose every record fails never comes to exist.
    records.append((t["behavior"], b"p-never", _view("boom-never", "p-never", 1)))
    worker = Worker(dep, 0, boot=BOOM)
    worker.start()
    try:
        worker.wait_ready()
        produce(dep.bootstrap, records)

        def settled() -> dict[str, Any] | None:
            states = latest_states(dep.bootstrap, t["product_state"])
            done = len(states) >= 6 and all(s["events_applied"] == 3 for s in states.values())
            return states if done else None

        states = wait_for(settled, 60, "every product to count its 3 good events", worker._alive)
        bad = {orjson.loads(v)["event_id"] for _, _, v in records if b'"boom' in v}

        def dead_lettered() -> list[Any] | None:
            dlq = asyncio.run(read_topic(dep.bootstrap, t["dlq"]))
            return dlq if len(dlq) >= len(bad) else None

        dlq = wait_for(dead_lettered, 60, "every failing record in the DLQ", worker._alive)
        worker._alive()
        status, _ = worker.get("/products/p-never")
        assert status == 404, "a product none of whose records applied is never seen"
        log = worker.log_path.read_text(errors="replace")
    finally:
        worker.stop()

    assert sorted(states) == [f"p-{p}" for p in range(6)]
    for pid, s in states.items():
        assert s["totals"]["views"] == 2, pid
        assert s["on_hand"] == {"w-1": 5}, pid
        assert s["available"] == 5, pid
    got: dict[str, dict[str, str]] = {}
    for rec in dlq:
        headers = {k: v.decode() for k, v in rec.headers}
        got[orjson.loads(rec.value)["event_id"]] = headers
    assert set(got) == bad, "each failing record is dead-lettered"
    for event_id, headers in got.items():
        assert headers["hunt.error.code"] == "internal_error", event_id
        assert "injected failure" in headers["hunt.error.message"], headers
        coordinates = (
            f"{headers['hunt.source.topic']}[{headers['hunt.source.partition']}]"
            f"@{headers['hunt.source.offset']}"
        )
        assert coordinates in log, f"the log names {coordinates}"
