"""Create the topics a worker needs, and refuse ones that cannot be co-partitioned."""

from __future__ import annotations

import logging
import ssl
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from hunt.config import ConfigError, Settings

__all__ = ["client_kwargs", "ensure_topics"]

log = logging.getLogger(__name__)

# Output records carry event time (SPEC section 3), which may be ahead of the
# broker's clock by the input record's own lead plus HUNT_MAX_FUTURE_S; Kafka's
# default rejects timestamps more than an hour ahead, which would refuse every
# write of such a product again and again (the DLQ and reroute copies carry the
# input record's own timestamp, whatever the input topic accepted).
_EVENT_TIME = {"message.timestamp.after.max.ms": str(2**63 - 1)}
_COMPACT = {"cleanup.policy": "compact", **_EVENT_TIME}


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka connection arguments for the configured broker and security."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.broker,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = ssl.create_default_context(cafile=settings.ssl_cafile or None)
    if settings.security_protocol.startswith("SASL"):
        kwargs.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    return kwargs


async def ensure_topics(settings: Settings) -> None:
    """Create missing topics; fail if an input topic's partition count differs.

    All state of one product lives on one partition number across the input
    topics, the reroute topic, the changelog and the product-state topic (its
    snapshots are written to its home partition), so they must agree.
    """
    t = settings.topics
    wanted: dict[str, dict[str, str]] = {
        t.behavior: {},
        t.inventory: {},
        f"{settings.app_id}-reroute": _EVENT_TIME,
        t.alerts: _EVENT_TIME,
        t.product_state: _COMPACT,
        t.dlq: _EVENT_TIME,
    }
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        # List first: a metadata request naming a missing topic may auto-create it.
        present = set(await admin.list_topics())
        existing = await admin.describe_topics([n for n in wanted if n in present])
        counts = {d["topic"]: len(d["partitions"]) for d in existing if d.get("error_code", 0) == 0}
        for name in (t.behavior, t.inventory, f"{settings.app_id}-reroute", t.product_state):
            if name in counts and counts[name] != settings.partitions:
                raise ConfigError(
                    f"topic {name!r} has {counts[name]} partitions but HUNT_PARTITIONS="
                    f"{settings.partitions}; set HUNT_PARTITIONS to match the input topics"
                )
        missing = [
            NewTopic(name, settings.partitions, settings.replication_factor, topic_configs=cfg)
            for name, cfg in wanted.items()
            if name not in counts
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another worker created it first
            log.info("created topics %s", ", ".join(n.name for n in missing))
    finally:
        await admin.close()
