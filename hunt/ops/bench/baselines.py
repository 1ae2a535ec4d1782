"""The reference engines hunt is measured against, each run as its own process.

``python -m hunt.ops.bench.baselines KIND --bootstrap B --inputs T1,T2 ...``

- ``ceiling``: raw aiokafka, one output record per input record, no state:
  what the client library and the broker allow on this machine.
- ``faust-baseline``: the Faust app a user writes first: one agent, a
  RocksDB ``Table`` counter per product (with its changelog) updated per
  event, and one ``send`` per event.
- ``faust-floor``: a Faust agent that only iterates the stream; it reports its
  own first/last event times because it writes nothing to measure from outside.
- ``relay``: raw aiokafka consume -> produce, no batching delay: the middle hop
  of the latency floor.

Each runs under its own consumer group, so all read the same backlog.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

KINDS = ("ceiling", "faust-baseline", "faust-floor", "relay")
FETCH_MAX = 2_000  # records per getmany: large enough to amortise, small enough to stay live


async def _aiokafka_copy(args: argparse.Namespace, *, linger_ms: int) -> None:
    """Consume ``inputs`` from the start and produce each record to ``output``."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        *args.inputs,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        max_poll_records=FETCH_MAX,
    )
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=linger_ms, acks=1)
    await producer.start()
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=FETCH_MAX)
            for records in batches.values():
                for rec in records:
                    await producer.send(args.output, rec.value, key=rec.key)
    finally:
        await consumer.stop()
        await producer.stop()


def _faust_app(args: argparse.Namespace, data_dir: Path) -> Any:
    import faust

    return faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="rocksdb://",
        datadir=str(data_dir),
        topic_partitions=args.partitions,
        topic_replication_factor=1,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
    )


def _faust_baseline(args: argparse.Namespace, data_dir: Path) -> Any:
    app = _faust_app(args, data_dir)
    source = app.topic(*args.inputs, key_type=bytes, value_type=bytes, value_serializer="raw")
    sink = app.topic(args.output, key_type=bytes, value_type=bytes, value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=args.partitions)

    @app.agent(source)  # type: ignore[untyped-decorator]
    async def count(stream: Any) -> None:
        async for event in stream.events():
            try:
                product_id = json.loads(event.value)["product_id"]
            except (ValueError, TypeError, KeyError):
                product_id = "?"  # malformed: still one output, as a real app would log it
            counts[product_id] += 1
            await sink.send(key=event.key, value=event.value)

    return app


def _faust_floor(args: argparse.Namespace, data_dir: Path) -> Any:
    app = _faust_app(args, data_dir)
    source = app.topic(*args.inputs, key_type=bytes, value_type=bytes, value_serializer="raw")
    seen = {"n": 0, "first": 0.0}

    @app.agent(source)  # type: ignore[untyped-decorator]
    async def idle(stream: Any) -> None:
        async for _ in stream:
            seen["n"] += 1
            if seen["n"] == 1:
                seen["first"] = time.time()
            if seen["n"] == args.target:
                stats = {"n": seen["n"], "first": seen["first"], "last": time.time()}
                Path(args.stats).write_text(json.dumps(stats))

    return app


def _run_faust(app: Any) -> None:
    from faust import Worker

    sys.argv = [sys.argv[0]]  # the worker parses argv; ours is not its
    Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hunt.ops.bench.baselines")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--inputs", required=True, type=lambda s: s.split(","))
    parser.add_argument("--output", default="")
    parser.add_argument("--group", required=True)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--target", type=int, default=0, help="faust-floor: events to count")
    parser.add_argument("--stats", default="", help="faust-floor: where to write its timing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.kind in ("ceiling", "relay"):
        # The ceiling batches like any bulk producer; the latency floor sends at once.
        linger = 5 if args.kind == "ceiling" else 0
        try:
            asyncio.run(_aiokafka_copy(args, linger_ms=linger))
        except KeyboardInterrupt:
            pass
        return 0
    data_dir = Path(tempfile.mkdtemp(prefix=f"hunt-bench-{args.kind}-"))
    build = _faust_baseline if args.kind == "faust-baseline" else _faust_floor
    _run_faust(build(args, data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
