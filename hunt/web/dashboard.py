"""The merchandiser dashboard at ``/``: one HTML page and its assets, served by the worker.

Everything the page needs ships in ``hunt/web/static`` (no CDN), so it works
on an air-gapped shop floor. It has two views behind hash routes: the shop
overview (``#/``), which polls ``/top``, ``/stock`` and ``/alerts``, and a
product page (``#/products/<id>``), which polls that product's state, windows
and alerts; each polls only what it shows and redraws in place.

The alert thresholds the worker runs with are written into the page, so the
page can say why an alert fired (which of the spike floor and the factor set
the threshold) without another request.

Faust mounts its own index at ``/`` (a JSON "status OK", or its statistics
page when debug views are on); :func:`free_root` takes those off ``/`` before
the web server applies its blueprints.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import faust
import orjson
from aiohttp import web as aioweb
from faust.web import Request, Response, View

from hunt.streaming.adapter.internals import enabled_blueprints, set_enabled_blueprints

__all__ = ["STATIC_DIR", "free_root", "install", "render_page"]

STATIC_DIR = Path(__file__).with_name("static")
_ROOT_BLUEPRINTS = (
    "faust.web.apps.production_index:blueprint",
    "faust.web.apps.stats:blueprint",
)
_STATS_PREFIX = "/stats"  # where Faust's stats views go when debug views are enabled.
_RULES_SLOT = b'<meta name="hunt-rules" content="{}">'  # filled in by install().


def free_root(app: faust.App) -> None:
    """Drop Faust's production index from ``/`` and move its stats views to ``/stats``."""
    kept: list[tuple[str, object]] = []
    for prefix, blueprint in enabled_blueprints(app):
        if blueprint == _ROOT_BLUEPRINTS[0]:
            continue
        if blueprint == _ROOT_BLUEPRINTS[1]:
            prefix = _STATS_PREFIX
        kept.append((prefix, blueprint))
    set_enabled_blueprints(app, kept)


def render_page(rules: Mapping[str, float]) -> bytes:
    """The dashboard HTML with the alert thresholds in its ``hunt-rules`` meta tag."""
    page = (STATIC_DIR / "dashboard.html").read_bytes()
    if page.count(_RULES_SLOT) != 1:
        raise RuntimeError(f"dashboard.html must hold {_RULES_SLOT.decode()} exactly once")
    content = html.escape(orjson.dumps(dict(rules)).decode(), quote=True)
    return page.replace(_RULES_SLOT, f'<meta name="hunt-rules" content="{content}">'.encode())


def install(app: faust.App, rules: Mapping[str, float]) -> None:
    """Serve the page at ``/`` and its assets under ``/static/``."""
    page = render_page(rules)

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
