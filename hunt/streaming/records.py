"""The bytes of every record hunt writes, each bounded by what a producer may send.

Output headers and limits of SPEC v2 section 3: every output carries
``hunt.schema``; a dead-lettered copy keeps the original key and value unless
one of them is longer than ``HUNT_MAX_RECORD_BYTES``, which is then cut and
its original length given in ``hunt.error.truncated`` (value) or
``hunt.error.truncated.key`` (key). Forwarded records name their source in
``hunt.src``; a record on the reroute topic that does not is foreign, and is
rejected like any other bad input.
"""

from __future__ import annotations

from typing import Final

from hunt.domain.errors import MissingField, OutOfRange, WrongType, bounded_message
from hunt.streaming.outputs import Header

__all__ = [
    "ALERT_SCHEMA",
    "DLQ_SCHEMA",
    "SOURCE_HEADER",
    "STATE_SCHEMA",
    "dlq_record",
    "forwarded_headers",
    "source_of",
]

SOURCE_HEADER: Final = "hunt.src"  # on forwarded records: "<topic code>:<partition>:<offset>"
ALERT_SCHEMA: Final = [("hunt.schema", b"hunt.alert/2")]
STATE_SCHEMA: Final = [("hunt.schema", b"hunt.product-state/2")]
DLQ_SCHEMA: Final = ("hunt.schema", b"hunt.dlq/2")
_TOPIC_CODES: Final = ("b", "i")
_MAX_SOURCE_HEADER: Final = 64  # "i:4095:" plus a 64-bit offset is 27 bytes.


def dlq_record(
    key: bytes | None,
    value: bytes | None,
    *,
    code: str,
    message: str,
    topic: str,
    partition: int,
    offset: int,
    max_bytes: int,
) -> tuple[bytes | None, bytes | None, list[Header]]:
    """Key, value and headers of the dead-lettered copy of one input record."""
    headers: list[Header] = [
        ("hunt.error.code", code.encode()),
        ("hunt.error.message", bounded_message(message)),
        ("hunt.source.topic", topic.encode()),
        ("hunt.source.partition", str(partition).encode()),
        ("hunt.source.offset", str(offset).encode()),
        DLQ_SCHEMA,
    ]
    if value is not None and len(value) > max_bytes:
        headers.append(("hunt.error.truncated", str(len(value)).encode()))
        value = value[:max_bytes]
    if key is not None and len(key) > max_bytes:
        headers.append(("hunt.error.truncated.key", str(len(key)).encode()))
        key = key[:max_bytes]
    return key, value, headers


def forwarded_headers(code: str, partition: int, offset: int) -> list[Header]:
    return [(SOURCE_HEADER, f"{code}:{partition}:{offset}".encode())]


def source_of(headers: object, partitions: int, home: int) -> tuple[str, int, int]:
    """(topic code, source partition, source offset) of a forwarded record.

    Raises ``Rejected`` for a record hunt did not forward: no or a malformed
    source header, or one naming a partition a forwarded record cannot come
    from (records on their home partition are applied there, never forwarded).
    """
    raw = None
    for name, value in headers or ():  # type: ignore[attr-defined]
        if name == SOURCE_HEADER:
            raw = value
    if raw is None:
        raise MissingField(f"a record on the reroute topic needs the {SOURCE_HEADER} header")
    if not isinstance(raw, bytes) or len(raw) > _MAX_SOURCE_HEADER:
        raise WrongType(f"{SOURCE_HEADER} must be '<b|i>:<partition>:<offset>'")
    parts = raw.split(b":")
    if (
        len(parts) != 3
        or parts[0].decode("ascii", "replace") not in _TOPIC_CODES
        or not parts[1].isdigit()
        or not parts[2].isdigit()
    ):
        raise WrongType(f"{SOURCE_HEADER} must be '<b|i>:<partition>:<offset>', got {raw[:40]!r}")
    code, partition, offset = parts[0].decode(), int(parts[1]), int(parts[2])
    if partition >= partitions or partition == home or offset >= 1 << 63:
        raise OutOfRange(
            f"{SOURCE_HEADER} names {code}:{partition}:{offset}, which cannot have been "
            f"forwarded to home partition {home} of {partitions}"
        )
    return code, partition, offset
