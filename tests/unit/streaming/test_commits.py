"""Offsets Faust did not commit are not taken for committed (consumer.py).

Faust's ``Consumer._commit_offsets`` records the offsets as committed even
when ``_commit`` returns False; the worker's consumer undoes that, so a
refused commit leaves the worker's view at what the group holds. Built on the
worker's real Faust app (not started: no commit reaches a broker here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from prometheus_client import CollectorRegistry

from hunt.config import Settings
from hunt.streaming.app import build
from hunt.streaming.metrics import Metrics


@pytest.fixture
def consumer(tmp_path: Path) -> Iterator[Any]:
    settings = Settings.from_env({"HUNT_DATA_DIR": str(tmp_path), "HUNT_BROKER": "127.0.0.1:1"})
    hunt = build(settings, Metrics(CollectorRegistry()))
    consumer: Any = hunt.app.consumer
    tp = TP(hunt.topics.behavior, 0)
    consumer.assignment = lambda: {tp}
    consumer.group_committed[tp] = 100  # as read at the seek to the commits
    consumer._committed_offset[tp] = 100
    consumer.tp = tp
    yield consumer


async def _refuse() -> bool:
    return False


def test_faust_alone_takes_a_refused_commit_for_done(consumer: Any) -> None:
    consumer.commit_gate = _refuse
    tp = consumer.tp
    assert not asyncio.run(faust_aiokafka.Consumer._commit_offsets(consumer, {tp: 150}))
    assert consumer._committed_offset[tp] == 150  # what the wrapper exists for


def test_a_refused_commit_leaves_the_committed_offset_as_the_group_holds_it(
    consumer: Any,
) -> None:
    consumer.commit_gate = _refuse
    tp = consumer.tp
    assert not asyncio.run(consumer._commit_offsets({tp: 150}))
    assert consumer._committed_offset[tp] == 100
    # A later ack between the two offsets still counts, so it can still be committed.
    assert consumer._should_commit(tp, 120)


def test_offsets_acked_before_a_rebalance_are_not_committed_after_it(
    consumer: Any,
) -> None:
    app = consumer.app
    generation = app.consumer_generation_id

    async def gate_across_a_rebalance() -> bool:
        app.consumer_generation_id = generation + 1  # a reset's rejoin completed meanwhile
        return True  # ... and the reset cleared the failure the gate waited for

    consumer.commit_gate = gate_across_a_rebalance
    tp = consumer.tp
    assert not asyncio.run(consumer._commit_offsets({tp: 150}))
    assert consumer._committed_offset[tp] == 100
