"""``hunt worker``: validate settings, create topics, run the Faust worker."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import logging
import shutil
import signal
import sys
from pathlib import Path

from hunt.config import ConfigError, Settings
from hunt.streaming.adapter.internals import crash_reason
from hunt.streaming.topics import ensure_topics
from hunt.streaming.versions import refusal

__all__ = ["main"]

log = logging.getLogger(__name__)

_CLEAN_MARK = "CLEAN_SHUTDOWN"
# Collector thresholds: young collections every 10k allocations instead of 700 (a
# 2,000-event batch allocates far more, and its objects are all alive until acked);
# older generations far less often. With the defaults, full collections of ~180k
# objects paused the event loop for 60-110 ms about once a second while draining.
_GC_THRESHOLDS = (10_000, 20, 100)


def _prepare_data_dir(data_dir: Path) -> None:
    """Wipe local tables unless the last run shut down cleanly.

    A killed worker may have written RocksDB entries whose changelog records
    never reached the broker; keeping them would let the local copy run ahead
    of the changelog. Restoring from the changelog is always consistent.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    mark = data_dir / _CLEAN_MARK
    tables = data_dir / "faust"
    if tables.exists() and not mark.exists():
        log.warning("last shutdown was not clean: restoring state from the changelog")
        shutil.rmtree(tables)
    mark.unlink(missing_ok=True)


def _quiet_gc() -> None:
    """Keep the cyclic collector's pauses out of the event loop's latency.

    Everything alive once the app is built (modules, Faust, aiokafka, ~73k
    objects) lives as long as the process: ``gc.freeze`` takes it out of every
    later collection, as the ``gc`` docs advise for long-lived processes.
    Reference counting still frees whatever is not in a cycle.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hunt worker", description=__doc__)
    parser.parse_args(argv)
    wrong_versions = refusal()
    if wrong_versions is not None:
        print(f"hunt worker: {wrong_versions}", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"hunt worker: {exc}", file=sys.stderr)
        return 2
    # `kill -USR1 <pid>` prints every thread's stack: the first look at a stuck worker.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(ensure_topics(settings))
    except ConfigError as exc:
        print(f"hunt worker: {exc}", file=sys.stderr)
        return 2
    _prepare_data_dir(settings.data_dir)

    from faust.worker import Worker

    from hunt.streaming.app import build
    from hunt.web.views import install_views

    try:
        hunt = build(settings)
    except ConfigError as exc:
        print(f"hunt worker: {exc}", file=sys.stderr)
        return 2
    install_views(hunt)
    if hunt.engine.guard is not None:
        hunt.engine.guard.install_signal_handler()
    _quiet_gc()
    worker = Worker(hunt.app, loglevel=settings.log_level, quiet=True)
    # Faust's terminal spinner lowers the root logger to DEBUG so every debug call
    # (aiokafka logs one per send) builds a record: measured 6% of CPU. No spinner.
    worker.spinner = None
    code = 1
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    # A batch cut off by the shutdown, or a failed write, may have left RocksDB ahead
    # of the changelog; then the local tables must not be trusted on the next start.
    if code == 0 and crash_reason(hunt.app) is None and not hunt.engine.dirty:
        (settings.data_dir / _CLEAN_MARK).touch()
    return code
