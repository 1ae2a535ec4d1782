"""The dashboard in real headless Chromium: what a merchandiser sees, checked cell by cell.

The page is served by two workers (so its numbers come through the
scatter-gather and forwarding views) and driven over the DevTools protocol:
the overview's top movers, sold-out and running-low products and alerts are
compared with the shop's ground truth; then a product is looked up by typing
its id (one full of markup and control characters) into the search box, and
its page must show its state, its hour of minutes, its warehouses, its funnel
and its alerts with the numbers that made them fire.

Set ``HUNT_DASHBOARD_SCREENSHOTS`` to a directory to keep a PNG of each page.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from hunt.ops.broker import LocalKafka
from hunt.ops.chromium import Browser
from hunt.web.dashboard import STATIC_DIR
from tests.harness import Deployment, Worker, produce, workers
from tests.integration.test_web import MINUTE, T0, Shop, build_shop, wait_for_states

pytestmark = pytest.mark.integration

# An id a page could get wrong every way: markup, an entity, quotes, a path
# separator, a control character and a right-to-left override.
ODD_ID = '<b>sku&amp;"7"</b>/\x07\u202e'
MANY_ID = "many-warehouses"
WAREHOUSES = {"north": 120, "south <&>": 60, "\x1bvoid": 0}  # before sales, all from north
SPIKE_MINUTE = 18
NONE = "\u2013"  # the page's en dash for "no value"
TIMES = "\u00d7"
LOW_WHY = r"[\d.,]+ min to stockout < 60 \([\d,]+ available at [\d.,]+ / min\)"

# What the page shows, read the way a user reads it (innerText of rendered elements).
READ_PAGE = """(() => {
  const text = id => {
    const n = document.getElementById(id); return n ? n.innerText.trim() : null; };
  const rows = id => Array.from(document.querySelectorAll('#' + id + ' tbody tr'))
    .map(tr => Array.from(tr.cells).map(td => td.innerText.trim()));
  const svg = document.getElementById('p-chart-svg');
  const shown = id => {
    const n = document.getElementById(id); return !!n && n.offsetParent !== null; };
  return {
    status: text('status'), title: document.title, hash: location.hash,
    text: Object.fromEntries(['p-id', 'p-state', 'p-available', 'p-demand', 'p-stockout',
      'p-events', 'p-last', 'p-missing', 'wh-hint', 'funnel-hint', 'chart-sum', 'movers-hint']
      .map(id => [id, text(id)])),
    tables: Object.fromEntries(['movers', 'low', 'out', 'alerts', 'p-totals', 'p-warehouses',
      'p-funnel', 'p-alerts'].map(id => [id, rows(id)])),
    sparks: document.querySelectorAll('#movers svg.spark polyline').length,
    chart: svg ? {
      label: svg.getAttribute('aria-label'),
      minutes: Array.from(svg.querySelectorAll('rect.hit title')).map(t => t.textContent),
      bars: svg.querySelectorAll('rect.units').length,
      line: svg.querySelectorAll('polyline.carts').length,
    } : null,
    overview: shown('overview'), product: shown('product'), chart_card: shown('p-chart'),
    ctl: Array.from(document.querySelectorAll('#p-id .ctl')).map(n => n.textContent),
    injected: document.querySelectorAll('b, #p-id b').length,
  };
})()"""


def number(value: float, digits: int = 2) -> str:
    """The page's number format: en-US grouping, at most ``digits`` decimals, rounded
    half away from zero on the float's exact value (what ``Intl.NumberFormat`` does)."""
    exact = Decimal(value).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    text = f"{exact:,}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def shown(pid: str) -> str:
    """An id as the page prints it: its invisible characters spelled out."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e]", lambda m: f"\\u{ord(m[0]):04x}", pid)


def add_inventory(shop: Shop, pid: str, ts: int, warehouse: str, kind: str, qty: int) -> None:
    ev = {"event_id": f"i-{len(shop.records)}", "ts": ts, "product_id": pid}
    ev |= {"warehouse": warehouse, "kind": kind, "qty": qty}
    shop._add("inventory", pid, ev, keyed=True)  # Shop.inventory knows one warehouse only


def stock_odd_product(shop: Shop) -> None:
    for warehouse, qty in WAREHOUSES.items():
        add_inventory(shop, ODD_ID, T0, warehouse, "restock" if qty else "count", qty)


def odd_product_demand(shop: Shop) -> None:
    """Twenty minutes of steady demand with a spike of cart adds and orders in minute 18.

    Every minute: 12 views, 6 cart adds, a cart remove and an order of 2 units
    (cart adds + units = 8 a minute, so the spike threshold is 3 x 8 = 24). In
    minute 18: 45 cart adds, then 4 orders of 3 units. The 24th cart add fires
    ``demand_spike``. With 180 in stock and at most 40 units in 15 minutes, no
    behaviour event takes minutes to stockout below 60.
    """
    for minute in range(20):
        spike = minute == SPIKE_MINUTE
        ts = iter(range(T0 + minute * MINUTE + 7, T0 + (minute + 1) * MINUTE, 100))
        for _ in range(12):
            shop.behavior(ODD_ID, next(ts), "view")
        for _ in range(45 if spike else 6):
            shop.behavior(ODD_ID, next(ts), "cart_add")
        shop.behavior(ODD_ID, next(ts), "cart_remove")
        for qty in [3, 3, 3, 3] if spike else [2]:
            shop.behavior(ODD_ID, next(ts), "purchase", qty=qty)


def odd_product_sales(shop: Shop) -> None:
    """The 50 units leave ``north`` in five sales at 09:19:30..34; at 40 units in 15
    minutes, the third (150 left: 56.25 minutes) fires ``low_stock``."""
    for k in range(5):
        add_inventory(shop, ODD_ID, T0 + 19 * MINUTE + 30_000 + k * 1000, "north", "sale", 10)


def add_many_warehouses(shop: Shop) -> None:
    """A product stocked in 25 warehouses (1..25 units) and never viewed."""
    for i in range(25):
        add_inventory(shop, MANY_ID, T0 + i, f"wh-{i:02d}", "restock", i + 1)


@dataclass
class Live:
    shop: Shop
    states: dict[str, dict[str, Any]]
    workers: list[Worker]
    browser: Browser
    shots: Path | None

    def read(self) -> dict[str, Any]:
        page: dict[str, Any] = self.browser.evaluate(READ_PAGE)
        return page

    def wait(self, expression: str, timeout: float = 30.0) -> None:
        """Until ``expression`` holds in the page; on timeout, fail with what the page shows."""
        try:
            self.browser.wait_until(expression, timeout)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\npage: {self.read()}") from None

    def screenshot(self, name: str) -> None:
        if self.shots is not None:
            self.shots.mkdir(parents=True, exist_ok=True)
            self.browser.screenshot(self.shots / f"{name}.png")


@pytest.fixture(scope="module")
def live(kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("dashboard")
    deployment = Deployment(kafka.bootstrap, root / "shop")
    shop = build_shop(deployment)
    stock_odd_product(shop)
    add_many_warehouses(shop)
    shots = os.environ.get("HUNT_DASHBOARD_SCREENSHOTS")
    with workers(deployment, 2) as ws:
        # The odd product's stock, demand and sales go in three rounds, each applied
        # before the next: its two topics interleave in no fixed order, and its alerts
        # must carry known numbers.
        for add in (None, odd_product_demand, odd_product_sales):
            sent = len(shop.records)
            if add is not None:
                add(shop)
            produce(kafka.bootstrap, shop.records[0 if add is None else sent :])
            states = wait_for_states(shop)
        with Browser(str(root / "chromium"), width=1360, height=900) as browser:
            yield Live(shop, states, ws, browser, Path(shots) if shots else None)


def test_overview_shows_movers_stock_and_alerts_with_why_they_fired(live: Live) -> None:
    page = (STATIC_DIR / "dashboard.html").read_text() + (STATIC_DIR / "dashboard.js").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "assets must be local"
    states = live.states
    live.browser.open(live.workers[1].url + "/")
    live.wait("document.getElementById('status').innerText.startsWith('stream time')")
    seen = live.read()
    live.screenshot("overview")
    assert seen["overview"] and not seen["product"]

    # Top movers by units over 15 minutes, in order, with their numbers.
    movers = seen["tables"]["movers"]
    expected = live.shop.top("units", 15, 10)
    assert [row[1] for row in movers] == [shown(pid) for pid, _ in expected]
    for row, (pid, units) in zip(movers, expected, strict=True):
        assert row[2] == number(units, 0)
        assert row[4] == number(states[pid]["available"], 0)
        assert row[5] == number(states[pid]["demand_per_min"])
    assert seen["sparks"] == len(expected)  # one demand sparkline per row

    # Every sold-out product is listed with zero (or less) available.
    sold_out = {pid for pid, s in states.items() if s["stock_state"] == "out"}
    assert sold_out
    out_rows = {row[0]: row for row in seen["tables"]["out"]}
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
    assert [row[0] for row in seen["tables"]["low"]] == [shown(pid) for _, pid in low]
    for row, (minutes, _) in zip(seen["tables"]["low"], low, strict=True):
        assert row[3] == f"{number(minutes, 1)} min"

    # The newest alerts are the sell-outs at the end of the burst, each saying why.
    alerts = seen["tables"]["alerts"]
    stockouts = {row[2]: row for row in alerts if row[1] == "stockout"}
    assert set(stockouts) >= sold_out
    assert all(stockouts[pid][3] == "available 0 ≤ 0" for pid in sold_out)
    assert all(re.fullmatch(LOW_WHY, row[3]) for row in alerts if row[1] == "low stock")
    assert "stream time 2025-11-26 09:20:00" in seen["status"], seen["status"]

    # Ranked by the view-to-cart rate instead: products with at least 10 views.
    live.browser.evaluate(
        "(() => { const m = document.getElementById('metric'); m.value = 'view_to_cart';"
        " m.dispatchEvent(new Event('change')); })()"
    )
    live.wait("document.getElementById('metric-col').innerText === 'View → cart'")
    seen = live.read()
    live.screenshot("overview-view-to-cart")
    assert seen["text"]["movers-hint"] == "(products with at least 10 views in the period)"
    expected_rates = funnel_top(live.shop, "view_to_cart", 15, 10, min_base=10)
    assert [row[1:3] for row in seen["tables"]["movers"]] == [
        [shown(pid), f"{number(rate * 100, 1)}% ({adds} / {views})"]
        for pid, rate, adds, views in expected_rates
    ]


def test_product_page_found_by_search_shows_state_chart_warehouses_funnel_and_evidence(
    live: Live,
) -> None:
    browser = live.browser
    browser.open(live.workers[0].url + "/")
    live.wait("document.getElementById('status').innerText.startsWith('stream time')")
    # Type the id into the search box and press Enter, as a user would.
    browser.evaluate("document.getElementById('find-id').focus()")
    browser.call("Input.insertText", text=ODD_ID)
    assert browser.evaluate("document.getElementById('find-id').value") == ODD_ID
    enter = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
    browser.call("Input.dispatchKeyEvent", type="keyDown", text="\r", **enter)
    browser.call("Input.dispatchKeyEvent", type="keyUp", **enter)
    live.wait("document.getElementById('status').innerText.startsWith('newest event')")
    live.wait("document.querySelectorAll('#p-alerts tbody tr td.why').length >= 2")
    seen = live.read()
    live.screenshot("product")
    state = live.states[ODD_ID]
    text = seen["text"]

    # The route names the product; its id is shown as text, invisible characters spelled out.
    assert seen["product"] and not seen["overview"]
    assert seen["hash"] == "#/products/%3Cb%3Esku%26amp%3B%227%22%3C%2Fb%3E%2F%07%E2%80%AE"
    assert text["p-id"] == '<b>sku&amp;"7"</b>/\\u0007\\u202e'
    assert seen["ctl"] == ["\\u0007", "\\u202e"] and seen["injected"] == 0
    assert seen["title"] == 'hunt · <b>sku&amp;"7"</b>/\\u0007\\u202e'

    # State: 180 stocked, 50 units sold; 40 units in the last 15 minutes.
    assert state["available"] == 130
    assert text["p-state"] == "in stock"
    assert text["p-available"] == "130"
    assert text["p-demand"] == number(40 / 15) == "2.67"
    assert text["p-stockout"] == f"{number(130 / (40 / 15), 1)} min"
    assert text["p-events"] == number(state["events_applied"], 0)
    assert text["p-last"] == "2025-11-26 09:19:34"
    # views, cart adds, cart removes, orders, units, revenue (50 x 3.35)
    assert seen["tables"]["p-totals"] == [["240", "159", "20", "23", "50", "167.5", ""]]

    # The hour of minutes up to the newest behaviour minute (09:19): 40 empty, then 20.
    chart = seen["chart"]
    assert chart["label"] == "units sold and cart adds per minute, 08:20 to 09:19 UTC"
    assert len(chart["minutes"]) == 60 and chart["bars"] == 20 and chart["line"] == 1
    assert chart["minutes"][0] == "08:20 UTC: 0 units, 0 cart adds"
    assert chart["minutes"][40] == "09:00 UTC: 2 units, 6 cart adds"
    assert chart["minutes"][58] == "09:18 UTC: 12 units, 45 cart adds"
    assert text["chart-sum"] == (
        f"08:20{NONE}09:19 UTC: 50 units, 159 cart adds; "
        "busiest minute 09:18 (12 units, 45 cart adds)"
    )

    # Warehouses, most stock first; shares of the stock on hand.
    assert seen["tables"]["p-warehouses"] == [
        ["north", "70", "53.8%"],
        ["south <&>", "60", "46.2%"],
        ["\\u001bvoid", "0", ""],
    ]
    assert text["wh-hint"] == "(3 · 130 available)"

    # The funnel of the last 15 minutes (09:05-09:19): 14 steady minutes and the spike.
    assert text["funnel-hint"] == "(last 15 min)"
    assert seen["tables"]["p-funnel"] == [
        ["Views", "180", "", ""],
        ["Cart adds", "129", f"{number(129 / 180 * 100, 1)}% of views", ""],
        ["Orders", "18", f"{number(18 / 129 * 100, 1)}% of cart adds", ""],
        ["Cart removes", "15", "", ""],
        ["Units sold", "40", "", ""],
        ["Revenue", "134", "", ""],
    ]

    # Its alerts, newest first, with the numbers that made them fire: the third sale
    # (150 left, 40 units in 15 minutes), and the 24th cart add of 09:18 (180 in
    # stock, 28 units in the 15 minutes to then).
    assert seen["tables"]["p-alerts"] == [
        [
            "2025-11-26 09:19:32",
            "low stock",
            "56.3 min to stockout < 60 (150 available at 2.67 / min)",
            "150",
            "2.67",
            "56.3 min",
        ],
        [
            "2025-11-26 09:18:03",
            "demand spike",
            f"cart adds + units 24 ≥ threshold 24 (3 {TIMES} mean 8.0) in minute 09:18",
            "180",
            "1.87",
            f"{number(180 / (28 / 15) / 60, 1)} h",
        ],
    ]


def test_product_page_of_a_product_without_behaviour_and_of_an_unknown_id(live: Live) -> None:
    browser = live.browser
    browser.open(live.workers[1].url + "/#/products/" + MANY_ID)
    live.wait("document.getElementById('status').innerText.startsWith('newest event')")
    live.wait("!document.querySelector('#p-alerts tbody').innerText.includes('waiting')")
    seen = live.read()
    live.screenshot("product-no-behaviour")
    assert seen["text"]["p-available"] == "325" and seen["text"]["p-stockout"] == NONE
    assert seen["text"]["p-demand"] == "0"
    warehouses = seen["tables"]["p-warehouses"]
    # The 20 largest of 25, then one row for the other five (1 + 2 + 3 + 4 + 5 units).
    assert [row[:2] for row in warehouses[:3]] == [
        ["wh-24", "25"],
        ["wh-23", "24"],
        ["wh-22", "23"],
    ]
    assert len(warehouses) == 21 and warehouses[-1][:2] == ["+ 5 more warehouses", "15"]
    assert seen["text"]["wh-hint"] == "(25 · 325 available)"
    assert seen["tables"]["p-funnel"] == [["no behaviour events yet"]]
    assert seen["chart"] is None and seen["chart_card"]
    assert seen["tables"]["p-alerts"] == [["no recent alerts for this product"]]

    unknown = "never <seen> & \x00"
    browser.evaluate(f"location.hash = '#/products/' + encodeURIComponent({json.dumps(unknown)})")
    live.wait("document.getElementById('status').innerText.startsWith('no such product')")
    seen = live.read()
    assert seen["text"]["p-missing"] == (
        "No product with id never <seen> & \\u0000 has been seen yet. "
        "Ids are matched exactly, case and spaces included."
    )
    assert not seen["chart_card"] and seen["chart"] is None  # nothing of the last product stays

    browser.evaluate("location.hash = '#/products/..'")
    live.wait("document.getElementById('status').innerText === 'cannot look up this id'")
    assert live.read()["text"]["p-missing"] == (
        "No product with id .. cannot be looked up from a browser: "
        "the URL path treats it as a directory."
    )


RATIOS = {"view_to_cart": ("cart_adds", "views"), "cart_to_purchase": ("purchases", "cart_adds")}


def funnel_top(shop: Shop, metric: str, minutes: int, n: int, min_base: int) -> list[Any]:
    """The ranking /top must give for a funnel ratio, from the input alone."""
    num, den = RATIOS[metric]
    since = shop.newest_ts - shop.newest_ts % MINUTE - (minutes - 1) * MINUTE
    scores = []
    for pid, windows in shop.windows.items():
        a = sum(w[num] for start, w in windows.items() if start >= since)
        b = sum(w[den] for start, w in windows.items() if start >= since)
        if b >= min_base and a > 0:
            scores.append((pid, a / b, a, b))
    scores.sort(key=lambda s: (-s[1], s[0]))
    return scores[:n]


def test_top_ranks_by_funnel_ratios_and_alerts_filter_by_product(live: Live) -> None:
    for w in live.workers:
        for metric, minutes, min_base in (
            ("view_to_cart", 15, 1),
            ("view_to_cart", 15, 10),
            ("cart_to_purchase", 60, 5),
            ("cart_to_purchase", 2, 1),
        ):
            path = f"/top?metric={metric}&minutes={minutes}&n=8&min_base={min_base}"
            status, top = w.get_json(path)
            assert status == 200, (path, top)
            num, den = RATIOS[metric]
            got = [(p["product_id"], p["value"], p[num], p[den]) for p in top["products"]]
            assert got == funnel_top(live.shop, metric, minutes, 8, min_base), path
            assert top["min_base"] == min_base and top["stream_time"] == live.shop.newest_ts
        for bad in ("min_base=0", "min_base=1000000001", "min_base=x"):
            assert w.get_json(f"/top?metric=view_to_cart&{bad}")[0] == 400, bad
        assert w.get_json("/top?metric=view_to_carts")[0] == 400

        status, alerts = w.get_json("/alerts?" + urlencode({"limit": 50, "product_id": ODD_ID}))
        assert status == 200
        assert [a["kind"] for a in alerts] == ["low_stock", "demand_spike"]
        assert {a["product_id"] for a in alerts} == {ODD_ID}
        assert w.get_json("/alerts?" + urlencode({"product_id": "x" * 128}))[1] == []
        assert w.get_json("/alerts?" + urlencode({"product_id": "x" * 129}))[0] == 400
        status, everything = w.get_json("/alerts?limit=1000&product_id=")
        assert status == 200 and len({a["product_id"] for a in everything}) > 1


def test_dashboard_assets_need_no_network_and_the_page_knows_the_rules(live: Live) -> None:
    """The page and its script and stylesheet come from the worker itself."""
    w = live.workers[0]
    status, page = w.get("/")
    assert status == 200 and b"<title>hunt" in page
    for asset in re.findall(rb'(?:src|href)="([^"#]+)"', page):
        assert not asset.startswith((b"http", b"//"))
        assert w.get("/" + asset.decode())[0] == 200
    body: Any = w.get_json("/")[1]
    assert body is None  # the dashboard, not Faust's {"status": "OK"} index
    meta = re.search(rb'<meta name="hunt-rules" content="([^"]*)">', page)
    assert meta is not None
    rules = json.loads(html.unescape(meta.group(1).decode()))
    assert rules == {"low_stock_minutes": 60.0, "spike_floor": 20, "spike_factor": 3.0}
