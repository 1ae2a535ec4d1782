"""The versions of Faust, mode, aiokafka and rocksdict that hunt was written against.

hunt overrides, copies or reads private parts of these four (the list and a
hash of every upstream function it depends on are in
``tests/unit/test_upstream.py``), so a release that changes them can break
exactly-once processing without failing any import. A worker therefore
refuses to start on any other version; ``constraints.txt`` and
``pyproject.toml`` install these, and a test keeps the three in step.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping

__all__ = ["PINNED", "mismatches", "refusal"]

PINNED: Mapping[str, str] = {
    "faust-streaming": "0.15.3",
    "mode-streaming": "0.7.1",
    "aiokafka": "0.14.0",
    "rocksdict": "0.3.29",
}


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def mismatches(
    installed: Callable[[str], str | None] = _installed,
) -> list[tuple[str, str | None, str]]:
    """(package, installed version or None, pinned version) for each that differs."""
    out = []
    for name, pinned in PINNED.items():
        version = installed(name)
        if version != pinned:
            out.append((name, version, pinned))
    return out


def refusal(installed: Callable[[str], str | None] = _installed) -> str | None:
    """Why the worker must not start on these versions, or None if they are the pinned ones."""
    wrong = mismatches(installed)
    if not wrong:
        return None
    found = "; ".join(
        f"{name} {version or 'is not installed'}, pinned {pinned}"
        if version is None
        else f"{name} {version} is installed, pinned {pinned}"
        for name, version, pinned in wrong
    )
    return (
        f"{found}. hunt relies on internals of these exact versions; install the pins "
        "(pip install -c constraints.txt ., or make install), or move the pins as "
        "constraints.txt says"
    )
