"""A worker refuses to start on versions of Faust, mode, aiokafka or rocksdict other
than the pinned ones, naming the package, what is installed and what is pinned."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hunt.streaming.versions import PINNED, mismatches, refusal
from tests.harness import REPO


def test_the_installed_versions_are_the_pinned_ones() -> None:
    assert mismatches() == []
    assert refusal() is None


@pytest.mark.parametrize("name", sorted(PINNED))
def test_any_other_version_of_a_checked_package_is_refused(name: str) -> None:
    def installed(n: str) -> str | None:
        return PINNED[n] + ".post1" if n == name else PINNED[n]

    assert mismatches(installed) == [(name, PINNED[name] + ".post1", PINNED[name])]
    message = refusal(installed)
    assert message is not None
    assert f"{name} {PINNED[name]}.post1 is installed, pinned {PINNED[name]}" in message
    assert "constraints.txt" in message


def test_a_missing_package_and_several_at_once_are_all_named() -> None:
    versions = {"aiokafka": None, "rocksdict": "0.4.0"}

    def installed(n: str) -> str | None:
        return versions[n] if n in versions else PINNED[n]

    message = refusal(installed)
    assert message is not None
    assert f"aiokafka is not installed, pinned {PINNED['aiokafka']}" in message
    assert f"rocksdict 0.4.0 is installed, pinned {PINNED['rocksdict']}" in message


def test_the_worker_exits_before_anything_else_on_an_unpinned_version() -> None:
    # The worker reads versions through importlib.metadata; here it sees another aiokafka.
    code = (
        "import importlib.metadata as md, sys\n"
        "real = md.version\n"
        "md.version = lambda n: '0.15.0' if n == 'aiokafka' else real(n)\n"
        "from hunt.streaming.worker import main\n"
        "sys.exit(main([]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        # No broker at this address: the worker must stop before it would connect.
        env={"PATH": "/usr/bin:/bin", "HUNT_BROKER": "127.0.0.1:1"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"aiokafka 0.15.0 is installed, pinned {PINNED['aiokafka']}" in done.stderr
    assert done.stdout == ""
