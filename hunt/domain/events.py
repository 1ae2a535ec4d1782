"""Parsing and validating input records (SPEC section 1).

Records are decoded with orjson into a plain dict and checked in place: no
model object is built per event, because this runs once per input record on
the hot path. A valid record comes back as the dict itself, with optional
fields normalised (``qty`` defaulted, nulls dropped).

The first rule a record breaks decides its error code, in this order: size
(before decoding), JSON, object, then ``event_id``, ``product_id``, ``ts``
(type, range, then how far ahead of the record's Kafka timestamp), ``kind``,
and the topic's own fields (behaviour: ``user_id``, ``session_id``, ``qty``,
``price``; inventory: ``warehouse``, ``qty``). Each field is checked for
presence, then type, then range. ``tests/oracle.py`` follows the same order.

orjson cannot tell two things a contract check needs: it reads an integer
literal beyond 64 bits as a float (so ``1e19`` and ``10000000000000000000``
look alike, though one is ``wrong_type`` and the other ``out_of_range``), and
it refuses a number that overflows a double (``1e400``) although that is
JSON. Those rare records are decoded again by the stdlib, which keeps
integers exact and reads ``1e400`` as infinity, under orjson's other rules
(no ``NaN``/``Infinity`` literals, no lone surrogates, nesting at most
:data:`MAX_DEPTH`), so every record gets the same verdict on either path.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from hunt.domain.errors import (
    MissingField,
    NotAnObject,
    NotJson,
    OutOfRange,
    TooLarge,
    UnknownKind,
    WrongType,
    shown,
)

__all__ = [
    "BEHAVIOR_KINDS",
    "DEFAULT_LIMITS",
    "INVENTORY_KINDS",
    "MAX_BEHAVIOR_QTY",
    "MAX_DEPTH",
    "MAX_ID_LEN",
    "MAX_PRICE",
    "MAX_STOCK_QTY",
    "MAX_TS",
    "MAX_WAREHOUSES",
    "Event",
    "Limits",
    "parse_behavior",
    "parse_inventory",
]

Event = dict[str, Any]

MAX_ID_LEN: Final = 128  # SPEC: ids, user_id, session_id and warehouse are at most 128 chars.
MAX_TS: Final = 2**53 - 1  # SPEC: ts is 0..2^53-1, exact in every JSON reader.
MAX_BEHAVIOR_QTY: Final = 1_000_000  # SPEC: behaviour qty is 1..1,000,000.
MAX_PRICE: Final = 1_000_000_000  # SPEC: price is a finite number 0..1,000,000,000.
MAX_STOCK_QTY: Final = 1_000_000_000  # SPEC: inventory |qty| is at most 1,000,000,000.
MAX_WAREHOUSES: Final = 1_000  # SPEC: a product holds at most 1,000 warehouses.
MAX_DEPTH: Final = 1024  # orjson's nesting limit; the stdlib path enforces the same one.
BEHAVIOR_KINDS: Final = frozenset(("view", "cart_add", "cart_remove", "purchase"))
INVENTORY_KINDS: Final = frozenset(("restock", "sale", "adjust", "count"))

# Inventory qty bounds per kind (adjust also may not be 0).
_STOCK_QTY: Final = {
    "restock": (1, MAX_STOCK_QTY),
    "sale": (1, MAX_STOCK_QTY),
    "adjust": (-MAX_STOCK_QTY, MAX_STOCK_QTY),
    "count": (0, MAX_STOCK_QTY),
}
_WIDE: Final = 2**63  # orjson makes a float of an integer literal below -2^63 or above 2^64-1.
_U64: Final = 2**64
_EXACT_DIGITS: Final = 24  # longer integer literals are beyond 64 bits (2^64 has 20 digits).
_BEYOND: Final = 10**_EXACT_DIGITS  # stands for any longer one: int() of 5,000 digits raises.


@dataclass(frozen=True, slots=True)
class Limits:
    """The SPEC section 1 bounds that are settings (``HUNT_MAX_RECORD_BYTES``,
    ``HUNT_MAX_FUTURE_S``)."""

    max_record_bytes: int = 65_536
    max_future_ms: int = 3_600_000


DEFAULT_LIMITS: Final = Limits()


class _WideInteger(Exception):
    """An integer field holds a float that orjson may have made of a wider integer."""


def _parse(
    raw: bytes | None,
    record_ts: int | None,
    limits: Limits,
    check: Callable[[Event, int | None, Limits, bool], None],
) -> Event:
    """Decode with orjson and ``check``; a record with an integer beyond 64 bits (which
    orjson reads as a float) is decoded again exactly and checked again."""
    obj = _decode(raw, limits)
    try:
        check(obj, record_ts, limits, False)
    except _WideInteger:
        assert raw is not None  # _decode took it
        obj = _decode_exact(raw, None)
        check(obj, record_ts, limits, True)
    return obj


def parse_behavior(
    raw: bytes | None, record_ts: int | None = None, limits: Limits = DEFAULT_LIMITS
) -> Event:
    """Decode and validate a ``hunt.behavior`` record; raise ``Rejected`` if it is bad.

    ``record_ts`` is the Kafka timestamp (ms) of the record; None or negative is unset.
    """
    return _parse(raw, record_ts, limits, _check_behavior)


def parse_inventory(
    raw: bytes | None, record_ts: int | None = None, limits: Limits = DEFAULT_LIMITS
) -> Event:
    """Decode and validate a ``hunt.inventory`` record; raise ``Rejected`` if it is bad.

    ``record_ts`` is the Kafka timestamp (ms) of the record; None or negative is unset.
    The 1,000-warehouse bound needs the product's state and is checked where it is applied.
    """
    return _parse(raw, record_ts, limits, _check_inventory)


# -- the rules -------------------------------------------------------------------------


def _check_behavior(obj: Event, record_ts: int | None, limits: Limits, exact: bool) -> None:
    _ident(obj, "event_id")
    _ident(obj, "product_id")
    _ts(obj, record_ts, limits, exact)
    kind = _kind(obj, BEHAVIOR_KINDS)
    _opt_str(obj, "user_id")
    _opt_str(obj, "session_id")
    if obj.get("qty") is None:
        obj["qty"] = 1
    else:
        _integer(obj, "qty", 1, MAX_BEHAVIOR_QTY, exact)
    price = obj.get("price")
    if price is None:
        if "price" in obj:
            del obj["price"]
        if kind == "purchase":
            raise MissingField("price is required for a purchase")
    elif type(price) is not float and type(price) is not int:  # bool is not a number
        raise WrongType(f"price must be a number, got {_json_type(price)} {shown(price)}")
    elif not 0 <= price <= MAX_PRICE:  # also false for infinity (1e400)
        raise OutOfRange(f"price must be a finite number 0..{MAX_PRICE}, got {_number(price)}")


def _check_inventory(obj: Event, record_ts: int | None, limits: Limits, exact: bool) -> None:
    _ident(obj, "event_id")
    _ident(obj, "product_id")
    _ts(obj, record_ts, limits, exact)
    kind = _kind(obj, INVENTORY_KINDS)
    _ident(obj, "warehouse")
    low, high = _STOCK_QTY[kind]
    if _integer(obj, "qty", low, high, exact) == 0 and kind == "adjust":
        raise OutOfRange("qty must not be 0 for adjust")


def _ident(obj: Event, name: str) -> None:
    """A required string of 1..MAX_ID_LEN characters."""
    value = obj.get(name)
    if type(value) is str and 0 < len(value) <= MAX_ID_LEN:
        return
    if value is None:
        raise MissingField(f"{name} is required")
    if type(value) is not str:
        raise WrongType(f"{name} must be a string, got {_json_type(value)} {shown(value)}")
    raise OutOfRange(f"{name} must be 1..{MAX_ID_LEN} characters, got {len(value)}")


def _opt_str(obj: Event, name: str) -> None:
    """An optional string of at most MAX_ID_LEN characters; null is dropped."""
    if name in obj:
        value = obj[name]
        if type(value) is str:
            if len(value) > MAX_ID_LEN:
                raise OutOfRange(
                    f"{name} must be at most {MAX_ID_LEN} characters, got {len(value)}"
                )
        elif value is None:
            del obj[name]
        else:
            raise WrongType(f"{name} must be a string, got {_json_type(value)} {shown(value)}")


def _integer(obj: Event, name: str, low: int, high: int, exact: bool) -> int:
    """A required JSON integer within ``low..high``."""
    value = obj.get(name)
    if type(value) is int:
        if low <= value <= high:
            return value
        raise OutOfRange(f"{name} must be an integer {low}..{high}, got {_number(value)}")
    if value is None:
        raise MissingField(f"{name} is required")
    if type(value) is float and not exact and not -_WIDE < value < _WIDE:
        raise _WideInteger
    raise WrongType(f"{name} must be a JSON integer, got {_json_type(value)} {shown(value)}")


def _ts(obj: Event, record_ts: int | None, limits: Limits, exact: bool) -> None:
    ts = _integer(obj, "ts", 0, MAX_TS, exact)
    if record_ts is not None and record_ts >= 0 and ts - record_ts > limits.max_future_ms:
        raise OutOfRange(
            f"ts {ts} is more than {limits.max_future_ms} ms ahead of the record's "
            f"timestamp {record_ts}"
        )


def _kind(obj: Event, kinds: frozenset[str]) -> str:
    kind = obj.get("kind")
    if type(kind) is str:
        if kind in kinds:
            return kind
        raise UnknownKind(f"kind {shown(kind)} is not one of {', '.join(sorted(kinds))}")
    if kind is None:
        raise MissingField("kind is required")
    raise WrongType(f"kind must be a string, got {_json_type(kind)} {shown(kind)}")


_JSON_TYPES: Final = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), "value")


def _number(value: float) -> str:
    if type(value) is int and not -_WIDE <= value < _U64:
        return "an integer beyond 64 bits"
    return shown(value)


# -- decoding --------------------------------------------------------------------------


def _decode(raw: bytes | None, limits: Limits) -> Event:
    if raw is None:
        raise NotJson("value is empty (a tombstone), expected a JSON object")
    if len(raw) > limits.max_record_bytes:
        raise TooLarge(f"value is {len(raw)} bytes, more than {limits.max_record_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        obj = _decode_exact(raw, str(exc))
    if type(obj) is not dict:
        raise NotAnObject(f"value is a JSON {_json_type(obj)}, expected an object")
    return obj


def _decode_exact(raw: bytes, orjson_error: str | None) -> Any:
    """Decode with the stdlib under orjson's rules (see the module docstring)."""
    try:
        text = raw.decode("utf-8")
        # Room for MAX_DEPTH levels beyond this frame; the walk below enforces the bound.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + MAX_DEPTH + 16)
        try:
            obj = json.loads(text, parse_constant=_no_constant, parse_int=_exact_int)
        finally:
            sys.setrecursionlimit(limit)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise NotJson(f"value is not valid UTF-8 JSON: {orjson_error or exc}") from None
    _check_tree(obj)
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _exact_int(text: str) -> int:
    if len(text) <= _EXACT_DIGITS:
        return int(text)
    return -_BEYOND if text[0] == "-" else _BEYOND


def _check_tree(obj: Any) -> None:
    """Reject what orjson rejects and the stdlib reads: deep nesting, lone surrogates."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        kind = type(value)
        if kind is str:
            _check_text(value)
        elif kind is dict or kind is list:
            if depth > MAX_DEPTH:
                raise NotJson(f"value is not valid UTF-8 JSON: nesting deeper than {MAX_DEPTH}")
            if kind is dict:
                for key, item in value.items():
                    _check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise NotJson("value is not valid UTF-8 JSON: a lone surrogate escape") from None
