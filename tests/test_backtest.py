"""Backtests: exact per-interval optima, strategy accounting, CSV validation."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optera.backtest import compare_strategies, run_backtest
from optera.models import MACHINE_TYPES, Allocation, Inventory
from optera.optimize.frontier import candidates
from optera.pricefile import read_prices_csv

ROOT = Path(__file__).resolve().parents[1]
REAL_DAY = ROOT / "data" / "mara_prices_2025-06-21.csv"

# Unit specs written out here so the tests do not trust the code's own tables.
POWER = {"air_miners": 3500, "hydro_miners": 5000, "immersion_miners": 10000, "gpu_compute": 5000,
         "asic_compute": 15000}
HASH = {"air_miners": 1000, "hydro_miners": 5000, "immersion_miners": 10000, "gpu_compute": 0, "asic_compute": 0}
TOKENS = {"air_miners": 0, "hydro_miners": 0, "immersion_miners": 0, "gpu_compute": 1000, "asic_compute": 50000}


def random_prices(n: int, seed: int, zeros: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    energy = rng.uniform(0, 4, n)
    hash_ = rng.uniform(0, 5, n)
    token = rng.uniform(0, 4, n)
    if zeros:
        energy[::7] = 0.0
        hash_[3::11] = 0.0
        token[5::13] = 0.0
    index = pd.date_range("2025-06-21 12:00", periods=n, freq="5min", name="timestamp")
    return pd.DataFrame({"energy_price": energy, "hash_price": hash_, "token_price": token}, index=index)


def random_walk(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.1, (n, 3))
    levels = np.exp(np.cumsum(steps, axis=0)) * np.array([2.5, 2.5, 2.5])
    index = pd.date_range("2025-01-01", periods=n, freq="5min", name="timestamp")
    return pd.DataFrame(levels, columns=["energy_price", "hash_price", "token_price"], index=index)


def enumerate_allocations(limit, power, hash_, tokens, caps=None):
    """Every integer allocation within the limit and caps: (counts, H, T, P)."""
    caps = caps or {}
    ranges = [range(min(int(limit // power[n]), caps.get(n, 10**9)) + 1) for n in MACHINE_TYPES]
    rows = np.array([c for c in itertools.product(*ranges)
                     if sum(k * power[n] for k, n in zip(c, MACHINE_TYPES, strict=True)) <= limit])
    p = np.array([power[n] for n in MACHINE_TYPES], dtype=float)
    h = np.array([hash_[n] for n in MACHINE_TYPES], dtype=float)
    t = np.array([tokens[n] for n in MACHINE_TYPES], dtype=float)
    return rows, rows @ h, rows @ t, rows @ p


def brute_optimum(prices: pd.DataFrame, limit, caps=None, power=POWER, hash_=HASH, tokens=TOKENS):
    _, h, t, p = enumerate_allocations(limit, power, hash_, tokens, caps)
    profit = (np.outer(prices["hash_price"], h) + np.outer(prices["token_price"], t)
              - np.outer(prices["energy_price"], p))
    return profit.max(axis=1)


@pytest.mark.parametrize("limit,caps", [
    (30_000, None),
    (45_500, None),
    (60_000, None),
    (60_000, {"asic_compute": 1, "immersion_miners": 2}),
    (50_000, {"hydro_miners": 0, "immersion_miners": 1, "gpu_compute": 3}),
    (40_000, {"asic_compute": 0, "gpu_compute": 0}),
])
def test_optimal_equals_brute_force(limit, caps):
    prices = random_prices(300, seed=limit + len(caps or {}))
    expected = brute_optimum(prices, limit, caps)
    r = run_backtest(prices, "optimal", limit, caps=caps)
    assert r.intervals == 300
    np.testing.assert_allclose(r.series["profit"].to_numpy(), expected, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(r.series["optimum_profit"].to_numpy(), expected, rtol=1e-12, atol=1e-6)
    assert r.profit == pytest.approx(expected.sum(), rel=1e-12)
    assert r.capture == pytest.approx(1.0)
    # every chosen allocation is feasible
    counts = r.series[list(MACHINE_TYPES)].to_numpy()
    watts = counts @ np.array([POWER[n] for n in MACHINE_TYPES])
    assert (watts <= limit).all()
    for n, c in (caps or {}).items():
        assert (r.series[n] <= c).all()


def test_optimal_with_an_odd_inventory_equals_brute_force():
    power = {"air_miners": 1500, "hydro_miners": 2500, "immersion_miners": 4000, "gpu_compute": 3000,
             "asic_compute": 4500}
    hash_ = {"air_miners": 700, "hydro_miners": 1300, "immersion_miners": 2300, "gpu_compute": 0, "asic_compute": 0}
    tokens = {"air_miners": 0, "hydro_miners": 0, "immersion_miners": 0, "gpu_compute": 2000, "asic_compute": 2900}
    inventory = Inventory.from_api({
        "miners": {k: {"power": power[f], "hashrate": hash_[f]} for k, f in
                   (("air", "air_miners"), ("hydro", "hydro_miners"), ("immersion", "immersion_miners"))},
        "inference": {k: {"power": power[f], "tokens": tokens[f]} for k, f in
                      (("gpu", "gpu_compute"), ("asic", "asic_compute"))},
    })
    prices = random_prices(400, seed=11)
    for limit, caps in ((21_000, None), (24_500, {"immersion_miners": 2, "gpu_compute": 3})):
        expected = brute_optimum(prices, limit, caps, power, hash_, tokens)
        r = run_backtest(prices, "optimal", limit, caps=caps, inventory=inventory)
        np.testing.assert_allclose(r.series["profit"].to_numpy(), expected, rtol=1e-12, atol=1e-6)


def test_optimal_matches_milp_at_one_megawatt():
    from scipy.optimize import Bounds, LinearConstraint, milp

    prices = random_prices(50, seed=7)
    caps = {"immersion_miners": 40, "asic_compute": 30}
    p = np.array([POWER[n] for n in MACHINE_TYPES], dtype=float)
    h = np.array([HASH[n] for n in MACHINE_TYPES], dtype=float)
    t = np.array([TOKENS[n] for n in MACHINE_TYPES], dtype=float)
    for cap_set in (None, caps):
        r = run_backtest(prices, "optimal", 1_000_000, caps=cap_set)
        upper = np.array([(cap_set or {}).get(n, np.inf) for n in MACHINE_TYPES])
        for k, (_, row) in enumerate(prices.iterrows()):
            gain = row.hash_price * h + row.token_price * t - row.energy_price * p
            res = milp(-gain, integrality=np.ones(5), bounds=Bounds(0, upper),
                       constraints=LinearConstraint(p[None, :], -np.inf, 1_000_000),
                       options={"mip_rel_gap": 0})
            assert res.success
            x = np.round(res.x)
            milp_profit = float(gain @ x)
            got = r.series["profit"].iloc[k]
            assert got >= milp_profit - 1e-6 * max(1.0, abs(milp_profit))
            assert got == pytest.approx(milp_profit, rel=1e-9, abs=1e-6)


def test_hold_and_fixed_equal_hand_calculation():
    prices = pd.DataFrame(
        {"energy_price": [0.73374, 1.0, 0.0], "hash_price": [1.50597, 2.0, 0.5], "token_price": [0.85094, 0.0, 1.5]},
        index=pd.to_datetime(["2025-06-21T13:00", "2025-06-21T13:05", "2025-06-21T13:10"]))
    alloc = Allocation(immersion_miners=10, gpu_compute=30, asic_compute=5)
    # hashrate 100,000; tokens 30,000 + 250,000 = 280,000; power 100,000 + 150,000 + 75,000 = 325,000 W
    rows = [100_000 * 1.50597 + 280_000 * 0.85094 - 325_000 * 0.73374,
            100_000 * 2.0 + 0 - 325_000 * 1.0,
            100_000 * 0.5 + 280_000 * 1.5 - 0]
    for strategy in ("hold", "fixed"):
        r = run_backtest(prices, strategy, 1_000_000, allocation=alloc)
        assert r.profit == pytest.approx(sum(rows), rel=1e-12)
        np.testing.assert_allclose(r.series["profit"], rows, rtol=1e-12)
        assert r.revenue == pytest.approx(100_000 * (1.50597 + 2.0 + 0.5) + 280_000 * (0.85094 + 1.5))
        assert r.cost == pytest.approx(325_000 * 1.73374)
        assert r.switches == 0 and r.allocation_final == alloc
    # the published worked example: revenue 388,859.15, power cost 238,466.36
    first = run_backtest(prices.iloc[:1], "hold", 1_000_000, allocation=alloc)
    assert first.revenue == pytest.approx(388_859.15, rel=2e-5)
    assert first.cost == pytest.approx(238_466.36, rel=2e-5)


def test_fixed_must_be_valid():
    prices = random_prices(10, seed=1)
    with pytest.raises(ValueError, match="over the power limit"):
        run_backtest(prices, "fixed", 100_000, allocation=Allocation(asic_compute=7))
    with pytest.raises(ValueError, match="cap"):
        run_backtest(prices, "fixed", 1_000_000, allocation=Allocation(asic_compute=7), caps={"asic_compute": 6})
    with pytest.raises(ValueError, match="needs an allocation"):
        run_backtest(prices, "fixed", 1_000_000)
    with pytest.raises(ValueError, match="unknown strategy"):
        run_backtest(prices, "magic", 1_000_000)


def test_hindsight_between_fixed_and_optimal():
    prices = random_walk(2000, seed=3)
    limit = 60_000
    hind = run_backtest(prices, "hindsight", limit)
    opt = run_backtest(prices, "optimal", limit)
    assert hind.profit <= opt.profit + 1e-6
    rows, h, t, p = enumerate_allocations(limit, POWER, HASH, TOKENS)
    totals = prices.sum()
    best_fixed = (totals.hash_price * h + totals.token_price * t - totals.energy_price * p).max()
    assert hind.profit == pytest.approx(best_fixed, rel=1e-12)
    rng = np.random.default_rng(0)
    for k in rng.choice(len(rows), 25, replace=False):
        alloc = Allocation(**dict(zip(MACHINE_TYPES, map(int, rows[k]), strict=True)))
        fixed = run_backtest(prices, "fixed", limit, allocation=alloc)
        assert hind.profit >= fixed.profit - 1e-6
    assert hind.switches == 0 and (hind.series[list(MACHINE_TYPES)].nunique() == 1).all()


def test_switching_cost_lowers_switches_and_is_accounted():
    prices = random_walk(3000, seed=5)
    start = Allocation(hydro_miners=50)
    free = run_backtest(prices, "optimal", 1_000_000, allocation=start)
    costly = run_backtest(prices, "optimal", 1_000_000, allocation=start, switching_cost=20_000.0)
    assert free.switches > 0
    assert costly.switches < free.switches
    counts = costly.series[list(MACHINE_TYPES)].to_numpy()
    prev = np.vstack([start.as_list(), counts[:-1]])
    moved = np.abs(counts - prev).sum(axis=1)
    assert costly.switches == int((moved > 0).sum())
    assert costly.switching_cost_paid == pytest.approx(20_000.0 * moved.sum())
    gross = costly.series["revenue"].sum() - costly.series["cost"].sum()
    assert costly.profit == pytest.approx(gross - costly.switching_cost_paid)
    assert costly.profit <= costly.optimum_profit + 1e-6
    assert free.switching_cost_paid == 0


def test_min_hold_respected():
    prices = random_walk(2000, seed=9)
    r = run_backtest(prices, "optimal", 1_000_000, allocation=Allocation(), min_hold=12)
    counts = r.series[list(MACHINE_TYPES)].to_numpy()
    prev = np.vstack([[0] * 5, counts[:-1]])
    switch_at = np.nonzero(np.abs(counts - prev).sum(axis=1) > 0)[0]
    assert len(switch_at) >= 2
    assert (np.diff(switch_at) >= 12).all()
    free = run_backtest(prices, "optimal", 1_000_000, allocation=Allocation())
    assert r.switches < free.switches


def test_capture_and_empty_window():
    prices = random_walk(500, seed=2)
    hold = run_backtest(prices, "hold", 1_000_000, allocation=Allocation(air_miners=100))
    assert hold.capture == pytest.approx(hold.profit / hold.series["optimum_profit"].sum())
    assert hold.capture < 1.0
    cum = hold.series["cum_profit"].to_numpy()
    assert cum[-1] == pytest.approx(hold.profit)
    nothing = prices.assign(hash_price=0.0, token_price=0.0)
    r = run_backtest(nothing, "optimal", 1_000_000)
    assert r.optimum_profit == 0 and r.profit == 0 and r.capture is None
    with pytest.raises(ValueError, match="no price data in the chosen window"):
        run_backtest(prices.iloc[:0], "optimal", 1_000_000)


def test_compare_strategies():
    prices = random_walk(800, seed=4)
    current = Allocation(immersion_miners=40, asic_compute=20)
    table = compare_strategies(prices, 1_000_000, current, switching_cost=20.0)
    assert list(table["strategy"]) == ["optimal", "optimal (switching cost)", "hold current", "hindsight",
                                       "best schedule"]
    for col in ("strategy", "profit", "revenue", "cost", "switches", "capture", "schedule_capture"):
        assert col in table.columns
    by = table.set_index("strategy")
    assert by.loc["optimal", "capture"] == pytest.approx(1.0)
    assert by.loc["optimal", "profit"] >= by.loc["hindsight", "profit"] - 1e-6
    hold_hand = sum((40 * 10_000 * r.hash_price + 20 * 50_000 * r.token_price - 700_000 * r.energy_price)
                    for r in prices.itertuples())
    assert by.loc["hold current", "profit"] == pytest.approx(hold_hand, rel=1e-10)
    assert by.loc["hold current", "switches"] == 0
    # the yardstick pays the same switching cost, so it beats every row that pays it too
    best = by.loc["best schedule", "profit"]
    for row in ("optimal (switching cost)", "hold current", "hindsight"):
        assert by.loc[row, "profit"] <= best + 1e-6 * abs(best)
        assert by.loc[row, "schedule_capture"] == pytest.approx(by.loc[row, "profit"] / best)
    assert by.loc["best schedule", "schedule_capture"] == pytest.approx(1.0)


def test_candidates_are_feasible_and_cached():
    c = candidates(1_000_000, {"asic_compute": 10})
    watts = c.counts @ np.array([POWER[n] for n in MACHINE_TYPES])
    assert (watts <= 1_000_000).all() and (c.counts[:, 4] <= 10).all()
    assert candidates(1_000_000, {"asic_compute": 10}) is c


# ---------------------------------------------------------------- CSV

def csv(text: str) -> io.StringIO:
    return io.StringIO(text)


HEADER = "timestamp,energy_price,hash_price,token_price\n"


def test_real_hackathon_day_loads():
    df = read_prices_csv(REAL_DAY)
    assert len(df) == 110
    assert df.index[0] == pd.Timestamp("2025-06-21T12:00:00")
    assert df.index[-1] == pd.Timestamp("2025-06-21T21:05:00")
    assert df.index.is_monotonic_increasing
    assert df.iloc[0].to_dict() == {"energy_price": 3.0, "hash_price": 4.0, "token_price": 2.0}
    r = run_backtest(df, "optimal", 1_000_000)
    assert r.intervals == 110 and r.capture == pytest.approx(1.0)


def test_csv_sorted_deduplicated_and_timezones():
    df = read_prices_csv(csv(HEADER + "2025-06-21T12:05:00Z,1,2,3\n2025-06-21T12:00:00,1,1,1\n"
                                      "2025-06-21T14:05:00+02:00,9,9,9\n"))
    assert list(df.index) == [pd.Timestamp("2025-06-21T12:00"), pd.Timestamp("2025-06-21T12:05")]
    assert df.iloc[1].tolist() == [9.0, 9.0, 9.0]  # duplicate timestamp: the last row wins


@pytest.mark.parametrize("body,expected", [
    ("timestamp,energy_price,hash_price\n2025-06-21T12:00,1,2\n", "token_price"),
    (HEADER + "2025-06-21T12:00,1,2,3\n2025-06-21T12:05,1,2,3\nyesterday,1,2,3\n", "row 3.*timestamp"),
    (HEADER + "2025-06-21T12:00,1,2,3\n2025-06-21T12:05,1,,3\n", "row 2.*hash_price.*missing"),
    (HEADER + "2025-06-21T12:00,1,2,abc\n", "row 1.*token_price.*not a number"),
    (HEADER + "2025-06-21T12:00,1,2,3\n2025-06-21T12:05,-0.5,2,3\n", "row 2.*energy_price.*negative"),
    (HEADER + "2025-06-21T12:00,NaN,2,3\n", "row 1.*energy_price"),
    (HEADER + "2025-06-21T12:00,inf,2,3\n", "row 1.*energy_price.*finite"),
    (HEADER, "no price data"),
    ("", "empty"),
])
def test_csv_validation_messages(body, expected):
    with pytest.raises(ValueError, match=expected):
        read_prices_csv(csv(body))


def test_switching_choice_follows_the_policy_rule():
    """Each interval: the target is the most profitable allocation (fewest units moved, then least power);
    it is deployed when its gain in one period beats the switching cost, and held at least min_hold intervals."""
    limit, sc, hold = 40_000, 3_000.0, 3
    prices = random_walk(300, seed=8)
    start = Allocation(air_miners=2, gpu_compute=1)
    r = run_backtest(prices, "optimal", limit, allocation=start, switching_cost=sc, min_hold=hold)
    every, _, _, watts = enumerate_allocations(limit, POWER, HASH, TOKENS)
    unit = np.array([[HASH[n], TOKENS[n], -POWER[n]] for n in MACHINE_TYPES])
    cur, since = np.array(start.as_list()), None
    for k, row in enumerate(prices.itertuples()):
        if since is None or since >= hold:
            profit = every @ (unit @ [row.hash_price, row.token_price, row.energy_price])
            moved = np.abs(every - cur).sum(axis=1)
            tied = np.nonzero(profit >= profit.max() - 1e-9 * max(1.0, abs(profit.max())) - 1e-9)[0]
            target = every[tied[np.lexsort((watts[tied], moved[tied]))[0]]]
            gain = (target - cur) @ unit @ [row.hash_price, row.token_price, row.energy_price]
            if (target != cur).any() and gain - sc * np.abs(target - cur).sum() > 0:
                cur, since = target, 0
        since = None if since is None else since + 1
        got = r.series[list(MACHINE_TYPES)].iloc[k].to_numpy()
        assert (got == cur).all(), k
    assert r.switching_cost_paid == pytest.approx(sc * np.abs(np.diff(np.vstack([start.as_list(), r.series[
        list(MACHINE_TYPES)].to_numpy()]), axis=0)).sum())


def test_zero_power_limit_and_all_caps_zero_run_nothing():
    prices = random_prices(20, seed=3)
    for r in (run_backtest(prices, "optimal", 0), run_backtest(prices, "optimal", 1_000_000,
                                                                 caps={n: 0 for n in MACHINE_TYPES})):
        assert r.profit == 0 and (r.series[list(MACHINE_TYPES)] == 0).all().all()
