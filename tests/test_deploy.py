"""Safe deploys: validation before sending, read-back, audit trail, refused deploys recorded."""

import json

import httpx
import pytest

from optera.deploy import deploy
from optera.economics import diff
from optera.mara import MaraClient
from optera.models import Allocation
from optera.sim.api import DEMO_KEY


def test_valid_deploy_is_sent_read_back_and_audited(client, store, sim_server):
    target = Allocation(hydro_miners=10, immersion_miners=5, asic_compute=20)
    result = deploy(client, store, target, power_limit=1_000_000)
    assert result.ok, result.message
    assert result.readback == target
    # the simulator itself now reports the allocation
    assert client.get_status().allocation == target
    rows = store.deployments()
    assert rows[0]["result"] == "ok" and rows[0]["requested"] == target.to_dict()


def test_invalid_allocation_is_never_sent(client, store, sim_server):
    before = client.get_status().allocation
    result = deploy(client, store, {"asic_compute": 100}, power_limit=1_000_000)  # 1.5 MW
    assert not result.ok and "Not sent" in result.message and "exceeds" in result.message
    assert client.get_status().allocation == before
    assert store.deployments()[0]["result"] == "invalid"


def test_negative_and_fractional_counts_are_rejected_locally(client, store, sim_server):
    for bad in ({"gpu_compute": -1}, {"gpu_compute": 2.5}, {"gpu_compute": "many"}):
        result = deploy(client, store, bad, power_limit=1_000_000)
        assert not result.ok
    assert [r["result"] for r in store.deployments()] == ["invalid"] * 3


def test_caps_are_enforced(client, store, sim_server):
    result = deploy(client, store, {"hydro_miners": 40}, power_limit=1_000_000, caps={"hydro_miners": 30})
    assert not result.ok and "30" in result.message


def _refusing_client(simulator) -> MaraClient:
    """The simulator, except that every PUT is refused with a reason."""
    inner = simulator.transport()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(400, json={"detail": "Machines are in maintenance until 14:00"})
        return inner.handle_request(request)

    return MaraClient("http://sim.test", DEMO_KEY, transport=httpx.MockTransport(handle), retries=1, backoff=0)


def test_refused_by_server_records_failed_attempt_with_server_message(simulator, store):
    client = _refusing_client(simulator)
    before = client.get_status().allocation
    result = deploy(client, store, {"asic_compute": 8}, power_limit=1_000_000)
    assert result.outcome == "refused" and result.sent and not result.ok
    assert result.message == "The site refused the allocation: Machines are in maintenance until 14:00"
    row = store.deployments()[0]
    assert row["result"] == "refused" and row["message"] == result.message
    assert client.get_status().allocation == before


def test_over_the_fresh_site_limit_is_never_sent_whatever_the_caller_says(client, store, sim_server):
    before = client.get_status().allocation
    result = deploy(client, store, {"asic_compute": 80}, power_limit=5_000_000)  # the site has 1 MW
    assert result.outcome == "invalid" and not result.sent
    assert "exceeds the limit" in result.message
    assert client.get_status().allocation == before


def test_unreadable_site_limit_refuses_before_sending(store, fault_server):
    fault_server.set("/sites", status=503)
    bad = MaraClient(fault_server.url, fault_server.key, retries=1, backoff=0, sleep=lambda s: None)
    before = bad.get_status().allocation
    result = deploy(bad, store, {"gpu_compute": 1})
    assert result.outcome == "no_limit" and "power limit could not be read" in result.message
    assert bad.get_status().allocation == before
    assert store.deployments()[0]["result"] == "no_limit"


def test_unreadable_current_allocation_refuses_before_sending(store, fault_server):
    fault_server.set("/machines", status=503)
    bad = MaraClient(fault_server.url, fault_server.key, retries=1, backoff=0, sleep=lambda s: None)
    result = deploy(bad, store, {"gpu_compute": 1})
    assert result.outcome == "unsafe" and not result.sent
    assert store.deployments()[0]["result"] == "unsafe"


def test_audit_trail_survives_in_jsonl(client, store, sim_server):
    deploy(client, store, Allocation(gpu_compute=3), power_limit=1_000_000)
    intent, outcome = [json.loads(line) for line in store.audit_path.read_text().strip().splitlines()]
    assert intent["phase"] == "intent" and intent["result"] == "pending"
    assert json.loads(intent["requested"])["gpu_compute"] == 3
    assert outcome == {**outcome, "phase": "outcome", "key": intent["key"], "result": "ok"}


def test_diff_counts_units_and_power():
    rows = diff(Allocation(gpu_compute=3), Allocation(gpu_compute=1, asic_compute=2))
    by = {r["type"]: r for r in rows}
    assert by["gpu_compute"]["change"] == -2 and by["gpu_compute"]["power_change"] == -10_000
    assert by["asic_compute"]["change"] == 2 and by["asic_compute"]["power_change"] == 30_000


def test_numeric_strings_from_forms_are_deployed_as_integers(client, store, sim_server):
    result = deploy(client, store, {"air_miners": "5"}, power_limit=1_000_000)
    assert result.ok and client.get_status().allocation.air_miners == 5


def test_site_changed_since_confirmation_is_not_sent(client, store, sim_server):
    confirmed_against = client.get_status().allocation
    client.set_allocation(Allocation(gpu_compute=7))  # someone else deploys meanwhile
    result = deploy(client, store, Allocation(asic_compute=10), power_limit=1_000_000,
                    expected_current=confirmed_against)
    assert not result.ok and "changed since you confirmed" in result.message
    assert client.get_status().allocation == Allocation(gpu_compute=7)
    assert store.deployments()[0]["result"] == "stale"


def test_status_breakdown_adds_up_to_the_sites_totals(client, store, sim_server):
    from optera.economics import status_breakdown

    client.set_allocation(Allocation(immersion_miners=10, gpu_compute=30, asic_compute=5))
    status = client.get_status()
    rows = status_breakdown(status)
    assert sum(r["cost"] for r in rows) == pytest.approx(status.total_power_cost)
    assert sum(r["profit"] for r in rows) == pytest.approx(status.total_revenue - status.total_power_cost)
    by = {r["type"]: r for r in rows}
    # the worked example's power split: 100,000 / 150,000 / 75,000 of 325,000 W
    assert by["gpu_compute"]["cost"] == pytest.approx(status.total_power_cost * 150_000 / 325_000)


# -- the audit outlives everything -------------------------------------------------------

def _wrapped_client(simulator, on_request) -> MaraClient:
    """The simulator behind a hook that may answer a request itself (return a Response) or pass."""
    inner = simulator.transport()

    def handle(request: httpx.Request) -> httpx.Response:
        return on_request(request) or inner.handle_request(request)

    return MaraClient("http://sim.test", DEMO_KEY, transport=httpx.MockTransport(handle), retries=1, backoff=0)


def test_unwritable_audit_file_still_records_the_deploy_in_the_database(simulator, store):
    store.audit_path.mkdir()  # a folder where the JSON-lines file should be: appends fail
    client = _wrapped_client(simulator, lambda r: None)
    result = deploy(client, store, Allocation(gpu_compute=4), source="test")
    assert result.ok and client.get_status().allocation == Allocation(gpu_compute=4)
    row = store.deployments()[0]
    assert row["result"] == "ok" and row["requested"]["gpu_compute"] == 4 and row["finished_at"]


def test_database_locked_during_the_put_keeps_intent_and_outcome(simulator, tmp_path, monkeypatch):
    import sqlite3
    import threading

    import optera.store
    from optera.store import Store, recover

    monkeypatch.setattr(optera.store, "BUSY_TIMEOUT_S", 0.1)
    store = Store(tmp_path / "locked.db")
    released = threading.Event()
    holding = threading.Event()

    def hold_lock() -> None:
        conn = sqlite3.connect(str(tmp_path / "locked.db"), timeout=5)
        conn.execute("BEGIN EXCLUSIVE")
        holding.set()
        released.wait(10)
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold_lock)

    def on_request(request):
        if request.method == "PUT":  # another program locks the DB while the PUT is in flight
            holder.start()
            holding.wait(5)

    client = _wrapped_client(simulator, on_request)
    try:
        result = deploy(client, store, Allocation(asic_compute=6), source="test")
    finally:
        released.set()
        holder.join()
    assert result.sent and result.ok
    assert client.get_status().allocation == Allocation(asic_compute=6)
    # the database kept the intent; the file kept both halves; a recovery merges them
    assert store.deployments()[0]["result"] == "pending"
    phases = [json.loads(line)["phase"] for line in store.audit_path.read_text().splitlines()]
    assert phases == ["intent", "outcome"]
    store.close()
    fresh, _ = recover(tmp_path / "locked.db")
    row = fresh.deployments()[0]
    assert row["result"] == "ok" and row["requested"]["asic_compute"] == 6


def test_a_read_back_sqlite_cannot_store_is_recorded_as_unverified(simulator, store):
    def on_request(request):
        if request.method == "GET" and request.url.path == "/machines" and on_request.sent:
            body = simulator.status(simulator.site_for_key(DEMO_KEY))
            body["air_miners"] = 10 ** 30
            return httpx.Response(200, json=body)
        if request.method == "PUT":
            on_request.sent = True

    on_request.sent = False
    result = deploy(_wrapped_client(simulator, on_request), store, Allocation(hydro_miners=2), source="test")
    assert result.sent and not result.ok
    row = store.deployments()[0]
    assert row["result"] == result.outcome and row["finished_at"] and row["requested"]["hydro_miners"] == 2


def test_nothing_is_sent_when_the_intent_cannot_be_recorded_anywhere(simulator, store, monkeypatch):
    from optera.errors import StorageError

    store.audit_path.mkdir()
    monkeypatch.setattr(store.audit, "_insert", lambda row: None)  # the database refuses the row too
    client = _wrapped_client(simulator, lambda r: None)
    before = client.get_status().allocation
    result = deploy(client, store, Allocation(gpu_compute=9))
    assert not result.sent and "cannot be recorded" in result.message and "Nothing was sent" in result.message
    assert client.get_status().allocation == before
    assert isinstance(StorageError("x"), Exception)


def test_site_reporting_more_power_than_its_limit_is_not_verified(simulator, store):
    def on_request(request):
        if request.method == "GET" and request.url.path == "/machines" and on_request.sent:
            body = simulator.status(simulator.site_for_key(DEMO_KEY))
            body["total_power_used"] = 1_250_000.0
            return httpx.Response(200, json=body)
        if request.method == "PUT":
            on_request.sent = True

    on_request.sent = False
    result = deploy(_wrapped_client(simulator, on_request), store, Allocation(gpu_compute=2))
    assert result.outcome == "over_limit" and "1.25 MW in use, over its limit of 1 MW" in result.message
    from optera.errors import DeployUnverified

    with pytest.raises(DeployUnverified):
        result.raise_for_outcome()


def test_a_no_op_is_never_sent(client, store, sim_server):
    current = client.get_status().allocation
    result = deploy(client, store, current)
    assert result.outcome == "noop" and not result.sent and "already runs" in result.message
