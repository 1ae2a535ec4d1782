"""What the /top and /stock views read of one product, kept apart from its state.

A :class:`ProductSummary` holds a product's kept windows in two flat arrays
(window starts ascending; the five integer counters row by row) and their
revenues as the exact decimal strings, beside the few numbers the views show
(available, stock state, demand, minutes to stockout, last event time). The
engine's :class:`~hunt.domain.product.ProductState` objects are changed in
place by later batches and are evicted from its cache, so the view index keeps
this summary, about a third of a parsed state's size, and updates it when the
engine writes the product.

An update visits only the windows the batch's events fell in, and in each
only the counters of the event's kind, and drops the windows that expired
since the last write (always the oldest ones): a window changes only when an
event is counted in it. Both cost O(1) per event.

A counter's total over the kept windows, or over the 15 ending with the
newest (:meth:`key`), bounds its sum over any of them, since no counter is
negative (SPEC 1: qty >= 1, price >= 0): the view index ranks by these first.

Every number is computed as the state computes it (:meth:`Windows.counter`,
:meth:`Windows.sum_since`), so an answer read here equals the state's.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal
from itertools import chain
from operator import itemgetter
from typing import Final

from hunt.domain.events import Event
from hunt.domain.money import ZERO, add, add_all, cents, subtract
from hunt.domain.product import ProductState
from hunt.domain.windows import (
    DEMAND_WINDOWS,
    KIND_SLOT,
    PURCHASES,
    REVENUE,
    UNITS,
    VIEWS,
    WINDOW_MS,
)

__all__ = [
    "COLUMNS",
    "PRODUCT_BYTES",
    "REVENUE_COUNTER",
    "WINDOW_BYTES",
    "ProductSummary",
]

COLUMNS: Final = UNITS - VIEWS + 1  # integer counters per row: views .. units
REVENUE_COUNTER: Final = REVENUE - 1  # revenue's index into COUNTER_NAMES
_ROW: Final = itemgetter(slice(VIEWS, UNITS + 1))  # a window's integer counters
_ZERO_TEXT: Final = "0"  # one shared string for every window without revenue
# Bytes held per product besides its windows (the object, its arrays' and list's
# headers, the index's dict and bucket-set entries, the id): tracemalloc over 10k
# products (`python -m tests.unit.domain.test_view_index`), rounded up.
PRODUCT_BYTES: Final = 1100
# Bytes per kept window: a start and five counters of 8 bytes, a revenue reference,
# and the arrays' over-allocation (up to 1/8).
WINDOW_BYTES: Final = 64
_RECENT_SPAN: Final = (DEMAND_WINDOWS - 1) * WINDOW_MS  # newest - this starts the 15
_NO_WINDOW: Final = -(2**63)  # below every window start (event times are int64)
_STR_BYTES: Final = 49  # a str object's header (sys.getsizeof("") for ASCII)


def _text_bytes(text: str) -> int:
    return 0 if text is _ZERO_TEXT else _STR_BYTES + len(text)


def _ceil(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


class ProductSummary:
    """One product's kept windows and shown numbers (see module docstring)."""

    __slots__ = (
        "available",
        "counts",
        "demand_per_min",
        "keys",
        "last_event_ts",
        "nbytes",
        "newest_window",
        "product_id",
        "revenue",
        "revenue_total",
        "starts",
        "stock_state",
        "stockout",
    )

    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        self.available = 0
        self.stock_state = "unknown"
        self.demand_per_min = 0.0
        self.stockout: float | None = None
        self.last_event_ts: int | None = None
        self.newest_window: int | None = None
        self.starts = array("q")
        self.counts = array("q")  # COLUMNS per window, in the order of ``starts``
        self.revenue: list[str] = []
        self.revenue_total = ZERO  # over every kept window, exact
        # The bounds the view index last filed this product under (see ``key``).
        self.keys = [0] * (2 * (COLUMNS + 1))
        self.nbytes = PRODUCT_BYTES

    @classmethod
    def of(cls, state: ProductState) -> ProductSummary:
        """A summary of every kept window of ``state``."""
        s = cls(state.product_id)
        by = state.windows.by_start
        starts = sorted(by)
        rows = [by[start] for start in starts]
        s.starts = array("q", starts)
        s.counts = array("q", chain.from_iterable(map(_ROW, rows)))
        s.revenue = [_ZERO_TEXT if w[REVENUE] == "0" else w[REVENUE] for w in rows]
        texts = [text for text in s.revenue if text is not _ZERO_TEXT]
        s.revenue_total = add_all(map(Decimal, texts))
        s.nbytes += sum(map(_text_bytes, texts))
        s.nbytes += len(rows) * WINDOW_BYTES
        s.update(state, ())
        return s

    # -- keeping up with the engine ------------------------------------------------------

    def update(self, state: ProductState, events: Iterable[Event]) -> None:
        """Follow ``state`` after a write that applied ``events`` to it."""
        by = state.windows.by_start
        starts, counts, revenue = self.starts, self.counts, self.revenue
        drop = 0
        while drop < len(starts) and starts[drop] not in by:
            drop += 1
        if drop:  # expired windows: the oldest ones
            for text in revenue[:drop]:
                if text is not _ZERO_TEXT:
                    self.revenue_total = subtract(self.revenue_total, Decimal(text))
                    self.nbytes -= _text_bytes(text)
            del starts[:drop], counts[: drop * COLUMNS], revenue[:drop]
            self.nbytes -= drop * WINDOW_BYTES
        for ev in events:
            slot = KIND_SLOT.get(ev["kind"])
            if slot is None:
                continue  # inventory: no window
            ts: int = ev["ts"]
            start = ts - ts % WINDOW_MS
            w = by.get(start)
            if w is None:
                continue  # older than every kept window: counted in totals only
            i = bisect_left(starts, start)
            if i == len(starts) or starts[i] != start:
                starts.insert(i, start)
                counts[i * COLUMNS : i * COLUMNS] = array("q", w[VIEWS : UNITS + 1])
                revenue.insert(i, _ZERO_TEXT)
                self.nbytes += WINDOW_BYTES
            else:
                # The event changed its kind's counter (a purchase also units, revenue).
                counts[i * COLUMNS + slot - VIEWS] = w[slot]
                if slot != PURCHASES:
                    continue
                counts[i * COLUMNS + UNITS - VIEWS] = w[UNITS]
            if w[REVENUE] != revenue[i]:
                self._set_revenue(i, w[REVENUE])
        if len(starts) != len(by):  # not reachable by the rules; costs nothing to check
            self._rebuild(state)
        self.available = state.available
        self.stock_state = state.stock_state
        demand = self.demand_per_min = state.demand_per_min
        self.stockout = state.minutes_to_stockout(demand)
        self.last_event_ts = state.last_event_ts
        self.newest_window = state.newest_window

    def _set_revenue(self, i: int, text: str) -> None:
        old = self.revenue[i]
        if text == "0":
            if old is _ZERO_TEXT:
                return
            text = _ZERO_TEXT
        total = self.revenue_total
        if old is not _ZERO_TEXT:
            total = subtract(total, Decimal(old))
        if text is not _ZERO_TEXT:
            total = add(total, Decimal(text))
        self.revenue_total = total
        self.nbytes += _text_bytes(text) - _text_bytes(old)
        self.revenue[i] = text

    def _rebuild(self, state: ProductState) -> None:
        fresh = ProductSummary.of(state)
        for name in ("starts", "counts", "revenue", "revenue_total", "nbytes"):
            setattr(self, name, getattr(fresh, name))

    def key(self, counter: int, recent: bool) -> int:
        """An integer bound of ``counter``'s sum over any kept windows (``recent``:
        over any of the 15 ending with the newest): their total, revenue's rounded
        up to a whole unit. Counters are never negative."""
        since = (
            _NO_WINDOW
            if not recent or self.newest_window is None
            else (self.newest_window - _RECENT_SPAN)
        )
        if counter != REVENUE_COUNTER:
            return self.count_since(counter, since)
        return _ceil(self._revenue_from(bisect_left(self.starts, since)))

    # -- what the views read -------------------------------------------------------------

    def sum_since(self, counter: int, since: int) -> float:
        """Counter ``counter`` summed over the windows starting at or after ``since``
        (as :meth:`ProductState.sum_recent`)."""
        i = bisect_left(self.starts, since)
        if counter == REVENUE_COUNTER:
            return cents(self._revenue_from(i))
        return float(sum(self.counts[i * COLUMNS + counter :: COLUMNS]))

    def _revenue_from(self, i: int) -> Decimal:
        """Exact revenue of the windows from the i-th on, summed the shorter way round."""
        revenue = self.revenue
        if 2 * i > len(revenue):
            return add_all(Decimal(t) for t in revenue[i:] if t is not _ZERO_TEXT)
        before = add_all(Decimal(t) for t in revenue[:i] if t is not _ZERO_TEXT)
        return subtract(self.revenue_total, before)

    def count_since(self, counter: int, since: int) -> int:
        """Integer counter ``counter`` summed over the windows starting at or after ``since``."""
        i = bisect_left(self.starts, since)
        return sum(self.counts[i * COLUMNS + counter :: COLUMNS])

    def window_counter(self, start: int, counter: int) -> float:
        """Counter ``counter`` of window ``start``; 0 if absent (as ProductState's)."""
        starts = self.starts
        i = bisect_left(starts, start)
        if i == len(starts) or starts[i] != start:
            return 0.0
        if counter == REVENUE_COUNTER:
            return cents(Decimal(self.revenue[i]))
        return float(self.counts[i * COLUMNS + counter])

    def minutes_to_stockout(self, demand: float | None = None) -> float | None:
        """As of the last write; ``demand`` is the product's own (the views pass it)."""
        return self.stockout

    def copy(self) -> ProductSummary:
        """A copy later writes do not change, for an answer built across yields."""
        s = ProductSummary(self.product_id)
        for name in ProductSummary.__slots__:
            setattr(s, name, getattr(self, name))
        s.starts = array("q", self.starts)
        s.counts = array("q", self.counts)
        s.revenue = [*self.revenue]
        s.keys = [*self.keys]
        return s
