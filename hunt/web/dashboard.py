"""The merchandiser dashboard at ``/``: one HTML page and its assets, served by the worker.

Everything the page needs ships in ``hunt/web/static`` (no CDN), so it works
on an air-gapped shop floor; the page polls ``/top``, ``/stock`` and
``/alerts`` and redraws in place.

Faust mounts its own index at ``/`` (a JSON "status OK", or its statistics
page when debug views are on); :func:`free_root` takes those off ``/`` before
the web server applies its blueprints.
"""

from __future__ import annotations

from pathlib import Path

import faust
from aiohttp import web as aioweb
from faust.web import Request, Response, View

__all__ = ["STATIC_DIR", "free_root", "install"]

STATIC_DIR = Path(__file__).with_name("static")
_ROOT_BLUEPRINTS = (
    "faust.web.apps.production_index:blueprint",
    "faust.web.apps.stats:blueprint",
)
_STATS_PREFIX = "/stats"  # where Faust's stats views go when debug views are enabled.


def free_root(app: faust.App) -> None:
    """Drop Faust's production index from ``/`` and move its stats views to ``/stats``."""
    manager = app.web.blueprints
    kept: list[tuple[str, object]] = []
    for prefix, blueprint in manager._enabled:
        if blueprint == _ROOT_BLUEPRINTS[0]:
            continue
        if blueprint == _ROOT_BLUEPRINTS[1]:
            prefix = _STATS_PREFIX
        kept.append((prefix, blueprint))
    manager._enabled = kept  # type: ignore[assignment]


def install(app: faust.App) -> None:
    page = (STATIC_DIR / "dashboard.html").read_bytes()

    @app.page("/")
    async def index(view: View, request: Request) -> Response:
        """The dashboard page (its data comes from the JSON views)."""
        return aioweb.Response(  # type: ignore[return-value]
            body=page,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    app.web.add_static("/static/", STATIC_DIR)
