"""What every benchmark phase shares: the broker, the backlog and the scale."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Plan", "Run"]

FULL_EVENTS = 500_000  # the minimum backlog for hunt at scale 1
FULL_PRODUCTS = 10_000  # ... over this many products
PARTITIONS = 8  # input partitions, as in the issue
BACKLOG_RATE = (
    1_000.0  # event-time density of the backlog: a busy shop, 500 s of trading at scale 1
)
PEER_LIMIT_S = 40.0  # at most this long per peer engine at scale 1; slower ones cover a prefix
LATENCY_S = 20.0  # paced seconds per latency load at scale 1
OVERLOAD_S = 60.0  # seconds of 10x offered load at scale 1, as in the issue
MIN_SECONDS = 3.0  # every timed phase lasts at least this long, however small the scale


@dataclass(frozen=True)
class Plan:
    """Sizes and durations for one ``BENCH_SCALE``."""

    scale: float
    events: int
    products: int
    peer_limit_s: float
    latency_s: float
    overload_s: float

    @classmethod
    def for_scale(cls, scale: float) -> Plan:
        if not 0 < scale <= 10:
            raise ValueError(f"BENCH_SCALE must be in (0, 10], got {scale}")
        return cls(
            scale=scale,
            events=max(2_000, int(FULL_EVENTS * scale)),
            products=max(100, min(FULL_PRODUCTS, int(FULL_PRODUCTS * scale))),
            peer_limit_s=max(MIN_SECONDS * 2, PEER_LIMIT_S * scale),
            latency_s=max(MIN_SECONDS * 2, LATENCY_S * scale),
            overload_s=max(MIN_SECONDS, OVERLOAD_S * scale),
        )


@dataclass
class Run:
    """One benchmark run on one broker; topic names are unique per run."""

    bootstrap: str
    work: Path
    plan: Plan
    partitions: int = PARTITIONS
    name: str = field(default_factory=lambda: "bench-" + uuid.uuid4().hex[:8])

    @property
    def backlog(self) -> tuple[str, str]:
        """The pre-filled input topics (behavior, inventory); hunt's own input topics."""
        return (f"{self.name}.behavior", f"{self.name}.inventory")

    def topic(self, suffix: str) -> str:
        return f"{self.name}.{suffix}"

    def group(self, engine: str) -> str:
        return f"{self.name}-{engine}"
