"""Settings: the one place hunt reads its environment.

Every setting is a field of the frozen :class:`Settings`, read by
:meth:`Settings.from_env` and validated at start-up, so a wrong value stops
the worker with a message naming the variable instead of failing later.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

__all__ = ["ConfigError", "Settings", "Topics"]


class ConfigError(ValueError):
    """A setting is missing, malformed or unsafe; the message names the variable."""


@dataclass(frozen=True)
class Topics:
    """Topic names; defaults are the contract's (SPEC section 1 and 3)."""

    behavior: str = "hunt.behavior"
    inventory: str = "hunt.inventory"
    alerts: str = "hunt.alerts"
    product_state: str = "hunt.product-state"
    dlq: str = "hunt.dlq"

    @property
    def inputs(self) -> tuple[str, str]:
        return (self.behavior, self.inventory)


_SECURE_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")
_FAUST_SCHEME = "kafka://"
# A dead-lettered copy holds the key and the value, each cut to HUNT_MAX_RECORD_BYTES,
# plus headers of a few KiB: 2 x 450,000 bytes leaves ~140 KiB of the 1 MiB record
# that Kafka's default broker (message.max.bytes) and producer (max.request.size) accept.
_MAX_RECORD_BYTES_HI = 450_000
_MAX_RECORD_BYTES_LO = 1024  # below this, ordinary events (a few hundred bytes) come close.
_WEEK_S = 7 * 86_400  # Kafka's default retention: no redelivery can be older than that.
_YEAR_S = 365 * 86_400  # a generous cap where only overflow needs ruling out.
# The broker refuses a session timeout above group.max.session.timeout.ms (30 min default).
_MAX_SESSION_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Settings:
    """Validated worker settings (see README "Configuration")."""

    broker: str = "localhost:9092"
    app_id: str = "hunt"
    data_dir: Path = Path(".hunt-data")
    web_host: str = "0.0.0.0"
    web_port: int = 6066
    canonical_url: str = ""
    web_token: str = ""
    debug_views: bool = False
    topics: Topics = field(default_factory=Topics)
    partitions: int = 8
    replication_factor: int = 1
    # Business rules (SPEC section 2 and 3).
    low_stock_minutes: float = 60.0
    dedup_horizon_ms: int = 600_000
    dedup_grace_ms: int = 3_600_000
    snapshot_interval_s: float = 1.0
    spike_floor: int = 20
    spike_factor: float = 3.0
    # Flow control.
    memory_budget_mib: int = 512
    batch_max: int = 2000
    batch_within_s: float = 0.005  # at most; the fetch loop's "fetch queued" cue ends it sooner.
    stall_after_s: float = 30.0
    # A killed worker's partitions move after this long; Faust's 60 s default
    # stalls them for a minute, Kafka's pre-3.0 default of 10 s is the usual choice.
    session_timeout_s: float = 10.0
    # Input bounds (SPEC section 1).
    max_record_bytes: int = 65_536
    max_future_s: float = 3600.0
    # Broker security.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_cafile: str = ""
    allow_plaintext: bool = False
    log_level: str = "info"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``HUNT_*`` variables; raise :class:`ConfigError` naming the bad one."""
        e = os.environ if env is None else env
        d = cls()
        topics = Topics(
            behavior=_str(e, "HUNT_TOPIC_BEHAVIOR", d.topics.behavior),
            inventory=_str(e, "HUNT_TOPIC_INVENTORY", d.topics.inventory),
            alerts=_str(e, "HUNT_TOPIC_ALERTS", d.topics.alerts),
            product_state=_str(e, "HUNT_TOPIC_PRODUCT_STATE", d.topics.product_state),
            dlq=_str(e, "HUNT_TOPIC_DLQ", d.topics.dlq),
        )
        s = cls(
            broker=_broker(e, "HUNT_BROKER", d.broker),
            app_id=_str(e, "HUNT_APP_ID", d.app_id),
            data_dir=Path(_str(e, "HUNT_DATA_DIR", str(d.data_dir))),
            web_host=_str(e, "HUNT_WEB_HOST", d.web_host),
            web_port=_int(e, "HUNT_WEB_PORT", d.web_port, lo=0, hi=65535),
            canonical_url=_str(e, "HUNT_CANONICAL_URL", d.canonical_url),
            web_token=e.get("HUNT_WEB_TOKEN", d.web_token),
            debug_views=_bool(e, "HUNT_DEBUG_VIEWS", d.debug_views),
            topics=topics,
            partitions=_int(e, "HUNT_PARTITIONS", d.partitions, lo=1, hi=4096),
            # CreateTopics carries the replication factor as a 16-bit integer.
            replication_factor=_int(
                e, "HUNT_REPLICATION_FACTOR", d.replication_factor, lo=1, hi=32_767
            ),
            low_stock_minutes=_float(
                e, "HUNT_LOW_STOCK_MINUTES", d.low_stock_minutes, lo=0, hi=_YEAR_S / 60
            ),
            dedup_horizon_ms=_ms(e, "HUNT_DEDUP_HORIZON_S", d.dedup_horizon_ms, hi=_WEEK_S),
            dedup_grace_ms=_ms(e, "HUNT_DEDUP_GRACE_S", d.dedup_grace_ms, hi=_WEEK_S),
            snapshot_interval_s=_float(
                e, "HUNT_SNAPSHOT_INTERVAL_S", d.snapshot_interval_s, lo=0.01, hi=3600
            ),
            # SPEC's largest quantity: a higher floor could never be reached.
            spike_floor=_int(e, "HUNT_SPIKE_FLOOR", d.spike_floor, lo=1, hi=1_000_000_000),
            spike_factor=_float(e, "HUNT_SPIKE_FACTOR", d.spike_factor, lo=0, hi=1_000_000),
            memory_budget_mib=_int(
                e, "HUNT_MEMORY_BUDGET_MIB", d.memory_budget_mib, lo=192, hi=1 << 20
            ),
            batch_max=_int(e, "HUNT_BATCH_MAX", d.batch_max, lo=1, hi=100_000),
            batch_within_s=_float(
                e, "HUNT_BATCH_WITHIN_MS", d.batch_within_s * 1000, lo=1, hi=10_000
            )
            / 1000,
            stall_after_s=_float(e, "HUNT_STALL_AFTER_S", d.stall_after_s, lo=1, hi=_WEEK_S),
            session_timeout_s=_float(
                e, "HUNT_SESSION_TIMEOUT_S", d.session_timeout_s, lo=6, hi=_MAX_SESSION_TIMEOUT_S
            ),
            max_record_bytes=_int(
                e,
                "HUNT_MAX_RECORD_BYTES",
                d.max_record_bytes,
                lo=_MAX_RECORD_BYTES_LO,
                hi=_MAX_RECORD_BYTES_HI,
            ),
            max_future_s=_float(e, "HUNT_MAX_FUTURE_S", d.max_future_s, lo=0, hi=_YEAR_S),
            security_protocol=_str(e, "HUNT_SECURITY_PROTOCOL", d.security_protocol).upper(),
            sasl_mechanism=_str(e, "HUNT_SASL_MECHANISM", d.sasl_mechanism).upper(),
            sasl_username=e.get("HUNT_SASL_USERNAME", ""),
            sasl_password=e.get("HUNT_SASL_PASSWORD", ""),
            ssl_cafile=e.get("HUNT_SSL_CAFILE", ""),
            allow_plaintext=_bool(e, "HUNT_ALLOW_PLAINTEXT", d.allow_plaintext),
            log_level=_str(e, "HUNT_LOG_LEVEL", d.log_level).lower(),
        )
        s.validate()
        return s

    def validate(self) -> None:
        """Fail closed on an unsafe or inconsistent broker connection."""
        proto = self.security_protocol
        if proto not in _SECURE_PROTOCOLS:
            raise ConfigError(
                f"HUNT_SECURITY_PROTOCOL={proto!r}: expected one of {', '.join(_SECURE_PROTOCOLS)}"
            )
        if proto.startswith("SASL"):
            if self.sasl_mechanism not in _SASL_MECHANISMS:
                raise ConfigError(
                    f"HUNT_SASL_MECHANISM={self.sasl_mechanism!r}: expected one of "
                    f"{', '.join(_SASL_MECHANISMS)}"
                )
            missing = [
                name
                for name, value in (
                    ("HUNT_SASL_USERNAME", self.sasl_username),
                    ("HUNT_SASL_PASSWORD", self.sasl_password),
                )
                if not value
            ]
            if missing:
                raise ConfigError(
                    f"{' and '.join(missing)} must be set with HUNT_SECURITY_PROTOCOL={proto}"
                )
        local = all(_is_loopback(h) for h in self.broker.split(","))
        if proto == "SASL_PLAINTEXT" and not self.allow_plaintext:
            raise ConfigError(
                "HUNT_SECURITY_PROTOCOL=SASL_PLAINTEXT sends credentials unencrypted; "
                "use SASL_SSL, or set HUNT_ALLOW_PLAINTEXT=1 to accept that"
            )
        if proto == "PLAINTEXT" and not (local or self.allow_plaintext):
            raise ConfigError(
                f"HUNT_BROKER={self.broker!r} is not on this machine and "
                "HUNT_SECURITY_PROTOCOL=PLAINTEXT sends data unencrypted; use SASL_SSL or SSL, "
                "or set HUNT_ALLOW_PLAINTEXT=1 to accept that"
            )
        if self.ssl_cafile and not Path(self.ssl_cafile).is_file():
            raise ConfigError(f"HUNT_SSL_CAFILE={self.ssl_cafile!r}: no such file")

    @property
    def broker_url(self) -> str:
        """The broker list in Faust's URL form (``kafka://h1:p1;h2:p2``)."""
        return _FAUST_SCHEME + self.broker.replace(",", ";")

    @property
    def web_url(self) -> str:
        """The URL other workers use to reach this one (Faust's canonical URL)."""
        if self.canonical_url:
            return self.canonical_url
        host = "127.0.0.1" if self.web_host in ("0.0.0.0", "") else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def memory_budget_bytes(self) -> int:
        return self.memory_budget_mib * 1024 * 1024


def _split_host(hostport: str) -> tuple[str, str]:
    """``host:port`` or ``[v6]:port`` -> (host, port); a bare IPv6 address has no port."""
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        return host, rest.removeprefix(":")
    if hostport.count(":") > 1:
        return hostport, ""
    host, _, port = hostport.rpartition(":")
    return host, port


def _is_loopback(hostport: str) -> bool:
    """Exactly ``localhost``, or a literal loopback address (127.0.0.0/8, ::1).

    A name is not resolved: ``127.attacker.example`` is whatever its owner says.
    """
    host, _ = _split_host(hostport)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _broker(env: Mapping[str, str], name: str, default: str) -> str:
    """Bootstrap servers as ``h1:p1,h2:p2``, from that form or Faust's ``kafka://h1:p1;h2:p2``."""
    raw = env.get(name, "").strip() or default
    body = raw[len(_FAUST_SCHEME) :] if raw.lower().startswith(_FAUST_SCHEME) else raw
    if "://" in body:
        raise ConfigError(f"{name}={raw!r}: expected host:port[,host:port] or kafka://host:port")
    hosts = [h.strip() for h in body.rstrip("/").replace(";", ",").split(",") if h.strip()]
    if not hosts:
        raise ConfigError(f"{name}={raw!r}: no broker address")
    for hostport in hosts:
        host, port = _split_host(hostport)
        if not host or not port.isdigit() or not 0 < int(port) <= 65535 or "/" in host:
            raise ConfigError(f"{name}={raw!r}: {hostport!r} is not host:port")
    return ",".join(hosts)


def _str(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _int(
    env: Mapping[str, str], name: str, default: int, *, lo: int | None = None, hi: int | None = None
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected an integer") from None
    return _bounded(name, value, lo, hi)


def _float(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    lo: float | None = None,
    hi: float | None = None,
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name}={raw!r}: expected a finite number")
    return _bounded(name, value, lo, hi)


def _ms(env: Mapping[str, str], name: str, default_ms: int, *, hi: float) -> int:
    """A duration given in seconds, kept in whole milliseconds."""
    return round(_float(env, name, default_ms / 1000, lo=0, hi=hi) * 1000)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: expected 1/0, true/false, yes/no or on/off")


_N = TypeVar("_N", int, float)


def _bounded(name: str, value: _N, lo: _N | None, hi: _N | None) -> _N:
    if lo is not None and value < lo:
        raise ConfigError(f"{name}={value}: must be at least {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{name}={value}: must be at most {hi}")
    return value
