"""Scenarios 8 and 9: writes that do not reach the broker.

8. One worker is cut off from the broker, alone, while its event loop keeps
   running: the group moves its partitions to the other worker, which writes
   newer state. Nothing the cut-off worker wrote during or after the cut may
   land after that, so every product's last ``hunt.product-state`` record is
   still exact when the cut heals.
9. The alert and DLQ topics refuse every write for a while (their
   ``max.message.bytes`` is smaller than any record). No offset may be
   committed past a record whose alert or dead-lettered copy was not written:
   once the topics accept writes again every alert and every DLQ record is
   there, and the state is exact.

Each worker here has its own broker listener (``LocalKafka(extra_listeners=...)``),
so one worker's connections can be cut through its own proxy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hunt.ops.broker import LocalKafka, free_port
from hunt.ops.proxy import TcpProxy
from tests import oracle
from tests.chaos.conftest import SESSION_TIMEOUT_S, pick
from tests.chaos.driver import Load, applied
from tests.chaos.fuzz import POISON_PILLS
from tests.harness import Worker, produce, wait_for
from tests.integration import groundtruth as gt

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

# Longer than the session timeout, so the group evicts the cut-off worker, and
# long enough for the other worker to restore its partitions and write.
CUT_S = pick(2 * SESSION_TIMEOUT_S, 5 * SESSION_TIMEOUT_S)
REFUSE_S = pick(6.0, 30.0)  # several producer request timeouts (a quarter of the session)


@pytest.fixture
def cut_kafka(tmp_path: Path) -> Iterator[tuple[LocalKafka, TcpProxy]]:
    """A broker with a second listener reachable only through a proxy the test controls."""
    own, front = free_port(), free_port()
    with TcpProxy("127.0.0.1", front, "127.0.0.1", own) as proxy:
        with (tmp_path / "cut-broker.log").open("wb") as log:
            broker = LocalKafka("127.0.0.1", extra_listeners=[(own, front)], log=log)
            broker.start()
            try:
                yield broker, proxy
            finally:
                broker.stop()


def _resets(worker: Worker) -> float:
    """``hunt_resets_total`` of a live worker (0 if it does not answer)."""
    try:
        status, body = worker.get("/metrics")
    except OSError:
        return 0.0
    if status != 200:
        return 0.0
    for line in body.decode().splitlines():
        if line.startswith("hunt_resets_total "):
            return float(line.split()[1])
    return 0.0


def test_worker_cut_off_alone(cut_kafka: Any, chaos: Any) -> None:
    """8. Cut one of two workers off the broker for longer than the session timeout
    while input goes on; heal it: every product's last state is exact."""
    broker, proxy = cut_kafka
    records = gt.make_trace(seed=808, products=pick(150, 400), events=pick(8_000, 40_000))
    expected = gt.expectations(records)
    run = chaos(2, bootstrap=broker.bootstrap)
    cut_off, other = run.cluster.workers
    cut_off.env["HUNT_BROKER"] = broker.listener_bootstrap(0)
    run.cluster.start(0, 1)
    load = Load(run.dep, records, chunks=pick(16, 40), pause_s=0.5).start()
    load.wait_sent(pick(4, 8))
    wait_for(lambda: applied(run.dep) > 0, 60, "progress before the cut", load._check)
    proxy.cut("blackhole")
    cut_at = time.monotonic()
    while time.monotonic() - cut_at < CUT_S:
        run.cluster.check_alive()  # the cut-off worker's loop runs on: no exit, no restart
        time.sleep(0.5)
    proxy.restore()
    healed_at = time.monotonic()
    load.join()
    run.cluster.check_alive()
    recovery = run.converge(expected, healed_at)
    run.extra.update(cut_s=CUT_S, resets=_resets(cut_off))
    run.finish(expected, recovery, http=other)


async def _max_message_bytes(bootstrap: str, topics: list[str], value: int | None) -> None:
    """Set (or, with None, restore to the broker's default) the topics' largest record."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        configs = {"max.message.bytes": str(value if value is not None else 1_048_588)}
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t, configs=configs) for t in topics]
        )
    finally:
        await admin.close()


def test_topics_refusing_writes(chaos: Any) -> None:
    """9. The alert and DLQ topics refuse every write for a while, then accept them
    again: every alert and DLQ record arrives, the state is exact, no worker exits."""
    trace = gt.make_trace(seed=909, products=pick(100, 300), events=pick(4_000, 20_000))
    pills = [(kind, None, value) for value in POISON_PILLS for kind in ("behavior", "inventory")]
    sequence: list[tuple[Any, bytes]] = [(r.topic_kind, r.value) for r in trace]
    sequence += [(kind, value) for kind, _, value in pills]
    expected = oracle.run(sequence)
    assert expected.alerts, "the trace must raise alerts for this scenario to mean anything"
    run = chaos(1)
    (worker,) = run.cluster.workers
    run.cluster.start(0)
    topics = run.dep.topics
    refusing = [topics["alerts"], topics["dlq"]]
    asyncio.run(_max_message_bytes(run.dep.bootstrap, refusing, 16))
    gt.produce(run.dep, trace)
    produce(run.dep.bootstrap, [(topics[kind], key, value) for kind, key, value in pills])
    wait_for(lambda: _resets(worker) >= 2, 60, "writes to be refused", run._alive, poll=0.5)
    refused_at = time.monotonic()
    while time.monotonic() - refused_at < REFUSE_S:
        run.cluster.check_alive()  # a refused write is redone, not a crash
        time.sleep(0.5)
    asyncio.run(_max_message_bytes(run.dep.bootstrap, refusing, None))
    accepted_at = time.monotonic()
    recovery = run.converge(expected, accepted_at)
    run.cluster.check_alive()
    run.extra.update(refused_s=REFUSE_S, resets=_resets(worker))
    run.finish(expected, recovery, http=worker)


def test_broker_outage_longer_than_the_producer_timeout(chaos: Any, tmp_path: Path) -> None:
    """5b. Cut the broker off while input keeps arriving (on a listener the proxy does
    not cut), for longer than the producer's request timeout: writes in flight fail,
    the workers redo them from their commits without exiting, and the state is exact."""
    real, front, direct = free_port(), free_port(), free_port()
    with TcpProxy("127.0.0.1", front, "127.0.0.1", real) as proxy:
        with (tmp_path / "outage-broker.log").open("wb") as log:
            broker = LocalKafka(
                "127.0.0.1",
                real,
                advertised_port=front,
                extra_listeners=[(direct, direct)],
                log=log,
            )
            broker.start()
            try:
                _outage(broker, proxy, chaos)
            finally:
                broker.stop()


def _outage(broker: LocalKafka, proxy: TcpProxy, chaos: Any) -> None:
    records = gt.make_trace(seed=515, products=pick(150, 400), events=pick(8_000, 30_000))
    expected = gt.expectations(records)
    run = chaos(2, bootstrap=broker.bootstrap)
    try:
        run.cluster.start(0, 1)
        producer_side = replace(run.dep, bootstrap=broker.listener_bootstrap(0))
        load = Load(producer_side, records, chunks=pick(16, 40), pause_s=0.5).start()
        load.wait_sent(pick(4, 8))
        proxy.cut("blackhole")
        cut_at = time.monotonic()
        while time.monotonic() - cut_at < pick(10.0, 30.0):
            run.cluster.check_alive()
            time.sleep(0.5)
        proxy.restore()
        restored_at = time.monotonic()
        load.join()
        recovery = run.converge(expected, restored_at)
        run.cluster.check_alive()
        run.extra.update(resets=sum(_resets(w) for w in run.cluster.workers))
        run.finish(expected, recovery, http=run.cluster.workers[1])
    finally:
        # Stopped while this test's broker is still up: without it a worker's clean stop
        # (its last flush and commit) waits out the whole stop timeout.
        run.cluster.close()
