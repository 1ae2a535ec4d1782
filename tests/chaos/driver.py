"""The scenario driver: a seeded workload, a cluster of workers to hurt, and probes.

- :class:`Load` sends a trace in chunks from a background thread, through the
  several producers and partitioners of ``tests/integration/groundtruth.py``,
  so faults land while input is still arriving. Chunks go out one after the
  other, so every product's records keep their order.
- :class:`Cluster` starts, kills (SIGKILL), stops (SIGTERM), freezes
  (SIGSTOP) and thaws (SIGCONT) ``hunt worker`` processes and stops all of
  them on exit, thawing frozen ones first.
- :class:`RssSampler` polls ``/proc`` for every live worker's resident set
  size (and open file descriptors), keeping the peak.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hunt.ops.bench import kafka
from hunt.ops.traffic import TraceRecord
from tests.harness import Deployment, Worker, latest_states, wait_for
from tests.integration import groundtruth as gt

__all__ = ["Cluster", "Load", "RssSampler", "applied", "caught_up", "lagging", "proc_rss_bytes"]


def applied(dep: Deployment) -> int:
    """Events the product-state topic reflects so far (its last record per product)."""
    return sum(
        s["events_applied"]
        for s in latest_states(dep.bootstrap, dep.topics["product_state"]).values()
    )


def caught_up(dep: Deployment) -> bool:
    """The group has committed every input partition to its end (consumer lag 0).

    A commit waits for every output it depends on, so only then are the DLQ and
    alert topics complete: matching states alone may come before the DLQ copy of a
    partition's trailing rejected records.
    """
    return not lagging(dep)


def lagging(dep: Deployment) -> dict[str, tuple[int, int]]:
    """Input partitions the group has not committed to their end: (committed, end)."""
    inputs = [dep.topics["behavior"], dep.topics["inventory"], f"{dep.name}-reroute"]
    done = kafka.committed(dep.bootstrap, dep.name, inputs, dep.partitions)
    probe = kafka.EndOffsets(dep.bootstrap, inputs, dep.partitions)
    try:
        ends = probe.per_partition()
    finally:
        probe.close()
    return {f"{tp[0]}[{tp[1]}]": (done[tp], end) for tp, end in ends.items() if done[tp] < end}


def proc_rss_bytes(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a live process from ``/proc/<pid>/status``, 0 if gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, hwm


class Cluster:
    """Up to ``size`` workers of one deployment, by index."""

    def __init__(self, dep: Deployment, size: int) -> None:
        self.dep = dep
        self.workers = [Worker(dep, i) for i in range(size)]
        self.frozen: set[int] = set()

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.proc is not None and w.proc.poll() is None]

    def start(self, *indexes: int, wait: bool = True) -> None:
        for i in indexes:
            self.workers[i].start()
        if wait:
            for i in indexes:
                self.workers[i].wait_ready()

    def kill(self, i: int) -> None:
        self.workers[i].kill()

    def stop(self, i: int, timeout: float = 60.0) -> tuple[int, float]:
        """SIGTERM worker ``i``; return its exit code and how long it took."""
        t0 = time.monotonic()
        code = self.workers[i].stop(timeout)
        return code, time.monotonic() - t0

    def freeze(self, i: int) -> None:
        self._signal(i, signal.SIGSTOP)
        self.frozen.add(i)

    def thaw(self, i: int) -> None:
        self._signal(i, signal.SIGCONT)
        self.frozen.discard(i)

    def _signal(self, i: int, sig: signal.Signals) -> None:
        proc = self.workers[i].proc
        assert proc is not None and proc.poll() is None, f"worker {i} is not running"
        proc.send_signal(sig)

    def wait_all_ready(self, timeout: float = 90.0) -> None:
        for w in self.live():
            if w.index not in self.frozen:
                w.wait_ready(timeout)

    def check_alive(self, *indexes: int) -> None:
        for i in indexes or range(len(self.workers)):
            self.workers[i]._alive()

    def close(self) -> None:
        for i in list(self.frozen):
            self.thaw(i)
        for w in self.workers:
            w.stop(30)


class Load:
    """Sends ``records`` in ``chunks`` from a thread, ``pause_s`` apart."""

    def __init__(
        self, dep: Deployment, records: list[TraceRecord], chunks: int, pause_s: float = 0.5
    ) -> None:
        size = -(-len(records) // chunks)
        self.dep = dep
        self.chunks = [records[i : i + size] for i in range(0, len(records), size)]
        self.pause_s = pause_s
        self.sent = 0  # chunks handed to Kafka and acknowledged
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._gate = threading.Event()
        self._gate.set()

    def start(self) -> Load:
        self._thread.start()
        return self

    def hold(self) -> None:
        """Send no further chunk until :meth:`release` (the one in flight completes)."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def _run(self) -> None:
        try:
            for i, chunk in enumerate(self.chunks):
                self._gate.wait()
                gt.produce(self.dep, chunk, seed=11 + i)
                self.sent += 1
                time.sleep(self.pause_s)
        except BaseException as exc:
            self.error = exc

    def wait_sent(self, chunks: int, timeout: float = 120.0) -> None:
        wait_for(lambda: self.sent >= chunks, timeout, f"{chunks} chunks sent", self._check)

    def join(self, timeout: float = 300.0) -> None:
        self._thread.join(timeout)
        self._check()
        assert not self._thread.is_alive(), "the load did not finish in time"

    def _check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"the load failed: {self.error!r}") from self.error


class RssSampler:
    """Peak RSS and open fds over a set of workers, sampled every ``every_s``."""

    def __init__(self, cluster: Cluster, every_s: float = 0.25) -> None:
        self.cluster = cluster
        self.every_s = every_s
        self.peak_rss = 0
        self.peak_fds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def sample(self) -> None:
        for w in self.cluster.live():
            assert w.proc is not None
            rss, hwm = proc_rss_bytes(w.proc.pid)
            self.peak_rss = max(self.peak_rss, rss, hwm)
            try:
                self.peak_fds = max(self.peak_fds, len(os.listdir(f"/proc/{w.proc.pid}/fd")))
            except OSError:
                pass

    @contextmanager
    def running(self) -> Iterator[RssSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(5)

    def as_dict(self) -> dict[str, Any]:
        return {"peak_rss_mib": round(self.peak_rss / 2**20, 1), "peak_fds": self.peak_fds}
