"""Zombie fencing: a worker paused past the session timeout must write nothing more.

While a worker is paused (SIGSTOP, a frozen VM, a debugger) the group moves
its partitions to the others, which go on from the last commit and publish
newer state. When the paused worker resumes it still holds snapshots, an
in-flight batch and producer batches from before; without Kafka transactions
nothing stops the broker from accepting them, and a stale snapshot would
overwrite a newer one in the compacted topic. So the worker watches its own
event loop: a gap longer than the session timeout means it may have been
fenced, and it exits at once, before its event loop runs again (SIGCONT is
handled synchronously) or before its next write (the engine checks). The
supervisor (Kubernetes, ``make run``, the tests) starts it again; being an
unclean exit, the restart restores its state from the changelog.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

__all__ = ["EXIT_FENCED", "CoordinatorFence", "PauseGuard", "producer_timeout_s"]

log = logging.getLogger(__name__)

EXIT_FENCED = 75  # EX_TEMPFAIL: restart me, nothing is wrong with the input.
TICK_S = 0.1  # how often the loop proves it is alive; far below any session timeout.


class PauseGuard:
    """Exits the process when the event loop was not running for ``limit_s``."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        # None until the ticker first runs: Faust starts timers only once the worker
        # is up, and start-up (recovery included) is no pause.
        self.last_tick: float | None = None

    def tick(self) -> None:
        self.last_tick = time.monotonic()

    def check(self) -> None:
        if self.last_tick is None:
            return
        gap = time.monotonic() - self.last_tick
        if gap > self.limit_s:
            self._exit(gap)

    def install_signal_handler(self) -> None:
        """Check on SIGCONT, before the event loop handles anything else."""
        signal.signal(signal.SIGCONT, lambda _sig, _frame: self.check())

    def _exit(self, gap: float) -> None:
        log.critical(
            "event loop was paused for %.1f s (session timeout %.1f s): this worker may "
            "have lost its partitions; exiting without writing anything more",
            gap,
            self.limit_s,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(EXIT_FENCED)


class CoordinatorFence:
    """Refuses writes once the group coordinator has been silent for ``limit_s``.

    A worker whose event loop runs but whose connection to the broker is cut
    cannot tell that the group moved its partitions: the coordinator evicts a
    member the session timeout after its last heartbeat, and the new owner
    then writes. So a write is allowed only while the last word from the
    coordinator (a heartbeat answered, a join completed) is younger than
    ``limit_s``, half the session timeout; and the producer gives up on a
    record after a request timeout of a quarter of it (see
    :func:`producer_timeout_s`), so whatever was accepted before the limit has
    reached the broker or failed before the session can expire.
    """

    __slots__ = ("last_heard", "limit_s")

    def __init__(self, session_timeout_s: float) -> None:
        self.limit_s = session_timeout_s * FENCE_SHARE
        # None until the consumer first joins the group: nothing is written before.
        self.last_heard: float | None = None

    def heard(self) -> None:
        """The coordinator answered (called from the consumer's thread: one float write)."""
        self.last_heard = time.monotonic()

    def silence(self) -> float | None:
        """How long the coordinator has been silent, if that is past the limit; else None."""
        last = self.last_heard
        if last is None:
            return None
        gap = time.monotonic() - last
        return gap if gap > self.limit_s else None


# Writes stop at half the session timeout of silence; a record accepted just
# before lives at most about two producer request timeouts (its batch expires
# after one, plus one request in flight), so a quarter each adds up to the
# session timeout at which the coordinator may evict this worker.
FENCE_SHARE = 0.5
PRODUCER_TIMEOUT_SHARE = 0.25


def producer_timeout_s(session_timeout_s: float) -> float:
    """The producer's request timeout: see :class:`CoordinatorFence`."""
    return session_timeout_s * PRODUCER_TIMEOUT_SHARE
