"""Why an input record is rejected: the DLQ error codes (SPEC section 4).

Every rejected record goes to ``hunt.dlq`` with ``hunt.error.code`` set to the
``code`` of one of these classes and ``hunt.error.message`` to its text::

    Rejected                    (base; never raised itself)
    ├── TooLarge           too_large            value longer than the record size limit
    ├── NotJson            invalid_json         value is not UTF-8 JSON (or is a tombstone)
    ├── NotAnObject        not_an_object        JSON, but not an object
    ├── MissingField       missing_field        a required field is absent or null
    ├── WrongType          wrong_type           wrong JSON type (1.0, "1" or true for an integer)
    ├── OutOfRange         out_of_range         value outside its bound (qty 0, 129-char id,
    │                                           an integer beyond 64 bits, ts too far ahead)
    ├── UnknownKind        unknown_kind         ``kind`` is not one of the topic's kinds
    └── TooManyWarehouses  too_many_warehouses  would add a product's 1,001st warehouse

A record that makes hunt's own code fail is dead-lettered with code
:data:`INTERNAL_ERROR`; no validation raises it, so it has no class here.

Messages name the field and the rule and show at most a short prefix of the
offending value (:func:`shown`): a record may be 64 KiB and the DLQ header that
carries the message at most 1,024 bytes (:func:`bounded_message`).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "INTERNAL_ERROR",
    "MESSAGE_MAX_BYTES",
    "MissingField",
    "NotAnObject",
    "NotJson",
    "OutOfRange",
    "Rejected",
    "TooLarge",
    "TooManyWarehouses",
    "UnknownKind",
    "WrongType",
    "bounded_message",
    "shown",
]

INTERNAL_ERROR: Final = "internal_error"
MESSAGE_MAX_BYTES: Final = 1024  # SPEC 3: hunt.error.message is at most 1,024 bytes.
_SHOWN_CHARS: Final = 100  # enough of a value to recognise it in a message.


class Rejected(Exception):
    """A record that breaks the contract; carries the DLQ error code."""

    code = "rejected"

    @property
    def message(self) -> str:
        return str(self)


class TooLarge(Rejected):
    code = "too_large"


class NotJson(Rejected):
    code = "invalid_json"


class NotAnObject(Rejected):
    code = "not_an_object"


class MissingField(Rejected):
    code = "missing_field"


class WrongType(Rejected):
    code = "wrong_type"


class OutOfRange(Rejected):
    code = "out_of_range"


class UnknownKind(Rejected):
    code = "unknown_kind"


class TooManyWarehouses(Rejected):
    code = "too_many_warehouses"


def shown(value: object) -> str:
    """A short rendering of a JSON value for a message, never the whole of a big one."""
    if isinstance(value, str):
        if len(value) <= _SHOWN_CHARS:
            return repr(value)
        return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} characters)"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return f"an object of {len(value)} fields"
    try:
        text = repr(value)
    except ValueError:  # an integer beyond Python's str-conversion digit limit
        return "an integer of more than 4,300 digits"
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}..."


def bounded_message(text: str, limit: int = MESSAGE_MAX_BYTES) -> bytes:
    """``text`` as UTF-8, cut at a character boundary to at most ``limit`` bytes.

    Lone surrogates (possible in an exception's text) are escaped, not an error.
    """
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= limit:
        return data
    # The cut may split one multi-byte character; "ignore" drops just that tail.
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")
