"""Settings are validated at start-up and the broker connection fails closed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hunt.config import ConfigError, Settings
from tests.harness import REPO


def test_defaults_are_the_contract_s() -> None:
    s = Settings.from_env({})
    assert s.topics.behavior == "hunt.behavior" and s.topics.product_state == "hunt.product-state"
    assert s.web_port == 6066 and s.low_stock_minutes == 60 and s.snapshot_interval_s == 1.0
    assert s.dedup_horizon_ms == 600_000 and s.dedup_grace_ms == 3_600_000


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"HUNT_WEB_PORT": "http"}, "HUNT_WEB_PORT"),
        ({"HUNT_PARTITIONS": "0"}, "HUNT_PARTITIONS"),
        ({"HUNT_MEMORY_BUDGET_MIB": "64"}, "HUNT_MEMORY_BUDGET_MIB"),
        ({"HUNT_DEBUG_VIEWS": "maybe"}, "HUNT_DEBUG_VIEWS"),
        ({"HUNT_SECURITY_PROTOCOL": "SASL_SSL"}, "HUNT_SASL_USERNAME and HUNT_SASL_PASSWORD"),
        (
            {"HUNT_SECURITY_PROTOCOL": "SASL_SSL", "HUNT_SASL_USERNAME": "u"},
            "HUNT_SASL_PASSWORD",
        ),
        (
            {
                "HUNT_SECURITY_PROTOCOL": "SASL_SSL",
                "HUNT_SASL_USERNAME": "u",
                "HUNT_SASL_PASSWORD": "p",
                "HUNT_SASL_MECHANISM": "GSSAPI",
            },
            "HUNT_SASL_MECHANISM",
        ),
        (
            {
                "HUNT_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "HUNT_SASL_USERNAME": "u",
                "HUNT_SASL_PASSWORD": "p",
            },
            "SASL_PLAINTEXT",
        ),
        ({"HUNT_BROKER": "kafka-0.prod:9092"}, "HUNT_BROKER"),
        (
            {"HUNT_SECURITY_PROTOCOL": "SSL", "HUNT_SSL_CAFILE": "/nonexistent/ca.pem"},
            "HUNT_SSL_CAFILE",
        ),
    ],
)
def test_bad_or_unsafe_settings_are_refused_naming_the_variable(
    env: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)


def test_plaintext_is_allowed_locally_or_when_asked() -> None:
    Settings.from_env({"HUNT_BROKER": "127.0.0.1:9092,localhost:9093"})
    Settings.from_env({"HUNT_BROKER": "kafka-0.prod:9092", "HUNT_ALLOW_PLAINTEXT": "1"})
    s = Settings.from_env(
        {
            "HUNT_BROKER": "kafka-0.prod:9093",
            "HUNT_SECURITY_PROTOCOL": "sasl_ssl",
            "HUNT_SASL_USERNAME": "hunt",
            "HUNT_SASL_PASSWORD": "secret",
        }
    )
    assert s.security_protocol == "SASL_SSL" and s.broker_url == "kafka://kafka-0.prod:9093"


def test_worker_refuses_to_start_with_credentials_in_plaintext() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HUNT_BROKER": "kafka-0.prod:9092",
        "HUNT_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "HUNT_SASL_USERNAME": "u",
        "HUNT_SASL_PASSWORD": "p",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hunt", "worker"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SASL_PLAINTEXT" in done.stderr and "HUNT_ALLOW_PLAINTEXT" in done.stderr
