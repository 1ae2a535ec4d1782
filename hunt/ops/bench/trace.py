"""Simulator traces held in memory for a whole phase.

``orjson.dumps`` hands back bytes objects that keep roughly 4 KiB of heap
each (orjson 3.13), so a list of a few million generated records would pin
gigabytes.  The benchmark keeps a tight copy of every value instead.
"""

from __future__ import annotations

from hunt.ops.traffic import TraceRecord, generate

__all__ = ["trace"]


def trace(seed: int, products: int, events: int, start_ts: int, rate: float) -> list[TraceRecord]:
    """``list(generate(...))`` with compact values (same bytes, ~4 KiB less each)."""
    return [
        r._replace(value=bytes(memoryview(r.value)))
        for r in generate(seed, products, events, start_ts, rate)
    ]
