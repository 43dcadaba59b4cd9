"""The optimiser against an independent brute force, plus its explanation and curve."""

from __future__ import annotations

import itertools
import math
import random
from datetime import datetime

import numpy as np
import pytest

from optera.models import Allocation, Prices, ValidationError
from optera.optimize import Constraints, explain, profit_curve, solve
from optera.units import Money

TS = datetime(2025, 6, 21, 12, 0)
# The published inventory, written out again here so the test does not trust the code's copy.
POWER = np.array([3500, 5000, 10000, 5000, 15000], dtype=float)
HASH = np.array([1000, 5000, 10000, 0, 0], dtype=float)
TOKENS = np.array([0, 0, 0, 1000, 50000], dtype=float)
INFERENCE = np.array([False, False, False, True, True])
NAMES = ["air_miners", "hydro_miners", "immersion_miners", "gpu_compute", "asic_compute"]
MAX_LIMIT = 60_000


def _grid() -> np.ndarray:
    ranges = [range(int(MAX_LIMIT // p) + 1) for p in POWER]
    grid = np.array(list(itertools.product(*ranges)), dtype=float)
    return grid[grid @ POWER <= MAX_LIMIT]


GRID = _grid()
GRID_POWER = GRID @ POWER
GRID_INF = GRID[:, INFERENCE] @ POWER[INFERENCE]
GRID_TOKENS = GRID @ TOKENS
GRID_HASH = GRID @ HASH


def brute(prices: Prices, limit: float, c: Constraints, current: Allocation | None):
    """Best objective by enumerating every allocation; None when nothing is feasible."""
    tol = 1e-9 * np.maximum(np.maximum(GRID_POWER, limit), 1.0)
    ok = GRID_POWER <= limit + tol
    for i, n in enumerate(NAMES):
        if n in c.caps:
            ok &= GRID[:, i] <= c.caps[n]
        if n in c.locks:
            ok &= GRID[:, i] == c.locks[n]
    if c.min_inference_share is not None:
        ok &= GRID_INF >= c.min_inference_share * GRID_POWER - tol
    if c.max_inference_share is not None:
        ok &= GRID_INF <= c.max_inference_share * GRID_POWER + tol
    if c.min_tokens is not None:
        ok &= GRID_TOKENS >= c.min_tokens * (1 - 1e-9) - 1e-9
    if c.min_hashrate is not None:
        ok &= GRID_HASH >= c.min_hashrate * (1 - 1e-9) - 1e-9
    unit = HASH * prices.hash_price + TOKENS * prices.token_price - POWER * prices.energy_price
    value = GRID @ unit
    if current is not None:
        moved = np.abs(GRID - np.array(current.as_list(), dtype=float)).sum(axis=1)
        if c.max_moved is not None:
            ok &= moved <= c.max_moved
        value = value - c.switching_cost * moved
    if not ok.any():
        return None
    return float(value[ok].max())


def objective(alloc: Allocation, prices: Prices, c: Constraints, current: Allocation | None) -> float:
    x = np.array(alloc.as_list(), dtype=float)
    unit = HASH * prices.hash_price + TOKENS * prices.token_price - POWER * prices.energy_price
    value = float(x @ unit)
    if current is not None:
        value -= c.switching_cost * float(np.abs(x - np.array(current.as_list())).sum())
    return value


def feasible_in_brute_terms(alloc: Allocation, limit: float, c: Constraints, current: Allocation | None) -> bool:
    x = np.array(alloc.as_list(), dtype=float)
    used = float(x @ POWER)
    tol = 1e-9 * max(used, limit, 1.0)
    inf = float(x[INFERENCE] @ POWER[INFERENCE])
    checks = [used <= limit + tol]
    checks += [alloc[n] <= c.caps[n] for n in c.caps]
    checks += [alloc[n] == c.locks[n] for n in c.locks]
    if c.min_inference_share is not None:
        checks.append(inf >= c.min_inference_share * used - tol)
    if c.max_inference_share is not None:
        checks.append(inf <= c.max_inference_share * used + tol)
    if c.min_tokens is not None:
        checks.append(x @ TOKENS >= c.min_tokens * (1 - 1e-9) - 1e-9)
    if c.min_hashrate is not None:
        checks.append(x @ HASH >= c.min_hashrate * (1 - 1e-9) - 1e-9)
    if current is not None and c.max_moved is not None:
        checks.append(alloc.moved(current) <= c.max_moved)
    return all(checks)


def random_case(rng: random.Random):
    prices = Prices(TS, rng.uniform(0, 5), rng.uniform(0, 5), rng.uniform(0, 3))
    limit = rng.choice([float(rng.randrange(20_000, 60_001, 500)), rng.uniform(20_000, 60_000)])
    c = Constraints()
    if rng.random() < 0.4:
        c.caps = {n: rng.randint(0, 8) for n in rng.sample(NAMES, rng.randint(1, 5))}
    if rng.random() < 0.3:
        for n in rng.sample(NAMES, rng.randint(1, 2)):
            c.locks[n] = rng.randint(0, min(3, c.caps.get(n, 3)))
    if rng.random() < 0.3:
        c.min_inference_share = round(rng.uniform(0, 1), 2)
    if rng.random() < 0.3:
        low = c.min_inference_share or 0.0
        c.max_inference_share = round(rng.uniform(low, 1), 2)
    if rng.random() < 0.25:
        c.min_tokens = float(rng.randrange(0, 200_000, 1000))
    if rng.random() < 0.25:
        c.min_hashrate = float(rng.randrange(0, 60_000, 500))
    current = None
    if rng.random() < 0.5:
        current = Allocation(*[rng.randint(0, 4) for _ in NAMES])
        if rng.random() < 0.5:
            c.max_moved = rng.randint(0, 10)
        if rng.random() < 0.5:
            c.switching_cost = rng.uniform(0, 20_000)
    return prices, limit, c, current


@pytest.mark.parametrize("cases", [60, pytest.param(600, marks=pytest.mark.slow)])
def test_matches_brute_force_on_random_cases(cases):
    rng = random.Random(20250621)  # the fast tier's 60 cases are the first of the 600
    kinds_seen = {"infeasible": 0, "feasible": 0}
    for case in range(cases):
        prices, limit, c, current = random_case(rng)
        expected = brute(prices, limit, c, current)
        s = solve(prices, limit, c, current)
        where = f"case {case}: {prices}, {limit}, {c}, {current}"
        if expected is None:
            kinds_seen["infeasible"] += 1
            assert not s.feasible, where
            assert s.allocation is None and s.conflicts and s.message, where
            continue
        kinds_seen["feasible"] += 1
        assert s.feasible, where + f" -> {s.message}"
        got = objective(s.allocation, prices, c, current)
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-6), where
        assert feasible_in_brute_terms(s.allocation, limit, c, current), where
        # the reported figures are those of the returned allocation
        x = np.array(s.allocation.as_list(), dtype=float)
        assert s.power_used == pytest.approx(float(x @ POWER))
        assert s.profit == pytest.approx(s.revenue - s.cost)
        assert s.profit - s.switching_cost == pytest.approx(got, rel=1e-9, abs=1e-6)
    assert kinds_seen["infeasible"] >= cases // 30 and kinds_seen["feasible"] >= cases // 2, kinds_seen


def test_unconstrained_optimum_fills_power_with_best_type():
    prices = Prices(TS, 3.0, 4.0, 2.0)  # first point of the real day
    s = solve(prices, 1_000_000)
    # asic earns 50,000*2 - 15,000*3 = 55,000 per 15 kW, the best per kW; 66 fit (990 kW),
    # the last 10 kW go to one immersion miner (10,000*4 - 10,000*3 = 10,000)
    assert s.allocation == Allocation(immersion_miners=1, asic_compute=66)
    assert s.profit == pytest.approx(66 * 55_000 + 10_000)
    assert s.power_used == 1_000_000
    assert any(b.startswith("power limit") for b in s.binding)


def test_worked_example_of_the_api_docs():
    hash_price = 150_596.58 / 100_000
    token_price = 25_528.13 / 30_000
    energy_price = 238_466.36 / 325_000
    prices = Prices(TS, energy_price, hash_price, token_price)
    alloc = Allocation(immersion_miners=10, gpu_compute=30, asic_compute=5)
    assert alloc.power() == 325_000
    assert alloc.profit(prices) == pytest.approx(388_859.15 - 238_466.36, abs=0.05)
    s = solve(prices, 325_000, Constraints(caps={"immersion_miners": 10, "gpu_compute": 30, "asic_compute": 5,
                                                 "air_miners": 0, "hydro_miners": 0}))
    # gpu loses money at these prices (851 - 3,669 per unit), so the optimum drops it
    assert s.allocation == Allocation(immersion_miners=10, asic_compute=5)
    assert s.profit > alloc.profit(prices)


def test_conflicting_lock_is_named_with_numbers():
    prices = Prices(TS, 3.0, 4.0, 2.0)
    s = solve(prices, 1_000_000, Constraints(locks={"asic_compute": 80}))
    assert not s.feasible
    assert s.conflicts == ["exactly 80 ASIC inference needs 1.2 MW, more than the power limit 1 MW"]
    assert "1.2 MW" in s.message


def test_min_tokens_conflict_reports_the_maximum():
    prices = Prices(TS, 3.0, 4.0, 2.0)
    s = solve(prices, 1_000_000, Constraints(min_tokens=5_000_000, caps={"asic_compute": 60}))
    assert not s.feasible
    # the power limit alone already rules it out: 66 asics (990 kW) + 2 gpu = 3,302,000 tokens
    assert s.conflicts == ["at least 5,000,000 tokens cannot be reached: "
                           "power limit 1 MW allows at most 3,302,000 tokens"]
    s = solve(prices, 1_000_000, Constraints(min_tokens=3_100_000, caps={"asic_compute": 60}))
    assert not s.feasible
    # now the cap matters too: 60 asics (900 kW, 3,000,000) + 20 gpu in the last 100 kW (20,000)
    assert len(s.conflicts) == 1
    assert "at least 3,100,000 tokens" in s.conflicts[0] and "allow at most 3,020,000 tokens" in s.conflicts[0]
    assert "power limit 1 MW" in s.conflicts[0] and "at most 60 ASIC inference" in s.conflicts[0]


def test_share_conflict_with_caps_is_irreducible():
    prices = Prices(TS, 1.0, 2.0, 1.0)
    c = Constraints(caps={"gpu_compute": 0, "asic_compute": 0}, min_inference_share=0.5, min_hashrate=1000)
    s = solve(prices, 100_000, c)
    assert not s.feasible
    text = " ".join(s.conflicts)
    assert "inference at least 50% of power" in text and "hashrate" in text
    assert "power limit" not in text  # the power limit plays no part in this conflict


def test_ties_prefer_fewer_units_moved():
    # 2 hydro and 1 immersion have the same power, hashrate and profit
    prices = Prices(TS, 1.0, 2.0, 0.0)
    current = Allocation(hydro_miners=4)
    s = solve(prices, 20_000, Constraints(caps={"air_miners": 0}), current)
    assert s.allocation == Allocation(hydro_miners=4)
    s = solve(prices, 20_000, Constraints(caps={"air_miners": 0}))
    assert s.allocation == Allocation(immersion_miners=2)


def test_zero_profit_types_are_left_off():
    prices = Prices(TS, 1.0, 1.0, 0.4)  # hydro, immersion break even exactly; air, gpu lose; asic earns
    s = solve(prices, 100_000, Constraints(caps={"asic_compute": 2}))
    assert s.allocation == Allocation(asic_compute=2)
    assert s.power_used == 30_000


@pytest.mark.parametrize("kwargs, field", [
    (dict(prices=Prices(TS, -1.0, 1.0, 1.0)), "Energy price"),
    (dict(prices=Prices(TS, 1.0, math.nan, 1.0)), "Hash price"),
    (dict(limit=-5.0), "Power limit (W)"),
    (dict(c=Constraints(caps={"gpu_compute": 2}, locks={"gpu_compute": 3})), "Lock of GPU inference"),
    (dict(c=Constraints(min_inference_share=1.5)), "Minimum inference share"),
    (dict(c=Constraints(min_inference_share=0.6, max_inference_share=0.4)), "Minimum inference share"),
    (dict(c=Constraints(caps={"foo": 1})), "Cap of foo"),
    (dict(c=Constraints(locks={"asic_compute": 1.5})), "Lock of ASIC inference"),
    (dict(c=Constraints(min_tokens=-1)), "Minimum tokens"),
])
def test_invalid_inputs_raise_validation_error(kwargs, field):
    prices = kwargs.get("prices", Prices(TS, 1.0, 1.0, 1.0))
    with pytest.raises(ValidationError) as info:
        solve(prices, kwargs.get("limit", 100_000.0), kwargs.get("c"))
    assert info.value.field == field
    assert str(info.value)


def test_explain_numbers():
    prices = Prices(TS, 3.0, 4.0, 2.0)
    current = Allocation(hydro_miners=5, immersion_miners=10, gpu_compute=30, asic_compute=20)
    s = solve(prices, 1_000_000, None, current)
    ex = explain(s, prices, 1_000_000, None, current, money=Money("$", 5))
    # 1,001 kW: still 66 asic (990 kW) + 1 immersion, the extra kW fits nothing -> worth 0
    assert ex.value_per_kw == pytest.approx(0.0)
    # break-even energy price of asic: 50,000 * 2 / 15,000
    assert ex.break_even["asic_compute"]["break_even_energy_price"] == pytest.approx(100_000 / 15_000)
    # hydro is worth running above hash price 5,000 * 3 / 5,000 = 3
    assert ex.break_even["hydro_miners"]["break_even_hash_price"] == pytest.approx(3.0)
    cur_profit = 5 * 5_000 + 10 * 10_000 + 30 * (2_000 - 15_000) + 20 * 55_000
    assert ex.diff["current_profit"] == pytest.approx(cur_profit)
    assert ex.diff["profit_per_period"] == pytest.approx(3_640_000 - cur_profit)
    assert ex.diff["profit_per_day"] == pytest.approx((3_640_000 - cur_profit) * 288)
    assert ex.diff["units"]["asic_compute"] == 46
    assert 3 <= ex.rationale.count(". ") + 1 <= 6
    assert "$3,667 per kW per period" in ex.rationale  # asic profit per kW: 55,000 / 15
    assert "moves 89 units" in ex.rationale  # to 2 hydro + 66 asic: |2-5| + |0-10| + |0-30| + |66-20|
    # already at the optimum: said in words, not as "moves 0 units ... +$0.00"
    ex = explain(solve(prices, 1_000_000, None, s.allocation), prices, 1_000_000, None, s.allocation)
    assert "It is what the site runs now." in ex.rationale and "moves 0 units" not in ex.rationale


def test_value_of_one_more_kw_against_brute_force():
    prices = Prices(TS, 1.0, 1.5, 0.0)  # hydro/immersion earn 0.5 per W, nothing else pays
    c = Constraints(caps={"immersion_miners": 2})
    s = solve(prices, 47_000, c)
    ex = explain(s, prices, 47_000, c)
    expected = brute(prices, 48_000, c, None) - brute(prices, 47_000, c, None)
    assert ex.value_per_kw == pytest.approx(expected)
    assert ex.value_per_kw_per_day == pytest.approx(expected * 288)


def test_profit_curve_is_optimal_and_flags_mix_changes():
    prices = Prices(TS, 2.0, 1.5, 0.6)
    c = Constraints(caps={"asic_compute": 1})
    df = profit_curve(prices, 40_000, c)
    assert list(df.columns) == ["energy_price", "profit", *NAMES, "mix_change"]
    assert len(df) == 60 and df["energy_price"].iloc[0] == 0 and df["energy_price"].iloc[-1] == pytest.approx(4.0)
    for _, row in df.iloc[::7].iterrows():
        p = Prices(TS, row["energy_price"], 1.5, 0.6)
        assert row["profit"] == pytest.approx(brute(p, 40_000, c, None), rel=1e-9, abs=1e-9)
    assert (np.diff(df["profit"].to_numpy()) <= 1e-9).all()  # dearer energy never raises profit
    mixes = df[NAMES].to_numpy()
    changed = [False] + [bool((mixes[i] != mixes[i - 1]).any()) for i in range(1, len(mixes))]
    assert df["mix_change"].tolist() == changed and any(changed)


def test_joint_output_conflict_counts_the_other_minimum():
    prices = Prices(TS, 3.0, 4.0, 2.0)
    s = solve(prices, 1_000_000, Constraints(min_hashrate=300_000, min_tokens=3_000_000))
    assert not s.feasible
    # 300 kW of miners leave 700 kW: 46 asics (690 kW, 2,300,000) + 2 gpu (2,000)
    assert s.conflicts == ["at least 3,000,000 tokens cannot be reached: power limit 1 MW and "
                           "at least 300,000 hashrate allow at most 2,302,000 tokens"]


def test_binding_constraints_are_named():
    prices = Prices(TS, 3.0, 4.0, 2.0)
    c = Constraints(caps={"asic_compute": 20}, min_tokens=1_000_000, min_inference_share=0.6)
    s = solve(prices, 1_000_000, c)
    # asic is capped at 20 (300 kW, 1,000,000 tokens); a 60% inference share caps the total at 500 kW,
    # so 20 immersion miners fill the rest and 500 kW stay unused
    assert s.allocation == Allocation(immersion_miners=20, asic_compute=20)
    assert set(s.binding) == {"at most 20 ASIC inference", "inference at least 60% of power",
                              "at least 1,000,000 tokens"}
    s = solve(prices, 1_000_000, Constraints(max_moved=10), Allocation(gpu_compute=30))
    assert "at most 10 units moved" in s.binding


def test_explain_and_curve_handle_edge_cases():
    prices = Prices(TS, 3.0, 4.0, 2.0)
    c = Constraints(locks={"asic_compute": 80})
    s = solve(prices, 1_000_000, c)
    ex = explain(s, prices, 1_000_000, c)
    assert ex.rationale == s.message and math.isnan(ex.value_per_kw)
    # free energy: the default range falls back to 1.2x the highest break-even energy price (asic: 100/15)
    df = profit_curve(Prices(TS, 0.0, 4.0, 2.0), 30_000)
    assert df["energy_price"].iloc[-1] == pytest.approx(1.2 * 100_000 / 15_000)
    curve = profit_curve(prices, 1_000_000, c, energy_prices=[1.0, 2.0])
    assert curve["profit"].isna().all() and not curve["mix_change"].any()


def test_next_power_step_is_worth_what_a_whole_machine_adds():
    """At 1 MW one more kW fits no machine; 5 kW more lets a 67th ASIC replace the immersion miner."""
    from datetime import datetime

    from optera.models import Prices
    from optera.optimize import explain, solve

    p = Prices(datetime(2025, 1, 1), 0.6, 1.5, 0.8)
    s = solve(p, 1_000_000)
    e = explain(s, p, 1_000_000)
    asic = 50_000 * 0.8 - 15_000 * 0.6  # 31,000 per unit
    immersion = 10_000 * 1.5 - 10_000 * 0.6  # 9,000 per unit
    assert s.profit == pytest.approx(66 * asic + immersion)
    assert e.value_per_kw == pytest.approx(0.0)
    assert e.next_step_kw == pytest.approx(5.0)
    assert e.next_step_value == pytest.approx(67 * asic - (66 * asic + immersion))
    assert "5 kW more would add $22,000/period ($4,400 per kW per period)" in e.rationale


def test_running_ranges_read_the_curve():
    import pandas as pd

    from optera.optimize import running_ranges

    curve = pd.DataFrame({"energy_price": [0.0, 1.0, 2.0, 3.0], "profit": [9, 6, 3, 0],
                          "air_miners": [0, 0, 0, 0], "hydro_miners": [2, 1, 0, 0], "immersion_miners": [0, 0, 0, 0],
                          "gpu_compute": [0, 0, 0, 0], "asic_compute": [66, 66, 66, 0],
                          "mix_change": [False, True, True, True]})
    ranges = running_ranges(curve)
    assert ranges["asic_compute"] == (0.0, 2.0) and ranges["hydro_miners"] == (0.0, 1.0)
    assert ranges["air_miners"] is None
