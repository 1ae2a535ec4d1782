"""Where a product lives: its home partition, whatever partitioner the producer used."""

from __future__ import annotations

from aiokafka.partitioner import murmur2

__all__ = ["home_partition"]


def home_partition(product_id: bytes, partitions: int) -> int:
    """The Java client's and aiokafka's default partition for key ``product_id``.

    Records keyed by product id from those producers already sit here, so they
    are applied without a hop; anything else is re-routed to this partition.
    """
    hashed: int = murmur2(product_id)
    return (hashed & 0x7FFFFFFF) % partitions
