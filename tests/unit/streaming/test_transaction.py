"""One partition of a batch over a real RocksDB partition database."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rocksdict import Options, Rdict

from hunt.domain.coalesce import Throttle
from hunt.domain.dedup import DedupPolicy
from hunt.domain.product import ProductState, Rules
from hunt.domain.view_index import ViewIndex
from hunt.streaming.transaction import PartitionTransaction, Routed, state_key


def view(eid: str, offset: int, pid: str = "p") -> Routed:
    ev: Any = {"event_id": eid, "ts": 1_000 + offset, "product_id": pid, "kind": "view", "qty": 1}
    return ("b", "b0", offset, ev)


@pytest.fixture
def table(tmp_path: Path) -> Any:
    db = Rdict(str(tmp_path / "p0"), Options(raw_mode=True))
    yield SimpleNamespace(data=SimpleNamespace(_db_for_partition=lambda p: db), db=db)
    db.close()


def tx(table: Any, cache: OrderedDict[str, ProductState] | None = None) -> PartitionTransaction:
    return PartitionTransaction(
        table, 0, Rules(), DedupPolicy(), OrderedDict() if cache is None else cache
    )


def stored(table: Any, pid: str = "p") -> ProductState:
    return ProductState.from_bytes(table.db[state_key(pid)])


def test_each_product_is_stored_once_with_its_dedup_ids_before_it(table: Any) -> None:
    t = tx(table)
    for i in range(3):
        t.apply(view(f"e{i}", i))
    views = ViewIndex(1 << 20, 60.0)
    prepared = t.prepare(Throttle(1.0), 0.0, 100, views)
    keys = [k for k, _ in prepared.changes]
    assert keys[-1] == state_key("p") and keys.count(state_key("p")) == 1
    assert len(keys) > 1  # the ids went out too, ahead of the state
    assert stored(table).events_applied == 3
    assert len(views) == 1
    assert [s.product_id for s in prepared.write_now] == ["p"]  # never written: at once


def test_a_record_that_fails_half_way_leaves_its_product_as_if_never_met(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ProductState.apply_behavior

    def boom(self: ProductState, ev: Any, rules: Rules) -> Any:
        if ev["event_id"].startswith("boom"):
            self.events_applied += 1000  # a half-applied change
            raise RuntimeError("injected")
        return real(self, ev, rules)

    monkeypatch.setattr(ProductState, "apply_behavior", boom)
    t = tx(table)
    t.apply(view("e1", 1))
    for offset in (2, 4):  # the second failure meets the rebuilt (copied) product
        with pytest.raises(RuntimeError):
            t.apply(view(f"boom{offset}", offset))
        t.failed("p")
        t.apply(view(f"e{offset + 1}", offset + 1))
    t.prepare(Throttle(1.0), 0.0, 100, None)
    state = stored(table)
    assert state.events_applied == 3


def test_a_later_batch_reads_the_cached_product_and_the_cache_is_bounded(table: Any) -> None:
    cache: OrderedDict[str, ProductState] = OrderedDict()
    snapshots = Throttle(1.0)
    first = tx(table, cache)
    for i, pid in enumerate("abc"):
        first.apply(view(f"e{i}", i, pid))
    first.prepare(snapshots, 0.0, 2, None)
    assert list(cache) == ["b", "c"]  # the oldest touched left first
    second = tx(table, cache)
    second.apply(view("e9", 9, "c"))
    assert "c" not in cache  # taken out while the batch changes it
    prepared = second.prepare(snapshots, 0.5, 2, None)
    assert stored(table, "c").events_applied == 2
    assert prepared.write_now == [] and prepared.release is not None  # written 0.5 s ago
