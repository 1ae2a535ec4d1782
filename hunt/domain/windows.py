"""Event-time tumbling windows of one product (SPEC section 2).

A window is a list ``[start, views, cart_adds, cart_removes, purchases, units,
revenue]`` where ``start = ts - ts % 60000`` and revenue is the exact decimal as a
string. That is also its stored form, so loading and storing a product (once
per batch) costs no conversion; only a purchase parses and re-formats revenue.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

__all__ = [
    "COUNTER_NAMES",
    "DEMAND_WINDOWS",
    "RETAIN_MS",
    "REVENUE",
    "UNITS",
    "WINDOW_MS",
    "Window",
    "add_revenue",
    "counter_value",
    "new_window",
    "window_start",
]

WINDOW_MS: Final = 60_000  # SPEC: 60 s tumbling windows aligned to the epoch.
RETAIN_MS: Final = 3_600_000  # SPEC: keep the 60 minutes before the newest behaviour window.
DEMAND_WINDOWS: Final = 15  # SPEC: demand_per_min and the spike mean look at 15 windows.
COUNTER_NAMES: Final = ("views", "cart_adds", "cart_removes", "purchases", "units", "revenue")

Window = list[Any]
UNITS: Final = 5  # index of units in a window list
REVENUE: Final = 6  # index of revenue in a window list


def window_start(ts: int) -> int:
    return ts - ts % WINDOW_MS


def new_window(start: int) -> Window:
    return [start, 0, 0, 0, 0, 0, "0"]


def add_revenue(w: Window, amount: Decimal) -> None:
    w[REVENUE] = str(Decimal(w[REVENUE]) + amount)


def counter_value(w: Window, counter: int) -> int | Decimal:
    """Counter ``counter`` (an index into COUNTER_NAMES) of window ``w``."""
    value = w[counter + 1]
    return Decimal(value) if counter + 1 == REVENUE else int(value)
