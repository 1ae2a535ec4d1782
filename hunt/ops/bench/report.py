"""The benchmark's output: ``bench/report.json`` and a short table."""

from __future__ import annotations

import json
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from hunt.ops.broker import default_libs_dir

__all__ = ["environment", "table", "write"]

_PACKAGES = ("hunt", "faust-streaming", "aiokafka", "confluent-kafka", "quixstreams", "rocksdict")


def _kafka_version() -> str | None:
    for jar in sorted(default_libs_dir().glob("kafka_2.13-*.jar")):
        if m := re.fullmatch(r"kafka_2\.13-([\d.]+)\.jar", jar.name):
            return m.group(1)
    return None


def environment() -> dict[str, Any]:
    """``cores`` and ``versions``: what a reader needs to compare two reports."""
    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "kafka": _kafka_version(),
    }
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cores": cores, "cpu": platform.processor() or platform.machine(), "versions": versions}


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def _eps(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f} ev/s"


def _us(value: Any) -> str:
    return "-" if value is None else f"{value:.0f} us"


def _cores(value: Any) -> str:
    return "-" if value is None else f"{value:.2f} cores"


def _ms(d: dict[str, Any] | None) -> str:
    if not d or d.get("p50") is None:
        return "-"
    return f"p50 {d['p50']:.0f} / p99 {d['p99']:.0f} / max {d['max']:.0f} ms"


def table(report: dict[str, Any]) -> str:
    """A short human-readable summary of ``report``."""
    hunt = report.get("hunt_eps")
    rows: list[tuple[str, str]] = [
        ("cores", str(report.get("cores"))),
        ("ceiling (raw aiokafka copy)", _eps(report.get("ceiling_eps"))),
        ("faust floor (idle agent)", _eps(report.get("faust_floor_eps"))),
        ("faust baseline (table+send)", _eps(report.get("baseline_eps"))),
        ("quix streams (RocksDB count)", _eps(report.get("quix_eps"))),
        ("hunt (full contract)", _eps(hunt) + f"  exact={report.get('exact')}"),
        ("hunt worker CPU per event", _us(report.get("cpu_us_per_event"))),
        ("  at 50% load", _us(report.get("cpu_us_per_event_at_50"))),
        ("  broker CPU meanwhile", _cores(report.get("broker_cores"))),
        ("hunt, 2 workers", _eps(report.get("hunt_2w_eps")) + f"  exact={report.get('exact_2w')}"),
        ("  CPU per event (both)", _us(report.get("cpu_us_per_event_2w"))),
        ("  broker CPU meanwhile", _cores(report.get("broker_cores_2w"))),
    ]
    for name in ("ceiling_eps", "baseline_eps", "quix_eps"):
        if hunt and report.get(name):
            rows.append((f"  hunt / {name[:-4]}", f"{hunt / report[name]:.2f}x"))
    for load, d in (report.get("latency_ms") or {}).items():
        floor = (report.get("latency_floor_ms") or {}).get(load)
        rows.append((f"latency @{load}% state", _ms(d)))
        rows.append((f"latency @{load}% alert", _ms(d.get("alert"))))
        rows.append((f"latency @{load}% floor", _ms(floor)))
    if dash := report.get("latency_dashboard_ms"):
        rows.append(("latency @50% + dashboard state", _ms(dash)))
        rows.append(("latency @50% + dashboard alert", _ms(dash.get("alert"))))
        board = dash.get("dashboard") or {}
        rows.append(
            (
                "  dashboard refresh",
                _ms(board.get("refresh_ms")) + f", {board.get('failed')} failed",
            )
        )
    if over := report.get("overload"):
        rows.append(
            (
                "overload (10x)",
                f"offered {_eps(over.get('offered_eps'))}, "
                f"peak RSS {over.get('peak_rss_mib')} MiB, "
                f"stalled {over.get('stalled_partitions')}, drain {over.get('drain_s')} s, "
                f"exact={over.get('exact')}",
            )
        )
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
