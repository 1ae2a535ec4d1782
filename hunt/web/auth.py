"""Optional bearer-token protection for every view except the probes and metrics.

Installed as an aiohttp middleware on Faust's web application, so it also
covers Faust's own views (``/table``, ``/graph``, ...) when they are enabled,
which per-view checks would miss. Probes and ``/metrics`` stay open because
kubelets and Prometheus scrapers usually cannot send a token, and they expose
nothing about the shop's products; so do the dashboard's static assets.

The dashboard page itself is covered too: a browser opens
``/?token=...`` once; the page keeps the token and sends it as a header.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["OPEN_PATHS", "bearer_middleware", "install_auth"]

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
STATIC_PREFIX = "/static/"  # the dashboard's script and stylesheet: code, no shop data.

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _presented(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.query.get("token", "")


def bearer_middleware(token: str) -> Middleware:
    """Reject requests without ``Authorization: Bearer <token>`` (or ``?token=``)."""
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            request.path in OPEN_PATHS
            or request.path.startswith(STATIC_PREFIX)
            or request.method == "OPTIONS"
        ):
            return await handler(request)
        if hmac.compare_digest(_presented(request).encode(), expected):
            return await handler(request)
        return web.json_response(
            {"error": "unauthorized"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="hunt"'},
        )

    return check


def install_auth(web_app: web.Application, token: str) -> None:
    """Add the middleware when a token is configured (HUNT_WEB_TOKEN); no-op otherwise."""
    if token:
        web_app.middlewares.append(bearer_middleware(token))
