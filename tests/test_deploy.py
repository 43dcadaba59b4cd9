"""Safe deploys: validation before sending, read-back, audit trail, refused deploys recorded."""

import json

import pytest

from optera.deploy import deploy, diff
from optera.models import Allocation


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


def test_refused_by_server_records_failed_attempt_with_server_message(client, store, sim_server):
    # A local limit above the site's lets the request through to the server, which must refuse it.
    result = deploy(client, store, {"asic_compute": 80}, power_limit=5_000_000)
    assert not result.ok
    assert result.message.startswith("The site refused the allocation")
    row = store.deployments()[0]
    assert row["result"] == "refused" and row["message"] == result.message
    assert client.get_status().allocation.asic_compute != 80


def test_failed_source_records_error(store, fault_server):
    from optera.mara import MaraClient

    fault_server.set("/machines", status=503)
    bad = MaraClient(fault_server.url, "k", retries=1, backoff=0, sleep=lambda s: None)
    result = deploy(bad, store, {"gpu_compute": 1}, power_limit=1_000_000)
    assert not result.ok
    assert store.deployments()[0]["result"] == "error"


def test_audit_trail_survives_in_jsonl(client, store, sim_server):
    deploy(client, store, Allocation(gpu_compute=3), power_limit=1_000_000)
    lines = store.audit_path.read_text().strip().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert json.loads(row["requested"])["gpu_compute"] == 3 and row["result"] == "ok"


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
