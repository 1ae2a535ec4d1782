"""Ground truth and worker handling borrowed from the test suite.

The benchmark checks hunt's end state against ``tests/oracle.py``, the model
written from the contract alone, and starts workers with ``tests/harness.py``,
so the numbers come from the same process setup the tests trust.  ``tests`` is
not part of the installed package; it is found next to ``hunt/`` in the source
checkout that ``make bench`` runs from.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["REPO", "harness", "mismatches", "oracle"]

REPO = Path(__file__).resolve().parents[3]


def _tests_module(name: str) -> ModuleType:
    if not (REPO / "tests" / f"{name}.py").is_file():
        raise RuntimeError(
            f"tests/{name}.py not found under {REPO}: run the benchmark from a source checkout"
        )
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    module = __import__(f"tests.{name}", fromlist=[name])
    return module


def oracle() -> ModuleType:
    """``tests.oracle``: ``run((topic_kind, value), ...)`` -> expected products and counts."""
    return _tests_module("oracle")


def harness() -> ModuleType:
    """``tests.harness``: ``Deployment`` and ``Worker`` (hunt workers as subprocesses)."""
    return _tests_module("harness")


def mismatches(
    expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]], limit: int = 10
) -> list[str]:
    """Field-by-field differences between expected and emitted product states (first few)."""
    problems: list[str] = []
    for pid in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(pid), actual.get(pid)
        if want is None or got is None:
            problems.append(f"{pid}: expected {want is not None}, emitted {got is not None}")
        else:
            problems.extend(
                f"{pid}.{f}: expected {want.get(f)!r}, got {got.get(f)!r}"
                for f in sorted(want.keys() | got.keys())
                if want.get(f) != got.get(f)
            )
        if len(problems) >= limit:
            break
    return problems[:limit]
