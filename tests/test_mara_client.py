"""MaraClient against the simulator over real HTTP, and against a misbehaving server."""

from __future__ import annotations

import itertools
import math
from datetime import datetime

import httpx
import pytest

from optera.config import Secret, Settings
from optera.mara import (
    AuthError,
    BadResponseError,
    MaraClient,
    RateLimitedError,
    RefusedError,
    SourceError,
    UnavailableError,
)
from optera.models import DEFAULT_INVENTORY, Allocation
from optera.service import client_from_settings
from optera.sim.api import DEMO_ALLOCATION, DEMO_KEY
from optera.sim.prices import PriceModel

from faultserver import FIXED_NOW

# -- every endpoint against the simulator over HTTP -----------------------------------

def test_prices_oldest_first_and_equal_to_the_model(client, sim_server):
    prices = client.get_prices()
    assert len(prices) == 7 * 288 + 1 or len(prices) == 7 * 288
    assert all(a.timestamp < b.timestamp for a, b in itertools.pairwise(prices))
    model = PriceModel()
    assert prices[-1] == model.point(prices[-1].timestamp)
    assert prices[0] == model.point(prices[0].timestamp)


def test_inventory_site_and_status(client):
    assert client.get_inventory() == DEFAULT_INVENTORY
    site = client.get_site()
    assert site.name == "optera-demo" and site.power == 1_000_000
    status = client.get_status()
    # the demo site starts on the hackathon prototype's fallback allocation
    assert status.allocation == Allocation(**DEMO_ALLOCATION)
    assert status.total_power_used == 5 * 5000 + 10 * 10000 + 30 * 5000 + 20 * 15000


def test_set_allocation_then_status_reads_it_back(client, sim_server):
    target = Allocation(hydro_miners=20, gpu_compute=10, asic_compute=4)
    answer = client.set_allocation(target)
    assert answer["hydro_miners"] == 20 and "updated_at" in answer
    status = client.get_status()
    assert status.allocation == target
    assert status.total_power_used == 20 * 5000 + 10 * 5000 + 4 * 15000
    p = client.get_prices()[-1]
    assert status.total_power_cost == pytest.approx(210_000 * p.energy_price)
    assert status.total_revenue == pytest.approx(20 * 5000 * p.hash_price + (10_000 + 200_000) * p.token_price)


def test_refused_allocation_carries_the_server_message(client):
    with pytest.raises(RefusedError) as info:
        client.set_allocation(Allocation(asic_compute=70))
    assert info.value.status == 400
    assert "power limit" in info.value.server_message
    assert "power limit" in info.value.message and "PUT /machines" in info.value.message


def test_create_site_switches_to_the_new_key(client, sim_server):
    site, key = client.create_site("second")
    assert site.name == "second" and key != DEMO_KEY
    assert client.get_site().name == "second"
    assert sim_server.sim.site_for_key(key)["name"] == "second"


def test_wrong_key_is_auth_error_without_the_key(sim_server):
    c = MaraClient(sim_server.url, "sk-very-secret-123", retries=3, backoff=0, sleep=lambda s: None)
    with pytest.raises(AuthError) as info:
        c.get_status()
    assert "rejected the API key (401)" in info.value.message
    assert "sk-very-secret-123" not in str(info.value) + repr(info.value) + repr(c)
    assert c.get_prices()  # unauthenticated calls still work


def test_no_key_is_a_clear_auth_error_without_a_request(fault_server, make_client):
    c, _ = make_client(key=None)
    with pytest.raises(AuthError, match="No MARA API key"):
        c.get_site()
    assert fault_server.count() == 0


def test_embedded_default_uses_the_simulator_in_process(tmp_path):
    settings = Settings(db_path=tmp_path / "x.db", sim_state=tmp_path / "sim.json")
    c = client_from_settings(settings)
    assert c.get_site().name == "optera-demo"
    c.set_allocation(Allocation(gpu_compute=2))
    # the state is on disk: a new embedded client sees the deployed allocation
    assert client_from_settings(settings).get_status().allocation == Allocation(gpu_compute=2)


def test_settings_choose_the_source(tmp_path):
    official = client_from_settings(Settings(mara_api_key=Secret("k1")))
    assert official.base_url == "https://mara-hackathon-api.onrender.com" and official.has_key
    local = client_from_settings(Settings(mara_api_url="http://127.0.0.1:8787/"))
    assert local.base_url == "http://127.0.0.1:8787" and local.has_key  # the local sim's demo key
    remote = client_from_settings(Settings(mara_api_url="https://example.invalid"))
    assert not remote.has_key


# -- error paths against the fault server ---------------------------------------------

def test_timeout_is_retried_then_unavailable(fault_server, make_client):
    fault_server.set("/prices", delay=0.6)
    c, sleeps = make_client(timeout=0.2, retries=2, backoff=0.5)
    with pytest.raises(UnavailableError) as info:
        c.get_prices()
    assert "could not be reached after 2 attempts" in info.value.message
    assert "no answer within 0.2 s" in info.value.message
    assert sleeps == [0.5]


def test_5xx_then_success(fault_server, make_client):
    fault_server.set("/prices", status=503, fail_times=2)
    c, sleeps = make_client(backoff=0.25)
    prices = c.get_prices()
    assert prices[-1].timestamp == datetime(2025, 6, 21, 21, 5)
    assert fault_server.count("/prices") == 3
    assert sleeps == [0.25, 0.5]  # exponential backoff


def test_5xx_exhausted(fault_server, make_client):
    fault_server.set("/machines", status=502)
    c, sleeps = make_client()
    with pytest.raises(UnavailableError) as info:
        c.get_status()
    assert info.value.message.startswith("The MARA API is unavailable after 3 attempts: 502 injected 502")
    assert fault_server.count("/machines") == 3 and len(sleeps) == 2


def test_429_honours_retry_after(fault_server, make_client):
    fault_server.set("/inventory", status=429, retry_after=7, fail_times=1)
    c, sleeps = make_client(backoff=0)
    assert c.get_inventory() == DEFAULT_INVENTORY
    assert sleeps == [7.0]


def test_429_retry_after_is_capped_and_exhaustion_is_rate_limited(fault_server, make_client):
    fault_server.set("/prices", status=429, retry_after=3600)
    c, sleeps = make_client(retries=2, deadline=120)
    with pytest.raises(RateLimitedError) as info:
        c.get_prices()
    assert sleeps == [30.0]
    assert info.value.retry_after == 3600
    assert "rate limiting" in info.value.message


def test_connection_refused_is_unavailable(tmp_path):
    c = MaraClient("http://127.0.0.1:9", "k", retries=2, backoff=0, sleep=lambda s: None)
    with pytest.raises(UnavailableError) as info:
        c.get_prices()
    assert info.value.unreachable and "127.0.0.1:9" in info.value.message


def test_html_instead_of_json(fault_server, make_client):
    fault_server.set("/prices", html=True)
    c, _ = make_client()
    with pytest.raises(BadResponseError) as info:
        c.get_prices()
    assert "not valid JSON" in info.value.message and "HTML" in info.value.message
    assert fault_server.count("/prices") == 1  # a 200 with junk is not retried


def test_html_error_page_is_summarised(fault_server, make_client):
    fault_server.set("/prices", html=True, status=504)
    c, _ = make_client(retries=1)
    with pytest.raises(UnavailableError) as info:
        c.get_prices()
    assert "504 an HTML page" in info.value.message and "<html" not in info.value.message


def test_truncated_json(fault_server, make_client):
    fault_server.set("/machines", truncated=True)
    c, _ = make_client()
    with pytest.raises(BadResponseError, match="not valid JSON"):
        c.get_status()


def good_points(n=4):
    return [{"timestamp": f"2025-06-21T12:{5 * i:02d}:00", "energy_price": 1.0 + i, "hash_price": 2.0,
             "token_price": 3.0} for i in range(n)]


@pytest.mark.parametrize("field,value,needle", [
    ("energy_price", float("nan"), "prices[3].energy_price: must be a finite number"),
    ("energy_price", float("inf"), "prices[3].energy_price: must be a finite number"),
    ("hash_price", -1.0, "prices[3].hash_price: must not be negative"),
    ("token_price", "1.5", "prices[3].token_price: expected a number"),
    ("timestamp", "yesterday-ish", "prices[3].timestamp: not an ISO-8601 timestamp"),
    ("token_price", None, "prices[3].token_price: missing field"),
])
def test_bad_price_fields_are_named(fault_server, make_client, field, value, needle):
    points = good_points()
    if value is None:
        del points[3][field]
    else:
        points[3][field] = value
    # json.dumps writes NaN/Infinity, as a sloppy server would
    fault_server.set("/prices", body=points)
    c, _ = make_client()
    with pytest.raises(BadResponseError) as info:
        c.get_prices()
    assert needle in info.value.message


def test_missing_status_field(fault_server, make_client):
    fault_server.set("/machines", body={"air_miners": 1, "power": {}, "revenue": {}, "total_power_used": 3500,
                                        "total_power_cost": 1.0})
    c, _ = make_client()
    with pytest.raises(BadResponseError, match="field total_revenue: missing field"):
        c.get_status()


def test_non_list_prices_and_bad_inventory(fault_server, make_client):
    fault_server.set("/prices", body={"prices": []})
    fault_server.set("/inventory", body={"miners": {}})
    c, _ = make_client()
    with pytest.raises(BadResponseError, match="expected a list"):
        c.get_prices()
    with pytest.raises(BadResponseError, match="inventory.miners.air"):
        c.get_inventory()


def test_duplicates_and_disorder_are_cleaned(fault_server, make_client):
    points = good_points(5)
    fault_server.set("/prices", body=[points[3], points[0], points[3], points[4], points[1], points[2]])
    c, _ = make_client()
    got = c.get_prices()
    assert [p.energy_price for p in got] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_key_echoed_by_the_server_is_redacted(fault_server, make_client):
    secret = "sk-echo-me-456"
    fault_server.set("/sites", status=400, body={"detail": f"site for key {secret} is suspended"})
    fault_server.set("/machines", status=500, body={"detail": f"crash with {secret}"})
    c, _ = make_client(key=secret)
    for call in (c.get_site, c.get_status):
        with pytest.raises(SourceError) as info:
            call()
        assert secret not in str(info.value) and "********" in str(info.value)
    err = pytest.raises(RefusedError, c.get_site).value
    assert secret not in err.server_message


def test_key_sent_only_on_authenticated_calls(fault_server, make_client):
    c, _ = make_client()
    c.get_prices()
    c.get_site()
    sent = {(m, p): h for m, p, h in fault_server.requests}
    lower = {k: {n.lower(): v for n, v in h.items()} for k, h in sent.items()}
    assert "x-api-key" not in lower[("GET", "/prices")]
    assert lower[("GET", "/sites")]["x-api-key"] == DEMO_KEY


def test_post_sites_is_not_retried_on_5xx(fault_server, make_client):
    fault_server.set("/sites", status=500)
    c, _ = make_client()
    with pytest.raises(UnavailableError):
        c.create_site("x")
    assert fault_server.count("/sites") == 1


def test_transport_errors_from_a_mock_transport(tmp_path):
    def boom(request):
        raise httpx.ReadError("socket closed")

    c = MaraClient("http://x", "k", transport=httpx.MockTransport(boom), retries=2, backoff=0, sleep=lambda s: None)
    with pytest.raises(UnavailableError, match="ReadError"):
        c.get_inventory()


def test_fault_server_default_is_the_real_day():
    assert FIXED_NOW > datetime(2025, 6, 21, 21, 5)
    assert math.isfinite(PriceModel().point(FIXED_NOW).energy_price)
