"""Worker-to-worker views: what *this* worker knows, for a scatter-gather to merge.

Each answer names the home partitions it was computed from, so the merging
worker can verify that every partition was read exactly once (from its one
active, recovered copy). While this worker is rebalancing or recovering it
serves no partitions, which makes the merge answer 503 rather than a
silently partial ranking.

These views are protected by the bearer token like any other; peers send it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from faust.web import Request, Response, View

from hunt.domain.events import MAX_ID_LEN
from hunt.domain.product import ProductState
from hunt.streaming.monitor import STATE_PREFIX
from hunt.streaming.store import PartitionStore
from hunt.web.http import (
    BadRequest,
    choice_param,
    int_param,
    json_response,
    optional_choice_param,
    optional_text_param,
)
from hunt.web.queries import (
    ALERT_KINDS,
    MAX_BASE,
    METRICS,
    local_alerts,
    local_stock,
    local_top,
)

if TYPE_CHECKING:
    from hunt.streaming.app import Hunt
    from hunt.web.routing import Cluster

__all__ = ["install", "states_in"]


def states_in(hunt: Hunt, partitions: set[int]) -> Iterator[ProductState]:
    """Every product state stored in the given (active) table partitions."""
    for partition in sorted(partitions):
        store = PartitionStore(hunt.engine.table, partition)
        for key in list(store.keys_with_prefix(STATE_PREFIX)):
            raw = store.get(key)
            if raw is not None:
                yield ProductState.from_bytes(raw)


def install(hunt: Hunt, cluster: Cluster) -> None:
    app = hunt.app

    @app.page("/_hunt/local/clock")
    async def clock(view: View, request: Request) -> Response:
        """The newest event time this worker has applied (ms), and what it serves."""
        partitions = cluster.serving_partitions()
        stream_time = hunt.engine.stream_time
        if stream_time == 0 and partitions:
            # After a restart the engine has not applied anything yet; the stored
            # states still know the newest event time.
            stream_time = max(
                (s.last_event_ts or 0 for s in states_in(hunt, partitions)), default=0
            )
        body = {"stream_time": stream_time, "partitions": sorted(partitions)}
        return json_response(body)  # type: ignore[no-any-return]

    @app.page("/_hunt/local/top")
    async def top(view: View, request: Request) -> Response:
        try:
            metric = choice_param(request, "metric", "units", METRICS)
            since = int(request.query["since"])
            minutes = int_param(request, "minutes", 15, 1, 100_000)
            n = int_param(request, "n", 10, 1, 100_000)
            min_base = int_param(request, "min_base", 1, 1, MAX_BASE)
        except (BadRequest, KeyError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)  # type: ignore[no-any-return]
        partitions = cluster.serving_partitions()
        products = local_top(states_in(hunt, partitions), metric, since, minutes, n, min_base)
        body = {"partitions": sorted(partitions), "products": products}
        return json_response(body)  # type: ignore[no-any-return]

    @app.page("/_hunt/local/stock")
    async def stock(view: View, request: Request) -> Response:
        try:
            n = int_param(request, "n", 20, 1, 100_000)
        except BadRequest as exc:
            return json_response({"error": str(exc)}, 400)  # type: ignore[no-any-return]
        partitions = cluster.serving_partitions()
        lists = local_stock(states_in(hunt, partitions), hunt.settings.low_stock_minutes, n)
        return json_response({"partitions": sorted(partitions), **lists})  # type: ignore[no-any-return]

    @app.page("/_hunt/local/alerts")
    async def alerts(view: View, request: Request) -> Response:
        try:
            kind = optional_choice_param(request, "kind", ALERT_KINDS)
            limit = int_param(request, "limit", 50, 1, 100_000)
            product_id = optional_text_param(request, "product_id", MAX_ID_LEN)
        except BadRequest as exc:
            return json_response({"error": str(exc)}, 400)  # type: ignore[no-any-return]
        return json_response(  # type: ignore[no-any-return]
            local_alerts(hunt.engine.recent_alerts, kind, limit, product_id)
        )
