"""An independent reference model of SPEC sections 1-3, for checking the engine.

It is written from the contract alone and imports nothing from ``hunt`` on
purpose: when the engine and this model disagree, one of two separate readings
of the spec is wrong, which a shared helper would hide.

Feed it the input records of one serial order the engine could have seen
(per product, each topic in its partition order) and read back per-product
``hunt.product-state`` dicts, the alerts, and the applied / duplicate /
rejected counts.  Everything is exact: integers stay integers, money is a
``Fraction`` (a price is the decimal its JSON text spells) until it is rounded
once on output, the spike and re-arm rules compare fractions, and applied ids
are never forgotten (the spec allows forgetting them only after horizon +
grace, which a trace with lateness below the grace never observes).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, TypeGuard

__all__ = ["Event", "Oracle", "OracleResult", "Rejected", "parse", "run"]

TopicKind = Literal["behavior", "inventory"]
Outcome = Literal["applied", "duplicate", "rejected"]

WINDOW_MS = 60_000  # SPEC 2: tumbling one-minute windows aligned to the epoch
KEEP_MS = 3_600_000  # SPEC 2: windows kept for the 60 minutes before the newest one
DEMAND_WINDOWS = 15  # SPEC 2: demand_per_min averages the 15 newest windows
HORIZON_MS = 600_000  # SPEC 2: default dedup horizon (10 minutes)
LOW_STOCK_MINUTES = 60  # SPEC 3: default low_stock threshold
SPIKE_FLOOR = 20  # SPEC 3: a spike needs at least this many cart_adds + units
SPIKE_FACTOR = 3  # SPEC 3: ... and this multiple of the previous 15 windows' mean
SPIKE_HISTORY = 15  # SPEC 3: ... in a window at least this many after the first one
LOW_STOCK_REARM = Fraction(5, 4)  # SPEC 3: low_stock re-arms at 1.25 x its threshold
MAX_WAREHOUSES = 1000  # SPEC 1: one more warehouse than this is bad input
ID_MAX_CHARS = 128  # SPEC 1: ids, user_id, session_id and warehouse: at most 128 characters
MAX_TS = 2**53 - 1  # SPEC 1: ts is 0..2^53-1
MAX_BEHAVIOUR_QTY = 1_000_000  # SPEC 1: behaviour qty is 1..1,000,000
MAX_PRICE = 1_000_000_000  # SPEC 1: price is a finite number 0..1,000,000,000
MAX_STOCK_QTY = 1_000_000_000  # SPEC 1: inventory |qty| is at most 1,000,000,000
MAX_RECORD_BYTES = 65_536  # SPEC 1: default HUNT_MAX_RECORD_BYTES
MAX_FUTURE_MS = 3_600_000  # SPEC 1: default HUNT_MAX_FUTURE_S, in ms
MAX_NESTING = 1024  # not in SPEC: hunt's JSON decoder (orjson) refuses deeper nesting

_BEHAVIOUR_COUNTER = {
    "view": "views",
    "cart_add": "cart_adds",
    "cart_remove": "cart_removes",
    "purchase": "purchases",
}
_INVENTORY_KINDS = ("restock", "sale", "adjust", "count")


class Rejected(ValueError):
    """The record breaks SPEC section 1; it belongs in ``hunt.dlq`` with ``code``."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code = code


@dataclass(frozen=True)
class Event:
    """One valid input event, reduced to what the rules use."""

    topic: TopicKind
    event_id: str
    ts: int
    product_id: str
    kind: str
    qty: int
    price: Decimal | None = None
    warehouse: str | None = None


def _is_int(value: object) -> TypeGuard[int]:
    return type(value) is int  # bool is a subclass of int but not an integer here


def _nesting(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (brackets inside strings skipped)."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return 0  # cannot be deeper; skips the scan for every ordinary record
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise Rejected("invalid_json", f"{name} is not JSON")


@contextmanager
def _unbounded_python() -> Iterator[None]:
    """Room to decode MAX_NESTING levels and integers of any length exactly."""
    recursion, digits = sys.getrecursionlimit(), sys.get_int_max_str_digits()
    sys.setrecursionlimit(recursion + 4 * MAX_NESTING)
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.setrecursionlimit(recursion)
        sys.set_int_max_str_digits(digits)


def _utf8_strings(value: Any) -> bool:
    """False if a string (or key) holds a lone surrogate, which no UTF-8 text can."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list):
        return all(_utf8_strings(v) for v in value)
    if isinstance(value, dict):
        return all(_utf8_strings(k) and _utf8_strings(v) for k, v in value.items())
    return True


def _decode(value: bytes | None, max_record_bytes: int) -> dict[str, Any]:
    if value is None:
        raise Rejected("invalid_json", "a tombstone")
    if len(value) > max_record_bytes:
        raise Rejected("too_large", f"{len(value)} bytes")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("invalid_json", str(exc)) from None
    if _nesting(text) > MAX_NESTING:
        raise Rejected("invalid_json", f"nested deeper than {MAX_NESTING}")
    try:
        with _unbounded_python():
            obj = json.loads(text, parse_constant=_no_constant)
            strings_ok = _utf8_strings(obj)
    except ValueError as exc:  # Rejected from _no_constant is a ValueError too
        raise Rejected("invalid_json", str(exc)) from None
    if not strings_ok:
        raise Rejected("invalid_json", "a lone surrogate")
    if not isinstance(obj, dict):
        raise Rejected("not_an_object", type(obj).__name__)
    return {k: v for k, v in obj.items() if v is not None}  # null counts as absent


def _require(obj: dict[str, Any], name: str) -> Any:
    if name not in obj:
        raise Rejected("missing_field", name)
    return obj[name]


def _string(value: object, name: str, low: int) -> str:
    if not isinstance(value, str):
        raise Rejected("wrong_type", f"{name} is not a string")
    if not low <= len(value) <= ID_MAX_CHARS:
        raise Rejected("out_of_range", f"{name} has {len(value)} characters")
    return value


def _integer(value: object, name: str, low: int, high: int) -> int:
    if not _is_int(value):
        raise Rejected("wrong_type", f"{name} is not a JSON integer")
    if not low <= value <= high:
        raise Rejected("out_of_range", f"{name} is not in {low}..{high}")
    return value


def parse(
    topic: TopicKind,
    value: bytes | None,
    record_ts: int | None = None,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_future_ms: int = MAX_FUTURE_MS,
) -> Event:
    """Validate one record per SPEC section 1, or raise :class:`Rejected` with its code.

    ``record_ts`` is the record's Kafka timestamp (None or negative: not set). Of
    several faults the first decides the code, in the order hunt documents
    (``hunt/domain/events.py``): size, JSON, object, event_id, product_id, ts,
    kind, then the topic's fields; per field presence, type, range.
    """
    obj = _decode(value, max_record_bytes)
    event_id = _string(_require(obj, "event_id"), "event_id", 1)
    product_id = _string(_require(obj, "product_id"), "product_id", 1)
    ts = _integer(_require(obj, "ts"), "ts", 0, MAX_TS)
    if record_ts is not None and record_ts >= 0 and ts > record_ts + max_future_ms:
        raise Rejected("out_of_range", "ts too far ahead of the record timestamp")
    kind = _require(obj, "kind")
    if not isinstance(kind, str):
        raise Rejected("wrong_type", "kind is not a string")
    if topic == "behavior":
        return _behaviour(obj, event_id, ts, product_id, kind)
    return _inventory(obj, event_id, ts, product_id, kind)


def _behaviour(obj: dict[str, Any], event_id: str, ts: int, pid: str, kind: str) -> Event:
    if kind not in _BEHAVIOUR_COUNTER:
        raise Rejected("unknown_kind", kind)
    for name in ("user_id", "session_id"):
        if name in obj:
            _string(obj[name], name, 0)
    qty = _integer(obj.get("qty", 1), "qty", 1, MAX_BEHAVIOUR_QTY)
    price: Decimal | None = None
    if "price" in obj:
        raw = obj["price"]
        if type(raw) not in (int, float):
            raise Rejected("wrong_type", "price is not a number")
        if (type(raw) is float and not math.isfinite(raw)) or not 0 <= raw <= MAX_PRICE:
            raise Rejected("out_of_range", "price is not a finite number in range")
        price = Decimal(repr(raw))
    elif kind == "purchase":
        raise Rejected("missing_field", "purchase without price")
    return Event("behavior", event_id, ts, pid, kind, qty, price=price)


def _inventory(obj: dict[str, Any], event_id: str, ts: int, pid: str, kind: str) -> Event:
    if kind not in _INVENTORY_KINDS:
        raise Rejected("unknown_kind", kind)
    warehouse = _string(_require(obj, "warehouse"), "warehouse", 1)
    low = {"restock": 1, "sale": 1, "adjust": -MAX_STOCK_QTY, "count": 0}[kind]
    qty = _integer(_require(obj, "qty"), "qty", low, MAX_STOCK_QTY)
    if kind == "adjust" and qty == 0:
        raise Rejected("out_of_range", "adjust by 0")
    return Event("inventory", event_id, ts, pid, kind, qty, warehouse=warehouse)


def _cents(amount: Fraction) -> float:
    """Half-up to cents (revenue is never negative), then the nearest float."""
    return float(Fraction(math.floor(amount * 100 + Fraction(1, 2)), 100))


@dataclass
class _Counters:
    views: int = 0
    cart_adds: int = 0
    cart_removes: int = 0
    purchases: int = 0
    units: int = 0
    revenue: Fraction = field(default_factory=Fraction)  # exact at any precision

    def add(self, ev: Event) -> None:
        counter = _BEHAVIOUR_COUNTER[ev.kind]
        setattr(self, counter, getattr(self, counter) + 1)
        if ev.kind == "purchase":
            assert ev.price is not None
            self.units += ev.qty
            self.revenue += ev.qty * Fraction(ev.price)

    def merge(self, other: _Counters) -> None:
        self.views += other.views
        self.cart_adds += other.cart_adds
        self.cart_removes += other.cart_removes
        self.purchases += other.purchases
        self.units += other.units
        self.revenue += other.revenue

    def as_dict(self) -> dict[str, Any]:
        return {
            "views": self.views,
            "cart_adds": self.cart_adds,
            "cart_removes": self.cart_removes,
            "purchases": self.purchases,
            "units": self.units,
            "revenue": _cents(self.revenue),
        }


@dataclass
class _Product:
    product_id: str
    on_hand: dict[str, int] = field(default_factory=dict)
    has_inventory: bool = False
    totals: _Counters = field(default_factory=_Counters)
    windows: dict[int, _Counters] = field(default_factory=dict)
    newest_window: int | None = None
    first_window: int | None = None  # earliest window of any behaviour event applied
    events_applied: int = 0
    last_event_ts: int | None = None
    low_stock_armed: bool = True
    spiked_windows: set[int] = field(default_factory=set)

    @property
    def available(self) -> int:
        return sum(self.on_hand.values())

    @property
    def stock_state(self) -> str:
        if not self.has_inventory:
            return "unknown"
        return "in_stock" if self.available > 0 else "out"

    def _recent_starts(self) -> list[int]:
        """The 15 windows ending with the newest behaviour window."""
        assert self.newest_window is not None
        return [self.newest_window - i * WINDOW_MS for i in range(DEMAND_WINDOWS)]

    @property
    def recent_minutes(self) -> int:
        """How many of the 15 recent windows start at or after the first window."""
        if self.first_window is None:
            return 0
        first = self.first_window
        return sum(1 for w in self._recent_starts() if w >= first)

    def _recent_sum(self) -> _Counters:
        total = _Counters()
        for w in self._recent_starts():
            if w in self.windows:
                total.merge(self.windows[w])
        return total

    @property
    def demand_per_min(self) -> float:
        if self.newest_window is None:
            return 0.0
        return self._recent_sum().units / self.recent_minutes

    def recent(self) -> dict[str, Any] | None:
        if self.newest_window is None:
            return None
        c = self._recent_sum()
        return {
            "minutes": self.recent_minutes,
            **c.as_dict(),
            "view_to_cart": c.cart_adds / c.views if c.views else None,
            "cart_to_purchase": c.purchases / c.cart_adds if c.cart_adds else None,
        }

    @property
    def minutes_to_stockout(self) -> float | None:
        available, demand = self.available, self.demand_per_min
        return available / demand if available > 0 and demand > 0 else None

    def state(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "available": self.available,
            "on_hand": dict(self.on_hand),
            "stock_state": self.stock_state,
            "totals": self.totals.as_dict(),
            "recent": self.recent(),
            "demand_per_min": self.demand_per_min,
            "minutes_to_stockout": self.minutes_to_stockout,
            "events_applied": self.events_applied,
            "last_event_ts": self.last_event_ts,
        }


@dataclass
class OracleResult:
    """What the engine must end up with after the whole input."""

    products: dict[str, dict[str, Any]]
    alerts: dict[str, set[str]]  # kind -> alert ids
    alert_records: list[dict[str, Any]]  # in firing order, as on hunt.alerts
    windows: dict[str, list[dict[str, Any]]]  # product -> kept windows, oldest first
    outcomes: list[Outcome]  # one per input record, in input order
    applied: int
    duplicate: int
    rejected: int
    codes: list[str | None] = field(default_factory=list)  # per input record: DLQ code or None


class Oracle:
    """Applies records one at a time; :meth:`result` reads the outcome."""

    def __init__(
        self,
        *,
        horizon_ms: int = HORIZON_MS,
        low_stock_minutes: float = LOW_STOCK_MINUTES,
        spike_floor: int = SPIKE_FLOOR,
        spike_factor: float | int = SPIKE_FACTOR,
        low_stock_rearm: float | Fraction = LOW_STOCK_REARM,
        spike_history: int = SPIKE_HISTORY,
    ) -> None:
        self.horizon_ms = horizon_ms
        self.low_stock_minutes = low_stock_minutes
        self.spike_floor = spike_floor
        self.spike_factor = Fraction(spike_factor)
        self.low_stock_rearm = Fraction(low_stock_rearm)
        self.spike_history = spike_history
        self.products: dict[str, _Product] = {}
        self.applied_ts: dict[tuple[str, str, str], list[int]] = {}
        self.alert_records: list[dict[str, Any]] = []
        self.outcomes: list[Outcome] = []
        self.codes: list[str | None] = []

    def feed(self, topic: TopicKind, value: bytes | None, record_ts: int | None = None) -> Outcome:
        """Classify and, if valid and new, apply one record (``record_ts``: its Kafka timestamp)."""
        try:
            ev = parse(topic, value, record_ts)
        except Rejected as exc:
            return self._outcome("rejected", exc.code)
        key = (ev.topic, ev.product_id, ev.event_id)
        seen = self.applied_ts.setdefault(key, [])
        if any(abs(ev.ts - earlier) <= self.horizon_ms for earlier in seen):
            return self._outcome("duplicate")
        if self._too_many_warehouses(ev):
            return self._outcome("rejected", "too_many_warehouses")
        seen.append(ev.ts)
        self._apply(ev)
        return self._outcome("applied")

    def _outcome(self, outcome: Outcome, code: str | None = None) -> Outcome:
        self.outcomes.append(outcome)
        self.codes.append(code)
        return outcome

    def _apply(self, ev: Event) -> None:
        p = self.products.get(ev.product_id)
        if p is None:
            p = self.products[ev.product_id] = _Product(ev.product_id)
        before = p.stock_state
        p.events_applied += 1
        p.last_event_ts = ev.ts if p.last_event_ts is None else max(p.last_event_ts, ev.ts)
        window = self._apply_behaviour(p, ev) if ev.topic == "behavior" else None
        if ev.topic == "inventory":
            self._apply_inventory(p, ev)
        after = p.stock_state
        if after == "out" and before != "out":
            self._alert(p, "stockout", ev)
        if before == "out" and after == "in_stock":
            self._alert(p, "back_in_stock", ev)
        mts = p.minutes_to_stockout
        if after != "in_stock" or mts is None:
            p.low_stock_armed = True
        elif mts < self.low_stock_minutes:
            if p.low_stock_armed:
                p.low_stock_armed = False
                self._alert(p, "low_stock", ev, value=mts, threshold=float(self.low_stock_minutes))
        elif Fraction(mts) >= self.low_stock_rearm * Fraction(self.low_stock_minutes):
            p.low_stock_armed = True
        # A spike is judged at the events that add to a window's cart_adds + units.
        if window is not None and ev.kind in ("cart_add", "purchase"):
            spike = self._spike(p, window)
            if spike is not None:
                p.spiked_windows.add(window)
                demand, mean, threshold = spike
                self._alert(
                    p,
                    "demand_spike",
                    ev,
                    window_start=window,
                    value=demand,
                    baseline=float(mean),
                    threshold=float(threshold),
                )

    def _too_many_warehouses(self, ev: Event) -> bool:
        """SPEC 1: an inventory event that would add a 1,001st warehouse is bad input."""
        p = self.products.get(ev.product_id)
        return (
            ev.topic == "inventory"
            and p is not None
            and ev.warehouse not in p.on_hand
            and len(p.on_hand) >= MAX_WAREHOUSES
        )

    @staticmethod
    def _apply_inventory(p: _Product, ev: Event) -> None:
        assert ev.warehouse is not None
        p.has_inventory = True
        current = p.on_hand.get(ev.warehouse, 0)
        if ev.kind == "count":
            p.on_hand[ev.warehouse] = ev.qty
        elif ev.kind == "sale":
            p.on_hand[ev.warehouse] = current - ev.qty
        else:  # restock and adjust both add their (signed) qty
            p.on_hand[ev.warehouse] = current + ev.qty

    @staticmethod
    def _apply_behaviour(p: _Product, ev: Event) -> int | None:
        """Count the event; return its window start if that window is kept."""
        p.totals.add(ev)
        start = ev.ts - ev.ts % WINDOW_MS
        if p.first_window is None or start < p.first_window:
            p.first_window = start  # even for an event too late for any kept window
        if p.newest_window is None or start > p.newest_window:
            p.newest_window = start
            horizon = start - KEEP_MS
            p.windows = {w: c for w, c in p.windows.items() if w >= horizon}
        if start < p.newest_window - KEEP_MS:
            return None  # too late for any kept window: totals only
        p.windows.setdefault(start, _Counters()).add(ev)
        return start

    def _spike(self, p: _Product, window: int) -> tuple[int, Fraction, Fraction] | None:
        """(the window's cart_adds + units, the previous 15 windows' mean, the threshold)
        if ``window`` spikes now, else None."""
        assert p.first_window is not None
        if window in p.spiked_windows or window < p.first_window + self.spike_history * WINDOW_MS:
            return None
        cur = p.windows[window]
        demand = cur.cart_adds + cur.units
        previous = 0
        for i in range(1, DEMAND_WINDOWS + 1):
            c = p.windows.get(window - i * WINDOW_MS)  # empty or no longer kept: 0
            if c is not None:
                previous += c.cart_adds + c.units
        mean = Fraction(previous, DEMAND_WINDOWS)
        threshold = max(Fraction(self.spike_floor), self.spike_factor * mean)
        return (demand, mean, threshold) if demand >= threshold else None

    def _alert(
        self,
        p: _Product,
        kind: str,
        ev: Event,
        window_start: int | None = None,
        value: float | None = None,
        baseline: float | None = None,
        threshold: float | None = None,
    ) -> None:
        self.alert_records.append(
            {
                "alert_id": f"{p.product_id}:{kind}:{ev.event_id}",
                "kind": kind,
                "product_id": p.product_id,
                "ts": ev.ts,
                "cause_event_id": ev.event_id,
                "available": p.available,
                "demand_per_min": p.demand_per_min,
                "minutes_to_stockout": p.minutes_to_stockout,
                "window_start": window_start,
                "value": value,
                "baseline": baseline,
                "threshold": threshold,
            }
        )

    def result(self) -> OracleResult:
        alerts: dict[str, set[str]] = {
            k: set() for k in ("stockout", "back_in_stock", "low_stock", "demand_spike")
        }
        for record in self.alert_records:
            alerts[record["kind"]].add(record["alert_id"])
        windows = {
            pid: [{"window_start": w, **c.as_dict()} for w, c in sorted(p.windows.items())]
            for pid, p in self.products.items()
        }
        return OracleResult(
            products={pid: p.state() for pid, p in self.products.items()},
            alerts=alerts,
            alert_records=list(self.alert_records),
            windows=windows,
            outcomes=list(self.outcomes),
            applied=self.outcomes.count("applied"),
            duplicate=self.outcomes.count("duplicate"),
            rejected=self.outcomes.count("rejected"),
            codes=list(self.codes),
        )


def run(
    records: Iterable[tuple[TopicKind, bytes | None] | tuple[TopicKind, bytes | None, int | None]],
    **rules: Any,
) -> OracleResult:
    """Apply ``(topic_kind, value)`` or ``(topic_kind, value, record_ts)`` records in
    order; ``rules`` override the defaults."""
    oracle = Oracle(**rules)
    for record in records:
        oracle.feed(*record)
    return oracle.result()
