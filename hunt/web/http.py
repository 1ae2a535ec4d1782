"""Small HTTP helpers shared by hunt's views: JSON answers, 503s, query parameters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web as aioweb
from faust.web import Request

__all__ = [
    "BadRequest",
    "choice_param",
    "int_param",
    "json_response",
    "optional_choice_param",
    "optional_text_param",
    "unavailable",
]

RETRY_AFTER_S = 1  # a rebalance with local recovery usually settles within seconds.


class BadRequest(ValueError):
    """A query parameter is malformed; answered with 400 and its message."""


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """orjson-encoded JSON (Faust's ``View.json`` re-encodes with the slower stdlib)."""
    return aioweb.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def unavailable(reason: str) -> Any:
    """503 with Retry-After: the answer cannot be correct right now, try again shortly."""
    return json_response(
        {"error": "unavailable", "reason": reason},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r}: expected an integer") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name}={value}: must be between {lo} and {hi}")
    return value


def choice_param(request: Request, name: str, default: str, choices: Iterable[str]) -> str:
    value: str = request.query.get(name, default)
    _check_choice(name, value, choices)
    return value


def optional_choice_param(request: Request, name: str, choices: Iterable[str]) -> str | None:
    """An enumerated parameter whose absence (or empty value) means "any"."""
    value: str | None = request.query.get(name) or None
    if value is not None:
        _check_choice(name, value, choices)
    return value


def optional_text_param(request: Request, name: str, max_len: int) -> str | None:
    """A free-text parameter of 1..``max_len`` characters; absent or empty means "any"."""
    value: str | None = request.query.get(name) or None
    if value is not None and len(value) > max_len:
        raise BadRequest(f"{name}: at most {max_len} characters, got {len(value)}")
    return value


def _check_choice(name: str, value: str, choices: Iterable[str]) -> None:
    if value not in choices:
        raise BadRequest(f"{name}={value!r}: expected one of {', '.join(choices)}")
