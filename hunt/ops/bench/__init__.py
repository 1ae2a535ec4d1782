"""``hunt bench``: hunt's throughput, latency and overload behaviour, next to its peers.

Everything runs in one invocation on one local broker, so the ratios hold on
a noisy machine.  The phases, in order (``--only`` picks a subset):

1. ``ceiling``  raw aiokafka copy of the backlog, no state         :mod:`.baselines`
2. ``floor``    a Faust agent that only iterates the backlog        :mod:`.baselines`
   ``baseline`` the first Faust app a user writes (table + send)    :mod:`.baselines`
3. ``quix``     Quix Streams, stateful counter, RocksDB             :mod:`.quix`
4. ``hunt2w``   two workers, a deployment of their own, on the backlog :mod:`.hunt_run`
5. ``hunt``     the full contract over the backlog, checked exactly  :mod:`.hunt_run`
6. ``latency``  at 25/50/75% of hunt's rate, and the raw floor      :mod:`.latency`
   ``dashboard`` 50% again, with one dashboard polling the worker    :mod:`.latency`
7. ``overload`` 10x hunt's rate: memory, stalls, drain, exactness   :mod:`.overload`

The backlog (``hunt.ops.traffic``) is produced once; every engine reads it
under its own consumer group.  See docs/bench.md for what each number means.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hunt.ops.bench import kafka, latency, peers, report
from hunt.ops.bench.context import BACKLOG_RATE, Plan, Run
from hunt.ops.bench.hunt_run import Drain, HuntDeployment, converge, drain
from hunt.ops.bench.overload import overload
from hunt.ops.bench.reference import oracle
from hunt.ops.bench.trace import trace
from hunt.ops.broker import LocalKafka

__all__ = ["PHASES", "main"]

PHASES = (
    "ceiling",
    "floor",
    "baseline",
    "quix",
    "hunt2w",
    "hunt",
    "latency",
    "dashboard",
    "overload",
)
SEED = 20_251_126  # the backlog is the same shop day in every run


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hunt bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--report", type=Path, default=Path("bench/report.json"))
    p.add_argument(
        "--only", default=",".join(PHASES), help="comma-separated phases: " + ",".join(PHASES)
    )
    p.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("BENCH_SCALE") or 1.0),
        help="shrinks event counts and durations (env BENCH_SCALE)",
    )
    p.add_argument(
        "--bootstrap", default="", help="use this broker instead of starting a local one"
    )
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs, state) afterwards")
    args = p.parse_args(argv)
    args.phases = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        p.error(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    if {"latency", "dashboard", "overload"} & set(args.phases) and "hunt" not in args.phases:
        p.error(
            "latency, dashboard and overload are set relative to hunt's throughput: include 'hunt'"
        )
    if "quix" in args.phases and importlib.util.find_spec("quixstreams") is None:
        p.error(
            "quixstreams is not installed: `pip install -e '.[bench]'` (make bench does), "
            "or leave out 'quix'"
        )
    return args


def _say(text: str) -> None:
    print(f"bench: {text}", flush=True)


class _Bench:
    def __init__(self, run: Run, phases: list[str], broker_pid: int | None) -> None:
        self.run, self.phases, self.broker_pid = run, phases, broker_pid
        self.out: dict[str, Any] = {
            "scale": run.plan.scale,
            **report.environment(),
            "events": run.plan.events,
            "products": run.plan.products,
            "partitions": run.partitions,
            "ceiling_eps": None,
            "baseline_eps": None,
            "faust_floor_eps": None,
            "quix_eps": None,
            "hunt_eps": None,
            "cpu_us_per_event": None,
            "cpu_us_per_event_at_50": None,
            "broker_cores": None,
            "exact": None,
            "hunt_2w_eps": None,
            "cpu_us_per_event_2w": None,
            "broker_cores_2w": None,
            "exact_2w": None,
            "latency_ms": None,
            "latency_floor_ms": None,
            "latency_dashboard_ms": None,
            "overload": None,
            "runs": {},
            "errors": {},
        }

    def phase(self, name: str, body: Callable[[], None]) -> None:
        if name not in self.phases:
            return
        _say(f"{name} ...")
        t0 = time.monotonic()
        try:
            body()
        except Exception as exc:  # one broken phase must not hide the others' numbers
            traceback.print_exc()
            self.out["errors"][name] = f"{type(exc).__name__}: {exc}"[:2000]
        _say(f"{name} done in {time.monotonic() - t0:.0f} s")

    def backlog(self) -> list[Any]:
        run = self.run
        n = run.plan.events
        start = time.time_ns() // 1_000_000 - int(n / BACKLOG_RATE * 1000)  # the backlog ends now
        records = trace(SEED, run.plan.products, n, start, BACKLOG_RATE)
        kafka.create_topics(run.bootstrap, run.backlog, run.partitions)
        t0 = time.monotonic()
        kafka.produce_records(run.bootstrap, records, run.backlog)
        elapsed = time.monotonic() - t0
        self.out["backlog_produce_eps"] = round(n / elapsed, 1)
        _say(f"backlog: {n} records over {run.plan.products} products in {elapsed:.1f} s")
        return records

    def peer(self, key: str, measure: Callable[[Run, int], Any]) -> Callable[[], None]:
        def body() -> None:
            rate = measure(self.run, self.run.plan.events)
            self.out["runs"][key] = rate.as_dict()
            self.out[key] = None if rate.eps is None else round(rate.eps, 1)

        return body

    def hunt(self, expected: Any) -> None:
        run = self.run
        worker = HuntDeployment(run, run.name).start(wait=False)
        try:
            result = drain(worker, run.plan.events, self.broker_pid)
            problems = self._drained(result, worker, expected, "")
            _say(f"hunt: {self.out['hunt_eps']} events/s, exact={not problems}")
            eps = result.rate.eps
            if "latency" in self.phases and eps:
                _say("latency: hunt at 25/50/75% ...")
                loads = latency.hunt_loads(run, worker.topics, eps, worker.cpu_s)
                self.out["latency_ms"] = loads
                self.out["cpu_us_per_event_at_50"] = loads["50"]["cpu_us_per_event"]
            if "dashboard" in self.phases and eps:
                _say(f"dashboard: hunt at {latency.DASHBOARD_LOAD}% with a dashboard open ...")
                self.out["latency_dashboard_ms"] = latency.dashboard_load(
                    run, worker.topics, eps, worker.cpu_s, worker.worker.url
                )
        finally:
            worker.stop()

    def hunt2w(self, expected: Any) -> None:
        """Two workers of a deployment of their own (own group, state and outputs) drain
        the same backlog."""
        run = self.run
        workers = HuntDeployment(run, run.name + "-2w", workers=2, inputs=run.backlog)
        workers.start(wait=False)
        try:
            result = drain(workers, run.plan.events, self.broker_pid)
            problems = self._drained(result, workers, expected, "_2w")
            _say(f"hunt, 2 workers: {self.out['hunt_2w_eps']} events/s, exact={not problems}")
        finally:
            workers.stop()

    def _drained(
        self, result: Drain, hunt: HuntDeployment, expected: Any, suffix: str
    ) -> list[str]:
        """Record one drain (rate, CPU, exactness) under keys ending in ``suffix``."""
        key = "hunt_2w_eps" if suffix else "hunt_eps"
        rate = result.rate
        self.out["runs"][key] = run = rate.as_dict()
        self.out[key] = None if rate.eps is None else round(rate.eps, 1)
        cpu_us, broker = result.cpu_us_per_event, result.broker_cores
        self.out["cpu_us_per_event" + suffix] = None if cpu_us is None else round(cpu_us, 1)
        self.out["broker_cores" + suffix] = None if broker is None else round(broker, 2)
        problems = converge(hunt, expected.products)
        self.out["exact" + suffix] = not problems
        run["mismatches"] = problems
        run["outcomes"] = hunt.outcomes()
        run["expected_outcomes"] = {
            "applied": expected.applied,
            "duplicate": expected.duplicate,
            "dead_lettered": expected.rejected,
        }
        return problems

    def execute(self) -> dict[str, Any]:
        records = self.backlog()
        self.phase("ceiling", self.peer("ceiling_eps", peers.ceiling))
        self.phase("floor", self.peer("faust_floor_eps", peers.faust_floor))
        self.phase("baseline", self.peer("baseline_eps", peers.faust_baseline))
        self.phase("quix", self.peer("quix_eps", peers.quix))
        expected = None
        if {"hunt", "hunt2w"} & set(self.phases):
            expected = oracle().run((r.topic_kind, r.value) for r in records)
        records.clear()  # the backlog's memory goes back before the overload trace is built
        # Two workers first: the latency loads add records to the backlog topics.
        self.phase("hunt2w", lambda: self.hunt2w(expected))
        self.phase("hunt", lambda: self.hunt(expected))
        hunt_eps = self.out["hunt_eps"]
        if hunt_eps:
            self.phase(
                "latency",
                lambda: self._set("latency_floor_ms", latency.floor_loads(self.run, hunt_eps)),
            )
            self.phase("overload", lambda: self._set("overload", overload(self.run, hunt_eps)))
        return self.out

    def _set(self, key: str, value: Any) -> None:
        self.out[key] = value


def main(argv: list[str] | None = None) -> int:
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    plan = Plan.for_scale(args.scale)
    work = Path(tempfile.mkdtemp(prefix="hunt-bench-"))
    broker: LocalKafka | None = None
    t0 = time.monotonic()
    ok = False
    try:
        bootstrap = args.bootstrap
        if not bootstrap:
            with (work / "broker.log").open("wb") as log:
                broker = LocalKafka("127.0.0.1", data_dir=work / "kafka", log=log).start()
            bootstrap = broker.bootstrap
        _say(f"scale {plan.scale}, {plan.events} events, work dir {work}")
        pid = None if broker is None else broker.pid
        bench = _Bench(Run(bootstrap, work, plan), args.phases, pid)
        out = bench.execute()
        out["duration_s"] = round(time.monotonic() - t0, 1)
        report.write(out, args.report)
        print(report.table(out))
        _say(f"report written to {args.report} ({out['duration_s']:.0f} s)")
        over = out.get("overload") or {}
        ok = (
            not out["errors"]
            and out["exact"] is not False
            and out["exact_2w"] is not False
            and over.get("exact") is not False
        )
        return 0 if ok else 1
    finally:
        if broker is not None:
            broker.stop()
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            _say(f"logs and state kept in {work}")
