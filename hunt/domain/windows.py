"""Event-time tumbling windows of one product (SPEC section 2).

A window is a list ``[views, cart_adds, cart_removes, purchases, units, revenue]``
keyed by its start (``ts - ts % 60000``); revenue is an exact ``Decimal``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

__all__ = [
    "COUNTER_NAMES",
    "DEMAND_WINDOWS",
    "RETAIN_MS",
    "WINDOW_MS",
    "Window",
    "new_window",
    "window_start",
]

WINDOW_MS: Final = 60_000  # SPEC: 60 s tumbling windows aligned to the epoch.
RETAIN_MS: Final = 3_600_000  # SPEC: keep the 60 minutes before the newest behaviour window.
DEMAND_WINDOWS: Final = 15  # SPEC: demand_per_min and the spike mean look at 15 windows.
COUNTER_NAMES: Final = ("views", "cart_adds", "cart_removes", "purchases", "units", "revenue")

Window = list[int | Decimal]


def window_start(ts: int) -> int:
    return ts - ts % WINDOW_MS


def new_window() -> Window:
    return [0, 0, 0, 0, 0, Decimal(0)]
