"""HTTP views (SPEC section 5). Minimal set; see hunt.web for the full surface."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from faust.web import Request, Response, View

if TYPE_CHECKING:
    from hunt.streaming.app import Hunt

__all__ = ["install_views"]


def install_views(hunt: Hunt) -> None:
    app = hunt.app
    engine = hunt.engine

    @app.page("/healthz")
    async def healthz(web: View, request: Request) -> Response:
        return web.json({"ok": True})

    @app.page("/readyz")
    async def readyz(web: View, request: Request) -> Response:
        ready = bool(app.consumer.assignment()) and app.rebalancing is False and (
            app.tables.recovery.completed.is_set()
        )
        return web.json({"ready": ready}, status=200 if ready else 503)

    @app.page("/products/{product_id}")
    async def product(web: View, request: Request, product_id: str) -> Response:
        state = engine.read_state(product_id)
        if state is None:
            return web.json({"error": "not found"}, status=404)
        body: Any = state.snapshot()
        return web.bytes(orjson.dumps(body), content_type="application/json")
