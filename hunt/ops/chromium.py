"""Headless Chromium for the dashboard test: find it, or install Debian's package.

``python -m hunt.ops.chromium`` prints the browser's path, installing it with
``apt-get update && apt-get install -y chromium`` first when it is missing
(root, Debian/Ubuntu). The dashboard test calls :func:`ensure_chromium` too,
so ``make test`` works on a fresh machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

__all__ = ["ChromiumMissing", "dump_dom", "ensure_chromium"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_INSTALL = (
    ["apt-get", "update"],
    ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
)


class ChromiumMissing(RuntimeError):
    """No Chromium on PATH and it could not be installed here."""


def find_chromium() -> str | None:
    if env := os.environ.get("HUNT_CHROMIUM", "").strip():
        return env
    for name in _CANDIDATES:
        if path := shutil.which(name):
            return path
    return None


def ensure_chromium() -> str:
    """Path of a Chromium binary, installed with apt-get when missing."""
    path = find_chromium()
    if path:
        return path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise ChromiumMissing(
            "chromium not found; install it (Debian: apt-get install -y chromium) "
            "or set HUNT_CHROMIUM to the browser's path"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in _INSTALL:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ChromiumMissing(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    path = find_chromium()
    if path is None:
        raise ChromiumMissing("apt-get installed chromium but it is not on PATH")
    return path


def dump_dom(url: str, user_data_dir: str, budget_ms: int = 8000, timeout_s: float = 90) -> str:
    """The page's DOM after ``budget_ms`` of virtual time, as rendered by headless Chromium."""
    argv = [
        ensure_chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={user_data_dir}",
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    try:
        print(ensure_chromium())
    except ChromiumMissing as exc:
        print(f"hunt chromium: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
