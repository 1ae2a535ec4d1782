"""HTTP surface of a worker (SPEC section 5): install every view on the Faust app.

Any worker answers for any product and for the whole shop:

* ``/products/{id}`` and ``/products/{id}/windows`` are answered by the
  product's owner (:mod:`hunt.web.routing`), forwarded there when needed;
* ``/top``, ``/stock`` and ``/alerts`` scatter to every worker's internal
  ``/_hunt/local/*`` views (:mod:`hunt.web.local`) and merge; ``/top`` ranks by
  a counter or a funnel ratio (:mod:`hunt.web.queries`), ``/alerts`` filters
  by kind and product;
* ``/metrics`` is Faust's Prometheus sensor page, on the registry that also
  holds hunt's own families; ``/healthz`` and ``/readyz`` are the probes;
* ``/`` is the merchandiser dashboard (:mod:`hunt.web.dashboard`).

Every answer that cannot be correct right now (partitions moving, a worker
unreachable) is a 503 with ``Retry-After``, never a stale or partial result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web as aioweb
from faust.web import Request, Response, View
from prometheus_client import REGISTRY

from hunt.domain.events import MAX_ID_LEN
from hunt.streaming.monitor import FlowMonitor, install_monitor
from hunt.streaming.routing import home_partition
from hunt.web import dashboard, local, schema_view
from hunt.web.auth import install_auth
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
    merge_alerts,
    merge_stock,
    merge_top,
    top_since,
)
from hunt.web.routing import FORWARDED, Cluster, PeerError, check_coverage

if TYPE_CHECKING:
    from hunt.streaming.app import Hunt

__all__ = ["install_views"]

MAX_MINUTES = 1440  # windows are kept about an hour; a day bounds the work of a typo.
MAX_N = 500  # the dashboard shows tens; a few hundred covers exports.
MAX_ALERTS = 1000  # engine.recent_alerts keeps at most this many per worker.


def install_views(hunt: Hunt) -> FlowMonitor:
    """Register hunt's views, the Prometheus sensor, auth and the flow monitor."""
    from faust.sensors.prometheus import setup_prometheus_sensors

    app = hunt.app
    settings = hunt.settings
    cluster = Cluster(hunt)
    monitor = install_monitor(hunt)
    setup_prometheus_sensors(app, pattern="/metrics", registry=REGISTRY, name_prefix="faust")
    install_auth(app.web.web_app, settings.web_token)  # type: ignore[attr-defined]
    # Faust mounts a JSON "status OK" index (or its stats page) at "/": the dashboard lives there.
    dashboard.free_root(app)
    dashboard.install(
        app,
        {
            "low_stock_minutes": settings.low_stock_minutes,
            "spike_floor": settings.spike_floor,
            "spike_factor": settings.spike_factor,
        },
    )
    local.install(hunt, cluster)
    schema_view.install(app)

    @app.page("/healthz")
    async def healthz(view: View, request: Request) -> Response:
        """Liveness: the process and its event loop serve requests."""
        return json_response({"ok": True})  # type: ignore[no-any-return]

    @app.page("/readyz")
    async def readyz(view: View, request: Request) -> Response:
        """Readiness: assigned, recovered, not rebalancing, input not stalled."""
        verdict = monitor.readiness()
        return json_response(  # type: ignore[no-any-return]
            verdict.as_dict(), status=200 if verdict.ready else 503
        )

    async def answer_for_product(request: Request, product_id: str, minutes: int | None) -> Any:
        partition = home_partition(product_id.encode(), settings.partitions)
        if cluster.can_serve(partition):
            state = hunt.engine.read_state(product_id)
            if state is None:
                return json_response({"error": "not found", "product_id": product_id}, 404)
            if minutes is None:
                return json_response(state.snapshot())
            return json_response(state.window_rows(minutes))
        if request.headers.get(FORWARDED):
            return unavailable(f"partition {partition} is not served here right now")
        owner = cluster.owner(partition)
        if owner is None or cluster.is_self(owner):
            return unavailable(f"partition {partition} has no ready owner (rebalancing)")
        try:
            reply = await cluster.fetch(owner, request.raw_path)  # type: ignore[attr-defined]
        except PeerError as exc:
            return unavailable(str(exc))
        return aioweb.Response(
            body=reply.body, status=reply.status, content_type=reply.content_type
        )

    @app.page("/products/{product_id}")
    async def product(view: View, request: Request, product_id: str) -> Response:
        """The product's state as in ``hunt.product-state``; 404 if never seen."""
        return await answer_for_product(request, product_id, None)  # type: ignore[no-any-return]

    @app.page("/products/{product_id}/windows")
    async def product_windows(view: View, request: Request, product_id: str) -> Response:
        """The product's minute windows within the last N minutes of its own activity."""
        try:
            minutes = int_param(request, "minutes", 60, 1, MAX_MINUTES)
        except BadRequest as exc:
            return json_response({"error": str(exc)}, 400)  # type: ignore[no-any-return]
        return await answer_for_product(request, product_id, minutes)  # type: ignore[no-any-return]

    @app.page("/top")
    async def top(view: View, request: Request) -> Response:
        """Top products across all workers for a counter or funnel ratio over N stream minutes."""
        try:
            metric = choice_param(request, "metric", "units", METRICS)
            minutes = int_param(request, "minutes", 15, 1, MAX_MINUTES)
            n = int_param(request, "n", 10, 1, MAX_N)
            min_base = int_param(request, "min_base", 1, 1, MAX_BASE)
        except BadRequest as exc:
            return json_response({"error": str(exc)}, 400)  # type: ignore[no-any-return]
        try:
            # Stream time is global: the newest event time any worker has seen.
            clocks = await cluster.gather_json("/_hunt/local/clock")
            stream_time = max(int(c["stream_time"]) for c in clocks.values())
            since = top_since(stream_time, minutes)
            q = urlencode(
                {"metric": metric, "since": since, "minutes": minutes, "n": n, "min_base": min_base}
            )
            parts = await cluster.gather_json(f"/_hunt/local/top?{q}")
            check_coverage([p["partitions"] for p in parts.values()], settings.partitions)
        except PeerError as exc:
            return unavailable(str(exc))  # type: ignore[no-any-return]
        body = {
            "metric": metric,
            "minutes": minutes,
            "n": n,
            "min_base": min_base,
            "stream_time": stream_time,
            "since_window": since,
            "products": merge_top((p["products"] for p in parts.values()), n),
        }
        return json_response(body)  # type: ignore[no-any-return]

    @app.page("/stock")
    async def stock(view: View, request: Request) -> Response:
        """Low-stock (stockout within the alert threshold) and sold-out products."""
        try:
            n = int_param(request, "n", 20, 1, MAX_N)
        except BadRequest as exc:
            return json_response({"error": str(exc)}, 400)  # type: ignore[no-any-return]
        try:
            parts = await cluster.gather_json(f"/_hunt/local/stock?n={n}")
            check_coverage([p["partitions"] for p in parts.values()], settings.partitions)
        except PeerError as exc:
            return unavailable(str(exc))  # type: ignore[no-any-return]
        body = {
            "low_stock_minutes": settings.low_stock_minutes,
            **merge_stock(parts.values(), n),
        }
        return json_response(body)  # type: ignore[no-any-return]

    @app.page("/alerts")
    async def alerts(view: View, request: Request) -> Response:
        """The most recent alerts of every worker, newest event time first."""
        try:
            kind = optional_choice_param(request, "kind", ALERT_KINDS)
            limit = int_param(request, "limit", 50, 1, MAX_ALERTS)
            product_id = optional_text_param(request, "product_id", MAX_ID_LEN)
        except BadRequest as exc:
            return json_response({"error": str(exc)}, 400)  # type: ignore[no-any-return]
        filters = {"kind": kind, "product_id": product_id}
        q = urlencode({"limit": limit, **{k: v for k, v in filters.items() if v is not None}})
        try:
            parts = await cluster.gather_json(f"/_hunt/local/alerts?{q}")
        except PeerError as exc:
            return unavailable(str(exc))  # type: ignore[no-any-return]
        return json_response(merge_alerts(parts.values(), limit))  # type: ignore[no-any-return]

    return monitor
