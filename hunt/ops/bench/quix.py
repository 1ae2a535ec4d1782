"""The peer: Quix Streams, the Python engine users pick instead of Faust.

``python -m hunt.ops.bench.quix --bootstrap B --inputs T1,T2 --output O --group G``

A per-key stateful counter in Quix's RocksDB state (with its changelog, the
default) and one output record per event, over the same backlog.  Quix is
installed for the benchmark only (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from typing import Any

__all__ = ["main"]


def _count(value: bytes, state: Any) -> bytes:
    n = int(state.get("n", 0)) + 1
    state.set("n", n)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hunt.ops.bench.quix")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--inputs", required=True, type=lambda s: s.split(","))
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args(argv)

    from quixstreams import Application

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=tempfile.mkdtemp(prefix="hunt-bench-quix-"),
        loglevel="WARNING",
    )
    sink = app.topic(args.output, value_serializer="bytes", key_serializer="bytes")
    for name in args.inputs:
        source = app.topic(name, value_deserializer="bytes", key_deserializer="bytes")
        # Unkeyed (malformed) records have no state key: pass them through unchanged.
        sdf = app.dataframe(source)
        sdf = sdf.apply(_count, stateful=True)
        sdf.to_topic(sink)
    logging.getLogger("quixstreams").setLevel(logging.WARNING)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
