"""Parsing and validating input records (SPEC section 1).

Records are decoded with orjson into a plain dict and checked in place: no
model object is built per event, because this runs once per input record on
the hot path. A valid record comes back as the dict itself, with optional
fields normalised (``qty`` defaulted, nulls dropped).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from hunt.domain.errors import (
    MissingField,
    NotAnObject,
    NotJson,
    OutOfRange,
    UnknownKind,
    WrongType,
)

__all__ = [
    "BEHAVIOR_KINDS",
    "INVENTORY_KINDS",
    "MAX_ID_LEN",
    "Event",
    "parse_behavior",
    "parse_inventory",
]

Event = dict[str, Any]

MAX_ID_LEN: Final = 128  # SPEC: event_id and product_id are 1..128 characters.
BEHAVIOR_KINDS: Final = frozenset(("view", "cart_add", "cart_remove", "purchase"))
INVENTORY_KINDS: Final = frozenset(("restock", "sale", "adjust", "count"))


def _decode(raw: bytes | None) -> Event:
    if raw is None:
        raise NotJson("value is empty (a tombstone), expected a JSON object")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NotJson(f"value is not valid UTF-8 JSON: {exc}") from None
    if type(obj) is not dict:
        raise NotAnObject(f"value is a JSON {type(obj).__name__}, expected an object")
    return obj


def _present(obj: Event, name: str) -> bool:
    """A field given as null counts as absent (SPEC section 1)."""
    if name in obj:
        if obj[name] is not None:
            return True
        del obj[name]
    return False


def _ident(obj: Event, name: str) -> str:
    if not _present(obj, name):
        raise MissingField(f"{name} is required")
    value = obj[name]
    if type(value) is not str:
        raise WrongType(f"{name} must be a string, got {_json_type(value)}")
    if not 0 < len(value) <= MAX_ID_LEN:
        raise OutOfRange(f"{name} must be 1..{MAX_ID_LEN} characters, got {len(value)}")
    return value


def _int(obj: Event, name: str) -> int:
    if not _present(obj, name):
        raise MissingField(f"{name} is required")
    value = obj[name]
    if type(value) is not int:  # excludes bool, float (1.0) and strings ("1")
        raise WrongType(f"{name} must be a JSON integer, got {_json_type(value)} {value!r}")
    return value


def _opt_str(obj: Event, name: str) -> None:
    if _present(obj, name) and type(obj[name]) is not str:
        raise WrongType(f"{name} must be a string, got {_json_type(obj[name])}")


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return names.get(type(value), "object")


def _common(obj: Event) -> None:
    _ident(obj, "event_id")
    _ident(obj, "product_id")
    if _int(obj, "ts") < 0:
        raise OutOfRange(f"ts must be >= 0, got {obj['ts']}")


def _kind(obj: Event, kinds: frozenset[str]) -> str:
    if not _present(obj, "kind"):
        raise MissingField("kind is required")
    kind = obj["kind"]
    if type(kind) is not str:
        raise WrongType(f"kind must be a string, got {_json_type(kind)}")
    if kind not in kinds:
        raise UnknownKind(f"kind {kind!r} is not one of {', '.join(sorted(kinds))}")
    return kind


def parse_behavior(raw: bytes | None) -> Event:
    """Decode and validate a ``hunt.behavior`` record; raise ``Rejected`` if it is bad."""
    obj = _decode(raw)
    _common(obj)
    kind = _kind(obj, BEHAVIOR_KINDS)
    _opt_str(obj, "user_id")
    _opt_str(obj, "session_id")
    if _present(obj, "qty"):
        if _int(obj, "qty") < 1:
            raise OutOfRange(f"qty must be >= 1, got {obj['qty']}")
    else:
        obj["qty"] = 1
    if _present(obj, "price"):
        price = obj["price"]
        if type(price) not in (int, float):
            raise WrongType(f"price must be a number, got {_json_type(price)}")
        if price < 0:
            raise OutOfRange(f"price must be >= 0, got {price}")
    elif kind == "purchase":
        raise MissingField("price is required for a purchase")
    return obj


def parse_inventory(raw: bytes | None) -> Event:
    """Decode and validate a ``hunt.inventory`` record; raise ``Rejected`` if it is bad."""
    obj = _decode(raw)
    _common(obj)
    kind = _kind(obj, INVENTORY_KINDS)
    if not _present(obj, "warehouse"):
        raise MissingField("warehouse is required")
    warehouse = obj["warehouse"]
    if type(warehouse) is not str:
        raise WrongType(f"warehouse must be a string, got {_json_type(warehouse)}")
    if not warehouse:
        raise OutOfRange("warehouse must be a non-empty string")
    qty = _int(obj, "qty")
    if kind in ("restock", "sale") and qty < 1:
        raise OutOfRange(f"qty must be >= 1 for {kind}, got {qty}")
    if kind == "adjust" and qty == 0:
        raise OutOfRange("qty must not be 0 for adjust")
    if kind == "count" and qty < 0:
        raise OutOfRange(f"qty must be >= 0 for count, got {qty}")
    return obj
