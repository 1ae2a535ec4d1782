"""``make soak DURATION=…``: hours of live traffic with periodic faults; is it flat?

Starts a local broker, ``--workers`` workers and the traffic simulator, SIGKILLs
one worker every ``--kill-every`` seconds (round robin) and restarts it at once,
and every ``--sample-every`` seconds records per worker: resident set size,
open file descriptors (``/proc/<pid>/fd``) and the size of its RocksDB
directory. The report (``--report``, JSON) holds every sample, the maximum
of each per hour of soak, and the growth between the first and the last
quarter of the run: flat is the goal; steady growth is a leak.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from types import FrameType
from typing import IO, Any

from hunt.ops.broker import BrokerError, LocalKafka, free_port

__all__ = ["main"]

_STOP_TIMEOUT_S = 30.0  # a worker's graceful shutdown takes a few seconds
_READY_WAIT_S = 120.0  # a worker's first start creates topics and joins the group
_HOUR_S = 3600


@dataclass
class _Worker:
    """One ``hunt worker`` child with its own data dir and web port."""

    index: int
    env: dict[str, str]
    data_dir: Path
    log: IO[bytes]
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hunt", "worker"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class _Report:
    duration_s: float
    workers: int
    kill_every_s: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    kills: int = 0
    unexpected_exits: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration_s,
            "workers": self.workers,
            "kill_every_s": self.kill_every_s,
            "kills": self.kills,
            "unexpected_exits": self.unexpected_exits,
            "per_hour": _per_hour(self.samples),
            "growth_last_vs_first_quarter": _growth(self.samples),
            "samples": self.samples,
        }


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass  # RocksDB deletes compacted files as we walk
    return total


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _sample(workers: list[_Worker], elapsed: float) -> dict[str, Any]:
    rows = []
    for w in workers:
        pid = w.proc.pid if w.proc is not None and w.proc.poll() is None else 0
        rows.append(
            {
                "worker": w.index,
                "rss_mib": round(_rss_bytes(pid) / 2**20, 1) if pid else 0.0,
                "fds": _open_fds(pid) if pid else 0,
                "rocksdb_mib": round(_dir_bytes(w.data_dir / "faust") / 2**20, 1),
            }
        )
    return {
        "t_s": round(elapsed, 1),
        "rss_mib": max(r["rss_mib"] for r in rows),
        "fds": max(r["fds"] for r in rows),
        "rocksdb_mib": round(sum(r["rocksdb_mib"] for r in rows), 1),
        "workers": rows,
    }


_METRICS = ("rss_mib", "fds", "rocksdb_mib")


def _per_hour(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    hours: dict[int, list[dict[str, Any]]] = {}
    for s in samples:
        hours.setdefault(int(s["t_s"] // _HOUR_S), []).append(s)
    return [
        {"hour": h, "samples": len(rows), **{f"{m}_max": max(r[m] for r in rows) for m in _METRICS}}
        for h, rows in sorted(hours.items())
    ]


def _growth(samples: list[dict[str, Any]]) -> dict[str, float | None]:
    """Median of the last quarter minus the median of the first (after warm-up)."""
    if len(samples) < 4:
        return {m: None for m in _METRICS}
    q = len(samples) // 4
    first, last = samples[:q], samples[-q:]
    return {m: round(median(s[m] for s in last) - median(s[m] for s in first), 1) for m in _METRICS}


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class _Stop(BaseException):
    """SIGINT/SIGTERM: end the soak early, still writing the report."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hunt.ops.soak", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=600.0, help="seconds of soak (default 600)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--rate", type=float, default=200.0, help="simulated events/s (default 200)")
    p.add_argument("--kill-every", type=float, default=180.0, help="seconds between SIGKILLs")
    p.add_argument("--sample-every", type=float, default=60.0, help="seconds between samples")
    p.add_argument("--report", type=Path, default=Path("soak-report.json"))
    p.add_argument("--data-dir", type=Path, default=None, help="default: a temp dir, deleted")
    args = p.parse_args(argv)
    if args.duration <= 0 or args.workers < 1 or args.kill_every <= 0 or args.sample_every <= 0:
        p.error("--duration, --workers, --kill-every and --sample-every must be positive")
    return args


def main(argv: list[str]) -> int:
    args = _parse(argv)
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="hunt-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    report = _Report(args.duration, args.workers, args.kill_every)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_stop)
    logs: list[IO[bytes]] = []
    workers: list[_Worker] = []
    sim: subprocess.Popen[bytes] | None = None
    kafka: LocalKafka | None = None
    try:
        broker_log = open(root / "broker.log", "wb")
        logs.append(broker_log)
        kafka = LocalKafka("127.0.0.1", log=broker_log).start()
        app_id = f"soak-{uuid.uuid4().hex[:8]}"
        base = {
            **os.environ,
            "HUNT_BROKER": kafka.bootstrap,
            "HUNT_APP_ID": app_id,
            "HUNT_WEB_HOST": "127.0.0.1",
            "HUNT_LOG_LEVEL": "warning",
        }
        for i in range(args.workers):
            data = root / f"worker-{i}"
            log = open(root / f"worker-{i}.log", "ab")
            logs.append(log)
            env = {**base, "HUNT_DATA_DIR": str(data), "HUNT_WEB_PORT": str(free_port())}
            workers.append(_Worker(i, env, data, log))
            workers[-1].start()
        deadline = time.monotonic() + _READY_WAIT_S
        while not all(_accepts(int(w.env["HUNT_WEB_PORT"])) for w in workers):
            if time.monotonic() > deadline:
                raise BrokerError("workers did not open their web ports in time")
            time.sleep(1)
        sim_log = open(root / "simulate.log", "ab")
        logs.append(sim_log)
        sim = subprocess.Popen(
            [sys.executable, "-m", "hunt", "simulate", "--rate", str(args.rate), "--seed", "1"],
            env=base,
            stdout=sim_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        print(f"soak: {args.workers} workers, {args.rate:g} events/s, data in {root}", flush=True)
        _soak(args, workers, sim, report)
    except _Stop:
        print("soak: stopped early", file=sys.stderr)
    except BrokerError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if sim is not None and sim.poll() is None:
            sim.terminate()
            sim.wait(_STOP_TIMEOUT_S)
        for w in workers:
            w.stop()
        if kafka is not None:
            kafka.stop()
        for f in logs:
            f.close()
        args.report.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        if args.data_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    _print_summary(report)
    return 0 if report.unexpected_exits == 0 else 1


def _soak(
    args: argparse.Namespace, workers: list[_Worker], sim: subprocess.Popen[bytes], r: _Report
) -> None:
    started = time.monotonic()
    next_sample = started
    next_kill = started + args.kill_every
    victim = 0
    while (now := time.monotonic()) - started < args.duration:
        for w in workers:  # a worker that died on its own is a finding: count and restart it
            if w.proc is not None and w.proc.poll() is not None:
                r.unexpected_exits += 1
                print(f"soak: worker {w.index} exited with {w.proc.returncode}", file=sys.stderr)
                w.start()
        if sim.poll() is not None:
            raise BrokerError(f"the simulator exited with {sim.returncode}")
        if now >= next_kill:
            workers[victim].kill()
            workers[victim].start()
            r.kills += 1
            victim = (victim + 1) % len(workers)
            next_kill += args.kill_every
        if now >= next_sample:
            sample = _sample(workers, now - started)
            r.samples.append(sample)
            print(
                f"soak: t={sample['t_s']:.0f}s rss={sample['rss_mib']}MiB fds={sample['fds']} "
                f"rocksdb={sample['rocksdb_mib']}MiB kills={r.kills}",
                flush=True,
            )
            next_sample += args.sample_every
        time.sleep(min(1.0, max(0.0, min(next_kill, next_sample) - time.monotonic())))


def _print_summary(r: _Report) -> None:
    print("hour  samples  rss_mib_max  fds_max  rocksdb_mib_max")
    for h in _per_hour(r.samples):
        print(
            f"{h['hour']:<5} {h['samples']:<8} {h['rss_mib_max']:<12} {h['fds_max']:<8} "
            f"{h['rocksdb_mib_max']}"
        )
    print(f"growth, last vs first quarter: {_growth(r.samples)}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
