"""Validation of API payloads and user input: each bad value names its field."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from optera import redaction
from optera.models import (
    DEFAULT_INVENTORY,
    MACHINE_TYPES,
    MAX_NAME,
    Allocation,
    Inventory,
    Prices,
    Site,
    SiteStatus,
    ValidationError,
    parse_price_list,
    parse_timestamp,
)
from optera.numbers import MAX_COUNT

GOOD = {"timestamp": "2025-06-21T13:00:00", "energy_price": 0.73, "hash_price": 1.5, "token_price": 0.85}


def test_prices_from_api_roundtrip():
    p = Prices.from_api(GOOD)
    assert p.timestamp == datetime(2025, 6, 21, 13) and p.energy_price == 0.73
    assert Prices.from_api(p.to_dict()) == p
    assert Prices.from_api({**GOOD, "hash_price": 2}).hash_price == 2.0


@pytest.mark.parametrize("field,value,reason", [
    ("energy_price", float("nan"), "finite"),
    ("hash_price", float("-inf"), "finite"),
    ("token_price", -0.01, "negative"),
    ("energy_price", "0.7", "expected a number"),
    ("energy_price", True, "expected a number"),
    ("hash_price", None, "missing value"),
    ("hash_price", 2e12, "too large"),
    ("energy_price", 10**400, "too large"),
    ("timestamp", "21/06/2025 13:00", "ISO-8601"),
    ("timestamp", 1750510800, "ISO-8601"),
])
def test_bad_price_values_name_the_field(field, value, reason):
    with pytest.raises(ValidationError) as info:
        Prices.from_api({**GOOD, field: value})
    assert info.value.field == field and reason in str(info.value)


def test_missing_price_field():
    data = dict(GOOD)
    del data["token_price"]
    with pytest.raises(ValidationError, match="token_price: missing field"):
        Prices.from_api(data)


def test_timestamps_with_zone_become_naive_utc():
    assert parse_timestamp("2025-06-21T15:00:00+02:00") == datetime(2025, 6, 21, 13)
    assert parse_timestamp("2025-06-21T13:00:00Z") == datetime(2025, 6, 21, 13)


def test_price_list_sorted_deduplicated_and_indexed_errors():
    later = {**GOOD, "timestamp": "2025-06-21T13:05:00"}
    got = parse_price_list([later, GOOD, later])
    assert [p.timestamp.minute for p in got] == [0, 5]
    with pytest.raises(ValidationError) as info:
        parse_price_list([GOOD, later, {**GOOD, "energy_price": math.nan}])
    assert info.value.field == "prices[2].energy_price"
    with pytest.raises(ValidationError, match="expected a list"):
        parse_price_list({"prices": []})


def test_with_overrides_validates():
    p = Prices.from_api(GOOD)
    assert p.with_overrides(energy=0.1).energy_price == 0.1
    with pytest.raises(ValidationError):
        p.with_overrides(token=-1)


def test_allocation_counts():
    a = Allocation.from_api({"gpu_compute": 3, "hydro_miners": 2.0})
    assert a.to_dict() == {"air_miners": 0, "hydro_miners": 2, "immersion_miners": 0, "gpu_compute": 3,
                           "asic_compute": 0}
    assert a.power() == 2 * 5000 + 3 * 5000
    p = Prices.from_api(GOOD)
    assert a.profit(p) == pytest.approx(2 * 5000 * 1.5 + 3 * 1000 * 0.85 - 25_000 * 0.73)
    assert a.moved(Allocation(gpu_compute=1)) == 4


@pytest.mark.parametrize("counts,needle", [
    ({"gpu_compute": -1}, "negative"), ({"gpu_compute": 1.5}, "whole number"), ({"gpu_compute": "2"}, "whole"),
    ({"gpu_compute": True}, "whole"), ({"laser": 1}, "unknown machine type"),
])
def test_bad_counts(counts, needle):
    with pytest.raises(ValidationError, match=needle):
        Allocation.from_counts(counts)


def test_inventory_roundtrip_and_bad_specs():
    assert Inventory.from_api(DEFAULT_INVENTORY.to_api()) == DEFAULT_INVENTORY
    assert [DEFAULT_INVENTORY[n].power for n in MACHINE_TYPES] == [3500, 5000, 10000, 5000, 15000]
    bad = DEFAULT_INVENTORY.to_api()
    bad["inference"]["asic"]["power"] = 0
    with pytest.raises(ValidationError, match="inventory.inference.asic.power"):
        Inventory.from_api(bad)
    with pytest.raises(ValidationError, match="inventory.miners"):
        Inventory.from_api({"inference": {}})


def status_payload(**over):
    data = {"air_miners": 1, "power": {"air_miners": 3500}, "revenue": {"air_miners": 1500.0},
            "total_power_used": 3500, "total_power_cost": 2555.0, "total_revenue": 1500.0,
            "updated_at": "2025-06-21T13:00:00"}
    data.update(over)
    return data


def test_site_status():
    s = SiteStatus.from_api(status_payload())
    assert s.allocation == Allocation(air_miners=1) and s.power["gpu_compute"] == 0.0
    assert s.profit == pytest.approx(1500 - 2555)
    assert SiteStatus.from_api(s.to_api()) == s
    with pytest.raises(ValidationError, match="power"):
        SiteStatus.from_api(status_payload(power=None))
    with pytest.raises(ValidationError, match="total_power_cost"):
        SiteStatus.from_api(status_payload(total_power_cost=float("nan")))


def test_site():
    s = Site.from_api({"name": "x", "power": 1_000_000, "api_key": "k", "id": 3})
    assert s == Site("x", 1_000_000)
    with pytest.raises(ValidationError, match="power"):
        Site.from_api({"name": "x", "power": 0})


def test_site_name_is_outside_text_redacted_then_cut():
    key = "site-key-0123456789abcdef"
    redaction.remember(key)
    long = "north " * 30 + key
    s = Site.from_api({"name": f"{key} (main)", "power": 5e5})
    assert key not in s.name and "********" in s.name
    cut = Site.from_api({"name": "n" * 95 + key, "power": 5e5}).name
    assert len(cut) <= MAX_NAME and "0123" not in cut  # redacted before the cut, so no piece of it survives
    assert len(Site.from_api({"name": long, "power": 5e5}).name) == MAX_NAME
    with pytest.raises(ValidationError, match="name"):
        Site.from_api({"name": "   ", "power": 5e5})


@pytest.mark.parametrize("where,value,needle", [
    (("miners", "air", "power"), 1e-300, "inventory.miners.air.power: must be at least 1"),
    (("miners", "air", "power"), 0.5, "must be at least 1"),
    (("inference", "gpu", "tokens"), 1e13, "inventory.inference.gpu.tokens: is too large"),
    (("miners", "hydro", "hashrate"), float("inf"), "finite"),
])
def test_inventory_specs_in_range(where, value, needle):
    bad = DEFAULT_INVENTORY.to_api()
    bad[where[0]][where[1]][where[2]] = value
    with pytest.raises(ValidationError, match=needle):
        Inventory.from_api(bad)


def test_counts_are_bounded_everywhere():
    assert Allocation(gpu_compute=MAX_COUNT).gpu_compute == MAX_COUNT
    assert type(Allocation.from_api({"gpu_compute": 2.0}).gpu_compute) is int
    for build in (lambda: Allocation(air_miners=10**18), lambda: Allocation.from_api({"air_miners": 10**30}),
                  lambda: SiteStatus.from_api(status_payload(asic_compute=MAX_COUNT + 1))):
        with pytest.raises(ValidationError, match="too large"):
            build()
    with pytest.raises(ValidationError, match="total_revenue: is too large"):
        SiteStatus.from_api(status_payload(total_revenue=1e300))
    with pytest.raises(ValidationError, match="power.air_miners"):
        SiteStatus.from_api(status_payload(power={"air_miners": -1}))


def test_future_points_are_dropped_and_said():
    now = datetime(2025, 6, 21, 13, 2)
    points = [GOOD, {**GOOD, "timestamp": "2025-06-21T13:10:00"},  # within the 10-minute tolerance
              {**GOOD, "timestamp": "2025-06-21T13:15:00"}, {**GOOD, "timestamp": "3000-01-01T00:00:00"}]
    got = parse_price_list(points, now=now)
    assert [p.timestamp for p in got] == [datetime(2025, 6, 21, 13), datetime(2025, 6, 21, 13, 10)]
    assert [p.timestamp.year for p in got.dropped] == [2025, 3000]
    assert "dropped 2 price points dated in the future" in got.note and "3000-01-01" in got.note
    assert parse_price_list(points[:1], now=now).note is None
    assert len(parse_price_list(points)) == 4  # without a clock nothing is judged


def test_timestamps_out_of_range_are_validation_errors():
    with pytest.raises(ValidationError, match="out of the range of dates"):
        parse_timestamp("9999-12-31T23:59:59-01:00")
