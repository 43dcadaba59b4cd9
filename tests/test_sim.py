"""The simulator: price model determinism and realism, and the whole MARA contract."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timedelta

import httpx
import numpy as np
import pytest

from optera.clock import FileClock, utcnow
from optera.errors import ConfigError
from optera.models import Prices
from optera.sim.api import DEMO_ALLOCATION, DEMO_KEY, Simulator
from optera.sim.prices import PriceModel

REAL_FIRST = datetime(2025, 6, 21, 12, 0)
REAL_LAST = datetime(2025, 6, 21, 21, 5)
KEY = {"X-Api-Key": DEMO_KEY}


def real_rows(data_dir):
    with open(data_dir / "mara_prices_2025-06-21.csv") as fh:
        return list(csv.DictReader(fh))


def call(sim, method, path, body=None, headers=None):
    raw = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else (body or b"")
    return sim.handle(method, path, headers or {}, raw)


# -- price model -----------------------------------------------------------------

def test_real_day_is_served_unchanged(data_dir):
    rows = real_rows(data_dir)
    series = PriceModel().series(REAL_FIRST, REAL_LAST)
    assert len(rows) == len(series) == 110
    for row, p in zip(rows, series):
        assert p.timestamp == datetime.fromisoformat(row["timestamp"])
        assert (p.energy_price, p.hash_price, p.token_price) == (
            float(row["energy_price"]), float(row["hash_price"]), float(row["token_price"]))


def test_same_timestamp_same_prices_in_any_order_and_instance():
    far = datetime(2026, 3, 1, 17, 35)
    a = PriceModel(seed=7)
    first = a.point(far)  # far future first, from an empty cache
    b = PriceModel(seed=7)
    b.series(REAL_FIRST, datetime(2025, 7, 1))  # a different cache growth order
    assert b.point(far) == first
    assert a.point(far + timedelta(minutes=3)) == first  # off-grid: the grid point at or before
    assert first.timestamp == far
    assert PriceModel(seed=8).point(far) != first


def test_series_is_oldest_first_on_a_five_minute_grid_and_matches_point():
    m = PriceModel()
    s = m.series(datetime(2025, 6, 21, 20, 2), datetime(2025, 6, 22, 2, 0))
    assert s[0].timestamp == datetime(2025, 6, 21, 20, 5) and s[-1].timestamp == datetime(2025, 6, 22, 2, 0)
    steps = {(b.timestamp - a.timestamp) for a, b in zip(s, s[1:])}
    assert steps == {timedelta(minutes=5)}
    assert s[40] == PriceModel().point(s[40].timestamp)
    assert m.series(datetime(2025, 6, 20), datetime(2025, 6, 21, 11, 59)) == []


def test_continuation_stays_positive_and_near_the_real_levels(data_dir):
    rows = real_rows(data_dir)
    m = PriceModel()
    _, values = m.array(REAL_LAST, REAL_LAST + timedelta(days=365))
    assert values.shape == (365 * 288 + 1, 3)
    assert (values > 0).all() and np.isfinite(values).all()
    for j, name in enumerate(("energy_price", "hash_price", "token_price")):
        real = [float(r[name]) for r in rows]
        geo_mean = math.exp(sum(math.log(v) for v in real) / len(real))
        sim_geo = math.exp(np.log(values[:, j]).mean())
        assert sim_geo == pytest.approx(geo_mean, rel=0.05)  # mean-reverts to the day's level
        # the real day's per-step volatility, within a loose band
        real_vol = np.std(np.diff(np.log(real)))
        sim_vol = np.std(np.diff(np.log(values[:, j])))
        assert 0.5 * real_vol < sim_vol < 1.5 * real_vol


# -- the API contract ----------------------------------------------------------------

def make_sim(tmp_path, now=datetime(2025, 6, 22, 9, 3, 20), **kw):
    return Simulator(state_path=tmp_path / "state.json", now=lambda: now, **kw)


def test_prices_newest_first_from_history_window_to_last_grid_point(tmp_path):
    now = datetime(2025, 6, 22, 9, 3, 20)
    sim = make_sim(tmp_path, now, history_days=0.5)
    status, body = call(sim, "GET", "/prices")
    assert status == 200
    stamps = [datetime.fromisoformat(p["timestamp"]) for p in body]
    assert stamps[0] == datetime(2025, 6, 22, 9, 0)  # last grid point <= now
    assert stamps[-1] == datetime(2025, 6, 21, 21, 5)  # first grid point >= now - 12 h
    assert all(a - b == timedelta(minutes=5) for a, b in zip(stamps, stamps[1:]))
    assert set(body[0]) == {"timestamp", "energy_price", "hash_price", "token_price"}
    assert Prices.from_api(body[0]) == PriceModel().point(now)


def test_history_never_starts_before_the_real_day(tmp_path):
    sim = make_sim(tmp_path, datetime(2025, 6, 21, 13, 0), history_days=7)
    _, body = call(sim, "GET", "/prices")
    assert [p["timestamp"] for p in body][-1] == "2025-06-21T12:00:00"
    assert len(body) == 13


def test_a_clock_file_moves_the_simulator_and_its_absence_is_wall_time(tmp_path):
    clock = FileClock(tmp_path / "clock")
    sim = Simulator(state_path=tmp_path / "state.json", now=clock.now, history_days=0.5)
    newest = datetime.fromisoformat(call(sim, "GET", "/prices")[1][0]["timestamp"])
    assert timedelta(0) <= utcnow() - newest < timedelta(minutes=5, seconds=1)  # no file: wall time
    clock.set(datetime(2025, 6, 23, 10, 2, 30))
    _, before = call(sim, "GET", "/prices")
    assert before[0]["timestamp"] == "2025-06-23T10:00:00"
    clock.advance(timedelta(minutes=5))
    _, after = call(sim, "GET", "/prices")
    assert after[0]["timestamp"] == "2025-06-23T10:05:00"  # one new point on top; the window slides by one
    assert after[1:] == before[:-1]
    _, machines = call(sim, "GET", "/machines", headers=KEY)
    assert machines["updated_at"] >= "2025-06-23T10:05:00"
    (tmp_path / "clock").write_text("next tuesday")
    with pytest.raises(ConfigError, match="ISO timestamp"):
        clock.now()


def test_inventory_is_the_published_table(tmp_path):
    status, body = call(make_sim(tmp_path), "GET", "/inventory")
    assert status == 200
    assert body == {
        "miners": {"air": {"hashrate": 1000, "power": 3500}, "hydro": {"hashrate": 5000, "power": 5000},
                   "immersion": {"hashrate": 10000, "power": 10000}},
        "inference": {"gpu": {"tokens": 1000, "power": 5000}, "asic": {"tokens": 50000, "power": 15000}},
    }


def test_create_site_then_use_its_key(tmp_path):
    sim = make_sim(tmp_path)
    status, created = call(sim, "POST", "/sites", {"name": "north"})
    assert status == 200 and created["name"] == "north" and created["power"] == 1_000_000
    key = created["api_key"]
    assert key and key != DEMO_KEY
    status, site = call(sim, "GET", "/sites", headers={"X-Api-Key": key})
    assert status == 200 and site["name"] == "north" and "api_key" not in site
    # the new site's allocation is independent of the demo site's
    call(sim, "PUT", "/machines", {"gpu_compute": 2}, headers={"x-api-key": key})
    assert call(sim, "GET", "/machines", headers=KEY)[1]["gpu_compute"] == DEMO_ALLOCATION["gpu_compute"]
    assert call(sim, "POST", "/sites", {"nom": "x"})[0] == 422


def test_demo_site_always_exists(tmp_path):
    status, site = call(make_sim(tmp_path), "GET", "/sites", headers=KEY)
    assert status == 200 and site["name"] == "optera-demo" and site["power"] == 1_000_000


@pytest.mark.parametrize("method,path", [("GET", "/sites"), ("GET", "/machines"), ("PUT", "/machines")])
@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}])
def test_missing_or_wrong_key_is_401(tmp_path, method, path, headers):
    status, body = call(make_sim(tmp_path), method, path, {"gpu_compute": 1}, headers)
    assert status == 401 and body["detail"]


def test_put_machines_sets_counts_missing_fields_are_zero(tmp_path):
    sim = make_sim(tmp_path)
    call(sim, "PUT", "/machines", {"hydro_miners": 9, "asic_compute": 4}, KEY)
    status, body = call(sim, "PUT", "/machines", {"gpu_compute": 3}, KEY)
    assert status == 200
    assert {k: body[k] for k in ("air_miners", "hydro_miners", "immersion_miners", "gpu_compute",
                                 "asic_compute")} == {"air_miners": 0, "hydro_miners": 0, "immersion_miners": 0,
                                                      "gpu_compute": 3, "asic_compute": 0}
    assert {"id", "site_id", "updated_at"} <= set(body)


@pytest.mark.parametrize("body,status,needle", [
    ({"gpu_compute": -1}, 422, "negative"),
    ({"gpu_compute": 1.5}, 422, "whole number"),
    ({"gpu_compute": "3"}, 422, "whole number"),
    ({"gpu_compute": True}, 422, "whole number"),
    ({"gpu_compute": 1, "laser_miners": 2}, 422, "laser_miners"),
    (b"{not json", 422, "JSON"),
    ([1, 2], 422, "object"),
    ({"asic_compute": 67}, 400, "power limit"),  # 1,005,000 W
])
def test_put_machines_refuses_bad_input_and_keeps_the_allocation(tmp_path, body, status, needle):
    sim = make_sim(tmp_path)
    call(sim, "PUT", "/machines", {"air_miners": 5}, KEY)
    got, answer = call(sim, "PUT", "/machines", body, KEY)
    assert got == status and needle in answer["detail"]
    assert call(sim, "GET", "/machines", headers=KEY)[1]["air_miners"] == 5


def test_exactly_at_the_power_limit_is_accepted(tmp_path):
    sim = make_sim(tmp_path)
    assert call(sim, "PUT", "/machines", {"immersion_miners": 100}, KEY)[0] == 200


def test_machines_breakdown_uses_the_latest_price(tmp_path):
    now = datetime(2025, 6, 21, 18, 2)
    sim = make_sim(tmp_path, now)
    call(sim, "PUT", "/machines", {"air_miners": 7, "hydro_miners": 2, "gpu_compute": 11, "asic_compute": 3}, KEY)
    _, s = call(sim, "GET", "/machines", headers=KEY)
    p = PriceModel().point(datetime(2025, 6, 21, 18, 0))
    assert s["power"] == {"air_miners": 24500, "hydro_miners": 10000, "immersion_miners": 0,
                          "gpu_compute": 55000, "asic_compute": 45000}
    assert s["revenue"]["air_miners"] == pytest.approx(7 * 1000 * p.hash_price)
    assert s["revenue"]["asic_compute"] == pytest.approx(3 * 50000 * p.token_price)
    assert s["total_power_used"] == 134500
    assert s["total_power_cost"] == pytest.approx(134500 * p.energy_price)
    assert s["total_revenue"] == pytest.approx(
        (7 * 1000 + 2 * 5000) * p.hash_price + (11 * 1000 + 3 * 50000) * p.token_price)


class FixedPrices:
    def __init__(self, prices):
        self.prices = prices

    def point(self, ts):
        return self.prices


def test_worked_example_of_the_published_docs_to_the_cent(tmp_path):
    published = {"power": (100_000, 150_000, 75_000), "revenue": (150_596.58, 25_528.13, 212_734.43),
                 "total_revenue": 388_859.15, "total_power_cost": 238_466.36}
    # Each published revenue is a rounded cent: the true value lies within +-0.005 of it.
    # hash price: 10 immersion x 10,000 hashrate; token price: 30 x 1,000 (gpu) and 5 x 50,000 (asic).
    h_lo, h_hi = (150_596.575 / 100_000, 150_596.585 / 100_000)
    t_lo = max(25_528.125 / 30_000, 212_734.425 / 250_000)
    t_hi = min(25_528.135 / 30_000, 212_734.435 / 250_000)
    # the published total (388,859.15) is only reached near the top of both intervals
    h, t = h_lo + 0.9 * (h_hi - h_lo), t_lo + 0.9 * (t_hi - t_lo)
    e = 238_466.36 / 325_000
    assert (round(h, 5), round(t, 5), round(e, 5)) == (1.50597, 0.85094, 0.73374)
    sim = make_sim(tmp_path)
    sim.model = FixedPrices(Prices(datetime(2025, 6, 21, 13), e, h, t))
    call(sim, "PUT", "/machines", {"immersion_miners": 10, "gpu_compute": 30, "asic_compute": 5}, KEY)
    _, s = call(sim, "GET", "/machines", headers=KEY)
    names = ("immersion_miners", "gpu_compute", "asic_compute")
    assert tuple(s["power"][n] for n in names) == published["power"]
    assert s["total_power_used"] == 325_000
    assert tuple(round(s["revenue"][n], 2) for n in names) == published["revenue"]
    assert round(s["total_revenue"], 2) == published["total_revenue"]
    assert round(s["total_power_cost"], 2) == published["total_power_cost"]


def test_allocation_and_sites_survive_a_restart(tmp_path):
    sim = make_sim(tmp_path)
    _, created = call(sim, "POST", "/sites", {"name": "keep"})
    call(sim, "PUT", "/machines", {"hydro_miners": 12}, {"X-Api-Key": created["api_key"]})
    again = make_sim(tmp_path)
    _, s = call(again, "GET", "/machines", headers={"X-Api-Key": created["api_key"]})
    assert s["hydro_miners"] == 12
    state = json.loads((tmp_path / "state.json").read_text())
    assert len(state["sites"]) == 2
    assert not list(tmp_path.glob("state.json.*"))  # no leftover temp files from the atomic write


def test_corrupt_state_file_starts_fresh_with_the_demo_site(tmp_path):
    (tmp_path / "state.json").write_text("{truncated")
    status, _ = call(make_sim(tmp_path), "GET", "/sites", headers=KEY)
    assert status == 200


def test_unknown_path_404_and_wrong_method_405(tmp_path):
    sim = make_sim(tmp_path)
    assert call(sim, "GET", "/nope")[0] == 404
    assert call(sim, "DELETE", "/prices")[0] == 405
    assert call(sim, "GET", "/prices/?x=1")[0] == 200


def test_transport_and_real_http_answer_the_same(sim_server):
    via_http = httpx.get(sim_server.url + "/inventory").json()
    with httpx.Client(transport=sim_server.sim.transport(), base_url="http://sim") as c:
        assert c.get("/inventory").json() == via_http
        assert c.get("/machines").status_code == 401
    r = httpx.put(sim_server.url + "/machines", content=b"[", headers={"X-Api-Key": DEMO_KEY})
    assert r.status_code == 422 and r.headers["content-type"] == "application/json"
    assert httpx.get(sim_server.url + "/missing").status_code == 404


def test_two_processes_on_one_state_file_see_each_others_deploys(tmp_path):
    """The app and a CLI each hold a Simulator on the default file: neither may lose the other's deploy."""
    app, cli = make_sim(tmp_path), make_sim(tmp_path)
    assert call(cli, "PUT", "/machines", {"immersion_miners": 7}, KEY)[0] == 200
    assert call(app, "GET", "/machines", headers=KEY)[1]["immersion_miners"] == 7
    assert call(app, "PUT", "/machines", {"gpu_compute": 3}, KEY)[0] == 200
    status = call(cli, "GET", "/machines", headers=KEY)[1]
    assert status["gpu_compute"] == 3 and status["immersion_miners"] == 0
