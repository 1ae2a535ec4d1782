"""Timing an engine on the pre-filled backlog, from outside its process.

An engine's rate is counted from the first event it visibly handled to the
last, so JVM-free but still slow start-ups (group join, table recovery) are
excluded: ``eps = (count_end - count_first) / (t_end - t_first)``, where the
counter is whatever the engine leaves behind per event (its output topic's
end offsets, hunt's ``hunt_events_total``).  Engines slower than the time
limit are measured over the part of the backlog they reached in it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["EngineFailed", "Rate", "engine_process", "measure"]

POLL_S = 0.1  # counter sampling period: 0.5% of a 20 s run
STARTUP_S = 180.0  # a cold Faust/Quix start joins a group and creates topics: allow for it


class EngineFailed(RuntimeError):
    """The engine exited early or never started handling events."""


@dataclass
class Rate:
    """Events handled per second over a measured span."""

    eps: float | None
    events: int
    seconds: float
    complete: bool  # True if the whole target was reached within the time limit

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def engine_process(argv: Sequence[str], log: Path, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` with output to ``log``; terminate it (then kill) on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def measure(
    counter: Callable[[], int | None],
    target: int,
    limit_s: float,
    alive: Callable[[], bool],
    log: Path | None = None,
    poll_s: float = POLL_S,
) -> Rate:
    """Sample ``counter`` until it reaches ``target`` or ``limit_s`` after its first event."""
    deadline = time.monotonic() + STARTUP_S
    while True:
        first = counter() or 0
        t_first = time.monotonic()
        if first > 0:
            break
        if not alive():
            raise EngineFailed(
                "engine exited before handling any event\n" + (_tail(log) if log else "")
            )
        if t_first > deadline:
            raise EngineFailed(f"no event handled within {STARTUP_S:.0f} s")
        time.sleep(poll_s)
    count, t_last = first, t_first
    while count < target and time.monotonic() - t_first < limit_s:
        if not alive():
            raise EngineFailed("engine exited while measured\n" + (_tail(log) if log else ""))
        time.sleep(poll_s)
        now_count = counter()
        if now_count is not None and now_count > count:
            count, t_last = now_count, time.monotonic()
    done = count - first
    # A backlog drained between two samples gives no span to divide by: no rate, not a fake one.
    eps = done / (t_last - t_first) if done else None
    return Rate(eps=eps, events=done, seconds=t_last - t_first, complete=count >= target)
