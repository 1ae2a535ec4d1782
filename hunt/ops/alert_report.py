"""``hunt simulate --offline --report PATH``: how trustworthy the alerts are, without Kafka.

Simulator traffic (:mod:`hunt.ops.traffic`) goes straight through the domain
rules, the same functions the worker calls per record (validation, the
exactly-once guards with an in-memory store for the dedup index, the product
rules), and the alerts are judged against what the generator knows it did:

- alerts per product-hour, by kind;
- the share of ``demand_spike`` alerts whose window overlaps a surge the
  generator injected (a flash sale) for that product, and which of the others
  came after a lull;
- flash sales caught (at least one spike in the sale), of all and of those a
  spike rule with 15 minutes of history can see;
- ``low_stock`` alerts that re-fire within 5 minutes of the product's previous one,
  those that were true (under the threshold at the demand the stock was sized
  for), and the sell-outs of regular products that one warned of in the hour before;
- hours of cover (available / demand per hour) of every product at the end;
- the funnel the trace really had, so the traffic's realism is measured too.

The module only reads the domain's public surface, so the same file can be
dropped into an older checkout to measure the rules of that version.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import hashlib
import statistics
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hunt.domain.dedup import DedupIndex, DedupPolicy, MemoryStore
from hunt.domain.errors import Rejected
from hunt.domain.events import parse_behavior, parse_inventory
from hunt.domain.processing import Outcome, apply_event
from hunt.domain.product import Alert, ProductState, Rules
from hunt.ops.traffic import Lull, Shape, Surge, TraceRecord, Traffic

__all__ = ["GroundTruth", "Replay", "figures", "main", "render", "replay"]

START_TS = 1_764_147_600_000  # 2025-11-26 09:00 UTC: a fixed start, so the rhythm is too
WINDOW_MS = 60_000  # SPEC 2: one-minute windows
HISTORY_MS = 15 * WINDOW_MS  # SPEC 3 (v2): a spike needs 15 windows of history
REFIRE_MS = 300_000  # the measure: a low_stock within 5 minutes of the previous one
SURGE_CUT_MS = 2 * WINDOW_MS  # a flash crowd needs ~30 s and two windows to be judged
OPENING_MS = WINDOW_MS  # stockouts this early are the opening stock, not a sell-out
WARN_WITHIN_MS = 60 * WINDOW_MS  # a low_stock in the hour before a stockout warned of it
AFTER_LULL_MS = 20 * WINDOW_MS  # a lull weighs on the spike baseline for 15 windows and a ramp
COVER_PERCENTILES = (10, 25, 50, 75, 90)


@dataclass
class _Funnel:
    """Per session: which kinds it had (bits); per user: how many sessions."""

    sessions: dict[str, int] = field(default_factory=dict)
    users: collections.Counter[str] = field(default_factory=collections.Counter)
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)

    def count(self, ev: dict[str, Any]) -> None:
        kind: str = ev["kind"]
        self.kinds[kind] += 1
        sid = ev.get("session_id")
        if sid is None:
            return
        if sid not in self.sessions:
            self.sessions[sid] = 0
            if "user_id" in ev:
                self.users[ev["user_id"]] += 1
        self.sessions[sid] |= 1 if kind == "cart_add" else 2 if kind == "purchase" else 0

    def figures(self) -> dict[str, Any]:
        n = len(self.sessions) or 1
        carts = self.kinds["cart_add"] or 1
        return {
            "sessions": len(self.sessions),
            "sessions_that_buy": round(sum(1 for v in self.sessions.values() if v & 2) / n, 4),
            "sessions_with_cart_add": round(sum(1 for v in self.sessions.values() if v & 1) / n, 4),
            "purchases_per_cart_add": round(self.kinds["purchase"] / carts, 3),
            "users_with_several_sessions": round(
                sum(1 for c in self.users.values() if c > 1) / (len(self.users) or 1), 3
            ),
            "events": dict(sorted(self.kinds.items())),
        }


@dataclass
class Replay:
    """What the rules made of a trace: final states, alerts, and the outcome counts."""

    states: dict[str, ProductState] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    first_behavior_ts: dict[str, int] = field(default_factory=dict)
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    funnel: _Funnel = field(default_factory=_Funnel)


def replay(records: Iterable[TraceRecord], rules: Rules | None = None) -> Replay:
    """Apply ``records`` in order through validation, dedup and the product rules."""
    rules = rules or Rules()
    dedup = DedupIndex(MemoryStore(), DedupPolicy())
    out = Replay()
    states, first = out.states, out.first_behavior_ts
    offsets = {"behavior": 0, "inventory": 0}
    for record in records:
        topic = record.topic_kind
        offsets[topic] = offset = offsets[topic] + 1
        try:
            parse = parse_behavior if topic == "behavior" else parse_inventory
            ev = parse(record.value)
        except Rejected:
            out.outcomes["rejected"] += 1
            continue
        pid: str = ev["product_id"]
        state = states.get(pid)
        if state is None:
            state = states[pid] = ProductState(pid)
        code = topic[0]
        outcome, alerts = apply_event(state, code, code + "0", offset, ev, rules, dedup)
        out.outcomes[outcome.value] += 1
        if outcome is not Outcome.APPLIED:
            continue
        out.alerts.extend(alerts)
        if code == "b":
            out.funnel.count(ev)
            ts: int = ev["ts"]
            if ts < first.get(pid, ts + 1):
                first[pid] = ts
    return out


def _window(alert: Alert) -> int:
    start = alert.get("window_start")
    ts: int = alert["ts"]
    return int(start) if start is not None else ts - ts % WINDOW_MS


def _in_surge(alert: Alert, surges: list[Surge]) -> Surge | None:
    lo = _window(alert)
    for surge in surges:
        if surge.start_ts < lo + WINDOW_MS and lo <= surge.end_ts:
            return surge
    return None


def _after_lull(alert: Alert, lull_ends: list[int]) -> bool:
    i = bisect.bisect_right(lull_ends, alert["ts"])
    return i > 0 and alert["ts"] - lull_ends[i - 1] <= AFTER_LULL_MS


def _spikes(r: Replay, truth: GroundTruth) -> tuple[dict[str, Any], dict[str, Any]]:
    surges, start_ts = truth.surges, truth.start_ts
    by_product: dict[str, list[Surge]] = collections.defaultdict(list)
    for injected in surges:
        by_product[injected.product_id].append(injected)
    lull_ends = sorted(lull.end_ts for lull in truth.lulls)
    spikes = [a for a in r.alerts if a["kind"] == "demand_spike"]
    caught: set[int] = set()
    first_alert: dict[int, int] = {}
    outside = early = after_lull = first_15 = 0
    for a in spikes:
        first_15 += a["ts"] - start_ts < HISTORY_MS
        surge = _in_surge(a, by_product.get(a["product_id"], []))
        if surge is not None:
            caught.add(id(surge))
            first_alert.setdefault(id(surge), a["ts"])
            continue
        outside += 1
        if a["ts"] - start_ts < HISTORY_MS:
            early += 1
        elif _after_lull(a, lull_ends):
            after_lull += 1
    n = len(spikes)

    def visible(s: Surge) -> bool:
        first = r.first_behavior_ts.get(s.product_id)
        return first is not None and s.start_ts >= first - first % WINDOW_MS + HISTORY_MS

    # A sale opening in the last minutes is cut short by the end: it is not judged.
    judged = [s for s in surges if s.start_ts < truth.end_ts - SURGE_CUT_MS]
    seen = [s for s in judged if visible(s)]
    delays = [(first_alert[id(s)] - s.start_ts) / 1000 for s in judged if id(s) in first_alert]
    spike_figures = {
        "alerts": n,
        "in_first_15_min": first_15,
        "inside_surge": n - outside,
        "inside_share": round((n - outside) / n, 3) if n else None,
        "outside_in_first_15_min": early,
        "outside_after_lull": after_lull,
        "outside_other": outside - early - after_lull,
    }
    flash_figures = {
        "sales": len(judged),
        "caught": sum(1 for s in judged if id(s) in caught),
        "with_15_min_history": len(seen),
        "caught_with_15_min_history": sum(1 for s in seen if id(s) in caught),
        "seconds_to_first_spike_median": round(statistics.median(delays), 1) if delays else None,
    }
    return spike_figures, flash_figures


def _low_stock(r: Replay, truth: GroundTruth, regular_outs: list[Alert]) -> dict[str, Any]:
    """Re-fires, and how often the alert was true: stock under the threshold at real demand."""
    threshold = Rules().low_stock_minutes
    expected = truth.expected_per_min
    last: dict[str, int] = {}
    refires = early = true = 0
    gaps: list[float] = []
    minutes = []
    lows = sorted((a for a in r.alerts if a["kind"] == "low_stock"), key=lambda a: a["ts"])
    for a in lows:
        pid = a["product_id"]
        if pid in last:
            gaps.append((a["ts"] - last[pid]) / WINDOW_MS)
            refires += a["ts"] - last[pid] <= REFIRE_MS
        last[pid] = a["ts"]
        early += a["ts"] - truth.start_ts < HISTORY_MS
        if expected.get(pid, 0.0) > 0:
            true += int(a["available"]) / expected[pid] < threshold
        if a.get("minutes_to_stockout") is not None:
            minutes.append(float(a["minutes_to_stockout"]))
    n = len(lows)
    warned = sum(
        1
        for out in regular_outs
        if any(
            a["product_id"] == out["product_id"] and 0 <= out["ts"] - a["ts"] <= WARN_WITHIN_MS
            for a in lows
        )
    )
    return {
        "alerts": n,
        "in_first_15_min": early,
        "true_at_expected_demand": round(true / n, 3) if n else None,
        "regular_stockouts_warned": warned,
        "regular_stockouts_warned_share": round(warned / len(regular_outs), 3)
        if regular_outs
        else None,
        "products": len(last),
        "refire_within_5_min": refires,
        "refire_share": round(refires / n, 3) if n else None,
        "repeats": len(gaps),
        "repeat_share": round(len(gaps) / n, 3) if n else None,
        "repeat_gap_median_min": round(statistics.median(gaps), 1) if gaps else None,
        "minutes_to_stockout_median": round(statistics.median(minutes), 1) if minutes else None,
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {f"p{p}": round(cuts[p - 1], 2) for p in COVER_PERCENTILES}


def _cover(r: Replay, expected_per_min: dict[str, float]) -> dict[str, Any]:
    """Hours of cover at the end, by hunt's demand_per_min and by the demand stock was sized for."""
    hours, true_hours, out, idle = [], [], 0, 0
    for state in r.states.values():
        available = int(state.available)
        demand = float(state.demand_per_min)
        expected = expected_per_min.get(state.product_id, 0.0)
        if expected > 0:
            true_hours.append(max(0, available) / expected / 60)
        if state.stock_state != "in_stock":
            out += state.stock_state == "out"
        elif demand > 0:
            hours.append(available / demand / 60)
        else:
            idle += 1
    top = max(r.states.values(), key=lambda s: float(s.demand_per_min), default=None)
    return {
        "products": len(r.states),
        "out_of_stock": out,
        "in_stock_no_recent_demand": idle,
        "hours": _percentiles(hours),
        "hours_max": round(max(hours), 1) if hours else None,
        "hours_at_expected_demand": _percentiles(true_hours),
        "hours_at_expected_demand_max": round(max(true_hours), 1) if true_hours else None,
        "top_product": None
        if top is None
        else {
            "product_id": top.product_id,
            "available": int(top.available),
            "demand_per_min": round(float(top.demand_per_min), 2),
        },
    }


@dataclass(frozen=True)
class GroundTruth:
    """What the generator did during the measured span ``start_ts`` .. ``end_ts``."""

    start_ts: int
    end_ts: int
    products: int
    surges: list[Surge]
    lulls: list[Lull]
    expected_per_min: dict[str, float]  # the demand each product's stock was sized for

    @classmethod
    def of(cls, traffic: Traffic, end_ts: int) -> GroundTruth:
        """The truth of ``traffic`` up to ``end_ts``: surges and lulls that began before it."""
        return cls(
            start_ts=traffic.start_ts,
            end_ts=end_ts,
            products=len(traffic.pids),
            surges=[s for s in traffic.surges if s.start_ts < end_ts],
            lulls=[lull for lull in traffic.lulls if lull.start_ts < end_ts],
            expected_per_min=dict(zip(traffic.pids, traffic.expected_per_min, strict=True)),
        )


def figures(r: Replay, truth: GroundTruth) -> dict[str, Any]:
    """The report: alert rates and quality against the injected surges, cover, funnel."""
    surges, start_ts = truth.surges, truth.start_ts
    by_kind = collections.Counter(a["kind"] for a in r.alerts)
    product_hours = truth.products * (truth.end_ts - start_ts) / 3_600_000
    surge_products = {s.product_id for s in surges}
    regular_outs = [
        a
        for a in r.alerts
        if a["kind"] == "stockout"
        and a["product_id"] not in surge_products
        and a["ts"] >= start_ts + OPENING_MS
    ]
    spikes, flash = _spikes(r, truth)
    return {
        "alerts": dict(sorted(by_kind.items())),
        "alerts_total": len(r.alerts),
        "alerts_per_product_hour": {
            k: round(by_kind[k] / product_hours, 4)
            for k in ("stockout", "back_in_stock", "low_stock", "demand_spike")
        },
        "demand_spike": spikes,
        "flash_sales": flash,
        "low_stock": _low_stock(r, truth, regular_outs),
        "regular_products_that_ran_out": len({a["product_id"] for a in regular_outs}),
        "cover_at_end": _cover(r, truth.expected_per_min),
        "lulls": len(truth.lulls),
        "funnel": r.funnel.figures(),
        "outcomes": dict(sorted(r.outcomes.items())),
    }


def _rules_digest() -> str:
    """The first bytes of product.py's hash: which version of the rules produced a report."""
    import hunt.domain.product as product

    return hashlib.sha256(Path(product.__file__).read_bytes()).hexdigest()[:12]


def render(report: dict[str, Any]) -> str:
    """The report's headline figures as text lines."""
    a, s, f, low, c = (
        report["alerts_per_product_hour"],
        report["demand_spike"],
        report["flash_sales"],
        report["low_stock"],
        report["cover_at_end"],
    )
    cover = ", ".join(f"{k} {v}" for k, v in c["hours"].items())
    true_cover = ", ".join(f"{k} {v}" for k, v in c["hours_at_expected_demand"].items())
    lines = [
        f"alerts: {report['alerts_total']} ({report['alerts']})",
        "per product-hour: " + ", ".join(f"{k} {v}" for k, v in a.items()),
        f"demand_spike: {s['alerts']} ({s['in_first_15_min']} in the first 15 min), "
        f"inside a surge {s['inside_surge']} ({s['inside_share']}); "
        f"outside: first 15 min {s['outside_in_first_15_min']}, "
        f"after a lull {s['outside_after_lull']}, other {s['outside_other']}",
        f"flash sales caught: {f['caught']} of {f['sales']}; with 15 min of history "
        f"{f['caught_with_15_min_history']} of {f['with_15_min_history']}; "
        f"median {f['seconds_to_first_spike_median']} s to the first spike",
        f"low_stock: {low['alerts']} ({low['in_first_15_min']} in the first 15 min), "
        f"true at the expected demand {low['true_at_expected_demand']}, "
        f"regular stockouts warned {low['regular_stockouts_warned']} "
        f"({low['regular_stockouts_warned_share']}), "
        f"re-fired within 5 min {low['refire_within_5_min']} "
        f"({low['refire_share']}); repeats of a product's earlier one {low['repeats']} "
        f"({low['repeat_share']}, median gap {low['repeat_gap_median_min']} min); "
        f"median minutes to stockout {low['minutes_to_stockout_median']}",
        f"regular products that ran out: {report['regular_products_that_ran_out']}",
        f"hours of cover at the end: {cover}; max {c['hours_max']}; out {c['out_of_stock']}, "
        f"in stock without recent demand {c['in_stock_no_recent_demand']}; top {c['top_product']}",
        f"hours of cover at the expected demand: {true_cover}; "
        f"max {c['hours_at_expected_demand_max']}",
        f"funnel: {report['funnel']}",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """``hunt simulate --offline``: one run of ``args.duration`` seconds of event time."""
    shape = Shape(rhythm=args.rhythm, lulls=args.lulls)
    traffic = Traffic(
        args.seed, args.products, START_TS, args.rate, args.dup_share, args.bad_share, shape
    )
    duration_ms = (args.duration or 3600.0) * 1000
    end = START_TS + duration_ms

    def trace() -> Iterator[TraceRecord]:
        for n, record in enumerate(traffic.records()):
            if traffic.clock_ms >= end or n >= args.events:
                return
            yield record

    t0 = time.monotonic()
    result = replay(trace())
    report = figures(result, GroundTruth.of(traffic, int(end)))
    report["run"] = {
        "seed": args.seed,
        "products": args.products,
        "rate_per_s": args.rate,
        "hours": duration_ms / 3_600_000,
        "dup_share": args.dup_share,
        "bad_share": args.bad_share,
        "rhythm": args.rhythm,
        "lulls": args.lulls,
        "rules_sha256": _rules_digest(),
        "seconds": round(time.monotonic() - t0, 1),
    }
    print(render(report), flush=True)
    if args.report:
        Path(args.report).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"simulate: report written to {args.report}", file=sys.stderr)
    return 0
