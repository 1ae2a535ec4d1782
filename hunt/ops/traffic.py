"""A seeded, pure generator of realistic shop traffic (no Kafka, no clock).

The same seed gives the same records byte for byte, so a trace can be
replayed into the engine and into the test oracle alike.  The shop it plays:

- popularity: Zipf-skewed, so a few products draw most views;
- a funnel like a real shop's: most sessions only browse, about one in ten
  adds to the cart, about 2.5% buy, and about 70% of carts are never bought;
  shoppers leave with a full cart and come back in a later session;
- stock sized from each product's expected demand with an (s, Q) policy: a
  reorder point covering the lead time plus safety stock, an order quantity of
  a few hours of demand, a lead time; so regular products sometimes run out
  and none piles up stock without bound;
- flash sales: a limited-quantity deal on a slow mover, a crowd that clears it;
  each is recorded as a :class:`Surge` (ground truth for the alert report);
- optionally a daily rhythm (traffic by hour of day) and lulls (stretches of
  little traffic), both recorded;
- a share of exact re-sends (duplicates) and of records malformed in the ways
  SPEC section 1 forbids; either share may be 0.

Event time advances by ``1 / (rate x intensity)`` seconds per record, where
intensity is 1 unless the rhythm or a lull says otherwise; records are mostly
in event-time order, a few minutes late.  :attr:`Traffic.clock_ms` is the
event time of the slot just generated, which is what a paced producer waits for.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import orjson

__all__ = ["BAD_KINDS", "Lull", "Shape", "Surge", "TraceRecord", "Traffic", "generate"]

TopicKind = Literal["behavior", "inventory"]

WAREHOUSES = ("w-1", "w-2", "w-3")
ZIPF_S = 1.1  # popularity exponent: of 500 products the top 1% draw ~40% of views, top 10% ~70%
JITTER_MS = 250  # client clocks and batching blur event time by a fraction of a second
LATE_SHARE = 0.003  # share of records that arrive minutes late (mobile clients offline)
LATE_MAX_MS = 240_000  # "late by up to a few minutes": well inside the 60-minute window store
DUP_WITHIN_MS = 3_000  # a re-send follows its original within a few seconds of event time
DUP_POOL_MAX = 20_000  # bounds the re-send pool at very high rates
THINK_S = (1.0, 20.0)  # pause between two clicks of one shopper
SALE_DELAY_S = (0.2, 2.0)  # the warehouse books the sale shortly after the purchase
BACKGROUND_OPS = 0.004  # free slots used for an adjust or a recount: WMS corrections are rare

# -- the funnel ---------------------------------------------------------------------------
VIEWS_EXTRA_MEAN = 2.5  # product views per session 1 + floor(Exp(2.5)), so ~3: shops see 3-5
VIEWS_MAX = 12  # a session longer than this is a crawler, not a shopper
CART_PER_VIEW = 0.03  # ~10% of sessions add to cart (add-to-cart rate benchmarks: 8-12%)
CART_QTY = (1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 3)  # ~1.4 units per cart line, as in order data
REMOVE_SHARE = 0.1  # carts that drop a line before the shopper decides (a second thought)
BUY_NOW = 0.17  # carts bought in the session that filled them
RETURN_SHARE = 0.45  # shoppers who leave a cart and come back for it in a later session
BUY_ON_RETURN = 0.3  # ... and buy then; overall ~30% of carts are bought, ~70% abandoned
RETURN_AFTER_S = (120.0, 1_800.0)  # back after minutes (real shops: same day for most returns)
RETURNS_MAX = 3  # after the third visit without buying, the cart is forgotten
RETURNS_PENDING = 11.6  # measured carts awaiting their shopper's return, per record/s of rate
REVISIT_SHARE = 0.3  # new sessions by a known shopper: ~30% of visitors are returning ones
KNOWN_USERS = 5_000  # the returning-visitor pool; the longest-gone shoppers are forgotten
PRICE_SHOWN = 0.2  # share of views whose client reports the price it displayed

# -- stock, an (s, Q) policy per product --------------------------------------------------
UNITS_PER_RECORD = 0.0114  # measured units sold per record with this funnel: sizes demand
LEAD_TIME_MIN = (20.0, 90.0)  # deliveries from a nearby distribution centre, within the hour or so
ORDER_COVER_H = (2.0, 6.0)  # an order holds a few hours of demand: several deliveries a day
SAFETY_Z = 1.3  # safety stock planned for a ~90% cycle service level (of the forecast)
FORECAST_ERROR = 0.35  # log-sd of forecast / true demand: SKU-level forecasts err by 25-40%
OPENING_OUT_SHARE = 0.02  # measured share of regular products out of stock at any moment
QTY_VAR = sum(q * q for q in CART_QTY) / sum(CART_QTY)  # variance / mean of units sold in lines
CASE_PACK = 6  # the smallest order a supplier ships
OVERSELL = 0.03  # purchases accepted anyway with nothing sellable (stale stock in the front end)

# -- flash sales --------------------------------------------------------------------------
FLASH_FIRST_S = (5.0, 10.0)  # the first deal starts seconds after the shop opens (live demo)
FLASH_EVERY = (3_000, 7_000)  # records between flash sales (at least FLASH_EVERY_S apart)
FLASH_EVERY_S = (60.0, 180.0)  # ... so a live run at 200/s gets one every few minutes
FLASH_SPREAD_S = 20.0  # flash shoppers arrive within 20 s: one window sees >= 20 demand
FLASH_THINK_S = (0.2, 3.0)  # flash-sale shoppers click fast before the stock is gone
FLASH_SHOPPERS = (25, 150)  # enough to clear the deal, capped for realism
FLASH_DEAL_UNITS = (20, 80)  # a limited-quantity deal: the stock set aside for it
FLASH_PREP_S = (10.0, 30.0)  # the deal stock is booked in just before the sale opens
FLASH_TAIL = 0.2  # deals go to products outside the top 20%: slow movers to clear
FLASH_REST_MS = 900_000  # a product gets at most one deal in 15 minutes

# -- rhythm and lulls ---------------------------------------------------------------------
# Relative traffic by local hour of day, as web shops in Europe and the US see it: a trough
# around 04:00 at about a sixth of the evening peak (20:00-21:00). Normalised to a mean of 1.
_HOURLY = (
    0.55, 0.35, 0.25, 0.2, 0.2, 0.25, 0.4, 0.6, 0.8, 0.95, 1.05, 1.1,
    1.15, 1.15, 1.1, 1.1, 1.1, 1.15, 1.25, 1.4, 1.5, 1.45, 1.2, 0.85,
)  # fmt: skip
RHYTHM = tuple(h * len(_HOURLY) / sum(_HOURLY) for h in _HOURLY)
INTENSITY_EVERY_MS = 1_000  # the traffic intensity is re-read once per second of event time
LULL_EVERY_S = 2_400.0  # mean gap between lulls: an hour of traffic usually has one or two
LULL_LENGTH_S = (300.0, 1_200.0)  # 5-20 minutes: checkout outage, CDN trouble, a dead hour
LULL_DEPTH = (0.05, 0.3)  # traffic falls to 5-30% of normal, never to nothing
LULL_RAMP_S = 120.0  # shoppers drift back over two minutes, they do not return at once

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


@dataclass(frozen=True, slots=True)
class Shape:
    """Optional traffic shapes; the defaults give flat traffic with flash sales."""

    rhythm: bool = False  # traffic by hour of day (:data:`RHYTHM`)
    utc_offset_s: int = 0  # the shop's local time, for the rhythm
    lulls: bool = False  # stretches of little traffic (:class:`Lull`)
    flash_sales: bool = True


@dataclass(slots=True)
class Surge:
    """A demand surge the generator injected: ground truth for alert quality.

    ``start_ts`` .. ``end_ts`` spans the event time of the surge's behaviour
    records (without the few that arrive late); it grows while the crowd shops.
    """

    product_id: str
    kind: str
    start_ts: int
    end_ts: int
    shoppers: int
    deal_units: int


@dataclass(frozen=True, slots=True)
class Lull:
    """A stretch of little traffic: ``depth`` x normal from ``start_ts`` to ``end_ts``."""

    start_ts: int
    end_ts: int
    depth: float


_Step = tuple[str, int, int, int | None]  # (kind, product index, qty, price cents or None)


@dataclass(slots=True)
class _Session:
    """A shopper's remaining clicks, decided up front; stock is checked at purchase time."""

    user_id: str
    session_id: str
    steps: deque[_Step]
    cart: dict[int, int]  # product index -> qty, what the shopper leaves with if not buying
    visits: int = 1
    returns: bool = False  # comes back for the cart after leaving
    think_s: tuple[float, float] = THINK_S
    surge: Surge | None = None


@dataclass(slots=True)
class _Stock:
    """The generator's own view of one product's shelves, to keep the story plausible."""

    warehouses: tuple[str, ...]
    on_hand: dict[str, int] = field(default_factory=dict)
    sellable: int = 0  # on hand minus purchases whose sale is not booked yet
    on_order: int = 0
    reorder_point: int = 0
    order_qty: int = 0
    lead_time_s: float = 0.0


class Traffic:
    """One simulated shop: iterate :meth:`records`; read :attr:`surges` and :attr:`lulls`."""

    def __init__(
        self,
        seed: int,
        products: int,
        start_ts: int,
        rate_per_s: float,
        dup_share: float = 0.01,
        bad_share: float = 0.005,
        shape: Shape | None = None,
    ) -> None:
        if products < 1 or rate_per_s <= 0 or not (0 <= dup_share and 0 <= bad_share):
            raise ValueError("need products >= 1, rate > 0 and shares >= 0")
        if dup_share + bad_share >= 1:
            raise ValueError("need dup_share + bad_share < 1")
        self.rng = rng = random.Random(seed)
        self.shape = shape or Shape()
        self.start_ts, self.rate, self.dup, self.bad = start_ts, rate_per_s, dup_share, bad_share
        self.surges: list[Surge] = []
        self.lulls: list[Lull] = []
        self.pids = [f"p-{k:05d}" for k in range(products)]
        self.keys = [p.encode() for p in self.pids]
        by_rank = list(range(products))
        rng.shuffle(by_rank)  # popularity is not id order
        self.by_rank = by_rank
        weights = [1 / (r + 1) ** ZIPF_S for r in range(products)]
        self.cum = list(itertools.accumulate(weights))
        # Typical retail price points: 4.99, 19.49, 129.95 ...; a few whole numbers.
        self.price = [0] * products
        for k in range(products):
            whole = int(math.exp(rng.uniform(math.log(2), math.log(300))))
            self.price[k] = whole * 100 + rng.choice((99, 99, 49, 95, 0))
        self.stock: list[_Stock] = [_Stock(()) for _ in range(products)]
        self.expected_per_min = [0.0] * products
        for rank, k in enumerate(by_rank):
            share = weights[rank] / self.cum[-1]
            self.expected_per_min[k] = rate_per_s * 60 * UNITS_PER_RECORD * share
            self.stock[k] = self._policy(self.expected_per_min[k], rank, products)
        self.ids = {"b": itertools.count(), "i": itertools.count()}
        self.sessions = itertools.count()
        self.users = itertools.count()
        self.known: deque[str] = deque(maxlen=KNOWN_USERS)
        self.due: list[tuple[float, int, str, Any]] = []  # (event time ms, seq, what, payload)
        self.seq = itertools.count()
        # Records of the last DUP_WITHIN_MS, oldest first from ``recent_lo``: a list, so a
        # random pick is O(1) (a deque is O(n) in the middle).
        self.recent: list[tuple[float, TraceRecord]] = []
        self.recent_lo = 0
        self.clock_ms = float(start_ts)  # event time of the current slot
        self.initial = deque(op for k in range(products) for op in self._opening_stock(k))
        self.flash_rest: dict[int, float] = {}
        self.next_lull = self.clock_ms + self._lull_gap_ms() if self.shape.lulls else math.inf
        self.lull: Lull | None = None
        self.step_ms = 1000 / (rate_per_s * self._intensity())
        self.intensity_at = self.clock_ms + INTENSITY_EVERY_MS  # when it is next re-read
        self.next_flash = self.clock_ms + rng.uniform(*FLASH_FIRST_S) * 1000
        self._pending_returns()

    # -- stock policy ---------------------------------------------------------------

    def _policy(self, per_min: float, rank: int, products: int) -> _Stock:
        """Reorder point and quantity from a forecast of ``per_min``, which errs as forecasts do."""
        rng = self.rng
        error = FORECAST_ERROR
        forecast = per_min * math.exp(rng.gauss(0, error) - error * error / 2)
        lead_min = rng.uniform(*LEAD_TIME_MIN)
        during_lead = forecast * lead_min
        safety = SAFETY_Z * math.sqrt(during_lead * QTY_VAR)
        order = max(CASE_PACK, math.ceil(forecast * 60 * rng.uniform(*ORDER_COVER_H)))
        # The best sellers sit in every warehouse, the tail in one or two.
        n_wh = 3 if rank < products // 10 else rng.choice((1, 1, 2))
        return _Stock(
            warehouses=tuple(sorted(rng.sample(WAREHOUSES, n_wh))),
            reorder_point=math.ceil(during_lead + safety),
            order_qty=order,
            lead_time_s=lead_min * 60,
        )

    def _opening_stock(self, k: int) -> list[tuple[int, str, str, int]]:
        """A shop already trading: each product somewhere in its reorder cycle.

        Above the reorder point with no order out, or below it waiting for a
        delivery (for the share of a cycle that the lead time takes), or, for a
        few, sold out and waiting: then the opening record is a count of 0.
        """
        rng = self.rng
        s = self.stock[k]
        cycle_s = s.order_qty / max(self.expected_per_min[k], 1e-9) * 60
        roll = rng.random()
        if roll < OPENING_OUT_SHARE:
            total = 0
        elif roll < OPENING_OUT_SHARE + s.lead_time_s / (s.lead_time_s + cycle_s):
            total = 1 + rng.randrange(max(1, s.reorder_point))
        else:
            total = s.reorder_point + 1 + rng.randrange(s.order_qty)
        if total <= s.reorder_point:
            s.on_order = s.order_qty
            self.schedule(self.later(rng.uniform(0, s.lead_time_s)), "restock", k)
        if total == 0:
            return [(k, "count", s.warehouses[0], 0)]
        split = {wh: total // len(s.warehouses) for wh in s.warehouses}
        split[s.warehouses[0]] += total - sum(split.values())
        return [(k, "restock", wh, q) for wh, q in split.items() if q > 0]

    def _pending_returns(self) -> None:
        """Carts left before the trace starts, whose shoppers come back during it."""
        rng = self.rng
        for _ in range(int(RETURNS_PENDING * self.rate)):
            # The time left until a return is the residual of RETURN_AFTER_S: short more often.
            back = self.later(rng.triangular(0, RETURN_AFTER_S[1], 0))
            cart = {self.popular(): rng.choice(CART_QTY)}
            self.schedule(back, "return", (f"u-{next(self.users)}", cart, rng.choice((2, 2, 3))))

    # -- time and scheduling --------------------------------------------------------

    def ts(self) -> int:
        rng = self.rng
        t = self.clock_ms + rng.uniform(-JITTER_MS, JITTER_MS)
        if rng.random() < LATE_SHARE:
            t -= rng.uniform(2_000, LATE_MAX_MS)
        return max(0, int(t))

    def later(self, seconds: float) -> float:
        return self.clock_ms + seconds * 1000

    def schedule(self, at: float, what: str, payload: Any) -> None:
        heapq.heappush(self.due, (at, next(self.seq), what, payload))

    def _intensity(self) -> float:
        t = self.clock_ms
        level = 1.0
        shape = self.shape
        if shape.rhythm:
            hour = ((t / 1000 + shape.utc_offset_s) % 86_400) / 3_600
            h = int(hour)
            frac = hour - h
            level = RHYTHM[h] * (1 - frac) + RHYTHM[(h + 1) % 24] * frac
        if shape.lulls:
            if self.lull is None and t >= self.next_lull:
                rng = self.rng
                length = rng.uniform(*LULL_LENGTH_S) * 1000
                self.lull = Lull(int(t), int(t + length), rng.uniform(*LULL_DEPTH))
                self.lulls.append(self.lull)
            lull = self.lull
            if lull is not None:
                ramp = LULL_RAMP_S * 1000
                if t >= lull.end_ts + ramp:
                    self.lull = None
                    self.next_lull = t + self._lull_gap_ms()
                elif t >= lull.end_ts:
                    level *= lull.depth + (1 - lull.depth) * (t - lull.end_ts) / ramp
                else:
                    level *= lull.depth
        return level

    def _lull_gap_ms(self) -> float:
        return self.rng.expovariate(1 / LULL_EVERY_S) * 1000

    def _tick(self) -> None:
        """Move event time on by one slot."""
        self.clock_ms += self.step_ms
        if self.clock_ms >= self.intensity_at and (self.shape.rhythm or self.shape.lulls):
            self.step_ms = 1000 / (self.rate * self._intensity())
            self.intensity_at = self.clock_ms + INTENSITY_EVERY_MS

    # -- records --------------------------------------------------------------------

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
        return TraceRecord("behavior", self.keys[k], orjson.dumps(body), False, False)

    def inventory(self, k: int, kind: str, wh: str, qty: int) -> TraceRecord:
        s = self.stock[k]
        before = s.on_hand.get(wh, 0)
        delta = {"restock": qty, "sale": -qty, "adjust": qty}.get(kind, qty - before)
        s.on_hand[wh] = before + delta
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
        return TraceRecord("inventory", self.keys[k], orjson.dumps(body), False, False)

    def maybe_reorder(self, k: int) -> None:
        s = self.stock[k]
        if s.on_order == 0 and s.sellable <= s.reorder_point:
            s.on_order = s.order_qty
            lead = s.lead_time_s * self.rng.uniform(0.8, 1.25)  # trucks are not punctual
            self.schedule(self.later(lead), "restock", k)

    # -- shoppers -------------------------------------------------------------------

    def popular(self) -> int:
        cum = self.cum
        return self.by_rank[bisect.bisect(cum, self.rng.random() * cum[-1], 0, len(cum) - 1)]

    def new_session(self) -> _Session:
        rng = self.rng
        if self.known and rng.random() < REVISIT_SHARE:
            user = self.known[rng.randrange(len(self.known))]
        else:
            user = f"u-{next(self.users)}"
        s = _Session(user, f"s-{next(self.sessions)}", deque(), {})
        self._browse(s, 1 + min(int(rng.expovariate(1 / VIEWS_EXTRA_MEAN)), VIEWS_MAX - 1))
        self._decide(s, BUY_NOW)
        return s

    def return_session(self, user: str, cart: dict[int, int], visits: int) -> _Session:
        """A shopper back for a cart left earlier: looks at it again, maybe browses, decides."""
        rng = self.rng
        s = _Session(user, f"s-{next(self.sessions)}", deque(), dict(cart), visits)
        for k in cart:
            s.steps.append(("view", k, 1, self.price[k] if rng.random() < PRICE_SHOWN else None))
        self._browse(s, min(int(rng.expovariate(1.0)), VIEWS_MAX - len(cart)))
        self._decide(s, BUY_ON_RETURN)
        return s

    def _browse(self, s: _Session, views: int) -> None:
        rng = self.rng
        for _ in range(views):
            k = self.popular()
            s.steps.append(("view", k, 1, self.price[k] if rng.random() < PRICE_SHOWN else None))
            if rng.random() < CART_PER_VIEW:
                qty = rng.choice(CART_QTY)
                s.steps.append(("cart_add", k, qty, None))
                s.cart[k] = s.cart.get(k, 0) + qty

    def _decide(self, s: _Session, buy_share: float) -> None:
        """End the session: drop a line perhaps, then check out, or leave (and maybe return)."""
        rng = self.rng
        cart = s.cart
        if not cart:
            return
        if rng.random() < REMOVE_SHARE:
            k = rng.choice(list(cart))
            s.steps.append(("cart_remove", k, cart.pop(k), None))
            if not cart:
                return
        if rng.random() < buy_share:
            s.steps.extend(("purchase", k, q, self.price[k]) for k, q in cart.items())
            cart.clear()
        else:
            s.returns = s.visits <= RETURNS_MAX and rng.random() < RETURN_SHARE

    def step(self, s: _Session) -> TraceRecord:
        kind, k, qty, cents = s.steps.popleft()
        if kind == "purchase":
            stock = self.stock[k]
            if stock.sellable <= 0 and self.rng.random() > OVERSELL:
                kind, qty, cents = "cart_remove", qty, None  # sold out: the shopper gives up
            else:
                qty = max(1, min(qty, stock.sellable))
                stock.sellable -= qty
                self.schedule(self.later(self.rng.uniform(*SALE_DELAY_S)), "sale", (k, qty))
                self.maybe_reorder(k)
        record = self.behaviour(s, kind, k, qty, cents)
        if s.surge is not None:
            surge = s.surge
            surge.start_ts = min(surge.start_ts, int(self.clock_ms) - JITTER_MS)
            surge.end_ts = max(surge.end_ts, int(self.clock_ms) + JITTER_MS)
        if s.steps:
            self.schedule(self.later(self.rng.uniform(*s.think_s)), "session", s)
        elif s.returns:
            back = self.later(self.rng.uniform(*RETURN_AFTER_S))
            self.schedule(back, "return", (s.user_id, s.cart, s.visits + 1))
        elif s.surge is None:
            self.known.append(s.user_id)
        return record

    def flash_sale(self) -> None:
        """Set deal stock aside for a slow mover, then send a crowd after it at a discount."""
        rng = self.rng
        n = len(self.by_rank)
        tail = n - int(n * FLASH_TAIL)
        k = self.by_rank[n - 1 - rng.randrange(tail)]
        for _ in range(10):  # a product that had a deal a moment ago gets another one later
            if self.flash_rest.get(k, -math.inf) <= self.clock_ms:
                break
            k = self.by_rank[n - 1 - rng.randrange(tail)]
        deal = rng.randint(*FLASH_DEAL_UNITS)
        stock = self.stock[k]
        prep = rng.uniform(*FLASH_PREP_S)
        self.schedule(self.clock_ms, "deal_stock", (k, deal))
        cents = max(1, self.price[k] * rng.choice((50, 60, 70)) // 100)
        shoppers = min(max(FLASH_SHOPPERS[0], (stock.sellable + deal) // 2 + 10), FLASH_SHOPPERS[1])
        opens = self.later(prep)
        surge = Surge(self.pids[k], "flash_sale", int(opens), int(opens), shoppers, deal)
        self.surges.append(surge)
        for _ in range(shoppers):
            qty = rng.randint(1, 3)
            steps: deque[_Step] = deque(
                [("view", k, 1, cents), ("cart_add", k, qty, None), ("purchase", k, qty, cents)]
            )
            s = _Session(
                f"u-{next(self.users)}",
                f"s-{next(self.sessions)}",
                steps,
                {},
                think_s=FLASH_THINK_S,
                surge=surge,
            )
            self.schedule(opens + rng.uniform(0, FLASH_SPREAD_S) * 1000, "session", s)
        self.flash_rest[k] = opens + FLASH_REST_MS
        gap_s = max(rng.randint(*FLASH_EVERY) / self.rate, rng.uniform(*FLASH_EVERY_S))
        self.next_flash = self.clock_ms + gap_s * 1000

    def background(self) -> TraceRecord:
        """A WMS correction: shrinkage or a find (adjust), or a recount of one shelf."""
        rng = self.rng
        k = self.popular()
        s = self.stock[k]
        if rng.random() < 0.6 or not s.on_hand:
            qty = rng.choice((-3, -2, -1, -1, 1, 2))
            stocked = [w for w in s.warehouses if s.on_hand.get(w, 0) >= -qty]
            return self.inventory(k, "adjust", rng.choice(stocked or s.warehouses), qty)
        wh = rng.choice(s.warehouses)
        counted = max(0, s.on_hand.get(wh, 0) + rng.choice((0, 0, 0, -1, 1)))
        return self.inventory(k, "count", wh, counted)

    # -- the record stream ----------------------------------------------------------

    def good(self) -> TraceRecord:
        if self.initial:
            return self.inventory(*self.initial.popleft())
        if self.due and self.due[0][0] <= self.clock_ms:
            _, _, what, payload = heapq.heappop(self.due)
            if what == "session":
                return self.step(payload)
            if what == "return":
                return self.step(self.return_session(*payload))
            if what == "sale":
                k, qty = payload
                on_hand = self.stock[k].on_hand
                wh = max(self.stock[k].warehouses, key=lambda w: on_hand.get(w, 0))
                return self.inventory(k, "sale", wh, qty)
            k = payload[0] if what == "deal_stock" else payload
            s = self.stock[k]
            wh = min(s.warehouses, key=lambda w: s.on_hand.get(w, 0))
            if what == "deal_stock":
                return self.inventory(k, "restock", wh, payload[1])
            qty, s.on_order = s.on_order, 0
            return self.inventory(k, "restock", wh, qty)
        if self.rng.random() < BACKGROUND_OPS:
            return self.background()
        return self.step(self.new_session())

    def remember(self, record: TraceRecord) -> None:
        self.recent.append((self.clock_ms, record))
        self._forget_old()

    def _forget_old(self) -> None:
        recent, lo, oldest = self.recent, self.recent_lo, self.clock_ms - DUP_WITHIN_MS
        while lo < len(recent) and (recent[lo][0] < oldest or len(recent) - lo > DUP_POOL_MAX):
            lo += 1
        if lo > len(recent) // 2:
            del recent[:lo]
            lo = 0
        self.recent_lo = lo

    def duplicate(self) -> TraceRecord | None:
        self._forget_old()
        recent, lo = self.recent, self.recent_lo
        if lo == len(recent):
            return None
        return recent[lo + self.rng.randrange(len(recent) - lo)][1]._replace(duplicate=True)

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
            body.update(user_id=f"u-{next(self.users)}", kind="view")
        key: bytes | None = self.keys[k]
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

    def records(self) -> Iterator[TraceRecord]:
        """The endless record stream; :attr:`clock_ms` is the slot time of the last one."""
        rng = self.rng
        dup, bad = self.dup, self.dup + self.bad
        flash = self.shape.flash_sales
        while True:
            if flash and self.clock_ms >= self.next_flash and not self.initial:
                self.flash_sale()
            roll = rng.random()
            record: TraceRecord | None = None
            if roll < dup:
                record = self.duplicate()
            elif roll < bad:
                record = self.malformed()
            if record is None:
                record = self.good()
                if dup:
                    self.remember(record)
            yield record
            self._tick()


def generate(
    seed: int,
    products: int,
    events: int,
    start_ts: int,
    rate_per_s: float,
    dup_share: float = 0.01,
    bad_share: float = 0.005,
    shape: Shape | None = None,
) -> Iterator[TraceRecord]:
    """Yield ``events`` records of one deterministic shop day (lazily: any length)."""
    traffic = Traffic(seed, products, start_ts, rate_per_s, dup_share, bad_share, shape)
    return itertools.islice(traffic.records(), events)
