"""The /top and /stock index of one home partition, kept up to date as products are written.

The engine calls :meth:`ViewIndex.put` for each product it writes (once per
batch), so the index holds every stored product of its partition as a
:class:`~hunt.domain.product_summary.ProductSummary` and the views never parse
or rank the whole table:

- /top by a counter ranks by the threshold algorithm. Each product is filed in
  a bucket of its counter's total over its kept windows, and in one of its
  total over the 15 windows ending with its newest (:meth:`ProductSummary.key`):
  upper bounds of its sum over any of them, since no counter is negative. The
  second is used when ``since`` is at most 14 windows before every product's
  newest (the dashboard's 15 minutes), where it is the exact value for most.
  Buckets are read from the highest down and a product's exact sum is computed
  only while its bound reaches the n-th value found so far, so the cost follows
  the answer (the products that could be in it), not the table. Buckets are
  sixteenths of an octave (bounds within 6.25%): few products share one, and
  a product changes bucket only when its bound moves by that much.
- The writer only marks a product stale per counter (a set add), and a /top
  by that counter files the products written since the last one: that work
  follows the writes, each product once however often it was written.
- /top by a ratio has no such bound (a small denominator makes any ratio):
  it reads every summary's two sums, in memory, sliced by the caller.
- /stock: the sets of sold-out products and of in-stock products stocking out
  within ``low_minutes`` (a setting, fixed for the index's life). A product's
  demand and minutes to stockout depend on its own state only (SPEC 2), so
  both sets are exact once updated at write time.

The index is built once per assignment from the stored states (:meth:`load`),
while the engine already feeds it, and is :attr:`ready` once every stored state
was loaded. It holds at most ``limit_bytes``: past that it empties itself and
stays :attr:`full`, and the views read the partition's states instead.
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections.abc import Iterable
from typing import Final

from hunt.domain.events import Event
from hunt.domain.product import ProductState
from hunt.domain.product_summary import COLUMNS, ProductSummary
from hunt.domain.windows import DEMAND_WINDOWS, WINDOW_MS

__all__ = ["ViewIndex", "ViewIndexes", "bucket", "bucket_max"]

_COUNTERS: Final = COLUMNS + 1  # the five integer counters and revenue
_FAMILIES: Final = 2 * _COUNTERS  # per counter: bound over every kept window, over 15
_STEPS: Final = 4  # bits after the leading one that name a bucket: bounds within 1/16
_EXACT_BELOW: Final = 1 << (_STEPS + 1)  # keys below this each have a bucket of their own
_RECENT_SPAN: Final = (DEMAND_WINDOWS - 1) * WINDOW_MS  # the 15 windows ending with newest


def bucket(key: int) -> int:
    """Sixteenth of an octave of ``key`` >= 0, ascending with it: its bit length and
    the :data:`_STEPS` bits after its leading one."""
    if key < _EXACT_BELOW:
        return key
    k = key.bit_length()
    return (k << _STEPS) | ((key >> (k - _STEPS - 1)) & ((1 << _STEPS) - 1))


def bucket_max(b: int) -> int:
    """The largest key in bucket ``b``."""
    if b < _EXACT_BELOW:
        return b
    k, top = b >> _STEPS, (1 << _STEPS) | (b & ((1 << _STEPS) - 1))
    return ((top + 1) << (k - _STEPS - 1)) - 1


class ViewIndex:
    """Every stored product of one partition, ready for /top and /stock (module docstring)."""

    __slots__ = ("buckets", "full", "limit_bytes", "low", "low_minutes", "nbytes", "newest",
                 "out", "products", "ready", "stale", "written")  # fmt: skip

    def __init__(self, limit_bytes: int, low_minutes: float) -> None:
        self.limit_bytes = limit_bytes
        self.low_minutes = low_minutes
        self.products: dict[str, ProductSummary] = {}
        # Per family (counter c: every kept window; c + 6: the 15 newest), bucket -> ids
        # of the products filed there by their key; a key of 0 is filed nowhere.
        self.buckets: list[dict[int, set[str]]] = [{} for _ in range(_FAMILIES)]
        # Products written since their keys were last filed, per counter; the writer
        # only adds to ``written``, which a /top hands out to every counter's set, and
        # a /top by a counter files its products (and only them) again.
        self.written: set[str] = set()
        self.stale: list[set[str]] = [set() for _ in range(_COUNTERS)]
        self.newest: int | None = None  # at or past every product's newest window
        self.low: set[str] = set()
        self.out: set[str] = set()
        self.nbytes = 0
        self.ready = False
        self.full = False

    def __len__(self) -> int:
        return len(self.products)

    # -- writes --------------------------------------------------------------------------

    def put(self, state: ProductState, events: Iterable[Event]) -> None:
        """The engine stored ``state`` after applying ``events`` to it (the hook)."""
        s = self.products.get(state.product_id)
        if s is None:
            self.load(state)
            return
        size = s.nbytes
        s.update(state, events)
        self.written.add(s.product_id)
        self._saw(s)
        self._grew(s.nbytes - size)

    def load(self, state: ProductState) -> None:
        """Index ``state`` as stored, replacing what was known of it."""
        if self.full:
            return
        self.remove(state.product_id)
        s = self.products[state.product_id] = ProductSummary.of(state)
        for c in range(_COUNTERS):
            for f, recent in ((c, False), (c + _COUNTERS, True)):
                key = s.keys[f] = s.key(c, recent)
                self._file(f, bucket(key), s.product_id)
        self._saw(s)
        self._grew(s.nbytes)

    def remove(self, product_id: str) -> None:
        s = self.products.pop(product_id, None)
        if s is None:
            return
        for f in range(_FAMILIES):
            self._unfile(f, bucket(s.keys[f]), product_id)
        self.written.discard(product_id)
        for stale in self.stale:
            stale.discard(product_id)
        self.low.discard(product_id)
        self.out.discard(product_id)
        self.nbytes -= s.nbytes

    def _settle(self, counter: int) -> None:
        """File the products written since the last /top by ``counter`` by their keys now."""
        if self.written:
            for each in self.stale:
                each |= self.written
            self.written.clear()
        stale, products = self.stale[counter], self.products
        for pid in stale:
            s = products[pid]
            for f, recent in ((counter, False), (counter + _COUNTERS, True)):
                key = s.key(counter, recent)
                old, new = bucket(s.keys[f]), bucket(key)
                if old != new:
                    self._unfile(f, old, pid)
                    self._file(f, new, pid)
                s.keys[f] = key
        stale.clear()

    def _file(self, f: int, b: int, pid: str) -> None:
        if b:
            self.buckets[f].setdefault(b, set()).add(pid)

    def _unfile(self, f: int, b: int, pid: str) -> None:
        if b:
            ids = self.buckets[f][b]
            ids.discard(pid)
            if not ids:
                del self.buckets[f][b]

    def _saw(self, s: ProductSummary) -> None:
        """Keep the newest window and the two stock sets up to date with ``s``."""
        pid = s.product_id
        newest = s.newest_window
        if newest is not None and (self.newest is None or newest > self.newest):
            self.newest = newest
        if s.stock_state == "out":
            self.out.add(pid)
        else:
            self.out.discard(pid)
        minutes = s.stockout
        if s.stock_state == "in_stock" and minutes is not None and minutes < self.low_minutes:
            self.low.add(pid)
        else:
            self.low.discard(pid)

    def _grew(self, delta: int) -> None:
        self.nbytes += delta
        if self.nbytes > self.limit_bytes:
            # Better no index than a partial one: the views read the states instead.
            self.full = True
            self.ready = False
            self.products.clear()
            self.buckets = [{} for _ in range(_FAMILIES)]
            self.written.clear()
            self.stale = [set() for _ in range(_COUNTERS)]
            self.low.clear()
            self.out.clear()
            self.nbytes = 0

    # -- reads ---------------------------------------------------------------------------

    def top_counter(self, counter: int, since: int, n: int) -> list[tuple[float, str]]:
        """(value, product id) of the top ``n`` by ``counter`` summed over windows
        ``>= since``, value descending then id ascending, zeros left out."""
        self._settle(counter)
        # The 15 newest windows of every product hold all its windows >= since when
        # ``since`` is at most 14 windows before the newest window of any product.
        recent = self.newest is not None and self.newest - _RECENT_SPAN <= since
        f = counter + _COUNTERS if recent else counter
        best: list[tuple[float, str]] = []  # (-value, id), the n best so far, sorted
        floor = 0.0  # the n-th best value once n were found; values must exceed 0
        products = self.products
        by_bucket = self.buckets[f]
        for b in sorted(by_bucket, reverse=True):
            # A product whose bound is below the n-th value cannot enter; one equal
            # to it may (it ties, and a smaller id wins).
            if float(bucket_max(b)) < floor:
                break
            for pid in by_bucket[b]:
                s = products[pid]
                if float(s.keys[f]) < floor:
                    continue
                starts = s.starts
                if not starts or starts[-1] < since:
                    continue  # every window is older: the sum is 0
                value = s.sum_since(counter, since)
                if value <= 0 or value < floor:
                    continue
                insort(best, (-value, pid))
                if len(best) > n:
                    best.pop()
                if len(best) == n:
                    floor = -best[-1][0]
        return [(-v, pid) for v, pid in best]

    def top_ratio(
        self, num: int, den: int, since: int, n: int, min_base: int, among: Iterable[str]
    ) -> list[tuple[float, int, int, str]]:
        """(num/den, num, den, id) of the top ``n`` of the products ``among`` (ids; gone
        ones skipped) by two integer counters' sums over windows ``>= since``,
        leaving out a denominator below ``min_base`` and a numerator of 0."""
        self._settle(num)
        self._settle(den)
        products = self.products
        found: list[tuple[float, str, int, int]] = []
        for pid in among:
            s = products.get(pid)
            if s is None or s.keys[den] < min_base or s.keys[num] == 0:
                continue  # even every kept window together falls short
            d = s.count_since(den, since)
            if d < min_base:
                continue
            x = s.count_since(num, since)
            if x:
                found.append((-(x / d), pid, x, d))
        return [(-v, x, d, pid) for v, pid, x, d in heapq.nsmallest(n, found)]

    def low_stock(self, n: int) -> list[ProductSummary]:
        """In stock and out within ``low_minutes``: soonest first, then by id."""
        products = self.products
        ids = heapq.nsmallest(n, self.low, key=lambda pid: (products[pid].stockout, pid))
        return [products[pid] for pid in ids]

    def sold_out(self, n: int) -> list[ProductSummary]:
        """Sold out: the highest demand (the most sales lost) first, then by id."""
        products = self.products
        ids = heapq.nsmallest(n, self.out, key=lambda pid: (-products[pid].demand_per_min, pid))
        return [products[pid] for pid in ids]


class ViewIndexes:
    """The view index of each home partition this worker serves, and its lifecycle.

    An index is opened when a view first needs the partition, fed by the engine
    from then on, marked ready once loaded, and dropped when the partition is
    revoked or its local table wiped: a new assignment restores the table from
    the changelog, which the index does not see.
    """

    def __init__(self, limit_bytes: int, low_minutes: float) -> None:
        self.limit_bytes = limit_bytes  # per partition: a worker may own every partition
        self.low_minutes = low_minutes
        self._by_partition: dict[int, ViewIndex] = {}

    def writer(self, partition: int) -> ViewIndex | None:
        """The index the engine feeds for ``partition``, if any (open and not full)."""
        index = self._by_partition.get(partition)
        return None if index is None or index.full else index

    def ready(self, partition: int) -> ViewIndex | None:
        index = self._by_partition.get(partition)
        return index if index is not None and index.ready else None

    def full(self, partition: int) -> bool:
        index = self._by_partition.get(partition)
        return index is not None and index.full

    def open(self, partition: int) -> ViewIndex:
        """The partition's index, a new empty one if none is open."""
        index = self._by_partition.get(partition)
        if index is None:
            index = self._by_partition[partition] = ViewIndex(self.limit_bytes, self.low_minutes)
        return index

    def finish(self, partition: int, index: ViewIndex) -> bool:
        """Mark ``index`` ready after every stored state was loaded into it; False if
        it was dropped meanwhile or outgrew its share."""
        if self._by_partition.get(partition) is not index or index.full:
            return False
        index.ready = True
        return True

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._by_partition.pop(partition, None)

    def clear(self) -> None:
        self._by_partition.clear()

    def partitions(self) -> set[int]:
        return set(self._by_partition)
