"""Phase 4: hunt drains the pre-filled backlog under the full contract.

One ``hunt worker`` (started as the tests start it) reads the backlog topics
as its input topics.  Its rate comes from ``hunt_events_total`` (every input
record ends applied, duplicate or dead-lettered), and its final
``hunt.product-state`` is compared field by field with the oracle's.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hunt.ops.bench import kafka
from hunt.ops.bench.context import Run
from hunt.ops.bench.probes import scrape
from hunt.ops.bench.reference import harness, mismatches
from hunt.ops.bench.throughput import Rate, measure

__all__ = ["HuntDeployment", "converge", "drain"]

CONVERGE_S = 90.0  # after the last event: one snapshot interval, plus reading the topic
DRAIN_LIMIT_S = 1_800.0  # hunt must drain the backlog; give up (and report it) after 30 min


@dataclass
class HuntDeployment:
    """A hunt worker whose input topics are ``run.topic("behavior"/"inventory")``."""

    run: Run
    name: str
    worker: Any = None

    @property
    def topics(self) -> dict[str, str]:
        return self.deployment.topics  # type: ignore[no-any-return]

    def start(
        self, extra_env: dict[str, str] | None = None, *, wait: bool = True
    ) -> HuntDeployment:
        h = harness()
        data_root = self.run.work / self.name
        self.deployment = h.Deployment(
            self.run.bootstrap,
            data_root,
            partitions=self.run.partitions,
            extra_env=dict(extra_env or {}),
            name=self.name,
        )
        self.worker = h.Worker(self.deployment).start()
        if wait:
            self.worker.wait_ready(timeout=180)
        return self

    @property
    def log(self) -> Path:
        return Path(self.worker.log_path)

    def alive(self) -> bool:
        return bool(self.worker.proc is not None and self.worker.proc.poll() is None)

    def handled(self) -> int | None:
        metrics = scrape(self.worker.url)
        return None if metrics is None else metrics.handled

    def outcomes(self) -> dict[str, int]:
        """Input records by outcome (applied, duplicate, dead_lettered), summed over topics."""
        metrics = scrape(self.worker.url)
        totals: dict[str, int] = {}
        for (_, outcome), value in metrics.events.items() if metrics else ():
            totals[outcome] = totals.get(outcome, 0) + int(value)
        return totals

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the worker process has used so far."""
        return process_cpu_s(self.worker.proc.pid)


def process_cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` from ``/proc/<pid>/stat``, in seconds (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command's closing parenthesis: state is field 3, utime 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(hunt: HuntDeployment, target: int) -> tuple[Rate, float | None]:
    """Time hunt from its first handled event until all ``target`` input records are
    handled; also its CPU per event (microseconds) over the same span."""
    samples: list[tuple[int, float]] = []

    def handled() -> int | None:
        count = hunt.handled()
        if count:
            samples.append((count, hunt.cpu_s()))
        return count

    rate = measure(handled, target, DRAIN_LIMIT_S, hunt.alive, hunt.log, poll_s=0.25)
    if not samples or samples[-1][0] <= samples[0][0]:
        return rate, None
    last = next(s for s in samples if s[0] == samples[-1][0])  # when the last count was first seen
    first = samples[0]
    return rate, (last[1] - first[1]) / (last[0] - first[0]) * 1e6


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
