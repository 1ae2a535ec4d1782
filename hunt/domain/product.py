"""One product's state and the rules that change it (SPEC sections 2 and 3).

:class:`ProductState` is plain Python: the streaming layer loads it from the
table, applies a batch of validated events to it in partition order, and
stores it back once. Applying an event returns the alerts it causes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import orjson

from hunt.domain.events import Event
from hunt.domain.money import cents, line_amount
from hunt.domain.windows import (
    COUNTER_NAMES,
    DEMAND_WINDOWS,
    RETAIN_MS,
    UNITS,
    WINDOW_MS,
    Window,
    add_revenue,
    counter_value,
    new_window,
    window_start,
)

__all__ = ["Alert", "ProductState", "Rules"]

Alert = dict[str, Any]

_KIND_INDEX: Final = {"view": 0, "cart_add": 1, "cart_remove": 2, "purchase": 3}
_UNITS: Final = 4  # index of units in totals


@dataclass(frozen=True, slots=True)
class Rules:
    """Thresholds of the alert rules; defaults are the contract's."""

    low_stock_minutes: float = 60.0
    spike_floor: int = 20
    spike_factor: float = 3.0


class ProductState:
    """Everything hunt knows about one product, as stored in its table entry."""

    __slots__ = (
        "dedup_buckets",
        "events_applied",
        "expired_windows",
        "last_event_ts",
        "low_stock_armed",
        "newest_window",
        "offsets",
        "on_hand",
        "product_id",
        "revenue",
        "spiked",
        "stock_state",
        "totals",
        "windows",
    )

    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        self.on_hand: dict[str, int] = {}
        self.stock_state = "unknown"
        self.totals = [0, 0, 0, 0, 0]  # views, cart_adds, cart_removes, purchases, units
        self.revenue = Decimal(0)
        self.windows: dict[int, Window] = {}
        self.newest_window: int | None = None
        self.events_applied = 0
        self.last_event_ts: int | None = None
        self.low_stock_armed = True
        self.spiked: set[int] = set()
        # Exactly-once bookkeeping, stored with the state so both travel in one record:
        # highest source offset applied per "<topic code><partition>", and the live
        # dedup buckets per topic code.
        self.offsets: dict[str, int] = {}
        self.dedup_buckets: dict[str, list[int]] = {}
        self.expired_windows = 0  # windows dropped since last asked; not stored.

    # -- derived numbers -------------------------------------------------------------

    @property
    def available(self) -> int:
        return sum(self.on_hand.values())

    @property
    def demand_per_min(self) -> float:
        """Units in the 15 windows ending with the newest behaviour window, per minute."""
        if self.newest_window is None:
            return 0.0
        lo = self.newest_window - (DEMAND_WINDOWS - 1) * WINDOW_MS
        units = sum(w[UNITS] for start, w in self.windows.items() if start >= lo)
        return int(units) / DEMAND_WINDOWS

    def minutes_to_stockout(self, demand: float | None = None) -> float | None:
        demand = self.demand_per_min if demand is None else demand
        available = self.available
        if available > 0 and demand > 0:
            return available / demand
        return None

    # -- rules -------------------------------------------------------------------------

    def apply_behavior(self, ev: Event, rules: Rules) -> list[Alert]:
        """Count a validated behaviour event in totals and its window; return its alerts."""
        idx = _KIND_INDEX[ev["kind"]]
        ts: int = ev["ts"]
        qty: int = ev["qty"]
        totals = self.totals
        totals[idx] += 1
        amount = None
        if idx == 3:
            totals[_UNITS] += qty
            amount = line_amount(qty, ev["price"])
            self.revenue += amount
        self._touch(ts)
        alerts: list[Alert] = []
        start = window_start(ts)
        newest = self.newest_window
        if newest is None or start > newest:
            self.newest_window = newest = start
            self._expire_windows(start - RETAIN_MS)
        if start >= newest - RETAIN_MS:
            w = self.windows.get(start)
            if w is None:
                w = self.windows[start] = new_window(start)
            w[idx + 1] += 1
            if amount is not None:
                w[UNITS] += qty
                add_revenue(w, amount)
            if idx in (1, 3):
                alert = self._check_spike(start, w, ev, rules)
                if alert is not None:
                    alerts.append(alert)
        self._check_low_stock(ev, rules, alerts)
        return alerts

    def apply_inventory(self, ev: Event, rules: Rules) -> list[Alert]:
        """Move stock of one warehouse; return the stock alerts the move causes."""
        kind = ev["kind"]
        warehouse: str = ev["warehouse"]
        qty: int = ev["qty"]
        on_hand = self.on_hand
        if kind == "count":
            on_hand[warehouse] = qty
        elif kind == "sale":
            on_hand[warehouse] = on_hand.get(warehouse, 0) - qty
        else:  # restock, adjust
            on_hand[warehouse] = on_hand.get(warehouse, 0) + qty
        self._touch(ev["ts"])
        alerts: list[Alert] = []
        before = self.stock_state
        after = "in_stock" if self.available > 0 else "out"
        self.stock_state = after
        if after == "out" and before != "out":
            alerts.append(self._alert("stockout", ev))
        elif before == "out" and after == "in_stock":
            alerts.append(self._alert("back_in_stock", ev))
        self._check_low_stock(ev, rules, alerts)
        return alerts

    def _touch(self, ts: int) -> None:
        self.events_applied += 1
        if self.last_event_ts is None or ts > self.last_event_ts:
            self.last_event_ts = ts

    def _expire_windows(self, oldest_kept: int) -> None:
        stale = [start for start in self.windows if start < oldest_kept]
        for start in stale:
            del self.windows[start]
        self.expired_windows += len(stale)
        self.spiked = {start for start in self.spiked if start >= oldest_kept}

    def take_expired_windows(self) -> int:
        """Windows dropped past retention since the last call (for a metric)."""
        n, self.expired_windows = self.expired_windows, 0
        return n

    def _check_spike(self, start: int, w: Window, ev: Event, rules: Rules) -> Alert | None:
        value = w[2] + w[UNITS]  # cart_adds + units
        if value < rules.spike_floor or start in self.spiked:
            return None
        previous = 0
        for k in range(1, DEMAND_WINDOWS + 1):
            p = self.windows.get(start - k * WINDOW_MS)
            if p is not None:
                previous += p[2] + p[UNITS]
        # value >= factor * mean, compared without dividing so no rounding decides it.
        if value * DEMAND_WINDOWS < rules.spike_factor * previous:
            return None
        self.spiked.add(start)
        return self._alert("demand_spike", ev, window=start)

    def _check_low_stock(self, ev: Event, rules: Rules, alerts: list[Alert]) -> None:
        if self.stock_state != "in_stock":
            self.low_stock_armed = True
            return
        minutes = self.minutes_to_stockout()
        if minutes is None or minutes >= rules.low_stock_minutes:
            self.low_stock_armed = True
        elif self.low_stock_armed:
            self.low_stock_armed = False
            alerts.append(self._alert("low_stock", ev))

    def _alert(self, kind: str, ev: Event, window: int | None = None) -> Alert:
        demand = self.demand_per_min
        return {
            "alert_id": f"{self.product_id}:{kind}:{ev['event_id']}",
            "kind": kind,
            "product_id": self.product_id,
            "ts": ev["ts"],
            "cause_event_id": ev["event_id"],
            "available": self.available,
            "demand_per_min": demand,
            "minutes_to_stockout": self.minutes_to_stockout(demand),
            "window_start": window,
        }

    # -- views -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The public state, as in ``hunt.product-state`` and ``GET /products/{id}``."""
        demand = self.demand_per_min
        t = self.totals
        return {
            "product_id": self.product_id,
            "available": self.available,
            "on_hand": self.on_hand,
            "stock_state": self.stock_state,
            "totals": {
                "views": t[0],
                "cart_adds": t[1],
                "cart_removes": t[2],
                "purchases": t[3],
                "units": t[_UNITS],
                "revenue": cents(self.revenue),
            },
            "demand_per_min": demand,
            "minutes_to_stockout": self.minutes_to_stockout(demand),
            "events_applied": self.events_applied,
            "last_event_ts": self.last_event_ts,
        }

    def window_rows(self, minutes: int) -> list[dict[str, Any]]:
        """Windows within the N minutes ending with the newest behaviour window, oldest first."""
        if self.newest_window is None or minutes <= 0:
            return []
        lo = self.newest_window - (minutes - 1) * WINDOW_MS
        rows = []
        for start in sorted(s for s in self.windows if s >= lo):
            w = self.windows[start]
            row: dict[str, Any] = {"window_start": start}
            row.update(zip(COUNTER_NAMES[:-1], w[1:-1], strict=True))
            row["revenue"] = cents(Decimal(w[-1]))
            rows.append(row)
        return rows

    def window_counter(self, start: int, counter: int) -> float:
        """Counter ``counter`` (an index into COUNTER_NAMES) of one window; 0 if absent."""
        w = self.windows.get(start)
        if w is None:
            return 0.0
        value = counter_value(w, counter)
        return cents(value) if isinstance(value, Decimal) else float(value)

    def sum_recent(self, counter: int, since_window: int) -> float:
        """A counter summed over the kept windows starting at or after ``since_window``."""
        total: int | Decimal = 0
        for start, w in self.windows.items():
            if start >= since_window:
                total += counter_value(w, counter)
        return cents(total) if isinstance(total, Decimal) else float(total)

    # -- storage -----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "p": self.product_id,
                "oh": self.on_hand,
                "st": self.stock_state,
                "t": self.totals,
                "r": str(self.revenue),
                "w": list(self.windows.values()),
                "nw": self.newest_window,
                "n": self.events_applied,
                "l": self.last_event_ts,
                "la": self.low_stock_armed,
                "sp": sorted(self.spiked),
                "o": self.offsets,
                "d": self.dedup_buckets,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> ProductState:
        d = orjson.loads(raw)
        s = cls(d["p"])
        s.on_hand = d["oh"]
        s.stock_state = d["st"]
        s.totals = d["t"]
        s.revenue = Decimal(d["r"])
        s.windows = {w[0]: w for w in d["w"]}
        s.newest_window = d["nw"]
        s.events_applied = d["n"]
        s.last_event_ts = d["l"]
        s.low_stock_armed = d["la"]
        s.spiked = set(d["sp"])
        s.offsets = d["o"]
        s.dedup_buckets = d["d"]
        return s
