"""When a product gets its next ``hunt.product-state`` record (SPEC section 3).

The contract allows at most one record per product per snapshot interval and
wants the last one current once input pauses for an interval. That is a
per-product throttle with a leading and a trailing edge: a product whose last
record is at least an interval old is written as soon as its change is
applied (a quiet product's change is visible at once); a product written less
than an interval ago is written again when that interval is up, once, however
often it changed meanwhile. (A flush before a rebalance or shutdown writes
every deferred product early, so that no acknowledged event is missing from
the topic.)

Times are the caller's monotonic clock; the same expression, ``written +
interval <= now``, decides both :meth:`Throttle.due` and the release time
:meth:`Throttle.changed` reports, so a caller holding work until that time can
rely on the product having been written by then.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["Key", "Throttle"]

Key = tuple[int, str]  # (partition, product_id)


class Throttle:
    """Last write time per recently written product, and the deferred ones."""

    __slots__ = ("_deferred", "_written", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        # Write times, oldest first (times only grow, so re-writes move to the end).
        self._written: OrderedDict[Key, float] = OrderedDict()
        self._deferred: dict[Key, float] = {}  # first deferred change time, per product

    def changed(self, key: Key, now: float) -> float | None:
        """A product changed: None if it is to be written now (recorded as written),
        else the time by which :meth:`due` will have returned it."""
        written = self._written.get(key)
        if written is None or written + self.interval <= now:
            self._written[key] = now
            self._written.move_to_end(key)
            self._deferred.pop(key, None)
            return None
        self._deferred.setdefault(key, now)
        return written + self.interval

    def due(self, now: float) -> list[Key]:
        """Deferred products whose interval is up; each is recorded as written now."""
        ready: list[Key] = []
        written = self._written
        while written:
            key, at = next(iter(written.items()))
            if at + self.interval > now:
                break
            del written[key]
            if self._deferred.pop(key, None) is not None:
                ready.append(key)
        for key in ready:
            written[key] = now
        return ready

    def take_all(self, now: float) -> list[Key]:
        """Every deferred product, early (before a rebalance or a stop)."""
        ready = list(self._deferred)
        self._deferred = {}
        for key in ready:
            self._written[key] = now
            self._written.move_to_end(key)
        return ready

    def oldest_deferred(self) -> float | None:
        """First change time of the longest-waiting product (for the lag metric).

        Entries keep their insertion order and their first time, so the first is
        the oldest."""
        return next(iter(self._deferred.values()), None)

    def forget(self, partitions: set[int]) -> None:
        """Drop revoked partitions: their next owner decides for itself."""
        self._deferred = {k: t for k, t in self._deferred.items() if k[0] not in partitions}
        self._written = OrderedDict(
            (k, t) for k, t in self._written.items() if k[0] not in partitions
        )
