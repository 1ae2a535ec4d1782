"""Shared fixtures: one real Kafka broker per session, and names that never clash.

The broker starts only when a test asks for the ``kafka`` fixture, so the unit
tests run without Java.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hunt.ops.broker import BrokerError, LocalKafka


def new_app_id(prefix: str = "hunt-test") -> str:
    """A unique app id / topic prefix, so tests sharing the broker see only their own data."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A single-node Kafka on free ports; ``kafka.bootstrap`` is ``127.0.0.1:PORT``.

    Its output goes to ``broker.log`` in pytest's temp dir; a failed start shows the tail.
    """
    log_path: Path = tmp_path_factory.mktemp("kafka") / "broker.log"
    with log_path.open("wb") as log:
        broker = LocalKafka("127.0.0.1", log=log)
        try:
            broker.start()
        except BrokerError as exc:
            tail = log_path.read_text(errors="replace")[-4000:]
            raise BrokerError(f"{exc}\n--- {log_path} (tail) ---\n{tail}") from exc
        try:
            yield broker
        finally:
            broker.stop()


@pytest.fixture
def app_id(request: pytest.FixtureRequest) -> str:
    """A unique app id named after the test, e.g. ``test_x-3f2a9c01d4``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60]
    return new_app_id(name)
