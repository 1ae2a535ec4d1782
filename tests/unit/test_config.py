"""Settings are validated at start-up and the broker connection fails closed."""

from __future__ import annotations

import re
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
    assert s.max_record_bytes == 65_536 and s.max_future_s == 3600.0
    assert s.broker == "localhost:9092" and s.broker_url == "kafka://localhost:9092"


# Every numeric setting, with a value inside its range (checked against config.py below).
NUMERIC = {
    "HUNT_WEB_PORT": "6066",
    "HUNT_PARTITIONS": "8",
    "HUNT_REPLICATION_FACTOR": "1",
    "HUNT_LOW_STOCK_MINUTES": "60",
    "HUNT_DEDUP_HORIZON_S": "600",
    "HUNT_DEDUP_GRACE_S": "3600",
    "HUNT_SNAPSHOT_INTERVAL_S": "1",
    "HUNT_SPIKE_FLOOR": "20",
    "HUNT_SPIKE_FACTOR": "3",
    "HUNT_MEMORY_BUDGET_MIB": "512",
    "HUNT_BATCH_MAX": "2000",
    "HUNT_BATCH_WITHIN_MS": "5",
    "HUNT_STALL_AFTER_S": "30",
    "HUNT_SESSION_TIMEOUT_S": "10",
    "HUNT_MAX_RECORD_BYTES": "65536",
    "HUNT_MAX_FUTURE_S": "3600",
}


def test_the_numeric_list_below_is_every_numeric_setting() -> None:
    Settings.from_env(NUMERIC)
    source = (REPO / "hunt" / "config.py").read_text()
    read = set(re.findall(r'_(?:int|float|ms)\(\s*e,\s*"(HUNT_\w+)"', source))
    assert read == set(NUMERIC), "NUMERIC above must list every numeric setting"


@pytest.mark.parametrize("name", sorted(NUMERIC))
@pytest.mark.parametrize("raw", ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999"])
def test_nan_and_infinity_are_refused_by_every_numeric_setting(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: raw})


@pytest.mark.parametrize(
    ("name", "lo", "hi"),
    [
        ("HUNT_MAX_RECORD_BYTES", "1024", "450000"),
        ("HUNT_MAX_FUTURE_S", "0", "31536000"),
        ("HUNT_DEDUP_HORIZON_S", "0", "604800"),
        ("HUNT_DEDUP_GRACE_S", "0", "604800"),
        ("HUNT_SESSION_TIMEOUT_S", "6", "1800"),
        ("HUNT_SPIKE_FLOOR", "1", "1000000000"),
        ("HUNT_BATCH_WITHIN_MS", "1", "10000"),
    ],
)
def test_bounds_hold_at_the_edge_and_refuse_one_past_it(name: str, lo: str, hi: str) -> None:
    Settings.from_env({name: lo})
    Settings.from_env({name: hi})
    below = str(int(lo) - 1) if "." not in lo else str(float(lo) - 1)
    with pytest.raises(ConfigError, match=f"{name}=.*at least"):
        Settings.from_env({name: below})
    with pytest.raises(ConfigError, match=f"{name}=.*at most"):
        Settings.from_env({name: str(int(hi) + 1)})


def test_the_record_bound_keeps_a_dead_lettered_copy_under_a_mebibyte() -> None:
    s = Settings.from_env({"HUNT_MAX_RECORD_BYTES": "450000"})
    headers = 8 * 1024  # code, message (at most 1 KiB), source topic/partition/offset, length
    assert 2 * s.max_record_bytes + headers < 1_048_576
    assert Settings.from_env({"HUNT_MAX_FUTURE_S": "0.5"}).max_future_s == 0.5
    assert Settings.from_env({"HUNT_DEDUP_HORIZON_S": "0.25"}).dedup_horizon_ms == 250


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
        ({"HUNT_BROKER": "127.attacker.example:9092"}, "HUNT_BROKER"),
        ({"HUNT_BROKER": "localhost.attacker.example:9092"}, "HUNT_BROKER"),
        ({"HUNT_BROKER": "kafka://127.0.0.1.nip.io:9092"}, "HUNT_BROKER"),
        ({"HUNT_BROKER": "localhost:9092,kafka-0.prod:9092"}, "HUNT_BROKER"),
        ({"HUNT_BROKER": "http://localhost:9092"}, "HUNT_BROKER"),
        ({"HUNT_BROKER": "localhost"}, "HUNT_BROKER"),
        ({"HUNT_BROKER": "localhost:0"}, "HUNT_BROKER"),
        ({"HUNT_BROKER": "localhost:65536"}, "HUNT_BROKER"),
        ({"HUNT_BROKER": "::1:9092"}, "HUNT_BROKER"),
        ({"HUNT_BROKER": " , ;"}, "HUNT_BROKER"),
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
    for local in ("127.255.0.7:9092", "[::1]:9092", "LOCALHOST:9092", "localhost:65535"):
        Settings.from_env({"HUNT_BROKER": local})
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


@pytest.mark.parametrize(
    ("raw", "broker"),
    [
        ("kafka://localhost:9092", "localhost:9092"),
        ("KAFKA://localhost:9092/", "localhost:9092"),
        ("kafka://127.0.0.1:9092;localhost:9093", "127.0.0.1:9092,localhost:9093"),
        (" 127.0.0.1:9092 , localhost:9093 ,", "127.0.0.1:9092,localhost:9093"),
        ("[::1]:9092", "[::1]:9092"),
    ],
)
def test_the_broker_is_accepted_in_faust_s_url_form_and_as_a_list(raw: str, broker: str) -> None:
    s = Settings.from_env({"HUNT_BROKER": raw})
    assert s.broker == broker
    assert s.broker_url == "kafka://" + broker.replace(",", ";")


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
