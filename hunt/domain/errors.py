"""Why an input record is rejected: the DLQ error codes.

Every rejected record goes to ``hunt.dlq`` with ``hunt.error.code`` set to the
``code`` of one of these classes and ``hunt.error.message`` to its text::

    Rejected                    (base; never raised itself)
    ├── NotJson        invalid_json     value is not UTF-8 JSON
    ├── NotAnObject    not_an_object    JSON, but not an object
    ├── MissingField   missing_field    a required field is absent or null
    ├── WrongType      wrong_type       wrong JSON type (1.0, "1" or true for an integer)
    ├── OutOfRange     out_of_range     value outside its rule (qty 0, price < 0, long id)
    └── UnknownKind    unknown_kind     ``kind`` is not one of the topic's kinds
"""

from __future__ import annotations

__all__ = [
    "MissingField",
    "NotAnObject",
    "NotJson",
    "OutOfRange",
    "Rejected",
    "UnknownKind",
    "WrongType",
]


class Rejected(Exception):
    """A record that breaks the contract; carries the DLQ error code."""

    code = "rejected"

    @property
    def message(self) -> str:
        return str(self)


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
