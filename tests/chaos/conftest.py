"""Fixtures of the fault-injection suite, and its report.

Each scenario asks for ``chaos``: it gets a fresh deployment on the session
broker (``HUNT_SESSION_TIMEOUT_S`` at its 6 s minimum, so partitions move
fast), a :class:`~tests.chaos.driver.Cluster` that is stopped afterwards, an
RSS sampler, and :meth:`ChaosRun.finish`, which runs the verifier and adds a
row to the report. ``CHAOS_FULL=1`` (``make chaos``) enlarges traces and
repeats faults; without it every scenario runs a short version, for
``make test``. At the end of the session the table is printed and written as
JSON to ``$CHAOS_REPORT`` (default ``chaos-report.json``).

Columns: lost / duplicated / wrong / unseen as defined in ``verifier.py``;
``recovery_s`` is the time from the end of the last fault (restart, SIGCONT,
link restored, last record sent) until ``hunt.product-state`` equals ground
truth; ``peak_rss_mib`` is the largest RSS (VmHWM) of any worker during the run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import oracle
from tests.chaos.driver import Cluster, RssSampler, caught_up, lagging
from tests.chaos.verifier import Verdict, states_match, verify
from tests.harness import Deployment, Worker, wait_for

FULL = os.environ.get("CHAOS_FULL", "").strip() in ("1", "true", "yes")
REPORT_PATH = Path(os.environ.get("CHAOS_REPORT", "chaos-report.json"))
# The engine's lowest allowed session timeout: a dead worker's partitions move in ~6 s.
SESSION_TIMEOUT_S = 6
# Every scenario must converge on ground truth this long after its last fault.
CONVERGE_S = 240 if FULL else 120

_ROWS: list[dict[str, Any]] = []
_COLUMNS = ("scenario", "lost", "duplicated", "wrong", "unseen", "recovery_s", "peak_rss_mib")


def pick(bounded: Any, full: Any) -> Any:
    """The bounded value for ``make test``, the full one under ``CHAOS_FULL=1``."""
    return full if FULL else bounded


@dataclass
class ChaosRun:
    """One scenario's deployment, workers, probes and result row."""

    name: str
    dep: Deployment
    cluster: Cluster
    sampler: RssSampler
    started: float = field(default_factory=time.monotonic)
    extra: dict[str, Any] = field(default_factory=dict)
    recorded: bool = False

    def converge(self, expected: oracle.OracleResult, since: float, what: str = "") -> float:
        """Wait until ``hunt.product-state`` equals ground truth and the group has
        committed every input to its end; seconds since ``since``."""
        try:
            wait_for(
                lambda: states_match(self.dep, expected) and caught_up(self.dep),
                CONVERGE_S,
                what or "product states to equal ground truth",
                self._alive,
                poll=0.5,
            )
        except AssertionError as exc:
            self.finish(expected, None, raise_on_mismatch=False)
            behind = lagging(self.dep)  # (committed, end) of each partition not caught up
            raise AssertionError(
                f"{exc}\n{self.extra.get('verdict', '')}\nnot committed to the end: {behind}"
            ) from None
        return time.monotonic() - since

    def _alive(self) -> None:
        for w in self.cluster.live():
            w._alive()

    def finish(
        self,
        expected: oracle.OracleResult,
        recovery_s: float | None,
        http: Worker | None = None,
        raise_on_mismatch: bool = True,
    ) -> Verdict:
        """Run the verifier, record the row, and fail unless the outputs are exact."""
        self.sampler.sample()
        verdict = verify(self.dep, expected, http)
        self.extra["verdict"] = verdict.summary()
        if not self.recorded:
            _ROWS.append(
                {
                    "scenario": self.name,
                    "lost": verdict.lost,
                    "duplicated": verdict.duplicated,
                    "wrong": verdict.wrong,
                    "unseen": verdict.unseen,
                    "recovery_s": None if recovery_s is None else round(recovery_s, 1),
                    **self.sampler.as_dict(),
                    "missing_alerts": verdict.missing_alerts,
                    "extra_alerts": verdict.extra_alerts,
                    "dlq_expected": verdict.dlq_expected,
                    "dlq_distinct": verdict.dlq_distinct,
                    "dlq_total": verdict.dlq_total,
                    "expected_events": expected.applied,
                    "exact": verdict.exact,
                    "duration_s": round(time.monotonic() - self.started, 1),
                    "full": FULL,
                    **{k: v for k, v in self.extra.items() if k != "verdict"},
                    "problems": verdict.problems[:10],
                }
            )
            self.recorded = True
        if raise_on_mismatch:
            assert verdict.exact, verdict.summary()
        return verdict


@pytest.fixture
def chaos(request: pytest.FixtureRequest, kafka: Any, tmp_path: Path) -> Iterator[Any]:
    """A factory: ``chaos(workers=2, bootstrap=None, **env)`` -> :class:`ChaosRun`."""
    runs: list[ChaosRun] = []

    def make(size: int, bootstrap: str | None = None, **env: str) -> ChaosRun:
        dep = Deployment(
            bootstrap or kafka.bootstrap,
            tmp_path / f"run{len(runs)}",
            extra_env={"HUNT_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S), **env},
        )
        cluster = Cluster(dep, size)
        name = request.node.name.removeprefix("test_")
        run = ChaosRun(name, dep, cluster, RssSampler(cluster))
        run.sampler._thread.start()
        runs.append(run)
        return run

    try:
        yield make
    finally:
        for run in runs:
            run.sampler._stop.set()
            run.cluster.close()
            if not run.recorded:
                _ROWS.append({"scenario": run.name, "exact": False, "error": "did not finish"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a fault-injection scenario (tests/chaos)")


def _table(rows: list[dict[str, Any]]) -> str:
    cells = [[str(r.get(c, "")) for c in _COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(_COLUMNS)]
    line = "  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, "-" * len(line), *body])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    terminalreporter.section("chaos: scenario x outcome")
    terminalreporter.write_line(_table(_ROWS))
    REPORT_PATH.write_text(json.dumps({"full": FULL, "scenarios": _ROWS}, indent=2) + "\n")
    terminalreporter.write_line(f"written to {REPORT_PATH}")
