"""The published JSON Schemas (draft 2020-12) of hunt's input and output records.

The ``*.json`` files beside this module are the contract a consumer validates
against: they ship in the package and are served at ``GET /schemas/{name}.json``.
Reading them needs nothing beyond the standard library, so a worker serves them
without ``jsonschema`` installed; only the tests validate with it.

Each output record names its schema in the ``hunt.schema`` header (for example
``hunt.alert/2``), and each file's ``$id`` is ``urn:hunt:schema:`` followed by
that value, so a consumer maps a record to its schema without a registry. The
number after the slash changes only when a change could break a consumer
written against the previous one (README, "Output records").
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any, Final

import orjson

__all__ = [
    "HEADER",
    "ID_PREFIX",
    "NAMES",
    "OUTPUT_HEADERS",
    "VERSION",
    "schema",
    "schema_bytes",
    "schema_id",
]

VERSION: Final = 2  # SPEC v2; see the versioning rule in README before changing it.
HEADER: Final = "hunt.schema"  # the Kafka header naming an output record's schema.
ID_PREFIX: Final = "urn:hunt:schema:"

# Schema name (as in /schemas/{name}.json) -> the record type it describes.
_RECORDS: Final = {
    "behavior": "hunt.behavior",
    "inventory": "hunt.inventory",
    "alert": "hunt.alert",
    "product-state": "hunt.product-state",
    "dlq": "hunt.dlq",
}
NAMES: Final = tuple(_RECORDS)

# The hunt.schema header value of each output record, e.g. "hunt.alert/2".
OUTPUT_HEADERS: Final = {
    name: f"{_RECORDS[name]}/{VERSION}" for name in ("alert", "product-state", "dlq")
}


def schema_id(name: str) -> str:
    """The ``$id`` of schema ``name``, e.g. ``urn:hunt:schema:hunt.alert/2``."""
    return f"{ID_PREFIX}{_RECORDS[name]}/{VERSION}"


@cache
def schema_bytes(name: str) -> bytes:
    """The schema file's bytes, as served; KeyError if ``name`` is not one of NAMES."""
    if name not in _RECORDS:
        raise KeyError(name)
    return files(__name__).joinpath(f"{name}.json").read_bytes()


def schema(name: str) -> dict[str, Any]:
    """The schema, decoded (a fresh copy, so a caller may change it)."""
    decoded: dict[str, Any] = orjson.loads(schema_bytes(name))
    return decoded
