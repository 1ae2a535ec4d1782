"""One product's state and the rules that change it (SPEC sections 2 and 3).

:class:`ProductState` is plain Python: the streaming layer loads it from the
table, applies a batch of validated events to it in partition order, and
stores it back once. Applying an event returns the alerts it causes.

Every number a rule reads is kept up to date as events arrive (``available``,
totals, and the window sums in :class:`~hunt.domain.windows.Windows`), so an
event costs the same however many warehouses or windows the product holds.

An event that would break a limit raises before anything changes:
:class:`~hunt.domain.errors.TooManyWarehouses` for a 1,001st warehouse, and
``OverflowError`` for an integer leaving 64 bits (orjson cannot store it).
Any other failure may leave the state half-changed: the caller then rebuilds
it from its stored form.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import orjson

from hunt.domain.errors import TooManyWarehouses
from hunt.domain.events import Event
from hunt.domain.money import add, line_amount
from hunt.domain.windows import (
    CART_ADDS,
    DEMAND_WINDOWS,
    KIND_SLOT,
    PURCHASES,
    REVENUE,
    UNITS,
    WINDOW_MS,
    Window,
    Windows,
    counters,
    new_sums,
    window_start,
)

__all__ = ["MAX_WAREHOUSES", "Alert", "ProductState", "Rules"]

Alert = dict[str, Any]

MAX_WAREHOUSES: Final = 1000  # SPEC 1: a product holds at most 1,000 warehouses.
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1  # orjson stores integers of at most 64 bits.


@dataclass(frozen=True, slots=True)
class Rules:
    """Thresholds of the alert rules; defaults are the contract's."""

    low_stock_minutes: float = 60.0
    spike_floor: int = 20
    spike_factor: float = 3.0
    low_stock_rearm: float = 1.25  # low_stock re-arms at this multiple of its threshold
    spike_history_windows: int = 15  # a spike's window starts this many after the first


def _int64(value: int, what: str) -> int:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise OverflowError(f"{what} would be {value}, outside a signed 64-bit integer")
    return value


def _at_least(x: float, a: float, b: float) -> bool:
    """x >= a * b, exactly (no float product rounds the re-arm point)."""
    xn, xd = x.as_integer_ratio()
    an, ad = float(a).as_integer_ratio()
    bn, bd = float(b).as_integer_ratio()
    return xn * ad * bd >= an * bn * xd


class ProductState:
    """Everything hunt knows about one product, as stored in its table entry."""

    __slots__ = (
        "available",
        "dedup_buckets",
        "events_applied",
        "last_event_ts",
        "low_stock_armed",
        "offsets",
        "on_hand",
        "product_id",
        "stock_state",
        "totals",
        "windows",
    )

    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        self.on_hand: dict[str, int] = {}
        self.available = 0  # sum of on_hand, kept as it changes
        self.stock_state = "unknown"
        # Window layout (see windows.py), revenue a Decimal.
        self.totals: list[Any] = new_sums()
        self.windows = Windows()
        self.events_applied = 0
        self.last_event_ts: int | None = None
        self.low_stock_armed = True
        # Exactly-once bookkeeping, stored with the state so both travel in one record:
        # highest source offset applied per "<topic code><partition>", and the live
        # dedup buckets per topic code.
        self.offsets: dict[str, int] = {}
        self.dedup_buckets: dict[str, list[int]] = {}

    # -- derived numbers -------------------------------------------------------------

    @property
    def newest_window(self) -> int | None:
        return self.windows.newest

    @property
    def demand_per_min(self) -> float:
        """Units in the 15 windows ending with the newest behaviour window, per minute
        the product existed among them (SPEC section 2)."""
        return self.windows.demand_per_min

    def minutes_to_stockout(self, demand: float | None = None) -> float | None:
        demand = self.demand_per_min if demand is None else demand
        available = self.available
        if available > 0 and demand > 0:
            return available / demand
        return None

    # -- rules -------------------------------------------------------------------------

    def apply_behavior(self, ev: Event, rules: Rules) -> list[Alert]:
        """Count a validated behaviour event in totals and its window; return its alerts."""
        slot = KIND_SLOT[ev["kind"]]
        ts: int = ev["ts"]
        totals = self.totals.copy()  # kept only once every limit has held
        totals[slot] = _int64(totals[slot] + 1, "a total")
        units = 0
        amount = None
        if slot == PURCHASES:
            units = ev["qty"]
            totals[UNITS] = _int64(totals[UNITS] + units, "total units")
            amount = line_amount(units, ev["price"])
            totals[REVENUE] = add(totals[REVENUE], amount)
        _int64(self.events_applied + 1, "events_applied")
        w = self.windows.count(window_start(ts), slot, units, amount)
        self.totals = totals
        self._touch(ts)
        alerts: list[Alert] = []
        # A spike is judged at the events that add to a window's cart_adds + units.
        if w is not None and slot in (CART_ADDS, PURCHASES):
            alert = self._check_spike(w, ev, rules)
            if alert is not None:
                alerts.append(alert)
        self._check_low_stock(ev, rules, alerts)
        return alerts

    def apply_inventory(self, ev: Event, rules: Rules) -> list[Alert]:
        """Move stock of one warehouse; return the stock alerts the move causes."""
        kind = ev["kind"]
        warehouse: str = ev["warehouse"]
        qty: int = ev["qty"]
        current = self.on_hand.get(warehouse)
        if current is None:
            if len(self.on_hand) >= MAX_WAREHOUSES:
                raise TooManyWarehouses(
                    f"warehouse {warehouse!r} would be one more than the {MAX_WAREHOUSES} "
                    "a product may hold"
                )
            current = 0
        if kind == "count":
            new = qty
        elif kind == "sale":
            new = current - qty
        else:  # restock, adjust
            new = current + qty
        _int64(new, f"on_hand of warehouse {warehouse!r}")
        available = _int64(self.available - current + new, "available")
        _int64(self.events_applied + 1, "events_applied")
        self.on_hand[warehouse] = new
        self.available = available
        self._touch(ev["ts"])
        alerts: list[Alert] = []
        before = self.stock_state
        after = "in_stock" if available > 0 else "out"
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

    def take_expired_windows(self) -> int:
        """Windows dropped past retention since the last call (for a metric)."""
        n, self.windows.expired = self.windows.expired, 0
        return n

    def _check_spike(self, w: Window, ev: Event, rules: Rules) -> Alert | None:
        value = w[CART_ADDS] + w[UNITS]
        start: int = w[0]
        windows = self.windows
        first = windows.first
        if (
            value < rules.spike_floor
            or start in windows.spiked
            or first is None
            or start - first < rules.spike_history_windows * WINDOW_MS
        ):
            return None
        previous = windows.previous_of(start)
        # value >= factor * previous / 15, in integers so no rounding decides it.
        n, d = float(rules.spike_factor).as_integer_ratio()
        if value * DEMAND_WINDOWS * d < n * previous:
            return None
        windows.spiked.add(start)
        if rules.spike_floor * DEMAND_WINDOWS * d >= n * previous:
            threshold = float(rules.spike_floor)
        else:
            threshold = n * previous / (DEMAND_WINDOWS * d)
        return self._alert(
            "demand_spike",
            ev,
            window=start,
            value=value,
            baseline=previous / DEMAND_WINDOWS,
            threshold=threshold,
        )

    def _check_low_stock(self, ev: Event, rules: Rules, alerts: list[Alert]) -> None:
        if self.stock_state != "in_stock":
            self.low_stock_armed = True
            return
        minutes = self.minutes_to_stockout()
        threshold = rules.low_stock_minutes
        if minutes is None:
            self.low_stock_armed = True
        elif minutes < threshold:
            if self.low_stock_armed:
                self.low_stock_armed = False
                alerts.append(
                    self._alert("low_stock", ev, value=minutes, threshold=float(threshold))
                )
        elif not self.low_stock_armed and _at_least(minutes, threshold, rules.low_stock_rearm):
            self.low_stock_armed = True

    def _alert(
        self,
        kind: str,
        ev: Event,
        *,
        window: int | None = None,
        value: float | None = None,
        baseline: float | None = None,
        threshold: float | None = None,
    ) -> Alert:
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
            "value": value,
            "baseline": baseline,
            "threshold": threshold,
        }

    # -- views -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The public state, as in ``hunt.product-state`` and ``GET /products/{id}``."""
        demand = self.demand_per_min
        return {
            "product_id": self.product_id,
            "available": self.available,
            "on_hand": self.on_hand,
            "stock_state": self.stock_state,
            "totals": counters(self.totals),
            "recent": self.windows.recent_block(),
            "demand_per_min": demand,
            "minutes_to_stockout": self.minutes_to_stockout(demand),
            "events_applied": self.events_applied,
            "last_event_ts": self.last_event_ts,
        }

    def window_rows(self, minutes: int) -> list[dict[str, Any]]:
        """Windows within the N minutes ending with the newest behaviour window, oldest first."""
        return self.windows.rows(minutes)

    def window_counter(self, start: int, counter: int) -> float:
        """Counter ``counter`` (an index into COUNTER_NAMES) of one window; 0 if absent."""
        return self.windows.counter(start, counter)

    def sum_recent(self, counter: int, since_window: int) -> float:
        """A counter summed over the kept windows starting at or after ``since_window``."""
        return self.windows.sum_since(counter, since_window)

    # -- storage -----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        t = self.totals
        return orjson.dumps(
            {
                "p": self.product_id,
                "oh": self.on_hand,
                "st": self.stock_state,
                "t": t[1:REVENUE],
                "r": str(t[REVENUE]),
                **self.windows.stored(),
                "n": self.events_applied,
                "l": self.last_event_ts,
                "la": self.low_stock_armed,
                "o": self.offsets,
                "d": self.dedup_buckets,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> ProductState:
        """Load a stored state (one stored before the first window and the window
        sums were kept loads too: see :meth:`Windows.restore`)."""
        d = orjson.loads(raw)
        s = cls(d["p"])
        s.on_hand = d["oh"]
        s.available = sum(s.on_hand.values())
        s.stock_state = d["st"]
        s.totals = [0, *d["t"], Decimal(d["r"])]
        s.windows = Windows.restore(d)
        s.events_applied = d["n"]
        s.last_event_ts = d["l"]
        s.low_stock_armed = d["la"]
        s.offsets = d["o"]
        s.dedup_buckets = d["d"]
        return s
