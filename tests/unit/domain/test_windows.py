"""The running window sums equal a naive recomputation, whatever the event order.

Windows keeps ``recent`` (15 newest windows) and ``previous`` (the 15 before the
newest) up to date per event instead of re-summing; this checks them, and
``previous_of`` for every kept window, against sums recomputed from scratch over
random sequences with late events, gaps, expiry and huge jumps of event time,
and that a state read back from its stored form at any point goes on alike.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hunt.domain.money import ZERO, add, line_amount
from hunt.domain.product import ProductState, Rules
from hunt.domain.windows import (
    CART_ADDS,
    DEMAND_WINDOWS,
    KIND_SLOT,
    RETAIN_MS,
    REVENUE,
    UNITS,
    WINDOW_MS,
    Window,
    new_window,
    window_start,
)

T0 = 1_764_147_600_000
MAX_TS = 2**53 - 1
PRICES = [0, 0.005, 1.005, 19.99, 2.675, 5e-324, 123456789.12345678, 1e9]

# One step: kind, where in time relative to the newest window, ms within the window, qty, price.
steps = st.lists(
    st.tuples(
        st.sampled_from(sorted(KIND_SLOT)),
        st.one_of(
            st.integers(-75, 2),  # same window, a little ahead, late, past retention
            st.sampled_from([-61, -60, -46, -45, -16, -15, -14, 14, 15, 16, 60, 61]),
            st.integers(10**3, 10**11),  # a huge jump of event time
        ),
        st.integers(0, WINDOW_MS - 1),
        st.one_of(st.integers(1, 3), st.sampled_from([10**6])),
        st.one_of(st.sampled_from(PRICES), st.floats(0, 1e9)),
    ),
    min_size=1,
    max_size=120,
)


class Naive:
    """Windows by the contract, re-summed from scratch on every question."""

    def __init__(self) -> None:
        self.windows: dict[int, Window] = {}
        self.newest: int | None = None
        self.first: int | None = None

    def add(self, start: int, kind: str, qty: int, price: float) -> None:
        self.first = start if self.first is None else min(self.first, start)
        if self.newest is None or start > self.newest:
            self.newest = start
        self.windows = {s: w for s, w in self.windows.items() if s >= self.newest - RETAIN_MS}
        if start < self.newest - RETAIN_MS:
            return
        w = self.windows.setdefault(start, new_window(start))
        w[KIND_SLOT[kind]] += 1
        if kind == "purchase":
            w[UNITS] += qty
            w[REVENUE] = str(add(Decimal(w[REVENUE]), line_amount(qty, price)))

    def span(self, lo: int, hi: int) -> list[Window]:
        return [w for s, w in self.windows.items() if lo <= s <= hi]

    def recent(self) -> list[Any]:
        assert self.newest is not None
        sums: list[Any] = [0, 0, 0, 0, 0, 0, ZERO]
        for w in self.span(self.newest - (DEMAND_WINDOWS - 1) * WINDOW_MS, self.newest):
            for i in range(1, REVENUE):
                sums[i] += w[i]
            sums[REVENUE] = add(sums[REVENUE], Decimal(w[REVENUE]))
        return sums

    def previous_of(self, start: int) -> int:
        total = 0
        for k in range(1, DEMAND_WINDOWS + 1):
            w = self.windows.get(start - k * WINDOW_MS)
            if w is not None:
                total += w[CART_ADDS] + w[UNITS]
        return total


def ts_of(newest: int | None, move: int, ms: int) -> int:
    base = T0 if newest is None else newest
    return min(MAX_TS, max(0, base + move * WINDOW_MS + ms))


def event(kind: str, ts: int, qty: int, price: float, n: int) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "ts": ts,
        "product_id": "p",
        "kind": kind,
        "qty": qty,
        "price": price,
    }


@settings(max_examples=300, deadline=None)
@given(steps)
@example([("view", 0, 0, 1, 0), ("cart_add", 60, 0, 1, 0), ("view", 1, 0, 1, 0)])  # edge expiry
@example([("purchase", 0, 5, 2, 1.5), ("view", 15, 0, 1, 0), ("cart_add", -15, 9, 1, 0)])
@example([("cart_add", 0, 0, 1, 0), ("view", 16, 0, 1, 0), ("purchase", -1, 0, 10**6, 1e9)])
@example([("purchase", 0, 0, 1, 5e-324), ("purchase", 10**11, 0, 1, 19.99), ("view", -1, 0, 1, 0)])
def test_running_sums_equal_a_naive_recomputation(sequence: list[Any]) -> None:
    state = ProductState("p")
    naive = Naive()
    for n, (kind, move, ms, qty, price) in enumerate(sequence):
        ts = ts_of(naive.newest, move, ms)
        state.apply_behavior(event(kind, ts, qty, price, n), Rules())
        naive.add(window_start(ts), kind, qty, price)
        w = state.windows
        assert (w.newest, w.first) == (naive.newest, naive.first)
        assert dict(w.items()) == naive.windows
        assert w.recent == naive.recent()
        assert naive.newest is not None and naive.first is not None
        assert w.previous == naive.previous_of(naive.newest)
        for start in naive.windows:
            assert w.previous_of(start) == naive.previous_of(start), start
        minutes = min(DEMAND_WINDOWS, (naive.newest - naive.first) // WINDOW_MS + 1)
        assert w.minutes == minutes
        assert state.demand_per_min == naive.recent()[UNITS] / minutes
    restored = ProductState.from_bytes(state.to_bytes())
    assert restored.windows.recent == state.windows.recent
    assert restored.windows.previous == state.windows.previous
    assert restored.snapshot() == state.snapshot()
    # Without the stored sums (an older record) they are recomputed to the same values.
    stored = orjson.loads(state.to_bytes())
    del stored["rs"], stored["ps"]
    recomputed = ProductState.from_bytes(orjson.dumps(stored)).windows
    assert (recomputed.recent, recomputed.previous) == (w.recent, w.previous)


@settings(max_examples=200, deadline=None)
@given(steps, st.data())
def test_a_copy_read_back_mid_sequence_takes_the_rest_as_the_original_does(
    sequence: list[Any], data: st.DataObject
) -> None:
    """The stored form holds all the running sums need, at any point: the engine
    applies a failed product's later records to such a copy."""
    split = data.draw(st.integers(0, len(sequence)))
    state = ProductState("p")
    copy: ProductState | None = None
    newest: int | None = None
    for n, (kind, move, ms, qty, price) in enumerate(sequence):
        ts = ts_of(newest, move, ms)
        newest = window_start(ts) if newest is None else max(newest, window_start(ts))
        if n == split:
            copy = ProductState.from_bytes(state.to_bytes())
        ev = event(kind, ts, qty, price, n)
        alerts = state.apply_behavior(ev, Rules())
        if copy is not None:
            assert copy.apply_behavior(ev, Rules()) == alerts
            w, c = state.windows, copy.windows
            assert (c.recent, c.previous) == (w.recent, w.previous)
            assert (c.first, c.newest, c.spiked) == (w.first, w.newest, w.spiked)
            assert copy.to_bytes() == state.to_bytes()
