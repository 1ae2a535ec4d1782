"""Event-time tumbling windows of one product and the sums the rules read (SPEC section 2).

A window is a list ``[start, views, cart_adds, cart_removes, purchases, units,
revenue]`` where ``start = ts - ts % 60000`` and revenue is the exact decimal as
a string. That is also its stored form, so loading and storing a product (once
per batch) costs no conversion; only a purchase parses and re-formats revenue.
Sums of windows (totals, ``recent``) use the same layout, position 0 unused and
revenue a ``Decimal``.

:class:`Windows` keeps two running sums, so no rule re-sums windows per event:

- ``recent``: every counter over the 15 windows ending with the newest one
  (``demand_per_min`` and the ``recent`` block);
- ``previous``: cart_adds + units over the 15 windows before the newest one
  (the mean a ``demand_spike`` is measured against).

An event adds to each sum whose span holds its window. When the newest window
moves on by k windows, the at most min(k, 15) windows leaving a span are
subtracted (a jump of 15 or more empties it), and windows past retention are
dropped by visiting at most min(k, kept) starts.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from decimal import Decimal
from typing import Any, Final

from hunt.domain.money import ZERO, add, cents, subtract

__all__ = [
    "CART_ADDS",
    "CART_REMOVES",
    "COUNTER_NAMES",
    "DEMAND_WINDOWS",
    "KIND_SLOT",
    "PURCHASES",
    "RETAIN_MS",
    "REVENUE",
    "START",
    "UNITS",
    "VIEWS",
    "WINDOW_MS",
    "Window",
    "Windows",
    "counter_value",
    "counters",
    "new_sums",
    "new_window",
    "window_start",
]

WINDOW_MS: Final = 60_000  # SPEC: 60 s tumbling windows aligned to the epoch.
RETAIN_MS: Final = 3_600_000  # SPEC: keep the 60 minutes before the newest behaviour window.
DEMAND_WINDOWS: Final = 15  # SPEC: demand_per_min and the spike mean look at 15 windows.
COUNTER_NAMES: Final = ("views", "cart_adds", "cart_removes", "purchases", "units", "revenue")

Window = list[Any]
# Positions in a window (and in a sums list): counter i of COUNTER_NAMES is at i + 1.
START, VIEWS, CART_ADDS, CART_REMOVES, PURCHASES, UNITS, REVENUE = range(7)
KIND_SLOT: Final = {
    "view": VIEWS,
    "cart_add": CART_ADDS,
    "cart_remove": CART_REMOVES,
    "purchase": PURCHASES,
}
_COUNTS: Final = range(VIEWS, REVENUE)  # the integer positions
_SPAN: Final = (DEMAND_WINDOWS - 1) * WINDOW_MS  # newest - _SPAN starts the recent span
_PREVIOUS_SPAN: Final = DEMAND_WINDOWS * WINDOW_MS  # w - _PREVIOUS_SPAN starts w's previous 15


def window_start(ts: int) -> int:
    return ts - ts % WINDOW_MS


def new_window(start: int) -> Window:
    return [start, 0, 0, 0, 0, 0, "0"]


def new_sums() -> list[Any]:
    return [0, 0, 0, 0, 0, 0, ZERO]


def counter_value(w: Window, counter: int) -> int | Decimal:
    """Counter ``counter`` (an index into COUNTER_NAMES) of window ``w``."""
    value = w[counter + 1]
    return Decimal(value) if counter + 1 == REVENUE else int(value)


def counters(w: list[Any]) -> dict[str, Any]:
    """The six counters of a window or a sums list, revenue rounded to cents."""
    return {
        "views": w[VIEWS],
        "cart_adds": w[CART_ADDS],
        "cart_removes": w[CART_REMOVES],
        "purchases": w[PURCHASES],
        "units": w[UNITS],
        "revenue": cents(Decimal(w[REVENUE])),
    }


def _demand(w: Window | None) -> int:
    """What a demand spike counts in a window: cart_adds + units (0 if absent)."""
    return 0 if w is None else w[CART_ADDS] + w[UNITS]


class Windows(Mapping[int, Window]):
    """The kept windows of one product by start (read as a mapping), its first and
    newest window, and the running sums."""

    __slots__ = ("by_start", "expired", "first", "newest", "previous", "recent", "spiked")

    def __init__(self) -> None:
        self.by_start: dict[int, Window] = {}
        self.newest: int | None = None  # window of the newest behaviour event
        self.first: int | None = None  # earliest window of any behaviour event applied
        self.recent: list[Any] = new_sums()
        self.previous = 0
        self.spiked: set[int] = set()  # kept windows that fired demand_spike
        self.expired = 0  # windows dropped since last asked; not stored.

    # -- the mapping, read-only: dict speed, since views iterate it -------------------

    def __getitem__(self, start: int) -> Window:
        return self.by_start[start]

    def __iter__(self) -> Iterator[int]:
        return iter(self.by_start)

    def __len__(self) -> int:
        return len(self.by_start)

    def __contains__(self, start: object) -> bool:
        return start in self.by_start

    def get(self, start: int, default: Any = None) -> Any:
        return self.by_start.get(start, default)

    def keys(self) -> KeysView[int]:
        return self.by_start.keys()

    def items(self) -> ItemsView[int, Window]:
        return self.by_start.items()

    def values(self) -> ValuesView[Window]:
        return self.by_start.values()

    # -- counting ----------------------------------------------------------------------

    def count(self, start: int, slot: int, units: int, amount: Decimal | None) -> Window | None:
        """Count one behaviour event (``slot`` from KIND_SLOT; units and amount if a
        purchase) in window ``start``; return the updated window, or None if it is
        older than every kept window (the event then counts in totals only)."""
        newest, first = self.newest, self.first
        if newest is None or first is None:
            self.newest = self.first = newest = start
        elif start > newest:
            self._advance(newest, start)
            newest = start
        elif start < first:
            self.first = start
        if start < newest - RETAIN_MS:
            return None
        w = self.by_start.get(start)
        if w is None:
            w = self.by_start[start] = new_window(start)
        w[slot] += 1
        demand = 1 if slot == CART_ADDS else 0
        if amount is not None:
            w[UNITS] += units
            w[REVENUE] = str(add(Decimal(w[REVENUE]), amount))
            demand = units
        if start >= newest - _SPAN:
            recent = self.recent
            recent[slot] += 1
            if amount is not None:
                recent[UNITS] += units
                recent[REVENUE] = add(recent[REVENUE], amount)
        if newest - _PREVIOUS_SPAN <= start < newest:
            self.previous += demand
        return w

    def _advance(self, old: int, start: int) -> None:
        """Move the newest window from ``old`` to ``start``: slide both sums, drop
        windows past retention."""
        by = self.by_start
        k = (start - old) // WINDOW_MS
        if k >= DEMAND_WINDOWS:
            self.recent = new_sums()
        else:
            recent = self.recent
            for s in range(old - _SPAN, old - _SPAN + k * WINDOW_MS, WINDOW_MS):
                w = by.get(s)
                if w is not None:
                    for i in _COUNTS:
                        recent[i] -= w[i]
                    recent[REVENUE] = subtract(recent[REVENUE], Decimal(w[REVENUE]))
        if k > DEMAND_WINDOWS:
            self.previous = 0
        else:
            previous = self.previous + _demand(by.get(old))  # the old newest joins the span
            for s in range(old - _PREVIOUS_SPAN, old - _PREVIOUS_SPAN + k * WINDOW_MS, WINDOW_MS):
                previous -= _demand(by.get(s))
            self.previous = previous
        self.newest = start
        self._expire(old - RETAIN_MS, start - RETAIN_MS, k)

    def _expire(self, kept_from: int, keep_from: int, k: int) -> None:
        """Drop windows in [kept_from, keep_from): every kept window starts >= kept_from."""
        by = self.by_start
        if k < len(by):
            stale = [s for s in range(kept_from, keep_from, WINDOW_MS) if s in by]
        else:
            stale = [s for s in by if s < keep_from]
        for s in stale:
            del by[s]
        self.expired += len(stale)
        if stale and self.spiked:
            self.spiked = {s for s in self.spiked if s >= keep_from}

    # -- what the rules read -----------------------------------------------------------

    @property
    def minutes(self) -> int:
        """How many of the 15 recent windows start at or after the first window (1..15)."""
        if self.newest is None or self.first is None:
            return 0
        return min(DEMAND_WINDOWS, (self.newest - self.first) // WINDOW_MS + 1)

    @property
    def demand_per_min(self) -> float:
        minutes = self.minutes
        return int(self.recent[UNITS]) / minutes if minutes else 0.0

    def previous_of(self, start: int) -> int:
        """cart_adds + units over the 15 windows before kept window ``start``.

        Derived from the running sum of the newest window by the 2j windows that
        differ when ``start`` is j windows older, or summed directly past j = 7.
        """
        newest = self.newest
        if newest is None:
            return 0
        j = (newest - start) // WINDOW_MS
        by = self.by_start
        if 2 * j < DEMAND_WINDOWS:
            total = self.previous
            for s in range(start, newest, WINDOW_MS):
                total -= _demand(by.get(s))
                total += _demand(by.get(s - _PREVIOUS_SPAN))
            return total
        return sum(_demand(by.get(s)) for s in range(start - _PREVIOUS_SPAN, start, WINDOW_MS))

    def recent_block(self) -> dict[str, Any] | None:
        """SPEC ``recent``: the 15 recent windows summed, and the funnel; None before any."""
        if self.newest is None:
            return None
        r = self.recent
        block: dict[str, Any] = {"minutes": self.minutes, **counters(r)}
        block["view_to_cart"] = r[CART_ADDS] / r[VIEWS] if r[VIEWS] else None
        block["cart_to_purchase"] = r[PURCHASES] / r[CART_ADDS] if r[CART_ADDS] else None
        return block

    # -- views -------------------------------------------------------------------------

    def rows(self, minutes: int) -> list[dict[str, Any]]:
        """Windows within the N minutes ending with the newest window, oldest first."""
        if self.newest is None or minutes <= 0:
            return []
        lo = self.newest - (minutes - 1) * WINDOW_MS
        by = self.by_start
        return [{"window_start": s, **counters(by[s])} for s in sorted(s for s in by if s >= lo)]

    def counter(self, start: int, counter: int) -> float:
        """Counter ``counter`` (an index into COUNTER_NAMES) of one window; 0 if absent."""
        w = self.by_start.get(start)
        if w is None:
            return 0.0
        value = counter_value(w, counter)
        return cents(value) if isinstance(value, Decimal) else float(value)

    def sum_since(self, counter: int, since_window: int) -> float:
        """A counter summed over the kept windows starting at or after ``since_window``."""
        if counter + 1 == REVENUE:
            total = ZERO
            for start, w in self.by_start.items():
                if start >= since_window:
                    total = add(total, Decimal(w[REVENUE]))
            return cents(total)
        pos = counter + 1
        return float(sum(w[pos] for start, w in self.by_start.items() if start >= since_window))

    # -- storage -----------------------------------------------------------------------

    def stored(self) -> dict[str, Any]:
        """This object's fields of the product's stored record."""
        r = self.recent
        return {
            "w": list(self.by_start.values()),
            "nw": self.newest,
            "fw": self.first,
            "rs": [*r[VIEWS:REVENUE], str(r[REVENUE])],
            "ps": self.previous,
            "sp": sorted(self.spiked),
        }

    @classmethod
    def restore(cls, d: dict[str, Any]) -> Windows:
        """Rebuild from the fields :meth:`stored` wrote.

        A record stored before ``fw``, ``rs`` and ``ps`` existed loads too: its
        sums are recomputed from the windows, and the oldest kept window stands
        for the first (exact unless the product is older than retention, where
        15 recent minutes exist either way).
        """
        s = cls()
        s.by_start = {w[START]: w for w in d["w"]}
        newest = s.newest = d["nw"]
        s.spiked = set(d["sp"])
        if newest is None:
            return s
        first = d.get("fw")
        s.first = first if first is not None else min(s.by_start, default=newest)
        sums = d.get("rs")
        if sums is not None:
            s.recent = [0, *sums[:-1], Decimal(sums[-1])]
            s.previous = d["ps"]
            return s
        recent = new_sums()
        for start in range(newest - _SPAN, newest + WINDOW_MS, WINDOW_MS):
            w = s.by_start.get(start)
            if w is not None:
                for i in _COUNTS:
                    recent[i] += w[i]
                recent[REVENUE] = add(recent[REVENUE], Decimal(w[REVENUE]))
        s.recent = recent
        s.previous = sum(
            _demand(s.by_start.get(start))
            for start in range(newest - _PREVIOUS_SPAN, newest, WINDOW_MS)
        )
        return s
