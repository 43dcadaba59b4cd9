"""sync(): fetch -> validate -> store, idempotent, and nothing invalid is written."""

from __future__ import annotations

from datetime import datetime

import pytest

from optera.mara import MaraClient
from optera.models import DEFAULT_INVENTORY, Allocation
from optera.sim.api import DEMO_KEY
from optera.sync import sync


def fast(server, key=DEMO_KEY, **kw):
    return MaraClient(server.url, key, retries=kw.pop("retries", 2), backoff=0, sleep=lambda s: None,
                      timeout=kw.pop("timeout", 2.0))


def stored_prices(store):
    return store.db.execute("select timestamp, energy_price, hash_price, token_price from prices "
                            "order by timestamp").fetchall()


def test_sync_stores_prices_inventory_site_and_a_snapshot(client, store, sim_server):
    client.set_allocation(Allocation(hydro_miners=3))
    result = sync(client, store)
    assert result.ok and not result.errors, result.message
    served = client.get_prices()
    assert result.new_prices == len(served) == store.price_count()
    assert stored_prices(store)[-1] == (served[-1].timestamp.isoformat(), served[-1].energy_price,
                                        served[-1].hash_price, served[-1].token_price)
    assert store.inventory() == DEFAULT_INVENTORY
    assert store.site()["name"] == "optera-demo" and store.site()["power"] == 1_000_000
    status, _ = store.latest_snapshot()
    assert status.allocation == Allocation(hydro_miners=3) == result.status.allocation
    assert store.last_sync()["ok"] == 1 and store.last_sync()["new_prices"] == result.new_prices
    assert "Synced" in result.message


def test_sync_twice_is_idempotent(client, store):
    first = sync(client, store)
    rows = stored_prices(store)
    second = sync(client, store)
    assert first.ok and second.ok
    assert second.new_prices == 0
    assert stored_prices(store) == rows
    assert len({r[0] for r in rows}) == len(rows)


def test_invalid_prices_write_nothing_but_other_steps_run(store, fault_server):
    good = sync(fast(fault_server), store)
    assert good.ok and good.new_prices == 110
    before = stored_prices(store)
    points = [{"timestamp": "2025-06-21T21:10:00", "energy_price": 1.0, "hash_price": 1.0, "token_price": 1.0},
              {"timestamp": "2025-06-21T21:15:00", "energy_price": float("nan"), "hash_price": 1.0,
               "token_price": 1.0}]
    fault_server.set("/prices", body=points)
    snapshots = len(store.snapshot_history())
    result = sync(fast(fault_server), store)
    assert not result.ok and result.new_prices == 0
    assert stored_prices(store) == before  # not even the valid first point of a bad payload
    assert result.errors == [next(e for e in result.errors if e.startswith("prices: "))]
    assert "prices[1].energy_price: must be a finite number" in result.message
    assert len(store.snapshot_history()) == snapshots + 1  # the status step still ran
    assert store.last_sync()["ok"] == 0


def test_bad_status_is_not_snapshotted(store, fault_server):
    fault_server.set("/machines", body={"air_miners": -4, "power": {}, "revenue": {}, "total_power_used": 0,
                                        "total_power_cost": 0, "total_revenue": 0})
    result = sync(fast(fault_server), store)
    assert not result.ok and result.new_prices == 110
    assert store.latest_snapshot() is None
    assert any(e.startswith("status: ") and "air_miners" in e for e in result.errors)


def test_empty_price_list_is_reported(store, fault_server):
    fault_server.set("/prices", body=[])
    result = sync(fast(fault_server), store)
    assert not result.ok and result.new_prices == 0 and "no price points" in result.message


def test_unreachable_source_fails_fast_with_one_message(store):
    attempts = []
    c = MaraClient("http://127.0.0.1:9", "secret-k", retries=2, backoff=0, sleep=attempts.append)
    result = sync(c, store)
    assert not result.ok and result.new_prices == 0
    assert "could not be reached" in result.message and "secret-k" not in result.message
    assert len(attempts) == 1  # only the first step tried; the rest were skipped
    assert len(result.errors) == 4 and result.status is None
    assert store.price_count() == 0 and store.last_sync()["ok"] == 0


def test_auth_failure_keeps_public_data(store, fault_server):
    result = sync(fast(fault_server, key="wrong-key-789"), store)
    assert not result.ok
    assert result.new_prices == 110 and store.inventory() == DEFAULT_INVENTORY
    assert {e.split(":")[0] for e in result.errors} == {"site", "status"}
    assert "wrong-key-789" not in result.message + "".join(result.errors)


def test_sync_via_the_embedded_simulator(tmp_path, store):
    from optera.config import Settings
    from optera.service import client_from_settings

    settings = Settings(db_path=tmp_path / "x.db", sim_state=tmp_path / "s.json")
    result = sync(client_from_settings(settings), store)
    assert result.ok, result.message
    latest = store.latest_prices(1)[0].timestamp
    assert (datetime.utcnow() - latest).total_seconds() < 5 * 60 + 5
    assert store.price_count() in (90 * 288, 90 * 288 + 1)  # OPTERA_HISTORY_DAYS backfills 90 days


@pytest.mark.parametrize("bad", [{"name": "", "power": 1}, {"name": "x", "power": -5}])
def test_bad_site_is_not_written(store, fault_server, bad):
    fault_server.set("/sites", body=bad)
    result = sync(fast(fault_server), store)
    assert not result.ok and store.site() is None


def test_locked_database_is_a_message_not_an_exception(tmp_path, monkeypatch, fault_server):
    import sqlite3

    import optera.store
    from optera.store import Store

    monkeypatch.setattr(optera.store, "BUSY_TIMEOUT_S", 0.1)
    store = Store(tmp_path / "locked.db")
    holder = sqlite3.connect(str(tmp_path / "locked.db"))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = sync(fast(fault_server), store)
    finally:
        holder.rollback()
        holder.close()
    assert not result.ok and result.new_prices == 0
    assert "locked" in result.message
    assert store.price_count() == 0


def test_background_sync_never_holds_up_the_page(store, monkeypatch):
    """With data to show, a slow source syncs in a thread while the caller goes on."""
    import threading
    import time as _time
    from datetime import datetime as _dt

    from optera import service as service_mod
    from optera.config import load_settings
    from optera.models import Prices
    from optera.sync import SyncResult

    gate, done = threading.Event(), []

    def slow_sync(client, target_store):
        gate.wait(10)
        target_store.log_sync(True, 0, "slow but fine")
        done.append(True)
        return SyncResult(True, 0, "slow but fine")

    monkeypatch.setattr(service_mod, "sync", slow_sync)
    store.upsert_prices([Prices(_dt(2025, 6, 21, 12), 1.0, 1.0, 1.0)])
    svc = service_mod.Service(load_settings(), client=object(), store=store)
    assert svc.ensure_fresh(background=True) is None
    assert svc.syncing and not done  # returned while the sync is still waiting on the source
    assert svc.ensure_fresh(background=True) is None  # a second caller does not start another
    gate.set()
    deadline = _time.monotonic() + 30
    while svc.syncing and _time.monotonic() < deadline:
        _time.sleep(0.01)
    assert done == [True] and store.last_sync()["message"] == "slow but fine"
