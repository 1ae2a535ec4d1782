"""``hunt simulate``: live shop traffic for the dashboard, and bulk trace production.

The records come from :mod:`hunt.ops.traffic`; this module only moves them to
Kafka.  ``main`` paces them in real time so event time follows the wall clock
and the live views move; :func:`produce_trace` sends a pre-generated trace as
fast as the broker takes it, for tests and the benchmark.  Creating topics is
the worker's job, so both wait for the topics to exist instead of letting the
broker auto-create them with the wrong partition count.  ``--offline`` sends
nothing: it feeds the traffic through the domain rules and reports on the
alerts (:mod:`hunt.ops.alert_report`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import logging
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from hunt.config import ConfigError, Settings
from hunt.ops.traffic import Shape, TraceRecord, Traffic
from hunt.streaming.topics import client_kwargs

__all__ = ["NotReady", "ProduceStats", "main", "produce_trace", "wait_for_topics"]

DEFAULT_RATE = 200.0  # events/s: a lively dashboard that a laptop worker keeps up with
DEFAULT_PRODUCTS = 500  # enough for a long tail, few enough for every product to see traffic
LINGER_MS = 5  # a few ms of batching: far fewer requests, invisible on the dashboard
TOPIC_WAIT_S = 180.0  # the worker creates the topics during its start-up, which can be slow
METADATA_POLL_S = 0.5  # one cheap metadata request per poll while waiting for the topics
PROGRESS_EVERY_S = 5.0  # one summary line every few seconds, not per record
PACE_SLACK_S = 0.005  # sleep only when this far ahead of schedule: fewer, longer sleeps
YIELD_EVERY = 1_000  # when behind schedule, still give the event loop a turn this often
IN_FLIGHT_MAX = 20_000  # delivery futures awaited in chunks: bounded memory for long traces
DUP_SHARE = 0.01  # ~1% re-sends: producer retries after a timeout, as at-least-once clients do
BAD_SHARE = 0.005  # ~0.5% malformed: enough for the DLQ to show every error code in minutes


class NotReady(RuntimeError):
    """The broker or the input topics were not there in time (is a worker running?)."""


@dataclass
class ProduceStats:
    """What was handed to Kafka, by kind; ``failed`` counts unacknowledged records."""

    sent: int = 0
    behavior: int = 0
    inventory: int = 0
    duplicates: int = 0
    bad: int = 0
    failed: int = 0

    def count(self, record: TraceRecord) -> None:
        self.sent += 1
        if record.topic_kind == "behavior":
            self.behavior += 1
        else:
            self.inventory += 1
        self.duplicates += record.duplicate
        self.bad += record.bad

    def line(self) -> str:
        return (
            f"sent {self.sent} (behavior {self.behavior}, inventory {self.inventory}, "
            f"duplicates {self.duplicates}, malformed {self.bad}, failed {self.failed})"
        )


async def wait_for_topics(
    producer: AIOKafkaProducer, topics: Iterable[str], timeout_s: float = TOPIC_WAIT_S
) -> None:
    """Poll cluster metadata until every topic has partitions; raise :class:`NotReady`."""
    wanted = set(topics)
    deadline = time.monotonic() + timeout_s
    missing = wanted
    while True:
        try:
            metadata = await producer.client.fetch_all_metadata()
            missing = {t for t in wanted if not metadata.partitions_for_topic(t)}
        except KafkaError:
            pass  # the broker is still starting or briefly unreachable: poll again
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise NotReady(
                f"topics {', '.join(sorted(missing))} do not exist after {timeout_s:.0f} s; "
                "the worker creates them: start `hunt worker` against the same broker"
            )
        await asyncio.sleep(METADATA_POLL_S)


async def _start(producer: AIOKafkaProducer, deadline: float) -> None:
    """Connect, retrying while the broker starts up, until ``deadline`` (monotonic)."""
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # one error per retry would bury the final message
    try:
        while True:
            try:
                await producer.start()
                return
            except KafkaError as exc:
                if time.monotonic() >= deadline:
                    raise NotReady(f"cannot reach the broker: {exc}") from None
                await asyncio.sleep(METADATA_POLL_S)
    finally:
        quiet.setLevel(level)


def _producer(producer_options: Mapping[str, Any]) -> AIOKafkaProducer:
    options: dict[str, Any] = {"linger_ms": LINGER_MS, "acks": "all", **producer_options}
    return AIOKafkaProducer(**options)


async def _settle(pending: list[asyncio.Future[Any]], stats: ProduceStats) -> BaseException | None:
    """Await delivery of ``pending``; count failures and return the first."""
    results = await asyncio.gather(*pending, return_exceptions=True)
    pending.clear()
    errors = [r for r in results if isinstance(r, BaseException)]
    stats.failed += len(errors)
    return errors[0] if errors else None


async def produce_trace(
    bootstrap: str,
    records: Iterable[TraceRecord],
    topics: tuple[str, str],
    *,
    wait_s: float = TOPIC_WAIT_S,
    keyed: bool = True,
    producer_options: Mapping[str, Any] | None = None,
) -> ProduceStats:
    """Send ``records`` in order, as fast as possible, and wait for every ack.

    ``topics`` is ``(behavior, inventory)``.  ``keyed=False`` drops the keys, as
    some producers in the wild do; ``producer_options`` go to
    :class:`AIOKafkaProducer` (security settings, ``partitioner``, ...).
    Raises the first delivery error once everything has settled.
    """
    producer = _producer({"bootstrap_servers": bootstrap, **(producer_options or {})})
    stats = ProduceStats()
    first_error: BaseException | None = None
    try:
        await _ready(producer, topics, wait_s)
        pending: list[asyncio.Future[Any]] = []
        for record in records:
            topic = topics[0] if record.topic_kind == "behavior" else topics[1]
            key = record.key if keyed else None
            pending.append(await producer.send(topic, record.value, key=key))
            stats.count(record)
            if len(pending) >= IN_FLIGHT_MAX:
                first_error = first_error or await _settle(pending, stats)
        first_error = first_error or await _settle(pending, stats)
    finally:
        await producer.stop()
    if first_error is not None:
        raise first_error
    return stats


async def _simulate(
    settings: Settings, args: argparse.Namespace, stop: asyncio.Event
) -> ProduceStats:
    """Produce paced traffic until ``stop``, ``--duration`` or ``--events``."""
    topics = settings.topics.inputs
    producer = _producer(client_kwargs(settings))
    stats = ProduceStats()
    try:
        if not await _unless_stopped(stop, _ready(producer, topics, args.wait_topics)):
            return stats
        t0, start_ms = time.monotonic(), time.time_ns() // 1_000_000
        print(f"simulate: to {settings.broker} at {args.rate:g}/s, seed {args.seed}", flush=True)
        shape = Shape(rhythm=args.rhythm, utc_offset_s=_utc_offset_s(), lulls=args.lulls)
        traffic = Traffic(
            args.seed, args.products, start_ms, args.rate, args.dup_share, args.bad_share, shape
        )
        records = itertools.islice(traffic.records(), args.events)
        next_report = t0 + PROGRESS_EVERY_S
        for i, record in enumerate(records):
            # Paced by event time: the rhythm and lulls change the rate, not the clock.
            ahead = t0 + (traffic.clock_ms - start_ms) / 1000 - time.monotonic()
            if ahead > PACE_SLACK_S:
                await _unless_stopped(stop, asyncio.sleep(ahead))
            elif i % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the signal handler run when behind schedule
            now = time.monotonic()
            if stop.is_set() or (args.duration and now - t0 >= args.duration):
                break
            topic = topics[0] if record.topic_kind == "behavior" else topics[1]
            fut = await producer.send(topic, record.value, key=record.key)
            fut.add_done_callback(_failure_counter(stats))
            stats.count(record)
            if now >= next_report:
                lag = f", {-ahead:.1f} s behind schedule" if ahead < -1 else ""
                print(f"simulate: {stats.line()}, {stats.sent / (now - t0):.0f}/s{lag}", flush=True)
                next_report = now + PROGRESS_EVERY_S
        await producer.flush()
    finally:
        await producer.stop()
    return stats


async def _ready(producer: AIOKafkaProducer, topics: Iterable[str], wait_s: float) -> None:
    await _start(producer, time.monotonic() + wait_s)
    await wait_for_topics(producer, topics, wait_s)


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[Any]) -> bool:
    """Run ``work`` unless ``stop`` is set first; True if it completed."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    task.result()  # re-raise what the work raised
    return True


def _utc_offset_s() -> int:
    """This machine's offset from UTC: the rhythm follows the local hour of day."""
    return time.localtime().tm_gmtoff


def _failure_counter(stats: ProduceStats) -> Callable[[asyncio.Future[Any]], None]:
    def done(fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            stats.failed += 1

    return done


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hunt simulate",
        description="Produce realistic shop traffic to the input topics, paced in real time.",
    )
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="events per second (with --rhythm: mean)"
    )
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS, help="catalogue size")
    parser.add_argument(
        "--duration", type=float, default=0, help="seconds to run (default 0: until Ctrl-C)"
    )
    parser.add_argument("--events", type=int, default=0, help="stop after N events (0: no limit)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--bootstrap", default=None, help="broker list (default: HUNT_BROKER or localhost:9092)"
    )
    parser.add_argument(
        "--wait-topics", type=float, default=TOPIC_WAIT_S, help="seconds to wait for the topics"
    )
    parser.add_argument(
        "--dup-share", type=float, default=DUP_SHARE, help="share of re-sent records (0 allowed)"
    )
    parser.add_argument(
        "--bad-share", type=float, default=BAD_SHARE, help="share of malformed records (0 allowed)"
    )
    parser.add_argument("--rhythm", action="store_true", help="traffic by local hour of day")
    parser.add_argument("--lulls", action="store_true", help="stretches of little traffic")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="no Kafka: feed --duration (default 3600) s of event time through the domain "
        "rules and report on the alerts",
    )
    parser.add_argument("--report", default=None, help="with --offline: write the report here")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.products < 1 or args.duration < 0 or args.events < 0:
        parser.error("--rate and --products must be positive, --duration and --events >= 0")
    if not (0 <= args.dup_share and 0 <= args.bad_share and args.dup_share + args.bad_share < 1):
        parser.error("--dup-share and --bad-share must be >= 0 and add up to less than 1")
    if args.report and not args.offline:
        parser.error("--report needs --offline")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**31)
    args.events = args.events or sys.maxsize
    return args


def main(argv: list[str]) -> int:
    """Entry point of ``hunt simulate``; returns the process exit code."""
    args = _parse(argv)
    if args.offline:
        from hunt.ops import alert_report  # the domain rules, only needed offline

        return alert_report.main(args)
    try:
        settings = Settings.from_env()
        if args.bootstrap:
            settings = dataclasses.replace(settings, broker=args.bootstrap)
            settings.validate()
    except ConfigError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        stats = await _simulate(settings, args, stop)
    except NotReady as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 1
    print(f"simulate: done, {stats.line()}", flush=True)
    return 0 if stats.failed == 0 else 1
