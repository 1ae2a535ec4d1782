"""A seeded, pure generator of realistic shop traffic (no Kafka, no clock).

The same seed gives the same records byte for byte, so a trace can be
replayed into the engine and into the test oracle alike.  The shape is what
the engine's rules are about: Zipf-skewed popularity, shopping sessions
(view -> cart_add -> maybe cart_remove -> purchase), a stock ``sale`` shortly
after each purchase, a reorder policy that restocks after a lead time, stray
``adjust`` and ``count`` corrections, and flash sales that spike one
product's demand and sell it out.  A share of records are exact re-sends
(duplicates) and a share are malformed in the ways SPEC section 1 forbids.

Record ``i`` carries event time ``start_ts + i / rate * 1000`` ms plus a small
jitter, occasionally minutes late; so paced at ``rate`` records per second
from ``start_ts = now``, event time follows the wall clock.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import orjson

__all__ = ["BAD_KINDS", "TraceRecord", "generate"]

TopicKind = Literal["behavior", "inventory"]

WAREHOUSES = ("w-1", "w-2", "w-3")
ZIPF_S = 1.1  # popularity exponent: of 500 products the top 1% draw ~40% of views, top 10% ~70%
JITTER_MS = 250  # client clocks and batching blur event time by a fraction of a second
LATE_SHARE = 0.003  # share of records that arrive minutes late (mobile clients offline)
LATE_MAX_MS = 240_000  # "late by up to a few minutes": well inside the 60-minute window store
DUP_WITHIN_S = 3.0  # a re-send follows its original within a few seconds of event time
DUP_POOL_MAX = 20_000  # bounds the re-send pool at very high rates
THINK_S = (1.0, 20.0)  # pause between two clicks of one shopper
FLASH_THINK_S = (0.2, 3.0)  # flash-sale shoppers click fast before the stock is gone
SALE_DELAY_S = (0.2, 2.0)  # the warehouse books the sale shortly after the purchase
REORDER_AT_MIN = 45  # reorder below 45 minutes of demand: low_stock (60) fires first
RESTOCK_COVER_MIN = (120, 240)  # a delivery covers two to four hours of expected demand
LEAD_TIME_S = (60.0, 300.0)  # reorder lead time: long enough for a visible stockout
FLASH_FIRST = (1_000, 2_000)  # first flash sale, in records after the initial restocks
FLASH_EVERY = (3_000, 7_000)  # records between flash sales (at least FLASH_EVERY_S apart)
FLASH_EVERY_S = (60.0, 180.0)  # ... so a live run at 200/s gets one every few minutes
FLASH_SPREAD_S = 20.0  # flash shoppers arrive within 20 s: one window sees >= 20 demand
FLASH_SHOPPERS = (25, 150)  # enough to clear a tail product's shelf, capped for realism
FLASH_CANDIDATES = 10  # tail products considered; the emptiest shelf gets the flash sale
UNITS_PER_RECORD = 0.17  # measured purchase units per record (about 1 in 11 records, 2 units each)
BACKGROUND_OPS = 0.01  # share of free slots used for adjust / count / ad-hoc restock

BAD_KINDS = (
    "not_json",
    "json_array",
    "missing_product_id",
    "qty_float",
    "qty_string",
    "qty_bool",
    "negative_price",
    "unknown_kind",
    "purchase_without_price",
    "inventory_without_warehouse",
    "adjust_zero",
    "event_id_too_long",
)


class TraceRecord(NamedTuple):
    """One input record as a producer would send it."""

    topic_kind: TopicKind
    key: bytes | None
    value: bytes
    bad: bool
    duplicate: bool


_Step = tuple[str, int, int, int | None]  # (kind, product index, qty, price cents or None)


@dataclass
class _Session:
    """A shopper's remaining clicks, decided up front; stock is checked at purchase time."""

    user_id: str
    session_id: str
    steps: deque[_Step]
    think_s: tuple[float, float] = THINK_S


@dataclass
class _Stock:
    """The generator's own view of one product's shelves, to keep the story plausible."""

    on_hand: dict[str, int] = field(default_factory=dict)
    sellable: int = 0  # on hand minus purchases whose sale is not booked yet
    reorder_point: int = 0
    restock_qty: int = 0
    restock_pending: bool = False


class _Generator:
    """One record per step: a due follow-up first, else a new shopper or a stock chore."""

    def __init__(
        self, seed: int, products: int, start_ts: int, rate: float, dup: float, bad: float
    ) -> None:
        if products < 1 or rate <= 0 or not 0 <= dup + bad < 1:
            raise ValueError("need products >= 1, rate > 0 and 0 <= dup_share + bad_share < 1")
        self.rng = random.Random(seed)
        self.start_ts, self.rate, self.dup, self.bad = start_ts, rate, dup, bad
        rng = self.rng
        self.pids = [f"p-{k:05d}" for k in range(products)]
        by_rank = list(range(products))
        rng.shuffle(by_rank)  # popularity is not id order
        self.by_rank = by_rank
        weights = [1 / (r + 1) ** ZIPF_S for r in range(products)]
        self.cum = list(itertools.accumulate(weights))
        total = self.cum[-1]
        # Typical retail price points: 4.99, 19.49, 129.95 ...; a few whole numbers.
        self.price = [0] * products
        for k in range(products):
            whole = int(math.exp(rng.uniform(math.log(2), math.log(300))))
            self.price[k] = whole * 100 + rng.choice((99, 99, 49, 95, 0))
        self.stock = [_Stock() for _ in range(products)]
        for rank, k in enumerate(by_rank):
            per_min = rate * 60 * UNITS_PER_RECORD * weights[rank] / total
            s = self.stock[k]
            s.reorder_point = math.ceil(per_min * REORDER_AT_MIN) + 2
            s.restock_qty = math.ceil(per_min * rng.uniform(*RESTOCK_COVER_MIN)) + rng.randint(
                5, 20
            )
        self.ids = {"b": itertools.count(), "i": itertools.count()}
        self.sessions = itertools.count()
        self.users = max(100, products * 4)
        self.due: list[tuple[int, int, str, Any]] = []  # (record index, seq, what, payload)
        self.seq = itertools.count()
        self.recent: deque[tuple[int, TraceRecord]] = deque(maxlen=DUP_POOL_MAX)
        self.initial = deque(range(products))
        self.next_flash = products + rng.randint(*FLASH_FIRST)
        self.i = 0

    # -- time and scheduling ------------------------------------------------

    def ts(self) -> int:
        rng = self.rng
        t = self.start_ts + self.i * 1000 / self.rate + rng.uniform(-JITTER_MS, JITTER_MS)
        if rng.random() < LATE_SHARE:
            t -= rng.uniform(2_000, LATE_MAX_MS)
        return max(0, int(t))

    def later(self, seconds: float) -> int:
        return self.i + max(1, int(seconds * self.rate))

    def schedule(self, at: int, what: str, payload: Any) -> None:
        heapq.heappush(self.due, (at, next(self.seq), what, payload))

    # -- records ------------------------------------------------------------

    def behaviour(self, s: _Session, kind: str, k: int, qty: int, cents: int | None) -> TraceRecord:
        body: dict[str, Any] = {
            "event_id": f"b-{next(self.ids['b'])}",
            "ts": self.ts(),
            "user_id": s.user_id,
            "session_id": s.session_id,
            "product_id": self.pids[k],
            "kind": kind,
        }
        if qty != 1 or kind == "purchase" or self.rng.random() < 0.3:
            body["qty"] = qty  # qty is optional with default 1; real clients differ
        if cents is not None:
            body["price"] = cents // 100 if cents % 100 == 0 else cents / 100
        return TraceRecord("behavior", self.pids[k].encode(), orjson.dumps(body), False, False)

    def inventory(self, k: int, kind: str, wh: str, qty: int) -> TraceRecord:
        s = self.stock[k]
        delta = {"restock": qty, "sale": -qty, "adjust": qty}.get(kind, qty - s.on_hand.get(wh, 0))
        s.on_hand[wh] = s.on_hand.get(wh, 0) + delta
        if kind != "sale":
            s.sellable += delta
        body = {
            "event_id": f"i-{next(self.ids['i'])}",
            "ts": self.ts(),
            "product_id": self.pids[k],
            "warehouse": wh,
            "kind": kind,
            "qty": qty,
        }
        if self.rng.random() < 0.02:
            body["source"] = "wms"  # unknown extra fields must be ignored
        self.maybe_reorder(k)
        return TraceRecord("inventory", self.pids[k].encode(), orjson.dumps(body), False, False)

    def maybe_reorder(self, k: int) -> None:
        s = self.stock[k]
        if s.sellable <= s.reorder_point and not s.restock_pending:
            s.restock_pending = True
            self.schedule(self.later(self.rng.uniform(*LEAD_TIME_S)), "restock", k)

    # -- shoppers -----------------------------------------------------------

    def popular(self) -> int:
        rank = self.rng.choices(range(len(self.cum)), cum_weights=self.cum)[0]
        return self.by_rank[rank]

    def new_session(self) -> _Session:
        rng = self.rng
        steps: deque[_Step] = deque()
        cart: list[int] = []
        for _ in range(1 + min(int(rng.expovariate(1 / 2.5)), 12)):
            k = self.popular()
            steps.append(("view", k, 1, self.price[k] if rng.random() < 0.2 else None))
            if rng.random() < 0.3:
                steps.append(("cart_add", k, rng.choice((1, 1, 1, 2)), None))
                cart.append(k)
        if cart and rng.random() < 0.2:
            steps.append(("cart_remove", cart.pop(rng.randrange(len(cart))), 1, None))
        if cart and rng.random() < 0.6:
            steps.extend(("purchase", k, rng.randint(1, 3), self.price[k]) for k in cart)
        return _Session(self.user(), f"s-{next(self.sessions)}", steps)

    def user(self) -> str:
        return f"u-{self.rng.randrange(self.users)}"

    def step(self, s: _Session) -> TraceRecord:
        kind, k, qty, cents = s.steps.popleft()
        if kind == "purchase":
            stock = self.stock[k]
            if stock.sellable <= 0 and self.rng.random() > 0.03:  # 3% oversell anyway
                kind, qty, cents = "cart_remove", 1, None  # sold out: the shopper gives up
                s.steps = deque(x for x in s.steps if x[1] != k)
            else:
                qty = max(1, min(qty, stock.sellable))
                stock.sellable -= qty
                self.schedule(self.later(self.rng.uniform(*SALE_DELAY_S)), "sale", (k, qty))
                self.maybe_reorder(k)
        record = self.behaviour(s, kind, k, qty, cents)
        if s.steps:
            self.schedule(self.later(self.rng.uniform(*s.think_s)), "session", s)
        return record

    def flash_sale(self) -> None:
        """Send a crowd after one tail product at a discount."""
        rng = self.rng
        n = len(self.by_rank)
        tail = [self.by_rank[rng.randrange(n // 5, n)] for _ in range(FLASH_CANDIDATES)]
        k = min(tail, key=lambda c: self.stock[c].sellable)  # a shelf the crowd can clear
        cents = max(1, self.price[k] * rng.choice((50, 60, 70)) // 100)
        shoppers = max(FLASH_SHOPPERS[0], self.stock[k].sellable // 2 + 10)
        for _ in range(min(shoppers, FLASH_SHOPPERS[1])):
            qty = rng.randint(1, 3)
            steps: deque[_Step] = deque(
                [("view", k, 1, cents), ("cart_add", k, 1, cents), ("purchase", k, qty, cents)]
            )
            s = _Session(self.user(), f"s-{next(self.sessions)}", steps, think_s=FLASH_THINK_S)
            self.schedule(self.later(rng.uniform(0, FLASH_SPREAD_S)), "session", s)
        gap = max(rng.randint(*FLASH_EVERY), int(rng.uniform(*FLASH_EVERY_S) * self.rate))
        self.next_flash = self.i + gap

    def background(self) -> TraceRecord:
        rng = self.rng
        k = self.popular()
        s = self.stock[k]
        roll = rng.random()
        if roll < 0.4:  # shrinkage is taken from a stocked shelf, a find can be anywhere
            qty = rng.choice((-3, -2, -1, 1, 2))
            stocked = [w for w, q in sorted(s.on_hand.items()) if q >= -qty]
            return self.inventory(k, "adjust", rng.choice(stocked or WAREHOUSES), qty)
        if roll < 0.7 and s.on_hand:
            wh = rng.choice(sorted(s.on_hand))
            return self.inventory(k, "count", wh, max(0, s.on_hand[wh] + rng.choice((0, 0, -1, 1))))
        return self.restock(k)

    def restock(self, k: int) -> TraceRecord:
        return self.inventory(k, "restock", self.rng.choice(WAREHOUSES), self.stock[k].restock_qty)

    # -- the record stream --------------------------------------------------

    def good(self) -> TraceRecord:
        if self.initial:
            k = self.initial.popleft()
            return self.inventory(
                k, "restock", self.rng.choice(WAREHOUSES), self.stock[k].restock_qty
            )
        if self.due and self.due[0][0] <= self.i:
            _, _, what, payload = heapq.heappop(self.due)
            if what == "session":
                return self.step(payload)
            if what == "sale":
                k, qty = payload
                shelves = [w for w, q in sorted(self.stock[k].on_hand.items()) if q > 0]
                return self.inventory(k, "sale", self.rng.choice(shelves or WAREHOUSES), qty)
            self.stock[payload].restock_pending = False
            return self.restock(payload)
        if self.rng.random() < BACKGROUND_OPS:
            return self.background()
        return self.step(self.new_session())

    def duplicate(self) -> TraceRecord | None:
        window = max(1, int(DUP_WITHIN_S * self.rate))
        while self.recent and self.recent[0][0] < self.i - window:
            self.recent.popleft()
        if not self.recent:
            return None
        return self.recent[self.rng.randrange(len(self.recent))][1]._replace(duplicate=True)

    def malformed(self) -> TraceRecord:
        rng = self.rng
        how = rng.choice(BAD_KINDS)
        k = self.popular()
        pid = self.pids[k]
        inventory = how in ("inventory_without_warehouse", "adjust_zero") or (
            how in ("qty_float", "qty_string", "qty_bool", "event_id_too_long")
            and rng.random() < 0.3
        )
        prefix = "i" if inventory else "b"
        event_id = f"{prefix}-{next(self.ids[prefix])}"
        body: dict[str, Any] = {"event_id": event_id, "ts": self.ts(), "product_id": pid}
        if inventory:
            body.update(warehouse=rng.choice(WAREHOUSES), kind="restock", qty=5)
        else:
            body.update(user_id=self.user(), kind="view")
        key: bytes | None = pid.encode()
        if how == "not_json":
            value, key = b'{"event_id": "b-?", "ts": ' + str(body["ts"]).encode() + b", ", None
        elif how == "json_array":
            value, key = orjson.dumps(list(body.values())), None
        else:
            if how == "missing_product_id":
                del body["product_id"]
                key = None
            elif how in ("qty_float", "qty_string", "qty_bool"):
                body["qty"] = {"qty_float": 1.0, "qty_string": "1", "qty_bool": True}[how]
            elif how == "negative_price":
                body.update(kind="purchase", qty=1, price=-self.price[k] / 100)
            elif how == "unknown_kind":
                body["kind"] = rng.choice(("wishlist", "PURCHASE", "refund", ""))
            elif how == "purchase_without_price":
                body.update(kind="purchase", qty=rng.randint(1, 3))
            elif how == "inventory_without_warehouse":
                del body["warehouse"]
            elif how == "adjust_zero":
                body.update(kind="adjust", qty=0)
            elif how == "event_id_too_long":
                body["event_id"] = body["event_id"] + "-" + "x" * 128
            value = orjson.dumps(body)
        return TraceRecord("inventory" if inventory else "behavior", key, value, True, False)

    def __iter__(self) -> Iterator[TraceRecord]:
        rng = self.rng
        while True:
            if self.i >= self.next_flash and not self.initial:
                self.flash_sale()
            roll = rng.random()
            record: TraceRecord | None = None
            if roll < self.dup:
                record = self.duplicate()
            elif roll < self.dup + self.bad:
                record = self.malformed()
            if record is None:
                record = self.good()
                self.recent.append((self.i, record))
            yield record
            self.i += 1


def generate(
    seed: int,
    products: int,
    events: int,
    start_ts: int,
    rate_per_s: float,
    dup_share: float = 0.01,
    bad_share: float = 0.005,
) -> Iterator[TraceRecord]:
    """Yield ``events`` records of one deterministic shop day (lazily: any length)."""
    gen = _Generator(seed, products, start_ts, rate_per_s, dup_share, bad_share)
    return itertools.islice(iter(gen), events)
