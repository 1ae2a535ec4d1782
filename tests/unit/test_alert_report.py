"""The offline alert report: its arithmetic on alerts given by hand, and a short real run.

The figures decide whether the rules meet their targets, so each one is pinned
on a case worked out by hand: a spike is inside a surge only if its window
overlaps the surge, a flash sale in a product's first 15 minutes is not held
against the rules, a low_stock re-fire is one within 5 minutes of the same
product's previous one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from hunt.ops import simulate
from hunt.ops.alert_report import GroundTruth, Replay, figures, replay
from hunt.ops.traffic import Lull, Surge, TraceRecord

T0 = 1_764_147_600_000  # a window boundary
MIN = 60_000


@dataclass
class Stub:
    """The few numbers of a product state the report reads at the end."""

    product_id: str
    available: int
    demand_per_min: float
    stock_state: str


def alert(kind: str, pid: str, ts: int, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "product_id": pid, "ts": ts, "window_start": None, **extra}


def spike(pid: str, window: int) -> dict[str, Any]:
    return alert("demand_spike", pid, window + 55_000, window_start=window)


def truth(surges: list[Surge], lulls: list[Lull] | None = None) -> GroundTruth:
    return GroundTruth(T0, T0 + 60 * MIN, 10, surges, lulls or [], {"p-1": 1.0, "p-2": 0.5})


def test_spikes_count_as_inside_a_surge_only_when_their_window_overlaps_it() -> None:
    sale = Surge("p-1", "flash_sale", T0 + 30 * MIN + 50_000, T0 + 31 * MIN + 10_000, 30, 20)
    r = Replay(first_behavior_ts={"p-1": T0, "p-2": T0})
    r.alerts = [
        spike("p-1", T0 + 30 * MIN),  # overlaps the sale's first seconds: inside
        spike("p-1", T0 + 31 * MIN),  # its last seconds: inside
        spike("p-1", T0 + 32 * MIN),  # a window after the sale: outside
        spike("p-2", T0 + 30 * MIN),  # the sale was for another product: outside
        spike("p-2", T0 + 5 * MIN),  # in the first 15 minutes: outside, counted as such
    ]
    lull = Lull(T0 + 20 * MIN, T0 + 29 * MIN, 0.1)
    report = figures(r, truth([sale], [lull]))
    s = report["demand_spike"]
    assert (s["alerts"], s["inside_surge"], s["inside_share"]) == (5, 2, 0.4)
    assert (s["in_first_15_min"], s["outside_in_first_15_min"]) == (1, 1)
    assert (s["outside_after_lull"], s["outside_other"]) == (2, 0)  # within 20 min of its end
    assert report["flash_sales"]["caught"] == 1
    assert report["flash_sales"]["seconds_to_first_spike_median"] == 5.0
    assert report["alerts_per_product_hour"]["demand_spike"] == 0.5  # 5 over 10 products x 1 h


def test_flash_sales_are_judged_only_with_15_minutes_of_history_and_before_the_end() -> None:
    first = T0 + 10_000  # the first behaviour window is T0
    early = Surge("p-2", "flash_sale", T0 + 14 * MIN + 59_000, T0 + 15 * MIN + 20_000, 30, 20)
    seen = Surge("p-1", "flash_sale", T0 + 30 * MIN, T0 + 30 * MIN + 20_000, 30, 20)
    missed = Surge("p-2", "flash_sale", T0 + 40 * MIN, T0 + 40 * MIN + 20_000, 30, 20)
    cut = Surge("p-1", "flash_sale", T0 + 58 * MIN + 30_000, T0 + 58 * MIN + 40_000, 30, 20)
    r = Replay(first_behavior_ts={"p-1": first, "p-2": first})
    r.alerts = [spike("p-2", T0 + 15 * MIN), spike("p-1", T0 + 30 * MIN)]
    f = figures(r, truth([early, seen, missed, cut]))["flash_sales"]
    assert (f["sales"], f["caught"]) == (3, 2)  # the last opens 90 s before the end
    assert (f["with_15_min_history"], f["caught_with_15_min_history"]) == (2, 1)


def test_low_stock_refires_are_those_within_5_minutes_of_the_products_previous_one() -> None:
    r = Replay()
    r.alerts = [  # p-1 sells 1/min, p-2 0.5/min at the demand their stock was sized for
        alert("low_stock", "p-1", T0, minutes_to_stockout=59.0, available=59),
        alert("low_stock", "p-1", T0 + 5 * MIN, minutes_to_stockout=58.0, available=60),
        alert("low_stock", "p-1", T0 + 10 * MIN + 1, minutes_to_stockout=57.0, available=70),
        alert("low_stock", "p-2", T0 + 16 * MIN, minutes_to_stockout=10.0, available=5),
        alert("stockout", "p-2", T0 + 76 * MIN),  # the low_stock 60 minutes before warned it
        alert("stockout", "p-1", T0 + 71 * MIN),  # 61 minutes after p-1's last: not warned
    ]
    low = figures(r, truth([]))["low_stock"]
    assert (low["alerts"], low["products"], low["in_first_15_min"]) == (4, 2, 3)
    assert low["true_at_expected_demand"] == 0.5  # 59 of p-1 and 5 of p-2 are under 60 min
    assert (low["regular_stockouts_warned"], low["regular_stockouts_warned_share"]) == (1, 0.5)
    assert (low["refire_within_5_min"], low["refire_share"]) == (1, 0.25)  # exactly 5 minutes
    assert (low["repeats"], low["repeat_share"], low["repeat_gap_median_min"]) == (2, 0.5, 5.0)
    assert low["minutes_to_stockout_median"] == 57.5


def test_cover_is_read_from_hunts_demand_and_from_the_demand_stock_was_sized_for() -> None:
    r = Replay()
    r.states = {  # type: ignore[dict-item]
        "p-1": Stub("p-1", 120, 1.0, "in_stock"),  # 2 h by hunt's demand and by the true one
        "p-2": Stub("p-2", 60, 0.0, "in_stock"),  # no recent demand; 2 h at the true 0.5/min
        "p-3": Stub("p-3", 0, 2.0, "out"),
    }
    r.alerts = [alert("stockout", "p-3", T0 + 30_000), alert("stockout", "p-4", T0 + 2 * MIN)]
    report = figures(r, truth([]))
    c = report["cover_at_end"]
    assert (c["products"], c["out_of_stock"], c["in_stock_no_recent_demand"]) == (3, 1, 1)
    assert c["hours_max"] == 2.0 and c["hours"] == {}  # one product: too few for percentiles
    assert c["hours_at_expected_demand"]["p50"] == 2.0
    assert c["top_product"] == {"product_id": "p-3", "available": 0, "demand_per_min": 2.0}
    assert report["regular_products_that_ran_out"] == 1  # p-4; p-3 was out at the opening


def record(topic: str, body: dict[str, Any], bad: bool = False) -> TraceRecord:
    key = str(body.get("product_id", "")).encode() or None
    return TraceRecord(topic, key, orjson.dumps(body), bad, False)  # type: ignore[arg-type]


def test_replay_applies_each_record_once_and_counts_every_outcome() -> None:
    view = {"event_id": "b-1", "ts": T0, "product_id": "p-1", "kind": "view"}
    cart = view | {"event_id": "b-2", "kind": "cart_add", "session_id": "s-1", "user_id": "u-1"}
    buy = cart | {"event_id": "b-3", "kind": "purchase", "price": 2.5, "ts": T0 + 1_000}
    count = {"event_id": "i-1", "ts": T0, "product_id": "p-1", "warehouse": "w-1"}
    r = replay(
        [
            record("inventory", count | {"kind": "count", "qty": 0}),  # unknown -> out
            record("behavior", view | {"ts": T0 + 5_000}),
            record("behavior", view),  # the same event id again: a duplicate
            record("behavior", cart),
            record("behavior", buy),
            record("behavior", {"event_id": "b-4", "ts": T0, "kind": "view"}, bad=True),
        ]
    )
    assert dict(r.outcomes) == {"applied": 4, "duplicate": 1, "rejected": 1}
    assert [a["kind"] for a in r.alerts] == ["stockout"]
    assert r.first_behavior_ts == {"p-1": T0}
    funnel = r.funnel.figures()
    assert funnel["sessions"] == 1 and funnel["sessions_that_buy"] == 1.0
    assert funnel["purchases_per_cart_add"] == 1.0
    assert funnel["events"] == {"cart_add": 1, "purchase": 1, "view": 1}


def test_hunt_simulate_offline_writes_the_report(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    argv = ["--offline", "--duration", "900", "--rate", "20", "--products", "50", "--seed", "4"]
    assert simulate.main([*argv, "--report", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["run"]["seed"] == 4 and report["run"]["hours"] == 0.25
    assert report["flash_sales"]["sales"] >= 2
    assert report["outcomes"]["applied"] > 0.97 * 20 * 900
    assert report["outcomes"]["duplicate"] > 0 and report["outcomes"]["rejected"] > 0
    assert 0.01 < report["funnel"]["sessions_that_buy"] < 0.06
    assert sum(report["alerts"].values()) == report["alerts_total"] > 0
    quiet = tmp_path / "quiet.json"
    assert (
        simulate.main([*argv, "--dup-share", "0", "--bad-share", "0", "--report", str(quiet)]) == 0
    )
    outcomes = json.loads(quiet.read_text())["outcomes"]
    assert set(outcomes) == {"applied"}


@pytest.mark.parametrize(
    "argv",
    [["--report", "x.json"], ["--offline", "--dup-share", "-0.1"], ["--bad-share", "1.0"]],
)
def test_bad_offline_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        simulate.main(argv)
    assert exc.value.code == 2
