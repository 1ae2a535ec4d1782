"""Stall detection, readiness and the bearer token, without a broker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from faust.types import TP

from hunt.streaming.monitor import FlowMonitor, Readiness
from hunt.web.auth import install_auth
from hunt.web.routing import _norm


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def monitor(stall_after_s: float = 30.0) -> tuple[FlowMonitor, Clock]:
    hunt: Any = SimpleNamespace(
        settings=SimpleNamespace(stall_after_s=stall_after_s),
        topics=SimpleNamespace(behavior="b", inventory="i", reroute="r"),
    )
    clock = Clock()
    return FlowMonitor(hunt, now=clock), clock


TP0 = TP("b", 0)


def test_lag_without_progress_for_the_stall_time_is_a_stall() -> None:
    m, clock = monitor(30)
    assert m.observe({TP0: 5}, {TP0: 100}) == set()
    clock.t = 29
    assert m.observe({TP0: 9}, {TP0: 100}) == set()
    clock.t = 31
    assert m.observe({TP0: 9}, {TP0: 100}) == {TP0}


def test_progress_or_an_empty_backlog_restarts_the_stall_clock() -> None:
    m, clock = monitor(30)
    m.observe({TP0: 5}, {TP0: 100})
    clock.t = 25
    m.observe({TP0: 50}, {TP0: 140})  # committed moved: a busy worker, not a stuck one
    clock.t = 50
    assert m.observe({TP0: 50}, {TP0: 140}) == set()
    m.observe({TP0: 0}, {TP0: 140})  # idle shop: nothing to do is not a stall
    clock.t = 200
    assert m.observe({TP0: 0}, {TP0: 140}) == set()


def test_a_revoked_partition_is_forgotten() -> None:
    m, clock = monitor(1)
    m.observe({TP0: 5}, {TP0: None})
    clock.t = 5
    assert m.observe({TP0: 5}, {TP0: None}) == {TP0}
    assert m.observe({}, {}) == set()


def test_a_rebalance_that_does_not_end_is_reported_once(caplog: Any) -> None:
    m, clock = monitor(30)
    m.hunt.app = SimpleNamespace(
        rebalancing=True,
        in_recovery=False,
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=asyncio.Event())),
        flow_control=SimpleNamespace(is_active=lambda: True),
    )
    m._observe_rebalance(True)
    clock.t = 29
    m._observe_rebalance(True)
    assert "rebalance not finished" not in caplog.text
    clock.t = 31
    m._observe_rebalance(True)
    m._observe_rebalance(True)
    assert caplog.text.count("rebalance not finished after 31s") == 1
    m._observe_rebalance(False)  # it ended: the next one is timed afresh
    clock.t = 100
    m._observe_rebalance(True)
    clock.t = 120
    m._observe_rebalance(True)
    assert caplog.text.count("rebalance not finished") == 1


def test_readiness_needs_every_condition() -> None:
    assert Readiness(True, True, False).ready
    assert not Readiness(False, True, False).ready
    assert not Readiness(True, False, False).ready
    assert not Readiness(True, True, True).ready
    assert not Readiness(True, True, False, ["b:0"]).ready


def test_worker_urls_compare_by_scheme_host_and_port() -> None:
    assert _norm("http://127.0.0.1:6066/") == _norm("http://127.0.0.1:6066")
    assert _norm("http://h") == "http://h:80"
    assert _norm("http://a:1") != _norm("http://a:2")


def test_the_token_guards_everything_but_probes_metrics_and_assets() -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def scenario() -> None:
        app = web.Application()
        install_auth(app, "t0k")
        for path in ("/healthz", "/readyz", "/metrics", "/top", "/", "/static/dashboard.js"):
            app.router.add_get(path, ok)
        async with TestClient(TestServer(app)) as client:
            for path in ("/healthz", "/readyz", "/metrics", "/static/dashboard.js"):
                assert (await client.get(path)).status == 200, path
            for path in ("/top", "/"):
                assert (await client.get(path)).status == 401, path
                good, bad = {"Authorization": "Bearer t0k"}, {"Authorization": "Bearer no"}
                assert (await client.get(path, headers=good)).status == 200
                assert (await client.get(path + "?token=t0k")).status == 200
                assert (await client.get(path, headers=bad)).status == 401

    asyncio.run(scenario())
