"""``make run``: a local broker, a worker and the traffic simulator, stopped together.

Each child runs in its own process group, so the terminal's Ctrl-C reaches only
this supervisor, which then stops them in dependency order (simulator and
worker before the broker they talk to) and finally kills whatever is left of
each group, leaving no process behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from hunt.config import Settings

__all__ = ["main"]

# A worker's web server comes up once it has joined its group; after this we print anyway.
_DASHBOARD_WAIT_S = 60.0
# Time a child gets to shut down after SIGTERM before its group is killed.
_STOP_TIMEOUT_S = 25.0
_READY_LINE = "hunt broker ready at"


class _Child:
    """One ``hunt <command>`` process in a process group of its own."""

    def __init__(self, name: str, env: dict[str, str], *, capture: bool = False) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hunt", name],
            env=env,
            stdout=subprocess.PIPE if capture else None,
            text=True,
            start_new_session=True,
        )

    def notify_exit(self, event: threading.Event) -> None:
        """Set ``event`` when the child exits, so the supervisor sleeps until something happens."""

        def watch() -> None:
            self.proc.wait()
            event.set()

        threading.Thread(target=watch, name=f"watch-{self.name}", daemon=True).start()

    def terminate(self) -> None:
        """Ask the child to shut down in order (it handles SIGTERM)."""
        if self.proc.poll() is None:
            self.signal_group(signal.SIGTERM)

    def reap(self, deadline: float) -> None:
        """Wait for the child until ``deadline``, then SIGKILL its whole group."""
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"run: {self.name} did not stop in time; killing it", file=sys.stderr)
        self.signal_group(signal.SIGKILL)  # grandchildren too, even if the child is gone
        self.proc.wait()

    def signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait_broker_ready(broker: _Child) -> bool:
    """Read the broker's stdout until its ready line (or its exit); then keep forwarding it."""
    out = broker.proc.stdout
    assert out is not None
    for line in out:
        sys.stdout.write(line)
        if line.startswith(_READY_LINE):
            sys.stdout.flush()
            threading.Thread(target=shutil.copyfileobj, args=(out, sys.stdout), daemon=True).start()
            return True
    return False


def _announce_dashboard(host: str, port: int, exited: threading.Event) -> None:
    """Print the URL once the worker's web port answers (or after a grace period)."""
    deadline = time.monotonic() + _DASHBOARD_WAIT_S
    while not _accepts(host, port) and time.monotonic() < deadline:
        if exited.wait(0.5):  # the pause between probes also notices a crashed child
            return
    print(f"\nhunt dashboard: http://localhost:{port}/  (Ctrl-C stops everything)\n", flush=True)


class _Stop(BaseException):
    """Raised by the SIGINT/SIGTERM handler to leave the wait and stop the children."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def main(argv: Sequence[str] | None = None) -> int:
    """Start broker (unless one answers at HUNT_BROKER), worker and simulator; wait for Ctrl-C."""
    env = dict(os.environ)
    env.setdefault("HUNT_BROKER", "localhost:9092")
    settings = Settings.from_env(env)
    host, _, port = settings.broker.split(",")[0].strip().rpartition(":")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_stop)
    children: list[_Child] = []
    exited = threading.Event()
    try:
        if _accepts(host, int(port)):
            print(f"run: using the broker already at {host}:{port}", flush=True)
        else:
            broker = _Child("broker", env, capture=True)
            children.append(broker)
            if not _wait_broker_ready(broker):
                print("run: the broker did not start (see its output above)", file=sys.stderr)
                return 1
        for name in ("worker", "simulate"):
            children.append(_Child(name, env))
        for child in children:
            child.notify_exit(exited)
        _announce_dashboard("127.0.0.1", settings.web_port, exited)
        exited.wait()
        dead = ", ".join(
            f"{c.name} ({c.proc.returncode})" for c in children if c.proc.poll() is not None
        )
        print(f"run: {dead} exited; stopping the rest", file=sys.stderr)
        return 1
    except _Stop:
        print("\nrun: stopping ...", file=sys.stderr, flush=True)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut cleanup short
            signal.signal(sig, signal.SIG_IGN)
        _stop_all(children)


def _stop_all(children: Sequence[_Child]) -> None:
    """Stop the simulator and worker together, then the broker they were using."""
    apps = [c for c in children if c.name != "broker"]
    for group in (apps, [c for c in children if c.name == "broker"]):
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for child in group:
            child.terminate()
        for child in group:
            child.reap(deadline)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
