"""A local single-node Apache Kafka broker (KRaft) for development and tests.

hunt is tested against the real broker rather than a look-alike, so the same
protocol, group coordinator and log compaction run locally as in production.
The broker is the ``kafka_2.13`` jar set from Maven Central (``kafka/pom.xml``),
run straight from its classes: ``kafka.tools.StorageTool`` formats the data dir
and ``kafka.Kafka`` serves it. :class:`LocalKafka` is the reusable API (tests,
``make run``); :func:`main` is ``hunt broker``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

from hunt.config import ConfigError, Settings

__all__ = ["BrokerError", "LocalKafka", "ensure_kafka_libs", "free_port", "main"]

_KAFKA_DIR = Path(__file__).with_name("kafka")
_POM = _KAFKA_DIR / "pom.xml"
_LOG4J = _KAFKA_DIR / "log4j2.properties"
_MAX_MESSAGE_BYTES = 2 * 1024 * 1024 + 64 * 1024  # a 2 MiB value with key, headers, batch.
# Written last into the jar dir, so a half-finished download is never used.
_COMPLETE = ".complete"
# A cold JVM formats and starts the broker in ~5 s; allow for a slow CI machine.
_READY_TIMEOUT_S = 90.0
# Kafka's controlled shutdown of a single node takes ~1 s; after this we kill it.
_STOP_TIMEOUT_S = 20.0
# Heap bounds as in kafka-server-start.sh, capped so tests fit beside the workers.
_JVM_HEAP = ["-Xms256m", "-Xmx768m"]


class BrokerError(RuntimeError):
    """The local broker could not be installed, started or reached."""


def default_libs_dir() -> Path:
    """``HUNT_KAFKA_LIBS``, else ``.cache/kafka/libs`` in the source checkout (or cwd)."""
    # An ops-tooling path, not a worker setting, hence not part of hunt.config.Settings.
    if env := os.environ.get("HUNT_KAFKA_LIBS", "").strip():
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    root = repo if (repo / "pyproject.toml").is_file() else Path.cwd()
    return root / ".cache" / "kafka" / "libs"


def ensure_kafka_libs(libs: Path | None = None) -> Path:
    """Return the broker's jar dir, fetching it with Maven first if it is not complete."""
    libs = libs or default_libs_dir()
    if (libs / _COMPLETE).is_file():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(f"Kafka jars missing in {libs} and `mvn` not found: install Maven")
    scratch = libs.with_name(libs.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    print(f"fetching Kafka jars into {libs} ...", file=sys.stderr, flush=True)
    copy = ["dependency:copy-dependencies", "-DincludeScope=runtime"]
    cmd = [mvn, "-q", "-B", "-f", str(_POM), *copy, f"-DoutputDirectory={scratch}"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BrokerError(f"fetching the Kafka jars failed: {' '.join(cmd)}\n{done.stdout}")
    (scratch / _COMPLETE).touch()
    shutil.rmtree(libs, ignore_errors=True)
    scratch.rename(libs)
    return libs


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Linux: SIGTERM the broker if the process that started it dies, so none is orphaned."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _java() -> str:
    home = os.environ.get("JAVA_HOME", "")
    java = shutil.which("java") or (str(Path(home, "bin", "java")) if home else None)
    if not java or not Path(java).exists():
        raise BrokerError("`java` not found: the local Kafka broker needs Java 17 or newer")
    return java


class LocalKafka:
    """One Kafka process serving PLAINTEXT at :attr:`bootstrap`; stopped by :meth:`stop`.

    ``port=0`` picks a free port. Without ``data_dir`` a temp dir is used and
    deleted on stop. ``log`` receives the broker's output (default: inherited).
    ``advertised_port`` makes the broker tell clients to reach it at another port
    of the same host (a proxy in front of it, see :mod:`hunt.ops.proxy`); then
    :attr:`bootstrap` is that address, and the proxy must run before :meth:`start`.
    ``extra_listeners`` adds listeners of their own, each a (port, advertised
    port) pair: a client that bootstraps from one is told that listener's
    address, so one client can be cut off (its own proxy) while others are not.
    :meth:`listener_bootstrap` gives the address to bootstrap from.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        data_dir: Path | None = None,
        libs: Path | None = None,
        log: IO[bytes] | None = None,
        advertised_port: int | None = None,
        extra_listeners: Sequence[tuple[int, int]] = (),
    ) -> None:
        # "localhost" may resolve to ::1 first; bind and advertise IPv4 loopback instead.
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port or free_port(self.host)
        self.advertised_port = advertised_port or self.port
        self.bootstrap = f"{self.host}:{self.advertised_port}"
        self.extra_listeners = list(extra_listeners)
        self._data_dir = data_dir
        self._libs = libs
        self._log = log
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalKafka:
        """Format storage, launch the broker and return once it answers metadata requests."""
        java, libs = _java(), ensure_kafka_libs(self._libs)
        with socket.socket() as s:  # else the probe below could find some other broker
            if s.connect_ex((self.host, self.port)) == 0:
                raise BrokerError(f"{self.host}:{self.port} is already in use (another broker?)")
        if self._data_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="hunt-kafka-"))
        root = self._data_dir or self._tmp
        assert root is not None
        root.mkdir(parents=True, exist_ok=True)
        props = root / "server.properties"
        props.write_text(self._properties(root / "logs", free_port(self.host)))
        cp = [f"-Dlog4j2.configurationFile={_LOG4J}", "-cp", f"{libs}/*"]
        if not (root / "logs" / "meta.properties").is_file():  # a kept --data-dir is reused
            fmt = ["kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(props)]
            done = subprocess.run([java, *cp, *fmt], capture_output=True, check=False)
            if done.returncode != 0:
                err = done.stderr.decode(errors="replace")
                raise BrokerError(f"formatting {root} failed:\n{err}")
        self._proc = subprocess.Popen(
            [java, *_JVM_HEAP, "-Djava.awt.headless=true", *cp, "kafka.Kafka", str(props)],
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            start_new_session=True,  # the terminal's Ctrl-C reaches us; we stop it in order
            preexec_fn=_die_with_parent,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (the benchmark reads its CPU time)."""
        return None if self._proc is None else self._proc.pid

    def listener_bootstrap(self, index: int) -> str:
        """The address a client bootstraps from to use extra listener ``index``."""
        return f"{self.host}:{self.extra_listeners[index][1]}"

    def _properties(self, log_dir: Path, controller_port: int) -> str:
        h = self.host
        extra = [(f"CLIENT{i}", port, adv) for i, (port, adv) in enumerate(self.extra_listeners)]
        listeners = "".join(f",{name}://{h}:{port}" for name, port, _ in extra)
        advertised = "".join(f",{name}://{h}:{adv}" for name, _, adv in extra)
        protocols = "".join(f",{name}:PLAINTEXT" for name, _, _ in extra)
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{h}:{controller_port}",
            "listeners": f"PLAINTEXT://{h}:{self.port},CONTROLLER://{h}:{controller_port}"
            + listeners,
            "advertised.listeners": f"PLAINTEXT://{h}:{self.advertised_port}" + advertised,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            + protocols,
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(log_dir),
            # hunt's default partition count (HUNT_PARTITIONS) for topics made without one.
            "num.partitions": "8",
            # Topics are created on purpose (hunt worker, tests); a metadata request
            # naming a missing topic must not create it with the wrong settings.
            "auto.create.topics.enable": "false",
            # One node: every internal topic has exactly one replica.
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # 8 instead of 50 offsets partitions: the first group join is faster.
            "offsets.topic.num.partitions": "8",
            # No 3 s wait for more members before the first rebalance.
            "group.initial.rebalance.delay.ms": "0",
            # Records of up to 2 MiB (plus batch overhead): tests send values far past
            # HUNT_MAX_RECORD_BYTES to see them dead-lettered, not refused by the broker.
            "message.max.bytes": str(_MAX_MESSAGE_BYTES),
            "replica.fetch.max.bytes": str(_MAX_MESSAGE_BYTES),
            # Changelog and state topics are compacted; keep the cleaner on and prompt.
            "log.cleaner.enable": "true",
            "log.cleaner.backoff.ms": "1000",
            # Outputs carry event time (SPEC section 3): traces and replays of past days
            # would fall to the default 7-day time retention at once. The data lives in a
            # temporary directory, so nothing is deleted by time.
            "log.retention.ms": "-1",
        }
        return "".join(f"{k}={v}\n" for k, v in settings.items())

    def _wait_ready(self) -> None:
        """Poll a metadata request until it succeeds; fail early if the JVM exits."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        # Probe from a thread of our own: the caller may be inside a running event loop.
        with ThreadPoolExecutor(1, thread_name_prefix="kafka-probe") as probe:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise BrokerError(f"Kafka exited with {self._proc.returncode} during start-up")
                if probe.submit(asyncio.run, _answers_metadata(self.bootstrap)).result():
                    return
                if time.monotonic() > deadline:
                    raise BrokerError(f"Kafka not ready at {self.bootstrap} in time")
                try:  # the pause between probes doubles as the exit check
                    self._proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass

    def wait(self) -> int:
        """Block until the broker process exits; return its exit code."""
        assert self._proc is not None
        return self._proc.wait()

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and delete a temp data dir."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _cluster_id() -> str:
    """A random cluster id in Kafka's format (``StorageTool random-uuid``) without a JVM."""
    while True:
        # Kafka's own Uuid.randomUuid() also rejects ids that start with "-": the
        # storage tool's argument parser would read one as an option.
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


async def _answers_metadata(bootstrap: str) -> bool:
    """True once the broker serves a metadata request (the documented readiness signal)."""
    from aiokafka.admin import AIOKafkaAdminClient

    host, _, port = bootstrap.rpartition(":")
    try:  # a refused connect is the common case while the JVM starts; skip aiokafka's noise
        _, writer = await asyncio.open_connection(host, int(port))
        writer.close()
        await writer.wait_closed()
    except OSError:
        return False
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        await admin.close()
        quiet.setLevel(level)


class _Stop(BaseException):
    """Raised by the SIGINT/SIGTERM handler to leave the wait and run the cleanup."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def main(argv: list[str]) -> int:
    """``hunt broker``: serve Kafka at the first ``HUNT_BROKER`` address until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="hunt broker", description="Run a local Kafka broker.")
    parser.add_argument("--data-dir", type=Path, help="keep the log here (default: temp dir)")
    args = parser.parse_args(argv)
    try:
        first = Settings.from_env().broker.split(",")[0].strip()
    except ConfigError as exc:
        print(f"hunt broker: {exc}", file=sys.stderr)
        return 2
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        print(f"HUNT_BROKER={first!r}: expected host:port", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_stop)
    kafka = LocalKafka(host, int(port), data_dir=args.data_dir)
    try:
        kafka.start()
        print(f"hunt broker ready at {kafka.bootstrap}", flush=True)
        code = kafka.wait()
        print(f"hunt broker: Kafka exited with {code}", file=sys.stderr)
        return 1
    except _Stop:
        return 0
    except BrokerError as exc:
        print(f"hunt broker: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut cleanup short
            signal.signal(sig, signal.SIG_IGN)
        kafka.stop()
