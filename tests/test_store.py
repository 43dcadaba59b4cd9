"""Store: idempotent upserts, concurrent writers and readers, snapshots, recovery."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from optera.models import DEFAULT_INVENTORY, Allocation, Prices, SiteStatus
from optera.store import Store, StoreError, recover

BASE = datetime(2025, 6, 21, 12, 0)


def points(start: int, n: int, energy: float = 1.0) -> list[Prices]:
    return [Prices(BASE + timedelta(minutes=5 * (start + i)), energy, 2.0 + i, 3.0) for i in range(n)]


def test_same_prices_twice_no_duplicates(store):
    assert store.upsert_prices(points(0, 50)) == 50
    assert store.upsert_prices(points(0, 50)) == 0
    assert store.price_count() == 50
    # overlapping batch: only the 10 new timestamps count, and updated values win
    assert store.upsert_prices(points(40, 20, energy=9.0)) == 10
    assert store.price_count() == 60
    hist = store.price_history()
    assert hist.index.is_unique and hist.index.is_monotonic_increasing
    assert hist["energy_price"].iloc[45] == 9.0 and hist["energy_price"].iloc[39] == 1.0


def test_price_history_window_and_latest(store):
    store.upsert_prices(points(0, 24))
    hist = store.price_history(BASE + timedelta(minutes=30), BASE + timedelta(minutes=60))
    assert list(hist.index) == [BASE + timedelta(minutes=m) for m in (30, 35, 40, 45, 50, 55, 60)]
    assert list(hist.columns) == ["energy_price", "hash_price", "token_price"]
    latest = store.latest_prices(2)
    assert [p.timestamp for p in latest] == [BASE + timedelta(minutes=115), BASE + timedelta(minutes=110)]
    assert store.price_range() == (BASE, BASE + timedelta(minutes=115))


def test_writer_and_reader_threads_lose_and_duplicate_nothing(store):
    """A sync thread upserts overlapping batches while another thread keeps reading."""
    errors: list[Exception] = []
    seen_counts: list[int] = []
    done = threading.Event()

    def writer():
        try:
            for b in range(40):
                store.upsert_prices(points(b * 25, 50))  # each batch overlaps the previous by half
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            done.set()

    def reader():
        try:
            while not done.is_set():
                frame = store.price_history()
                assert frame.index.is_unique
                seen_counts.append(len(frame))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    expected = 39 * 25 + 50  # distinct timestamps written
    assert store.price_count() == expected
    assert seen_counts == sorted(seen_counts)  # readers only ever see whole batches appear
    stamps = [r[0] for r in store.db.execute("select timestamp from prices order by timestamp").fetchall()]
    assert stamps == [(BASE + timedelta(minutes=5 * i)).isoformat() for i in range(expected)]


def test_concurrent_writers_count_each_new_row_once(store):
    new: list[int] = []
    lock = threading.Lock()

    def writer(energy):
        for b in range(30):
            got = store.upsert_prices(points(b * 20, 40, energy))
            with lock:
                new.append(got)

    threads = [threading.Thread(target=writer, args=(e,)) for e in (1.0, 2.0, 3.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert store.price_count() == 29 * 20 + 40
    assert sum(new) == 29 * 20 + 40


def test_inventory_site_and_snapshot_roundtrip(store):
    assert store.inventory() is None and store.site() is None and store.latest_snapshot() is None
    store.set_inventory(DEFAULT_INVENTORY)
    store.set_inventory(DEFAULT_INVENTORY)
    assert store.inventory() == DEFAULT_INVENTORY
    store.set_site("north", 750_000)
    store.set_site("north", 800_000)
    assert store.site()["power"] == 800_000
    alloc = Allocation(air_miners=2, asic_compute=1)
    p = Prices(BASE, 0.5, 1.5, 0.8)
    status = SiteStatus(alloc, {n: alloc[n] * DEFAULT_INVENTORY[n].power for n in alloc.to_dict()},
                        {n: alloc[n] * DEFAULT_INVENTORY[n].unit_revenue(p) for n in alloc.to_dict()},
                        22_000, 22_000 * 0.5, 2 * 1000 * 1.5 + 50_000 * 0.8, BASE)
    store.add_snapshot(status, fetched_at=BASE)
    got, fetched = store.latest_snapshot()
    assert got == status and fetched == BASE
    assert got.profit == pytest.approx(3000 + 40_000 - 11_000)


def test_reopening_keeps_data(tmp_path):
    s = Store(tmp_path / "a.db")
    s.upsert_prices(points(0, 5))
    s.close()
    assert Store(tmp_path / "a.db").price_count() == 5


def test_corrupt_db_is_a_clear_error_and_recover_keeps_the_audit_trail(tmp_path):
    path = tmp_path / "c.db"
    s = Store(path)
    s.record_deployment(action="deploy", requested=Allocation(gpu_compute=1), previous=None, result="ok",
                        message="sent")
    s.close()
    path.write_bytes(b"this is not a database" * 100)
    for side in ("-wal", "-shm"):
        (tmp_path / f"c.db{side}").unlink(missing_ok=True)
    with pytest.raises(StoreError, match="optera db recover"):
        Store(path)
    fresh, moved = recover(path)
    assert moved is not None and moved.exists()
    rows = fresh.deployments()
    assert len(rows) == 1 and rows[0]["requested"]["gpu_compute"] == 1


def test_sync_log_and_meta(store):
    assert store.last_sync() is None
    store.log_sync(True, 5, "ok")
    store.log_sync(False, 0, "boom")
    assert store.last_sync()["message"] == "boom"
    assert store.last_sync(ok_only=True)["new_prices"] == 5
    store.set_meta("caps", {"gpu_compute": 3})
    assert store.get_meta("caps") == {"gpu_compute": 3} and store.get_meta("nope", 7) == 7
