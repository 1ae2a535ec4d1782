"""Worker-to-worker views: what *this* worker knows, for a scatter-gather to merge.

Each answer names the home partitions it was computed from, so the merging
worker can verify that every partition was read exactly once (from its one
active, recovered copy). While this worker is rebalancing or recovering it
serves no partitions, which makes the merge answer 503 rather than a
silently partial ranking.

These views take the public views' bounds (:mod:`hunt.web.views`) and are
protected by the bearer token like any other (:mod:`hunt.web.auth`); peers
send it.

They share the event loop with the engine, so none runs for more than a few
milliseconds at a time. A view that reads every product state parses them
:data:`SCAN_SLICE` at a time and yields to the loop between slices; ranking a
slice and merging it into the running answer is exact, because the ``merge_*``
functions rank by the same keys as the ``local_*`` ones. Each product is read
once, so the answer holds each product as it was when its slice was read,
not one instant of the whole partition. A rebalance between two slices ends
the scan with a 503: the partitions it was reading may have moved.

``/top`` and ``/stock`` answer from each partition's view index
(:mod:`hunt.domain.view_index`), which the engine keeps up to date as it
writes products. A partition's index is built on the first request after its
assignment, by the same sliced scan; a partition whose index outgrew its
memory share is scanned on every request instead. Ranking one partition's
index runs without yielding (it costs what the answer costs), so no product
of it changes while it is ranked; the loop runs between partitions, and a
ratio, which reads every summary, is sliced like a scan.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, cast

import orjson
from aiohttp import web as aioweb
from faust.web import Request, Response, View

from hunt.domain.events import MAX_ID_LEN
from hunt.domain.product import ProductState
from hunt.domain.view_index import ViewIndex
from hunt.streaming.adapter.internals import partition_db
from hunt.streaming.monitor import STATE_PREFIX
from hunt.web.http import (
    BadRequest,
    choice_param,
    int_param,
    json_response,
    optional_choice_param,
    optional_text_param,
    unavailable,
)
from hunt.web.queries import (
    ALERT_KINDS,
    MAX_BASE,
    METRICS,
    RATIOS,
    ProductView,
    indexed_ratio_top,
    indexed_stock,
    indexed_top,
    local_alerts,
    local_stock,
    local_top,
    merge_stock,
    merge_top,
    series_of,
)

if TYPE_CHECKING:
    from hunt.streaming.app import Hunt
    from hunt.web.routing import Cluster

__all__ = ["SCAN_SLICE", "SERIES_SLICE_WINDOWS", "Moved", "install", "scan_states"]

# States parsed and ranked between yields to the event loop. A stored state with an
# hour of windows takes ~65 us to parse and 10-50 us to rank or stock-check (best of
# 5 on the 2-core dev machine, `python -m tests.unit.test_web_local`): ~2 ms a slice.
SCAN_SLICE = 16
# Window values read between yields when building /top series (~0.2 us each): ~1.5 ms
# a slice, where n=500 series of 1,440 minutes at once took ~150 ms.
SERIES_SLICE_WINDOWS = 8192
# Product summaries read between yields for a ratio /top (~2-3 us each): ~2 ms a slice.
RATIO_SLICE = 768
# Answer items encoded between yields: a /top item of 1,440 minutes takes ~20 us.
ENCODE_SLICE = 64
_TS_MAX = 2**63 - 1  # event times are signed 64-bit milliseconds


class Moved(RuntimeError):
    """The partitions being read changed between two slices of a scan."""


async def scan_states(
    hunt: Hunt, cluster: Cluster, partitions: set[int], only: set[int] | None = None
) -> AsyncIterator[list[ProductState]]:
    """The product states of ``partitions`` (of ``only`` among them, when given), in
    slices of :data:`SCAN_SLICE`.

    Between slices the event loop runs; :class:`Moved` is raised when the
    partitions served, or the consumer generation, changed meanwhile. Nothing
    of RocksDB is held across a yield (each slice seeks anew from the last key
    read), so a revoked partition's database is never kept open by a view.
    """
    app = hunt.app
    generation = app.consumer_generation_id
    table: Any = hunt.engine.table
    for partition in sorted(partitions if only is None else partitions & only):
        after: bytes | None = None
        while True:
            if cluster.serving_partitions() != partitions or (
                app.consumer_generation_id != generation
            ):
                raise Moved(f"partitions moved while reading partition {partition}")
            raws: list[bytes] = []
            db: Any = partition_db(table, partition)  # raw mode: keys are bytes
            for key, raw in db.items(from_key=after if after is not None else STATE_PREFIX):
                if not key.startswith(STATE_PREFIX):
                    break
                if key == after:
                    continue
                raws.append(raw)
                after = key
                if len(raws) == SCAN_SLICE:
                    break
            del db
            if raws:
                yield [ProductState.from_bytes(raw) for raw in raws]
                await asyncio.sleep(0)
            if len(raws) < SCAN_SLICE:
                break


async def _products_response(partitions: set[int], items: list[dict[str, Any]]) -> Response:
    """``{"partitions": [...], "products": items}``, encoded :data:`ENCODE_SLICE` items
    at a time (n=500 items of 1,440 minutes are ~3 MB of JSON)."""
    encoded: list[bytes] = []
    for i in range(0, len(items), ENCODE_SLICE):
        encoded.extend(orjson.dumps(item) for item in items[i : i + ENCODE_SLICE])
        await asyncio.sleep(0)
    body = b"".join(
        (
            b'{"partitions":',
            orjson.dumps(sorted(partitions)),
            b',"products":[',
            b",".join(encoded),
            b"]}",
        )
    )
    return cast(Response, aioweb.Response(body=body, content_type="application/json"))


def install(hunt: Hunt, cluster: Cluster) -> None:
    # The public views' bounds; imported here because views.py imports this module.
    from hunt.web.views import MAX_ALERTS, MAX_MINUTES, MAX_N

    app = hunt.app
    # The newest stored event time per (generation, partitions), read once after a restart.
    restored: dict[tuple[int, frozenset[int]], int] = {}

    @app.page("/_hunt/local/clock")
    async def clock(view: View, request: Request) -> Response:
        """The newest event time this worker has applied (ms), and what it serves."""
        partitions = cluster.serving_partitions()
        stream_time = hunt.engine.stream_time
        if stream_time == 0 and partitions:
            # After a restart the engine has not applied anything yet; the stored
            # states still know the newest event time.
            key = (app.consumer_generation_id, frozenset(partitions))
            if key not in restored:
                newest = 0
                try:
                    async for states in scan_states(hunt, cluster, partitions):
                        newest = max(newest, *(s.last_event_ts or 0 for s in states))
                except Moved as exc:
                    return cast(Response, unavailable(str(exc)))
                restored.clear()
                restored[key] = newest
            stream_time = max(hunt.engine.stream_time, restored[key])
        body = {"stream_time": stream_time, "partitions": sorted(partitions)}
        return cast(Response, json_response(body))

    build_lock = asyncio.Lock()  # one build at a time; a second request waits for it

    async def indexes(partitions: set[int]) -> dict[int, ViewIndex | None]:
        """Each partition's ready view index (None: scan it), building missing ones."""
        views = hunt.engine.views
        out: dict[int, ViewIndex | None] = {}
        for partition in sorted(partitions):
            index = views.ready(partition)
            if index is None and not views.full(partition):
                async with build_lock:
                    index = views.ready(partition)
                    if index is None and not views.full(partition):
                        index = await build(partition, partitions)
            out[partition] = index
        return out

    async def build(partition: int, partitions: set[int]) -> ViewIndex | None:
        """Load every stored state of ``partition`` into its index, which the engine
        feeds meanwhile (a state read here is as stored: the engine writes a
        product's state and its index entry with no await between)."""
        views = hunt.engine.views
        index = views.open(partition)
        async for states in scan_states(hunt, cluster, partitions, only={partition}):
            for state in states:
                index.load(state)
            if index.full:
                return None
        return index if views.finish(partition, index) else None

    def still(
        partitions: set[int], generation: int, by_partition: dict[int, ViewIndex | None]
    ) -> None:
        """Raise :class:`Moved` unless the same partitions and indices are served."""
        views = hunt.engine.views
        if (
            cluster.serving_partitions() != partitions
            or app.consumer_generation_id != generation
            or any(i is not None and views.ready(p) is not i for p, i in by_partition.items())
        ):
            raise Moved("partitions moved while answering")

    @app.page("/_hunt/local/top")
    async def top(view: View, request: Request) -> Response:
        try:
            metric = choice_param(request, "metric", "units", METRICS)
            if not request.query.get("since"):
                raise BadRequest("since: required (the oldest window, ms)")
            since = int_param(request, "since", 0, -_TS_MAX - 1, _TS_MAX)
            minutes = int_param(request, "minutes", 15, 1, MAX_MINUTES)
            n = int_param(request, "n", 10, 1, MAX_N)
            min_base = int_param(request, "min_base", 1, 1, MAX_BASE)
        except BadRequest as exc:
            return cast(Response, json_response({"error": str(exc)}, 400))
        partitions = cluster.serving_partitions()
        generation = app.consumer_generation_id
        best: list[dict[str, Any]] = []
        kept: dict[str, ProductView] = {}  # what ``best`` was read from, for their series

        def keep(part: Iterable[tuple[dict[str, Any], ProductView]]) -> None:
            nonlocal best, kept
            part = list(part)
            best = merge_top([best, [item for item, _ in part]], n)
            kept.update((item["product_id"], source) for item, source in part)
            kept = {i["product_id"]: kept[i["product_id"]] for i in best}

        try:
            by_partition = await indexes(partitions)
            still(partitions, generation, by_partition)
            for k, index in enumerate(by_partition.values()):
                if index is None:
                    continue
                if k:
                    # One partition is ranked at a time (n=500 over 1,440 minutes of
                    # every partition at once held the loop for ~55 ms); merging the
                    # partitions' answers is exact, as the scan's slices are.
                    await asyncio.sleep(0)
                    still(partitions, generation, by_partition)
                if metric not in RATIOS:
                    keep(indexed_top(index, metric, since, n))
                    continue
                ids = list(index.products)
                for i in range(0, len(ids), RATIO_SLICE):
                    if i:
                        await asyncio.sleep(0)
                        still(partitions, generation, by_partition)
                    chunk = ids[i : i + RATIO_SLICE]
                    keep(indexed_ratio_top(index, metric, since, n, min_base, chunk))
            scanned = {p for p, index in by_partition.items() if index is None}
            if scanned:
                async for states in scan_states(hunt, cluster, partitions, only=scanned):
                    # Rank without series (minutes=0): only the final n get one.
                    part = local_top(states, metric, since, 0, n, min_base)
                    by_id = {s.product_id: s for s in states}
                    keep((item, by_id[item["product_id"]]) for item in part)
        except Moved as exc:
            return cast(Response, unavailable(str(exc)))
        await _add_series(best, kept, metric, since, minutes)
        return await _products_response(partitions, best)

    @app.page("/_hunt/local/stock")
    async def stock(view: View, request: Request) -> Response:
        try:
            n = int_param(request, "n", 20, 1, MAX_N)
        except BadRequest as exc:
            return cast(Response, json_response({"error": str(exc)}, 400))
        partitions = cluster.serving_partitions()
        generation = app.consumer_generation_id
        low_minutes = hunt.settings.low_stock_minutes
        lists: dict[str, list[dict[str, Any]]] = {"low": [], "out": []}
        try:
            by_partition = await indexes(partitions)
            still(partitions, generation, by_partition)
            scanned = set()
            for partition, index in by_partition.items():
                if index is None or index.low_minutes != low_minutes:
                    scanned.add(partition)
                else:
                    lists = merge_stock([lists, indexed_stock(index, n)], n)
            if scanned:
                async for states in scan_states(hunt, cluster, partitions, only=scanned):
                    lists = merge_stock([lists, local_stock(states, low_minutes, n)], n)
        except Moved as exc:
            return cast(Response, unavailable(str(exc)))
        return cast(Response, json_response({"partitions": sorted(partitions), **lists}))

    @app.page("/_hunt/local/alerts")
    async def alerts(view: View, request: Request) -> Response:
        """At most 1,000 alerts are kept per worker: filtering them takes well under 1 ms."""
        try:
            kind = optional_choice_param(request, "kind", ALERT_KINDS)
            limit = int_param(request, "limit", 50, 1, MAX_ALERTS)
            product_id = optional_text_param(request, "product_id", MAX_ID_LEN)
        except BadRequest as exc:
            return cast(Response, json_response({"error": str(exc)}, 400))
        return cast(
            Response,
            json_response(local_alerts(hunt.engine.recent_alerts, kind, limit, product_id)),
        )


async def _add_series(
    items: Iterable[dict[str, Any]],
    sources: dict[str, ProductView],
    metric: str,
    since: int,
    minutes: int,
) -> None:
    """Give each ranked item its per-minute series, yielding between slices of windows."""
    per_slice = max(1, SERIES_SLICE_WINDOWS // minutes)
    for k, item in enumerate(items, 1):
        item["series"] = series_of(sources[item["product_id"]], metric, since, minutes)
        if k % per_slice == 0:
            await asyncio.sleep(0)
