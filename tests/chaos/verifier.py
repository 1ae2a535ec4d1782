"""The verifier: what the engine published against what the input alone implies.

Ground truth comes from ``tests/oracle.py`` fed with the driver's records (it
never looks at engine output). The engine's side is read back from
``hunt.product-state`` (the last record per product), ``GET /products/{id}``,
``hunt.alerts`` and ``hunt.dlq``. Differences are named in Jepsen's words:

- **lost**: input events the oracle applied that a product's ``events_applied``
  does not reflect (summed over products, counting only shortfalls);
- **duplicated**: events counted more than once (the surplus, summed);
- **wrong**: products whose count is right but some other field differs, plus
  products served wrongly by the HTTP view;
- **unseen**: products the oracle has but ``hunt.product-state`` never carried.

Alerts: every expected ``stockout``, ``back_in_stock`` and ``demand_spike``
alert id must be present and no other id of those kinds. ``low_stock`` depends
on how one product's behaviour and inventory records interleave across two
topics, which no consumer fixes, so it is not compared. The DLQ is
at-least-once (SPEC 3), so it is counted once per ``hunt.source.*`` triple.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from tests import oracle
from tests.harness import Deployment, Worker, latest_states, read_topic, wait_for

__all__ = ["ORDER_FREE_ALERTS", "Verdict", "verify"]

ORDER_FREE_ALERTS = ("stockout", "back_in_stock", "demand_spike")
HTTP_SAMPLE = 40  # products checked through the HTTP view: enough to catch routing faults


@dataclass
class Verdict:
    """One comparison of the engine's outputs with ground truth."""

    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    unseen: int = 0
    unexpected_products: int = 0
    missing_alerts: int = 0
    extra_alerts: int = 0
    dlq_expected: int = 0
    dlq_distinct: int = 0
    dlq_total: int = 0
    http_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return (
            self.lost == self.duplicated == self.wrong == self.unseen == 0
            and self.unexpected_products == self.missing_alerts == self.extra_alerts == 0
            and self.dlq_distinct == self.dlq_expected
        )

    def summary(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if k != "problems"}
        return json.dumps(fields) + "\n" + "\n".join(self.problems[:25])


def compare_states(
    expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]], verdict: Verdict
) -> None:
    for pid, want in expected.items():
        got = actual.get(pid)
        if got is None:
            verdict.unseen += 1
            verdict.lost += want["events_applied"]
            verdict.problems.append(f"{pid}: unseen ({want['events_applied']} events)")
            continue
        delta = got.get("events_applied", 0) - want["events_applied"]
        if delta < 0:
            verdict.lost -= delta
            verdict.problems.append(f"{pid}: {-delta} events lost")
        elif delta > 0:
            verdict.duplicated += delta
            verdict.problems.append(f"{pid}: {delta} events counted twice")
        else:
            diff = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
            if diff:
                verdict.wrong += 1
                verdict.problems.append(
                    f"{pid}: wrong {diff[0]}: expected {want.get(diff[0])!r}, "
                    f"got {got.get(diff[0])!r}"
                )
    for pid in actual.keys() - expected.keys():
        verdict.unexpected_products += 1
        verdict.problems.append(f"{pid}: emitted but not in the input")


def _check_http(
    expected: dict[str, dict[str, Any]], worker: Worker, verdict: Verdict, sample: int
) -> None:
    pids = sorted(expected)[:: max(1, len(expected) // sample)][:sample]
    # A 503 (with Retry-After) is the documented answer while a rebalance or
    # recovery runs: wait until the worker is ready, as a client would retry.
    worker.wait_ready()
    for pid in pids:
        # The owner may still be settling a rebalance: it answers 503 + Retry-After
        # until it is ready, which a client retries (bounded), never a wrong answer.
        status, body = wait_for(
            lambda pid=pid: (r := worker.get_json(f"/products/{pid}"))[0] != 503 and r,
            60,
            f"/products/{pid} to answer other than 503",
            poll=1.0,
        )
        verdict.http_checked += 1
        if status != 200 or body != expected[pid]:
            verdict.wrong += 1
            verdict.problems.append(f"GET /products/{pid} on worker {worker.index}: {status}")


def _check_alerts(expected: oracle.OracleResult, records: list[Any], verdict: Verdict) -> None:
    got: dict[str, set[str]] = {}
    for rec in records:
        alert = orjson.loads(rec.value)
        got.setdefault(alert["kind"], set()).add(alert["alert_id"])
    for kind in ORDER_FREE_ALERTS:
        missing = expected.alerts[kind] - got.get(kind, set())
        extra = got.get(kind, set()) - expected.alerts[kind]
        verdict.missing_alerts += len(missing)
        verdict.extra_alerts += len(extra)
        verdict.problems.extend(f"alert missing: {a}" for a in sorted(missing)[:5])
        verdict.problems.extend(f"alert not expected: {a}" for a in sorted(extra)[:5])


def _check_dlq(expected: oracle.OracleResult, records: list[Any], verdict: Verdict) -> None:
    sources = set()
    for rec in records:
        h = dict(rec.headers)
        if not h.get("hunt.error.code") or not h.get("hunt.error.message"):
            verdict.problems.append(f"DLQ record at offset {rec.offset} has no reason")
            verdict.wrong += 1
        sources.add(
            (
                h.get("hunt.source.topic"),
                h.get("hunt.source.partition"),
                h.get("hunt.source.offset"),
            )
        )
    verdict.dlq_expected = expected.rejected
    verdict.dlq_distinct = len(sources)
    verdict.dlq_total = len(records)
    if verdict.dlq_distinct != verdict.dlq_expected:
        verdict.problems.append(
            f"DLQ: {verdict.dlq_distinct} distinct records, expected {verdict.dlq_expected}"
        )


def verify(
    dep: Deployment,
    expected: oracle.OracleResult,
    http: Worker | None = None,
    sample: int = HTTP_SAMPLE,
) -> Verdict:
    """Compare every output of ``dep`` with ``expected``; ``http`` answers the view checks."""
    verdict = Verdict()
    states = latest_states(dep.bootstrap, dep.topics["product_state"])
    compare_states(expected.products, states, verdict)
    if http is not None:
        _check_http(expected.products, http, verdict, sample)
    _check_alerts(expected, asyncio.run(read_topic(dep.bootstrap, dep.topics["alerts"])), verdict)
    _check_dlq(expected, asyncio.run(read_topic(dep.bootstrap, dep.topics["dlq"])), verdict)
    return verdict


def states_match(dep: Deployment, expected: oracle.OracleResult) -> bool:
    """Cheap convergence probe: the product-state topic alone equals ground truth."""
    verdict = Verdict()
    compare_states(
        expected.products, latest_states(dep.bootstrap, dep.topics["product_state"]), verdict
    )
    return not verdict.problems
