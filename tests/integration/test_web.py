"""The HTTP surface on real workers and a real broker (SPEC section 5).

Every product is requested through every worker and must equal its last
``hunt.product-state`` record; ``/top`` must equal the ranking computed from
the input itself; ``/metrics`` must parse; a stalled worker must fail
``/readyz`` while it still answers ``/healthz``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hunt.ops.broker import LocalKafka
from tests.harness import Deployment, Worker, latest_states, produce, wait_for, workers

pytestmark = pytest.mark.integration

T0 = 1_764_147_600_000  # a minute boundary: window arithmetic below stays readable.
MINUTE = 60_000
COUNTERS = ("views", "cart_adds", "cart_removes", "purchases", "units", "revenue")


@dataclass
class Shop:
    """A deterministic burst of shop traffic and what it must produce."""

    deployment: Deployment
    records: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # product -> window start -> counter -> value
    windows: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    newest_ts: int = 0

    def behavior(self, pid: str, ts: int, kind: str, qty: int = 1, keyed: bool = True) -> None:
        ev: dict[str, Any] = {
            "event_id": f"b-{len(self.records)}",
            "ts": ts,
            "product_id": pid,
            "kind": kind,
            "qty": qty,
        }
        if kind == "purchase":
            ev["price"] = 3.35
        self._add("behavior", pid, ev, keyed)
        w = self.windows.setdefault(pid, {}).setdefault(
            ts - ts % MINUTE, dict.fromkeys(COUNTERS, 0) | {"revenue": Decimal(0)}
        )
        w[
            {
                "view": "views",
                "cart_add": "cart_adds",
                "cart_remove": "cart_removes",
                "purchase": "purchases",
            }[kind]
        ] += 1
        if kind == "purchase":
            w["units"] += qty
            w["revenue"] += Decimal("3.35") * qty

    def inventory(self, pid: str, ts: int, kind: str, qty: int) -> None:
        ev = {
            "event_id": f"i-{len(self.records)}",
            "ts": ts,
            "product_id": pid,
            "warehouse": "w-1",
            "kind": kind,
            "qty": qty,
        }
        self._add("inventory", pid, ev, keyed=True)

    def _add(self, topic: str, pid: str, ev: dict[str, Any], keyed: bool) -> None:
        key = pid.encode() if keyed else None  # unkeyed records must be re-routed home.
        self.records.append((self.deployment.topics[topic], key, orjson.dumps(ev)))
        self.applied[pid] += 1
        self.newest_ts = max(self.newest_ts, ev["ts"])

    def top(self, metric: str, minutes: int, n: int) -> list[tuple[str, float]]:
        """The ranking /top must give, computed from the input alone."""
        since = self.newest_ts - self.newest_ts % MINUTE - (minutes - 1) * MINUTE
        scores: list[tuple[str, float]] = []
        for pid, windows in self.windows.items():
            total = sum((w[metric] for start, w in windows.items() if start >= since), start=0)
            if metric == "revenue":
                total = Decimal(total).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if total > 0:
                scores.append((pid, float(total)))
        scores.sort(key=lambda s: (-s[1], s[0]))
        return scores[:n]


def build_shop(deployment: Deployment, products: int = 36) -> Shop:
    """Twenty minutes of traffic: uneven demand, a few sell-outs, unkeyed records."""
    shop = Shop(deployment)
    pids = [f"p-{i:04d}" for i in range(products)]
    for i, pid in enumerate(pids):
        shop.inventory(pid, T0, "restock", 20 + (i * 7) % 50)
    for minute in range(20):
        for i, pid in enumerate(pids):
            ts = T0 + minute * MINUTE + (i * 997) % MINUTE
            shop.behavior(pid, ts, "view", keyed=(i + minute) % 3 != 0)
            if (i + minute) % 4 == 0:
                shop.behavior(pid, ts + 1, "cart_add", keyed=(i + minute) % 2 == 0)
            if (i * minute) % 5 == 1:
                qty = 1 + (i + minute) % 4
                shop.behavior(pid, ts + 2, "purchase", qty=qty, keyed=i % 2 == 0)
                shop.inventory(pid, ts + 3, "sale", qty)
    for i, pid in enumerate(pids):
        if i % 6 == 0:  # sell these out: "count" sets the shelf to zero.
            shop.inventory(pid, T0 + 20 * MINUTE, "count", 0)
    return shop


def wait_for_states(shop: Shop, timeout: float = 120.0) -> dict[str, dict[str, Any]]:
    """Until every product's last snapshot reflects all of its events."""
    d = shop.deployment

    def settled() -> dict[str, dict[str, Any]] | None:
        states = latest_states(d.bootstrap, d.topics["product_state"])
        ok = all(states.get(pid, {}).get("events_applied") == n for pid, n in shop.applied.items())
        return states if ok else None

    states: dict[str, dict[str, Any]] = wait_for(settled, timeout, "all product snapshots", poll=1)
    return states


def get_ok(worker: Worker, path: str, timeout: float = 60.0) -> Any:
    """GET until 200: 503 + Retry-After is the contract while partitions move."""

    def attempt() -> Any:
        status, body = worker.get_json(path)
        assert status in (200, 503), (path, status, body)
        return (body,) if status == 200 else None

    return wait_for(attempt, timeout, f"200 from {worker.url}{path}", worker._alive, poll=0.5)[0]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_every_worker_answers_for_every_product_and_the_whole_shop(
    kafka: LocalKafka, tmp_path: Path, count: int
) -> None:
    deployment = Deployment(kafka.bootstrap, tmp_path)
    shop = build_shop(deployment)
    with workers(deployment, count) as ws:
        produce(kafka.bootstrap, shop.records)
        states = wait_for_states(shop)
        time.sleep(1.5)  # one snapshot interval: RocksDB and the topic now agree.
        for w in ws:
            for pid, expected in states.items():
                assert get_ok(w, f"/products/{pid}") == expected, (w.index, pid)
            status, body = w.get_json("/products/never-seen-product")
            assert status == 404, (w.index, body)
            status, _ = w.get_json("/products/never-seen-product/windows")
            assert status == 404
            # Windows of the product with the most sold-out history, from any worker.
            rows = get_ok(w, "/products/p-0006/windows?minutes=5")
            newest = max(shop.windows["p-0006"])
            assert [r["window_start"] for r in rows] == sorted(
                s for s in shop.windows["p-0006"] if s > newest - 5 * MINUTE
            )
            for row in rows:
                want = shop.windows["p-0006"][row["window_start"]]
                assert row["units"] == want["units"] and row["views"] == want["views"]
            for metric, minutes in (("units", 15), ("views", 3), ("revenue", 5), ("cart_adds", 60)):
                top = get_ok(w, f"/top?metric={metric}&minutes={minutes}&n=7")
                got = [(p["product_id"], p["value"]) for p in top["products"]]
                assert got == shop.top(metric, minutes, 7), (w.index, metric, minutes)
                assert top["stream_time"] == shop.newest_ts
            alerts = get_ok(w, "/alerts?kind=stockout&limit=100")
            sold_out = {pid for pid, s in states.items() if s["stock_state"] == "out"}
            assert sold_out and {a["product_id"] for a in alerts} >= sold_out
            assert all(a["kind"] == "stockout" for a in alerts)
            assert [a["ts"] for a in alerts] == sorted((a["ts"] for a in alerts), reverse=True)
            assert w.get_json("/top?metric=bogus")[0] == 400
            assert w.get_json("/alerts?kind=bogus")[0] == 400


def test_metrics_parse_and_count_every_outcome_behind_a_token(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    token = "s3cret-token"
    deployment = Deployment(kafka.bootstrap, tmp_path, extra_env={"HUNT_WEB_TOKEN": token})
    shop = build_shop(deployment, products=6)
    behavior = deployment.topics["behavior"]
    dup = next(r for r in shop.records if r[0] == behavior)
    bad = (behavior, b"p-0001", b"{not json")
    with workers(deployment, 1) as (w,):
        produce(kafka.bootstrap, [*shop.records, dup, bad])
        wait_for_states(shop)
        # Probes and metrics are open; everything else needs the token.
        assert w.get("/healthz")[0] == 200 and w.get("/readyz")[0] == 200
        assert w.get("/products/p-0001")[0] == 401
        assert w.get("/")[0] == 401
        assert w.get(f"/products/p-0001?token={token}")[0] == 200
        assert w.get(f"/top?token={token}")[0] == 200
        assert w.get(f"/table?token={token}")[0] == 404  # Faust's raw table view is off.

        def families() -> dict[str, Any] | None:
            status, body = w.get("/metrics")
            assert status == 200
            fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
            tracked = fams.get("hunt_products_tracked")
            lag = fams.get("hunt_consumer_lag")
            done = (
                tracked is not None
                and tracked.samples[0].value == 6
                and lag is not None
                and lag.samples
                and all(s.value == 0 for s in lag.samples)
            )
            return fams if done else None

        fams = wait_for(families, 30, "products tracked and lag drained in /metrics")
        events = {
            (s.labels["topic"], s.labels["outcome"]): s.value
            for s in fams["hunt_events"].samples
            if s.name == "hunt_events_total"
        }
        applied_behavior = sum(1 for r in shop.records if r[0] == behavior)
        assert events[(behavior, "applied")] == applied_behavior
        assert events[(deployment.topics["inventory"], "applied")] == (
            len(shop.records) - applied_behavior
        )
        assert events[(behavior, "duplicate")] == 1
        assert events[(behavior, "dead_lettered")] == 1
        assert {s.labels["kind"] for s in fams["hunt_alerts"].samples} >= {"stockout"}
        for name in (
            "hunt_windows_expired",
            "hunt_snapshot_lag_seconds",
            "hunt_paused_partitions",
            "hunt_producer_queue_depth",
            "hunt_consumer_lag",
            "hunt_ready",
            "hunt_stalled_partitions",
            "hunt_buffer_fill_ratio",
        ):
            assert name in fams, name
        assert fams["hunt_ready"].samples[0].value == 1
        assert any(name.startswith("faust_") for name in fams), "Faust's own sensor is missing"
        # Faust's received counter, fed once per batch, counts each record it delivered
        # once: every input record, and again each one forwarded over the reroute topic.
        received = fams["faust_messages_received"].samples
        rerouted = fams["hunt_rerouted"].samples
        assert [s.value for s in received if s.name == "faust_messages_received_total"] == [
            sum(events.values()) + sum(s.value for s in rerouted if s.name.endswith("_total"))
        ]


# Patched into a worker: the agent's next batch awaits forever once the flag file
# exists, which is how a real silent stall looks (consumer alive, nothing crashes).
_STALL_BOOT = """
import asyncio, os, pathlib
from hunt.streaming import engine as _engine
_flag = pathlib.Path(os.environ["HUNT_DATA_DIR"]) / "STALL"
_process = _engine.Engine.process
async def _stuck(self, events):
    while _flag.exists():
        await asyncio.sleep(0.1)
    await _process(self, events)
_engine.Engine.process = _stuck
"""


def test_a_silently_stalled_worker_fails_readyz_and_recovers(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    deployment = Deployment(kafka.bootstrap, tmp_path, extra_env={"HUNT_STALL_AFTER_S": "3"})
    shop = build_shop(deployment, products=4)
    worker = Worker(deployment, 0, boot=_STALL_BOOT).start()
    try:
        worker.wait_ready()
        worker.data_dir.mkdir(parents=True, exist_ok=True)
        (worker.data_dir / "STALL").touch()
        produce(kafka.bootstrap, shop.records)

        def stalled() -> Any:
            status, body = worker.get_json("/readyz")
            return body if status == 503 and body["stalled_partitions"] else None

        verdict = wait_for(stalled, 60, "/readyz to report the stall", worker._alive)
        assert verdict["ready"] is False and verdict["assigned"] and verdict["recovered"]
        assert worker.get("/healthz")[0] == 200  # alive: only readiness fails.
        metrics = worker.get("/metrics")[1].decode()
        fams = {f.name: f for f in text_string_to_metric_families(metrics)}
        assert fams["hunt_stalled_partitions"].samples[0].value >= 1
        assert fams["hunt_ready"].samples[0].value == 0

        (worker.data_dir / "STALL").unlink()
        wait_for(worker.ready, 60, "ready again after the stall clears", worker._alive)
        wait_for_states(shop)
    finally:
        worker.stop()


def test_product_reads_stay_correct_through_rebalances(kafka: LocalKafka, tmp_path: Path) -> None:
    """While workers join and leave, every answer is the right state or a 503, never
    a 404 or a stale copy (the failure modes of Faust's ``table_route``)."""
    deployment = Deployment(kafka.bootstrap, tmp_path)
    shop = build_shop(deployment, products=24)
    with workers(deployment, 2) as ws:
        produce(kafka.bootstrap, shop.records)
        states = wait_for_states(shop)
        time.sleep(1.5)
        seen: dict[int, int] = defaultdict(int)

        def sweep(targets: list[Worker]) -> None:
            for w in targets:
                for pid, expected in states.items():
                    try:
                        status, body = w.get_json(f"/products/{pid}")
                    except OSError:  # a joining worker may not listen yet
                        continue
                    seen[status] += 1
                    assert status in (200, 503), (w.index, pid, status, body)
                    if status == 200:
                        assert body == expected, (w.index, pid)

        joiner = Worker(deployment, 2).start()
        try:
            deadline = time.monotonic() + 90
            while not joiner.ready() and time.monotonic() < deadline:
                sweep([*ws, joiner])
            joiner.wait_ready(5)
            wait_for(lambda: all(w.ready() for w in ws), 60, "group settled")
            sweep([*ws, joiner])
            ws[0].stop()  # a graceful leave moves its partitions again
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                sweep([ws[1], joiner])
            wait_for(lambda: ws[1].ready() and joiner.ready(), 60, "group settled")
            for w in (ws[1], joiner):
                for pid, expected in states.items():
                    assert get_ok(w, f"/products/{pid}") == expected
        finally:
            joiner.stop()
        assert seen[200] > 0
