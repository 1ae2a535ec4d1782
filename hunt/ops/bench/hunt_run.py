"""Phase 4: hunt drains the pre-filled backlog under the full contract.

One ``hunt worker`` (started as the tests start it) reads the backlog topics
as its input topics.  Its rate comes from ``hunt_events_total`` (every input
record ends applied, duplicate or dead-lettered), and its final
``hunt.product-state`` is compared field by field with the oracle's.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hunt.ops.bench import kafka
from hunt.ops.bench.context import Run
from hunt.ops.bench.probes import scrape
from hunt.ops.bench.reference import harness, mismatches
from hunt.ops.bench.throughput import Rate, measure

__all__ = ["Drain", "HuntDeployment", "converge", "drain"]

CONVERGE_S = 90.0  # after the last event: one snapshot interval, plus reading the topic
DRAIN_LIMIT_S = 1_800.0  # hunt must drain the backlog; give up (and report it) after 30 min


@dataclass
class HuntDeployment:
    """``workers`` hunt workers of one deployment; its input topics are ``inputs``
    (default ``run.topic("behavior"/"inventory")`` under ``name``)."""

    run: Run
    name: str
    workers: int = 1
    inputs: tuple[str, str] | None = None
    procs: list[Any] = field(default_factory=list)

    @property
    def topics(self) -> dict[str, str]:
        topics = dict(self.deployment.topics)
        if self.inputs is not None:
            topics["behavior"], topics["inventory"] = self.inputs
        return topics

    @property
    def worker(self) -> Any:
        """The first worker (the one a single-worker phase talks to)."""
        return self.procs[0]

    def start(
        self, extra_env: dict[str, str] | None = None, *, wait: bool = True
    ) -> HuntDeployment:
        h = harness()
        env = dict(extra_env or {})
        if self.inputs is not None:
            env["HUNT_TOPIC_BEHAVIOR"], env["HUNT_TOPIC_INVENTORY"] = self.inputs
        self.deployment = h.Deployment(
            self.run.bootstrap,
            self.run.work / self.name,
            partitions=self.run.partitions,
            extra_env=env,
            name=self.name,
        )
        self.procs = [h.Worker(self.deployment, i).start() for i in range(self.workers)]
        if wait:
            for w in self.procs:
                w.wait_ready(timeout=180)
        return self

    @property
    def log(self) -> Path:
        return Path(self.worker.log_path)

    def alive(self) -> bool:
        return all(w.proc is not None and w.proc.poll() is None for w in self.procs)

    def handled(self) -> int | None:
        """Input records handled by all workers; None while one does not answer."""
        total = 0
        for w in self.procs:
            metrics = scrape(w.url)
            if metrics is None:
                return None
            total += metrics.handled
        return total

    def outcomes(self) -> dict[str, int]:
        """Input records by outcome (applied, duplicate, dead_lettered), summed over
        topics and workers."""
        totals: dict[str, int] = {}
        for w in self.procs:
            metrics = scrape(w.url)
            for (_, outcome), value in metrics.events.items() if metrics else ():
                totals[outcome] = totals.get(outcome, 0) + int(value)
        return totals

    def stop(self) -> None:
        for w in self.procs:
            w.stop()

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the workers have used so far."""
        return sum(process_cpu_s(w.proc.pid) for w in self.procs)


def process_cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` from ``/proc/<pid>/stat``, in seconds (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command's closing parenthesis: state is field 3, utime 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Drain:
    """One drain of the backlog: the rate, and CPU over the same span."""

    rate: Rate
    cpu_us_per_event: float | None  # the workers' CPU (all of them) per handled event
    broker_cores: float | None  # the broker's CPU seconds per second: cores it took meanwhile


def drain(hunt: HuntDeployment, target: int, broker_pid: int | None = None) -> Drain:
    """Time hunt from its first handled event until all ``target`` input records are
    handled; also the workers' CPU per event and the broker's CPU over the same span."""
    samples: list[tuple[int, float, float, float]] = []

    def handled() -> int | None:
        count = hunt.handled()
        if count:
            broker = process_cpu_s(broker_pid) if broker_pid else 0.0
            samples.append((count, hunt.cpu_s(), broker, time.monotonic()))
        return count

    rate = measure(handled, target, DRAIN_LIMIT_S, hunt.alive, hunt.log, poll_s=0.25)
    if not samples or samples[-1][0] <= samples[0][0]:
        return Drain(rate, None, None)
    last = next(s for s in samples if s[0] == samples[-1][0])  # when the last count was first seen
    first = samples[0]
    cpu_us = (last[1] - first[1]) / (last[0] - first[0]) * 1e6
    span = last[3] - first[3]
    broker = (last[2] - first[2]) / span if broker_pid and span > 0 else None
    return Drain(rate, cpu_us, broker)


def converge(
    hunt: HuntDeployment, expected: dict[str, dict[str, Any]], timeout_s: float = CONVERGE_S
) -> list[str]:
    """Wait until hunt.product-state equals ``expected``; return what differs (none: exact)."""
    run = hunt.run
    deadline = time.monotonic() + timeout_s
    while True:
        actual = kafka.latest_by_key(run.bootstrap, hunt.topics["product_state"], run.partitions)
        problems = mismatches(expected, actual)
        if not problems or time.monotonic() > deadline or not hunt.alive():
            return problems
        time.sleep(2.0)
