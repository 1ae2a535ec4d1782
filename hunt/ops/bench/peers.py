"""Phases 1-3: the ceiling, the Faust baseline and floor, and the Quix peer.

Each engine is a separate process under its own consumer group on the same
pre-filled backlog; hunt's rate is only meaningful next to these.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hunt.ops.bench import kafka
from hunt.ops.bench.context import Run
from hunt.ops.bench.reference import REPO
from hunt.ops.bench.throughput import EngineFailed, Rate, engine_process, measure, python_module

__all__ = ["ceiling", "faust_baseline", "faust_floor", "quix"]

BASELINES = "hunt.ops.bench.baselines"


def _copying_engine(run: Run, engine: str, argv: list[str], target: int) -> Rate:
    """Time an engine that writes one record per event to its own output topic."""
    out = run.topic(f"{engine}-out")
    kafka.create_topics(run.bootstrap, [out], run.partitions)
    probe = kafka.EndOffsets(run.bootstrap, [out], run.partitions)
    log = run.work / f"{engine}.log"
    try:
        with engine_process([*argv, "--output", out], log, REPO) as proc:
            return measure(
                probe.total, target, run.plan.peer_limit_s, lambda: proc.poll() is None, log
            )
    finally:
        probe.close()


def _common(run: Run, engine: str) -> list[str]:
    return [
        "--bootstrap",
        run.bootstrap,
        "--inputs",
        ",".join(run.backlog),
        "--group",
        run.group(engine),
    ]


def ceiling(run: Run, target: int) -> Rate:
    argv = python_module(BASELINES, "ceiling", *_common(run, "ceiling"))
    return _copying_engine(run, "ceiling", argv, target)


def faust_baseline(run: Run, target: int) -> Rate:
    argv = python_module(
        BASELINES, "faust-baseline", *_common(run, "faust"), "--partitions", str(run.partitions)
    )
    return _copying_engine(run, "faust", argv, target)


def quix(run: Run, target: int) -> Rate:
    argv = python_module("hunt.ops.bench.quix", *_common(run, "quix"))
    return _copying_engine(run, "quix", argv, target)


def faust_floor(run: Run, target: int) -> Rate:
    """The floor writes nothing, so it times itself: first event to the ``target``-th."""
    stats = run.work / "faust-floor.json"
    log = run.work / "faust-floor.log"
    argv = python_module(
        BASELINES,
        "faust-floor",
        *_common(run, "faust-floor"),
        "--partitions",
        str(run.partitions),
        "--target",
        str(target),
        "--stats",
        str(stats),
    )
    deadline = time.monotonic() + 180 + run.plan.peer_limit_s * 3
    with engine_process(argv, log, REPO) as proc:
        while not stats.is_file():
            if proc.poll() is not None:
                raise EngineFailed(f"faust floor exited early; see {log}")
            if time.monotonic() > deadline:
                raise EngineFailed(f"faust floor did not reach {target} events; see {log}")
            time.sleep(0.2)
    return _floor_rate(stats)


def _floor_rate(stats: Path) -> Rate:
    data = json.loads(stats.read_text())
    seconds = data["last"] - data["first"]
    events = int(data["n"]) - 1  # the span starts at the first event
    return Rate(
        eps=events / seconds if seconds > 0 else None, events=events, seconds=seconds, complete=True
    )
