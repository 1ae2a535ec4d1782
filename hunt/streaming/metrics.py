"""hunt's business and flow-control metrics, in the same registry as Faust's sensor.

README "Metrics" lists each family with its meaning; the Grafana dashboard under
``k8s/`` queries these exact names.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

# Batch sizes span one event (idle trickle) to the configured maximum (backlog drain).
_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
# Processing latency targets are tens of milliseconds; seconds mean trouble.
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """All hunt metric families; one instance per process."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.events = Counter(
            "hunt_events",
            "Input records by topic and outcome (applied, duplicate, dead_lettered)",
            ["topic", "outcome"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "hunt_dead_lettered",
            "Input records written to the DLQ, by source topic and error code",
            ["topic", "code"],
            registry=r,
        )
        self.resets = Counter(
            "hunt_resets",
            "Times a failed or refused write made the worker redo its work from the last commit",
            registry=r,
        )
        self.alerts = Counter("hunt_alerts", "Alerts emitted by kind", ["kind"], registry=r)
        self.rerouted = Counter(
            "hunt_rerouted", "Records forwarded to their product's home partition", registry=r
        )
        self.rewinds = Counter(
            "hunt_rewinds",
            "Times a source partition was sought back to a hole in its offsets",
            registry=r,
        )
        self.products = Gauge(
            "hunt_products_tracked", "Products with state on this worker's partitions", registry=r
        )
        self.windows_expired = Counter(
            "hunt_windows_expired", "Per-product minute windows dropped past retention", registry=r
        )
        self.snapshots = Counter(
            "hunt_snapshots_sent", "Records written to the product-state topic", registry=r
        )
        self.snapshot_lag = Gauge(
            "hunt_snapshot_lag_seconds",
            "Age of the oldest state change not yet written to the product-state topic",
            registry=r,
        )
        self.paused = Gauge(
            "hunt_paused_partitions", "Input partitions paused by flow control", registry=r
        )
        self.buffer_fill = Gauge(
            "hunt_buffer_fill_ratio",
            "Applied-but-unacknowledged events over their bound (1.0 = intake paused)",
            registry=r,
        )
        self.producer_queue = Gauge(
            "hunt_producer_queue_depth", "Records waiting in the producer", registry=r
        )
        self.lag = Gauge(
            "hunt_consumer_lag",
            "Records behind the end of each input partition",
            ["topic", "partition"],
            registry=r,
        )
        self.batch_size = Histogram(
            "hunt_batch_size",
            "Events per processed micro-batch",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "hunt_processing_latency_seconds",
            "Time from a record's broker timestamp to its batch being applied",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ready = Gauge("hunt_ready", "1 when /readyz answers 200", registry=r)
        self.stalled = Gauge(
            "hunt_stalled_partitions",
            "Partitions with lag and no progress for the stall time",
            registry=r,
        )
