"""SIGKILL mid-stream, restart (with and without the local state directory):
nothing lost, nothing counted twice, against the independent oracle."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Deployment, Worker, latest_states, wait_for
from tests.integration import groundtruth as gt

pytestmark = pytest.mark.integration


def applied(dep: Deployment) -> int:
    states = latest_states(dep.bootstrap, dep.topics["product_state"])
    return sum(s["events_applied"] for s in states.values())


@pytest.mark.parametrize("local_state", ["kept", "deleted"])
def test_sigkill_mid_stream_then_restart_matches_ground_truth(
    kafka: Any, tmp_path: Path, local_state: str
) -> None:
    records = gt.make_trace(seed=23, products=400, events=30_000)
    expected = gt.expectations(records)
    first, second = records[:20_000], records[20_000:]
    dep = Deployment(kafka.bootstrap, tmp_path)
    worker = Worker(dep).start()
    try:
        worker.wait_ready()
        gt.produce(dep, first)
        progress = wait_for(lambda: applied(dep), 60, "first snapshots", worker._alive)
        worker.kill()
        assert 0 < progress < expected.applied, "the kill landed mid-stream"
        if local_state == "deleted":
            shutil.rmtree(worker.data_dir)
        gt.produce(dep, second)
        worker.start()
        worker.wait_ready()
        wait_for(
            lambda: (
                not gt.state_mismatches(
                    expected.products, latest_states(dep.bootstrap, dep.topics["product_state"])
                )
            ),
            120,
            "product states to match the oracle after the restart",
            worker._alive,
        )
    finally:
        worker.stop()
    final = latest_states(dep.bootstrap, dep.topics["product_state"])
    assert gt.state_mismatches(expected.products, final) == []
    assert sum(s["events_applied"] for s in final.values()) == expected.applied


def test_repeated_sigkill_during_backlog_is_exact(kafka: Any, tmp_path: Path) -> None:
    """Three kills while a backlog drains, each restart recovering from the changelog."""
    records = gt.make_trace(seed=31, products=300, events=30_000)
    expected = gt.expectations(records)
    dep = Deployment(kafka.bootstrap, tmp_path)
    worker = Worker(dep).start()
    try:
        worker.wait_ready()
        gt.produce(dep, records)
        seen = 0
        for _ in range(3):
            seen = wait_for(
                lambda last=seen: (n := applied(dep)) > last and n,
                60,
                "progress before the next kill",
                worker._alive,
            )
            worker.kill()
            worker.start()
            worker.wait_ready()
        wait_for(
            lambda: applied(dep) == expected.applied, 120, "the backlog to drain", worker._alive
        )
    finally:
        worker.stop()
    final = latest_states(dep.bootstrap, dep.topics["product_state"])
    assert gt.state_mismatches(expected.products, final) == []
