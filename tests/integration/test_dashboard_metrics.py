"""The Grafana dashboard shipped under k8s/ queries only metrics a live worker exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hunt.ops.k8s_check import dashboard_metric_names, missing_metrics
from tests.harness import REPO, Deployment, latest_states, wait_for, workers
from tests.integration import groundtruth as gt

pytestmark = pytest.mark.integration

DASHBOARD = REPO / "k8s" / "components" / "grafana-dashboard" / "hunt-dashboard.json"


def test_every_dashboard_query_names_a_metric_the_worker_exports(
    kafka: Any, tmp_path: Path
) -> None:
    records = gt.make_trace(seed=5, products=50, events=2_000)
    expected = gt.expectations(records)
    dep = Deployment(kafka.bootstrap, tmp_path)
    with workers(dep, 1) as (worker,):
        gt.produce(dep, records)  # labelled families (per topic, kind, partition) appear
        wait_for(
            lambda: (
                not gt.state_mismatches(
                    expected.products, latest_states(dep.bootstrap, dep.topics["product_state"])
                )
            ),
            120,
            "the trace to be applied",
            worker._alive,
        )
        status, body = worker.get("/metrics")
    assert status == 200
    names = dashboard_metric_names(DASHBOARD)
    assert names, "the dashboard queries metrics"
    assert missing_metrics(names, body.decode()) == set()
