"""Scenarios 5 and 6: the broker unreachable for a while, and poisoned input.

Scenario 5 needs every client connection to run through a proxy the test can
cut, metadata-discovered ones included, so it starts a broker of its own whose
advertised listener is the proxy (``LocalKafka(advertised_port=...)``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hunt.ops.broker import LocalKafka, free_port
from hunt.ops.proxy import TcpProxy
from tests import oracle
from tests.chaos.conftest import pick
from tests.chaos.driver import applied
from tests.chaos.fuzz import POISON_PILLS, fuzzed_records
from tests.harness import produce, read_topic, wait_for
from tests.integration import groundtruth as gt

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

RESUME_WITHIN_S = 30.0  # the bound: processing resumes this soon after the broker


@pytest.fixture
def proxied_kafka(tmp_path: Path) -> Iterator[tuple[LocalKafka, TcpProxy]]:
    """A broker reachable only through a proxy the test controls."""
    real, front = free_port(), free_port()
    with TcpProxy("127.0.0.1", front, "127.0.0.1", real) as proxy:
        with (tmp_path / "proxied-broker.log").open("wb") as log:
            broker = LocalKafka("127.0.0.1", real, advertised_port=front, log=log)
            broker.start()
            try:
                yield broker, proxy
            finally:
                broker.stop()


def test_broker_unreachable_then_back(proxied_kafka: Any, chaos: Any) -> None:
    # proxied_kafka first: pytest tears fixtures down in reverse, so workers stop before it.
    """5. Cut the broker off for 60 s (10 s bounded): no crash, resume within 30 s, exact."""
    broker, proxy = proxied_kafka
    outage_s = pick(10.0, 60.0)
    records = gt.make_trace(seed=505, products=pick(150, 400), events=pick(6_000, 30_000))
    first, second = records[: len(records) // 2], records[len(records) // 2 :]
    run = chaos(2, bootstrap=broker.bootstrap)
    run.cluster.start(0, 1)
    gt.produce(run.dep, first)
    before = gt.expectations(first)
    wait_for(lambda: applied(run.dep) == before.applied, 120, "the first half", run._alive)
    proxy.cut("blackhole")
    cut_at = time.monotonic()
    while time.monotonic() - cut_at < outage_s:
        run.cluster.check_alive()  # no crash (and so no crash loop) while the broker is away
        time.sleep(1.0)
    proxy.restore()
    restored_at = time.monotonic()
    gt.produce(run.dep, second)
    wait_for(
        lambda: applied(run.dep) > before.applied,
        RESUME_WITHIN_S + 30,
        "processing to resume",
        run._alive,
        poll=0.5,
    )
    resumed_s = time.monotonic() - restored_at
    run.extra.update(outage_s=outage_s, resumed_s=round(resumed_s, 1))
    expected = gt.expectations(records)
    recovery = run.converge(expected, restored_at)
    run.finish(expected, recovery, http=run.cluster.workers[1])
    assert resumed_s <= RESUME_WITHIN_S, f"processing resumed {resumed_s:.0f}s after the broker"


def test_poison_pills_and_fuzzed_records(chaos: Any) -> None:
    """6. Bad and fuzzed records on both topics: workers stay up, each bad one is
    dead-lettered once with its reason and unchanged bytes, the good ones are exact."""
    trace = gt.make_trace(seed=606, products=pick(100, 300), events=pick(4_000, 20_000))
    fuzz = fuzzed_records(pick(300, 3_000))
    pills = [
        (kind, None, value, None) for value in POISON_PILLS for kind in ("behavior", "inventory")
    ]
    half = len(trace) // 2
    # The oracle sees the order the engine may see: one product's records stay in order.
    # Fuzzed records carry their Kafka timestamp (ts may be at most an hour ahead of it).
    sequence: list[tuple[Any, bytes, int | None]] = [
        (r.topic_kind, r.value, None) for r in trace[:half]
    ]
    sequence += [(kind, value, ts) for kind, _, value, ts in fuzz + pills]
    sequence += [(r.topic_kind, r.value, None) for r in trace[half:]]
    expected = oracle.run(sequence)
    run = chaos(pick(1, 2))
    run.cluster.start(*range(pick(1, 2)))
    topics = run.dep.topics
    gt.produce(run.dep, trace[:half])
    produce(
        run.dep.bootstrap,
        [(topics[kind], key, value, ts) for kind, key, value, ts in fuzz + pills],
    )
    gt.produce(run.dep, trace[half:])
    sent_at = time.monotonic()
    recovery = run.converge(expected, sent_at)
    run.cluster.check_alive()
    outcomes = Counter(expected.outcomes)
    run.extra.update(fuzzed=len(fuzz), pills=len(pills), outcomes=dict(outcomes))
    run.finish(expected, recovery, http=run.cluster.workers[0])
    dlq = asyncio.run(read_topic(run.dep.bootstrap, topics["dlq"]))
    bad = Counter(
        value[: oracle.MAX_RECORD_BYTES]  # a longer one is cut (hunt.error.truncated)
        for (_, value, _), o in zip(sequence, expected.outcomes, strict=True)
        if o == "rejected"
    )
    got = Counter(rec.value or b"" for rec in dlq)
    assert got == bad, "the DLQ holds each bad record's original bytes, once"
