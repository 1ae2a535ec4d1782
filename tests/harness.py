"""Test harness: hunt workers as real subprocesses, and readers of the output topics.

Every test gets its own topic names and app id (so consumer groups and
changelogs never clash) and every process started here is stopped by its
owner's ``with`` block. Workers log at ``warning`` into ``worker-N.log`` beside
their data; ``HUNT_TEST_WORKER_LOG_LEVEL=info`` adds Faust's rebalance and
recovery steps when a failure needs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.schemas import check_output_records

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    """One isolated hunt deployment on the shared broker: its topics and settings."""

    bootstrap: str
    data_root: Path
    partitions: int = 8
    extra_env: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: "t" + uuid.uuid4().hex[:10])

    @property
    def topics(self) -> dict[str, str]:
        return {
            "behavior": f"{self.name}.behavior",
            "inventory": f"{self.name}.inventory",
            "alerts": f"{self.name}.alerts",
            "product_state": f"{self.name}.product-state",
            "dlq": f"{self.name}.dlq",
        }

    def env(self, index: int, web_port: int) -> dict[str, str]:
        t = self.topics
        env = {
            **os.environ,
            "HUNT_BROKER": self.bootstrap,
            "HUNT_APP_ID": self.name,
            "HUNT_DATA_DIR": str(self.data_root / f"worker-{index}"),
            "HUNT_WEB_PORT": str(web_port),
            "HUNT_WEB_HOST": "127.0.0.1",
            "HUNT_PARTITIONS": str(self.partitions),
            "HUNT_TOPIC_BEHAVIOR": t["behavior"],
            "HUNT_TOPIC_INVENTORY": t["inventory"],
            "HUNT_TOPIC_ALERTS": t["alerts"],
            "HUNT_TOPIC_PRODUCT_STATE": t["product_state"],
            "HUNT_TOPIC_DLQ": t["dlq"],
            "HUNT_LOG_LEVEL": os.environ.get("HUNT_TEST_WORKER_LOG_LEVEL", "warning"),
        }
        env.update(self.extra_env)
        return env


class Worker:
    """A ``hunt worker`` subprocess.

    ``boot`` is optional Python run in the child before ``hunt worker`` starts,
    for fault injection (e.g. patching the engine to hang like a stuck agent).
    ``env`` overrides the deployment's settings for this worker alone (e.g. its
    own ``HUNT_BROKER`` through a proxy that can cut it off).
    """

    def __init__(
        self,
        deployment: Deployment,
        index: int = 0,
        *,
        boot: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.deployment = deployment
        self.index = index
        self.boot = boot
        self.env = dict(env or {})
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = deployment.data_root / f"worker-{index}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.deployment.data_root / f"worker-{self.index}"

    def start(self) -> Worker:
        self.deployment.data_root.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        argv = [sys.executable, "-m", "hunt", "worker"]
        if self.boot is not None:
            entry = "import sys\nfrom hunt.cli import main\nsys.exit(main(['worker']))\n"
            argv = [sys.executable, "-c", self.boot + "\n" + entry]
        self.proc = subprocess.Popen(
            argv,
            env={**self.deployment.env(self.index, self.port), **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        log.close()
        return self

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return int(r.status), r.read()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read()

    def get_json(self, path: str, timeout: float = 10.0) -> tuple[int, Any]:
        """GET ``path`` and decode the JSON body (None if the body is not JSON)."""
        status, body = self.get(path, timeout)
        try:
            return status, orjson.loads(body)
        except orjson.JSONDecodeError:
            return status, None

    def ready(self) -> bool:
        try:
            return self.get("/readyz", timeout=2)[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 90.0) -> None:
        wait_for(self.ready, timeout, f"worker {self.index} ready", self._alive)

    def _alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"worker {self.index} exited with {self.proc.returncode}:\n" + self.tail()
            )

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no clean-shutdown mark."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the graceful path."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        return int(self.proc.returncode)


@contextmanager
def workers(deployment: Deployment, count: int = 1) -> Iterator[list[Worker]]:
    """Start ``count`` workers, wait until each is ready, stop them all afterwards."""
    started = [Worker(deployment, i).start() for i in range(count)]
    try:
        for w in started:
            w.wait_ready()
        yield started
    finally:
        for w in started:
            w.stop()


def wait_for(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    check: Callable[[], None] | None = None,
    poll: float = 0.2,
) -> Any:
    """Poll ``condition`` until truthy; ``check`` may raise to fail early."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


async def read_topic(bootstrap: str, topic: str, idle_s: float = 1.0) -> list[Any]:
    """Every record of ``topic`` up to its current end (all partitions).

    Records of an output topic are validated on the way (``tests.schemas``): a
    record that breaks the published contract fails the test that read it.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        # A fresh consumer's metadata covers no topic: ask for this one.
        consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*tps, timeout_ms=int(idle_s * 1000))
            for msgs in batch.values():
                records.extend(msgs)
        await check_output_records(bootstrap, topic, records, len(tps))
        return records
    finally:
        # aiokafka 0.14 may re-raise the cancellation of its own committed-offsets
        # task while stopping a group-less consumer; nothing else cancels here.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


# (topic, key, value) or (topic, key, value, Kafka timestamp in ms, None for the clock)
ProduceRecord = tuple[str, bytes | None, bytes] | tuple[str, bytes | None, bytes, int | None]


async def _produce(bootstrap: str, records: list[ProduceRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for topic, key, value, *ts in records:
            await producer.send(topic, value, key=key, timestamp_ms=ts[0] if ts else None)
        await producer.flush()
    finally:
        await producer.stop()


def produce(bootstrap: str, records: Iterable[ProduceRecord]) -> None:
    """Send ``(topic, key, value[, timestamp_ms])`` records in order (default partitioner)
    and wait for acks."""
    asyncio.run(_produce(bootstrap, list(records)))


def latest_states(bootstrap: str, topic: str) -> dict[str, dict[str, Any]]:
    """The last ``hunt.product-state`` record per product, decoded."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in asyncio.run(read_topic(bootstrap, topic)):
        latest[rec.key.decode()] = orjson.loads(rec.value)
    return latest
