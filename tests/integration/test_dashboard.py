"""The dashboard in real headless Chromium: what a merchandiser sees, checked cell by cell.

The page is rendered from two workers (so its numbers come through the
scatter-gather views) and its DOM is compared with the shop's ground truth:
top movers with their units, the sold-out and running-low products, the
stockout alerts, a sparkline per product, and the stream time.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hunt.ops.broker import LocalKafka
from hunt.ops.chromium import dump_dom, ensure_chromium
from hunt.web.dashboard import STATIC_DIR
from tests.harness import Deployment, produce, workers
from tests.integration.test_web import build_shop, wait_for_states

pytestmark = pytest.mark.integration


class Tables(HTMLParser):
    """Cell texts of every ``<table id=...>`` body row, and the sparklines in each row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self.sparks: dict[str, int] = {}
        self.status = ""
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_status = False
        self._in_svg_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") or ""
            self.rows[self._table] = []
        elif tag == "tbody" and self._table is not None:
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "polyline" and self._table is not None:
            self.sparks[self._table] = self.sparks.get(self._table, 0) + 1
        elif tag == "title" and self._cell is not None:
            self._in_svg_title = True
        elif a.get("id") == "status":
            self._in_status = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.rows[self._table].append(self._row)
            self._row = None
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "title":
            self._in_svg_title = False
        elif tag == "div":
            self._in_status = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._in_svg_title:
            self._cell.append(data)
        if self._in_status:
            self.status += data


def number(value: float, digits: int = 2) -> str:
    """The page's number format: en-US grouping, at most ``digits`` decimals, rounded
    half away from zero on the float's exact value (what ``Intl.NumberFormat`` does)."""
    exact = Decimal(value).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    text = f"{exact:,}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def test_dashboard_shows_movers_stock_and_alerts_in_headless_chromium(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    ensure_chromium()
    page = (STATIC_DIR / "dashboard.html").read_text() + (STATIC_DIR / "dashboard.js").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "assets must be local"
    deployment = Deployment(kafka.bootstrap, tmp_path / "shop")
    shop = build_shop(deployment)
    with workers(deployment, 2) as ws:
        produce(kafka.bootstrap, shop.records)
        states = wait_for_states(shop)
        dom = dump_dom(ws[1].url + "/", str(tmp_path / "chromium-profile"))
    parsed = Tables()
    parsed.feed(dom)

    # Top movers by units over 15 minutes, in order, with their numbers.
    movers = parsed.rows["movers"]
    expected = shop.top("units", 15, 10)
    assert [row[1] for row in movers] == [pid for pid, _ in expected], dom[:3000]
    for row, (pid, units) in zip(movers, expected, strict=True):
        assert row[2] == number(units, 0)
        assert row[4] == number(states[pid]["available"], 0)
        assert row[5] == number(states[pid]["demand_per_min"])
    assert parsed.sparks.get("movers", 0) == len(expected)  # one demand sparkline per row

    # Every sold-out product is listed with zero (or less) available.
    sold_out = {pid for pid, s in states.items() if s["stock_state"] == "out"}
    assert sold_out
    out_rows = {row[0]: row for row in parsed.rows["out"]}
    assert set(out_rows) == sold_out
    assert all(out_rows[pid][1] == number(states[pid]["available"], 0) for pid in sold_out)

    # Running low: in stock and out within the alert threshold, soonest first.
    low = sorted(
        (s["minutes_to_stockout"], pid)
        for pid, s in states.items()
        if s["stock_state"] == "in_stock"
        and s["minutes_to_stockout"] is not None
        and s["minutes_to_stockout"] < 60
    )[:15]
    assert [row[0] for row in parsed.rows["low"]] == [pid for _, pid in low]
    for row, (minutes, _) in zip(parsed.rows["low"], low, strict=True):
        assert row[3] == f"{number(minutes, 1)} min"

    # The newest alerts are the sell-outs at the end of the burst.
    stockouts = {row[2] for row in parsed.rows["alerts"] if row[1] == "stockout"}
    assert stockouts >= sold_out

    assert "stream time 2025-11-26 09:20:00" in parsed.status, parsed.status


def test_dashboard_assets_need_no_network(kafka: LocalKafka, tmp_path: Path) -> None:
    """The page and its script and stylesheet come from the worker itself."""
    deployment = Deployment(kafka.bootstrap, tmp_path)
    with workers(deployment, 1) as (w,):
        status, html = w.get("/")
        assert status == 200 and b"<title>hunt" in html
        for asset in re.findall(rb'(?:src|href)="([^"]+)"', html):
            assert not asset.startswith((b"http", b"//"))
            assert w.get("/" + asset.decode())[0] == 200
        body: Any = w.get_json("/")[1]
        assert body is None  # the dashboard, not Faust's {"status": "OK"} index
