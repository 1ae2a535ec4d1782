"""Phase 5: end-to-end latency at fixed shares of hunt's throughput, and its floor.

A paced stream of realistic traffic (``hunt.ops.traffic``, event time = wall
time) is offered at a fixed rate; every ``PROBE_EVERY``-th record is a probe:
the only event of a product nobody else touches.  Its latency is the wall time
from handing it to the producer until the first output record keyed by that
product is read back: for hunt a ``hunt.product-state`` snapshot, and for the
half of the probes that are stock counts of 0 also the ``stockout`` alert.
The floor runs the same stream through raw aiokafka (``baselines relay``):
produce -> consume -> produce -> consume, no state, same broker, same reader.

Each hunt load also reports the worker's CPU per offered event. The
``dashboard`` run repeats the 50% load with one dashboard open: a client that
polls what the dashboard's overview polls (``/top``, ``/stock``, ``/alerts``,
together), at its rate, and times each refresh.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from hunt.ops.bench import kafka
from hunt.ops.bench.context import Run
from hunt.ops.bench.reference import REPO
from hunt.ops.bench.throughput import engine_process, python_module
from hunt.ops.traffic import TraceRecord, generate

__all__ = ["DASHBOARD_LOAD", "LOADS", "dashboard_load", "floor_loads", "hunt_loads", "summarize"]

LOADS = (25, 50, 75)  # percent of hunt's measured throughput
PROBE_EVERY = 20  # one record in 20 is a probe: hundreds of samples per load, 5% extra products
WARMUP_SHARE = 0.1  # probes in the first 10% of a load are not counted (pipelines filling)
SETTLE_S = 15.0  # after the last probe, wait this long for stragglers; later ones count as lost
READ_WAIT_S = 0.05  # the reader's longest block: how soon it sees the stop flag
PACE_SLACK_S = 0.002  # sleep only when this far ahead of schedule
PRODUCER = {"linger.ms": 1, "acks": "all", "partitioner": "murmur2_random"}  # no batching delay
DASHBOARD_LOAD = 50  # percent of hunt's throughput while one dashboard is open, as in the issue
# What the dashboard's overview fetches on each refresh, at its defaults (dashboard.js
# refreshOverview), and how often (OVERVIEW_MS).
DASHBOARD_PATHS = ("/top?metric=units&minutes=15&n=10", "/stock?n=15", "/alerts?limit=25")
DASHBOARD_EVERY_S = 3.0
DASHBOARD_TIMEOUT_S = 30.0  # a refresh slower than this counts as failed


@dataclass
class _Watch:
    """First arrival time of each probe key on each watched topic."""

    seen: dict[tuple[str, bytes], float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)


def _watch(
    bootstrap: str, topics: Sequence[str], partitions: int, watch: _Watch, ready: threading.Event
) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "hunt-bench-latency",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        tps = []
        for t in topics:
            for p in range(partitions):
                high = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
                tps.append(TopicPartition(t, p, high))
        consumer.assign(tps)
        ready.set()
        while not watch.stop.is_set():
            # ``consume`` returns early only once it has all the records asked
            # for, so a batch size above the arrival rate adds up to its whole
            # timeout to each sample (measured: a uniform 0-50 ms on every
            # sample with 1000 records and 50 ms). ``poll`` returns at the first
            # record; what else arrived with it is taken without waiting.
            first = consumer.poll(READ_WAIT_S)
            if first is None:
                continue
            now = time.time()
            for msg in [first, *consumer.consume(1000, timeout=0)]:
                key = msg.key()
                topic = msg.topic()
                if msg.error() or topic is None or key is None or not key.startswith(b"probe-"):
                    continue
                watch.seen.setdefault((topic, key), now)
    finally:
        consumer.close()


def _probe(tag: str, i: int, alerting: bool) -> TraceRecord:
    pid = f"probe-{tag}-{i}"
    ts = time.time_ns() // 1_000_000
    if alerting:  # first inventory event, a count of 0: unknown -> out fires a stockout
        body: dict[str, Any] = {
            "event_id": f"pi-{tag}-{i}",
            "ts": ts,
            "product_id": pid,
            "warehouse": "w-1",
            "kind": "count",
            "qty": 0,
        }
        return TraceRecord("inventory", pid.encode(), orjson.dumps(body), False, False)
    body = {"event_id": f"pb-{tag}-{i}", "ts": ts, "product_id": pid, "kind": "view"}
    return TraceRecord("behavior", pid.encode(), orjson.dumps(body), False, False)


def _background(tag: str, products: int, n: int, rate: float) -> list[TraceRecord]:
    """Simulator traffic with event ids of its own, never a re-send of a backlog event."""
    start = time.time_ns() // 1_000_000
    prefix = f'"event_id":"L{tag}'.encode()
    return [
        r._replace(value=r.value.replace(b'"event_id":"', prefix, 1))
        for r in generate(zlib.crc32(tag.encode()), products, n, start, rate)
    ]


def _offer(
    run: Run,
    tag: str,
    rate: float,
    seconds: float,
    inputs: tuple[str, str],
    outputs: Sequence[str],
) -> tuple[dict[bytes, tuple[float, bool]], _Watch, float, int]:
    """Offer paced traffic with probes; return probe send times, the reader's view, the
    rate and the number of records offered."""
    n = max(1, int(rate * seconds))
    background = iter(_background(tag, run.plan.products, n, rate))
    watch, ready = _Watch(), threading.Event()
    reader = threading.Thread(
        target=_watch, args=(run.bootstrap, outputs, run.partitions, watch, ready), daemon=True
    )
    reader.start()
    ready.wait(30)
    producer = kafka.bulk_producer(run.bootstrap, **PRODUCER)
    sent: dict[bytes, tuple[float, bool]] = {}
    t0 = time.monotonic()
    probes = 0
    for i in range(n):
        ahead = t0 + i / rate - time.monotonic()
        if ahead > PACE_SLACK_S:
            time.sleep(ahead)
        if i % PROBE_EVERY == PROBE_EVERY - 1:
            record = _probe(tag, probes, alerting=probes % 2 == 1)
            probes += 1
            sent[record.key or b""] = (time.time(), record.topic_kind == "inventory")
        else:
            record = next(background)
        kafka.send(
            producer,
            inputs[0] if record.topic_kind == "behavior" else inputs[1],
            record.value,
            record.key,
        )
        producer.poll(0)
    offered = n / max(time.monotonic() - t0, 1e-6)
    producer.flush(60)
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline and not _all_seen(sent, watch, outputs):
        time.sleep(0.2)
    watch.stop.set()
    reader.join(10)
    return sent, watch, offered, n


def _all_seen(sent: dict[bytes, tuple[float, bool]], watch: _Watch, outputs: Sequence[str]) -> bool:
    state = outputs[0]
    return all((state, k) in watch.seen for k in sent)


def _percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p99": None, "max": None}
    s = sorted(samples)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))], 1)

    return {"p50": at(0.50), "p99": at(0.99), "max": round(s[-1], 1)}


def summarize(
    sent: dict[bytes, tuple[float, bool]],
    watch: _Watch,
    state_topic: str,
    alert_topic: str | None,
    offered: float,
) -> dict[str, Any]:
    """p50/p99/max in ms of probe -> first output (and -> alert), warm-up excluded."""
    ordered = sorted(sent.items(), key=lambda kv: kv[1][0])
    counted = ordered[int(len(ordered) * WARMUP_SHARE) :]
    state_ms = [
        (watch.seen[(state_topic, k)] - t) * 1000
        for k, (t, _) in counted
        if (state_topic, k) in watch.seen
    ]
    out: dict[str, Any] = {
        **_percentiles(state_ms),
        "samples": len(state_ms),
        "lost": len(counted) - len(state_ms),
        "offered_eps": round(offered, 1),
    }
    if alert_topic is not None:
        alerting = [(k, t) for k, (t, a) in counted if a]
        alert_ms = [
            (watch.seen[(alert_topic, k)] - t) * 1000
            for k, t in alerting
            if (alert_topic, k) in watch.seen
        ]
        out["alert"] = {
            **_percentiles(alert_ms),
            "samples": len(alert_ms),
            "lost": len(alerting) - len(alert_ms),
        }
    return out


def hunt_loads(
    run: Run, topics: dict[str, str], hunt_eps: float, cpu_s: Callable[[], float]
) -> dict[str, Any]:
    """Latency of a running hunt worker at each load in :data:`LOADS`, and its CPU
    (``cpu_s``: the worker's CPU seconds so far) per offered event."""
    return {str(load): _hunt_load(run, topics, hunt_eps, load, cpu_s) for load in LOADS}


def dashboard_load(
    run: Run, topics: dict[str, str], hunt_eps: float, cpu_s: Callable[[], float], url: str
) -> dict[str, Any]:
    """:data:`DASHBOARD_LOAD` again, with one dashboard polling the worker at ``url``."""
    poller = _Dashboard(url)
    poller.start()
    try:
        out = _hunt_load(run, topics, hunt_eps, DASHBOARD_LOAD, cpu_s, tag="d")
    finally:
        poller.stop()
    out["dashboard"] = poller.summary()
    return out


def _hunt_load(
    run: Run,
    topics: dict[str, str],
    hunt_eps: float,
    load: int,
    cpu_s: Callable[[], float],
    tag: str = "h",
) -> dict[str, Any]:
    inputs = (topics["behavior"], topics["inventory"])
    outputs = (topics["product_state"], topics["alerts"])
    cpu0 = cpu_s()
    sent, watch, offered, n = _offer(
        run, f"{tag}{load}", hunt_eps * load / 100, run.plan.latency_s, inputs, outputs
    )
    out = summarize(sent, watch, outputs[0], outputs[1], offered)
    # Until the last probe was read back (or the wait for stragglers ended): the
    # worker's CPU for the offered events, idle moments included.
    out["cpu_us_per_event"] = round((cpu_s() - cpu0) / n * 1e6, 1)
    return out


class _Dashboard:
    """One open dashboard: its overview's requests, together, every few seconds."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.refresh_ms: list[float] = []
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(DASHBOARD_TIMEOUT_S + 5)

    def _get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url + path, timeout=DASHBOARD_TIMEOUT_S) as r:
                r.read()
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            return 0

    def _run(self) -> None:
        with ThreadPoolExecutor(len(DASHBOARD_PATHS)) as pool:
            while not self._stop.is_set():
                t0 = time.monotonic()
                codes = list(pool.map(self._get, DASHBOARD_PATHS))
                took = time.monotonic() - t0
                if all(c == 200 for c in codes):
                    self.refresh_ms.append(took * 1000)
                else:
                    self.failed += 1
                self._stop.wait(max(0.0, DASHBOARD_EVERY_S - took))

    def summary(self) -> dict[str, Any]:
        return {
            "refresh_ms": _percentiles(self.refresh_ms),
            "refreshes": len(self.refresh_ms),
            "failed": self.failed,
            "every_s": DASHBOARD_EVERY_S,
            "paths": list(DASHBOARD_PATHS),
        }


def floor_loads(run: Run, hunt_eps: float) -> dict[str, Any]:
    """The same loads through produce -> aiokafka relay -> consume: no engine, no state."""
    source, sink = run.topic("latency-in"), run.topic("latency-out")
    kafka.create_topics(run.bootstrap, [source, sink], run.partitions)
    argv = python_module(
        "hunt.ops.bench.baselines",
        "relay",
        "--bootstrap",
        run.bootstrap,
        "--inputs",
        source,
        "--output",
        sink,
        "--group",
        run.group("relay"),
    )
    result: dict[str, Any] = {}
    with engine_process(argv, run.work / "relay.log", REPO):
        _warm_up(run, source, sink)
        for load in LOADS:
            sent, watch, offered, _ = _offer(
                run,
                f"f{load}",
                hunt_eps * load / 100,
                run.plan.latency_s,
                (source, source),
                (sink,),
            )
            result[str(load)] = summarize(sent, watch, sink, None, offered)
    return result


def _warm_up(run: Run, source: str, sink: str, timeout_s: float = 120.0) -> None:
    """Wait until the relay has joined its group and forwards records."""
    producer = kafka.bulk_producer(run.bootstrap, **PRODUCER)
    consumer = Consumer(
        {
            "bootstrap.servers": run.bootstrap,
            "group.id": "hunt-bench-warmup",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(sink, p, 0) for p in range(run.partitions)])
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            producer.produce(source, value=b"{}", key=b"warm-up")
            producer.flush(10)
            if any(not m.error() for m in consumer.consume(100, timeout=1.0)):
                return
        raise RuntimeError(f"the latency relay forwarded nothing within {timeout_s:.0f} s")
    finally:
        consumer.close()
