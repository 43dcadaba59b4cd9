"""Validation messages, optimal repair, and the prototype's proportional scaling."""

from __future__ import annotations

import itertools
import random
from datetime import datetime

import numpy as np
import pytest

from optera.models import Allocation, Prices
from optera.optimize.repair import Issue, proportional_scale, repair, validate

TS = datetime(2025, 6, 21, 12, 0)
POWER = np.array([3500, 5000, 10000, 5000, 15000], dtype=float)
HASH = np.array([1000, 5000, 10000, 0, 0], dtype=float)
TOKENS = np.array([0, 0, 0, 1000, 50000], dtype=float)
NAMES = ["air_miners", "hydro_miners", "immersion_miners", "gpu_compute", "asic_compute"]


def messages(issues: list[Issue]) -> list[str]:
    return [i.message for i in issues]


def test_valid_allocation_has_no_issues():
    assert validate({"hydro_miners": 10, "asic_compute": 20}, 1_000_000) == []
    assert validate({n: 0 for n in NAMES}, 0) == []


def test_messages_are_precise():
    assert messages(validate({"gpu_compute": -3}, 1e6)) == ["GPU inference: -3 is negative"]
    assert messages(validate({"asic_compute": 2.5}, 1e6)) == ["ASIC inference: 2.5 is not a whole number"]
    assert messages(validate({"asic_compute": 70}, 1_000_000)) == [
        "power 1.05 MW exceeds the limit of 1 MW by 50 kW"]
    assert messages(validate({"hydro_miners": 40}, 1e6, {"hydro_miners": 30})) == [
        "Hydro miners: 40 exceeds the 30 you own"]
    assert messages(validate({"foo": 1}, 1e6)) == ["unknown machine type foo"]
    assert messages(validate({"air_miners": "abc"}, 1e6)) == ["Air miners: 'abc' is not a number"]
    assert messages(validate({"air_miners": ""}, 1e6)) == ["Air miners: '' is not a number"]
    assert messages(validate({"air_miners": float("nan")}, 1e6)) == ["Air miners: nan is not a number"]
    assert messages(validate({"air_miners": None}, 1e6)) == ["Air miners: None is not a number"]


def test_every_problem_is_reported_with_its_field():
    issues = validate({"gpu_compute": -1, "hydro_miners": 40, "asic_compute": 70, "bar": 2},
                      1_000_000, {"hydro_miners": 30})
    assert {i.field for i in issues} == {"gpu_compute", "hydro_miners", "bar", "power"}
    # power counts the valid entries: 40 hydro (200 kW) + 70 asic (1,050 kW)
    assert "power 1.25 MW exceeds the limit of 1 MW by 250 kW" in messages(issues)


def test_numeric_strings_from_forms_are_accepted():
    assert validate({"gpu_compute": " 12 "}, 1e6) == []
    assert messages(validate({"gpu_compute": "1.5"}, 1e6)) == ["GPU inference: 1.5 is not a whole number"]


def test_proportional_scale_reproduces_the_prototype():
    # the prototype's over-limit request: 100*3.5 + 80*5 + 60*10 + 100*5 + 40*15 = 2,450 kW
    request = {"air_miners": 100, "hydro_miners": 80, "immersion_miners": 60, "gpu_compute": 100,
               "asic_compute": 40}
    f = 1_000_000 / 2_450_000
    expected = Allocation(*[round(v * f) for v in (100, 80, 60, 100, 40)])  # 41, 33, 24, 41, 16
    assert expected == Allocation(41, 33, 24, 41, 16)
    scaled = proportional_scale(request, 1_000_000)
    assert scaled == expected
    assert scaled.power() == 41 * 3500 + 33 * 5000 + 24 * 10000 + 41 * 5000 + 16 * 15000
    # within the limit it is left alone
    assert proportional_scale({"asic_compute": 3}, 1_000_000) == Allocation(asic_compute=3)


def test_proportional_scale_can_break_the_limit_after_rounding():
    # 3 hydro + 1 asic (30 kW) into 26 kW: 3 * 26/30 = 2.6 -> 3 and 0.87 -> 1, still 30 kW
    scaled = proportional_scale({"hydro_miners": 3, "asic_compute": 1}, 26_000)
    assert scaled == Allocation(hydro_miners=round(3 * 26 / 30), asic_compute=round(26 / 30))
    assert scaled.power() > 26_000


def brute_repair(request: dict, prices: Prices, limit: float, caps: dict) -> float:
    upper = [min(request.get(n, 0), caps.get(n, 10**9)) for n in NAMES]
    grid = np.array(list(itertools.product(*[range(u + 1) for u in upper])), dtype=float)
    grid = grid[grid @ POWER <= limit]
    unit = HASH * prices.hash_price + TOKENS * prices.token_price - POWER * prices.energy_price
    return float((grid @ unit).max())


def test_repair_is_optimal_feasible_and_never_worse_than_scaling():
    rng = random.Random(7)
    beat = 0
    for case in range(200):
        prices = Prices(TS, rng.uniform(0, 4), rng.uniform(0, 4), rng.uniform(0, 2))
        limit = float(rng.randrange(20_000, 80_001, 500))
        request = {n: rng.randint(0, 8) for n in NAMES}
        caps = {n: rng.randint(0, 8) for n in rng.sample(NAMES, rng.randint(0, 3))}
        fixed = repair(request, prices, limit, caps)
        where = f"case {case}: {prices} {limit} {request} {caps}"
        assert validate(fixed.to_dict(), limit, caps) == [], where
        assert all(fixed[n] <= request[n] for n in NAMES), where
        assert fixed.profit(prices) == pytest.approx(brute_repair(request, prices, limit, caps),
                                                     rel=1e-9, abs=1e-6), where
        scaled = proportional_scale(request, limit)
        if not validate(scaled.to_dict(), limit, caps):
            assert fixed.profit(prices) >= scaled.profit(prices) - 1e-6, where
            beat += fixed.profit(prices) > scaled.profit(prices) + 1e-6
    assert beat > 20


def test_repair_keeps_a_feasible_profitable_request_unchanged():
    prices = Prices(TS, 3.0, 4.0, 2.0)  # hydro, immersion and asic all earn
    request = {"hydro_miners": 5, "immersion_miners": 10, "asic_compute": 20}
    assert repair(request, prices, 1_000_000) == Allocation.from_counts(request)


def test_repair_of_messy_input_is_still_feasible():
    prices = Prices(TS, 3.0, 4.0, 2.0)
    fixed = repair({"asic_compute": 80.7, "gpu_compute": -2, "hydro_miners": "abc"}, prices, 1_000_000)
    assert fixed == Allocation(asic_compute=66)
