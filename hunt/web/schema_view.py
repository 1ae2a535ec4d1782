"""``GET /schemas/{name}.json``: the published JSON Schemas (:mod:`hunt.schemas`).

The bodies are the package's files, read once at install, so a missing file
stops the worker at start instead of failing a consumer later. The name is
looked up among the five known schemas and never used as a path: there is
nothing to traverse.
"""

from __future__ import annotations

from typing import Any

import faust
from aiohttp import web as aioweb
from faust.web import Request, Response, View

from hunt.schemas import NAMES, schema_bytes
from hunt.web.http import json_response

__all__ = ["CONTENT_TYPE", "PATH", "install", "schema_response"]

PATH = "/schemas/{name}.json"
CONTENT_TYPE = "application/schema+json"  # the media type JSON Schema registers.


def schema_response(bodies: dict[str, bytes], name: str) -> Any:
    """The schema ``name`` from ``bodies``, or 404 naming the schemas there are."""
    body = bodies.get(name)
    if body is None:
        return json_response({"error": "no such schema", "schemas": list(bodies)}, 404)
    # no-cache: an upgrade may add optional fields under the same version.
    return aioweb.Response(
        body=body, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-cache"}
    )


def install(app: faust.App) -> None:
    bodies = {name: schema_bytes(name) for name in NAMES}

    @app.page(PATH)
    async def schema_page(view: View, request: Request, name: str) -> Response:
        """The JSON Schema (draft 2020-12) of one input or output record."""
        return schema_response(bodies, name)  # type: ignore[no-any-return]
