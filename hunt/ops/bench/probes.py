"""What the benchmark reads off a running hunt worker: /metrics and memory."""

from __future__ import annotations

import os
import re
import urllib.request
from collections import defaultdict
from pathlib import Path

__all__ = ["Metrics", "scrape", "tree_rss_kib"]

_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\}\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


class Metrics:
    """The two families the benchmark needs from one /metrics scrape."""

    def __init__(self, text: str) -> None:
        self.events: dict[tuple[str, str], float] = defaultdict(float)  # (topic, outcome)
        self.lag: dict[tuple[str, int], float] = {}  # (topic, partition)
        for line in text.splitlines():
            m = _SAMPLE.match(line)
            if m is None:
                continue
            name, labels, value = m.group(1), dict(_LABEL.findall(m.group(2))), float(m.group(3))
            if name == "hunt_events_total":
                self.events[(labels.get("topic", ""), labels.get("outcome", ""))] += value
            elif name == "hunt_consumer_lag":
                self.lag[(labels.get("topic", ""), int(labels.get("partition", "0")))] = value

    @property
    def handled(self) -> int:
        """Input records with an outcome: applied, duplicate or dead-lettered."""
        return int(sum(self.events.values()))


def scrape(url: str, timeout: float = 5.0) -> Metrics | None:
    """One scrape of ``url + /metrics``; None while the worker does not answer."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=timeout) as r:
            return Metrics(r.read().decode())
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            pass
    return kids


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) in KiB of ``pid`` plus all its descendants.

    The peak sums each process's own high-water mark (VmHWM), an upper bound
    of the tree's true peak; the current figure sums VmRSS.
    """
    rss = hwm = 0
    stack = [pid]
    seen: set[int] = set()
    while stack:
        p = stack.pop()
        if p in seen or not os.path.exists(f"/proc/{p}"):
            continue
        seen.add(p)
        rss += _status_kib(p, "VmRSS")
        hwm += _status_kib(p, "VmHWM")
        stack.extend(_children(p))
    return rss, hwm
