"""One tie-break rule for both optimisers: the frontier's first best is the allocation solve() picks.

Among equally profitable allocations the rule takes the fewest units moved from the
current allocation (none given: the fewest units), then the least power.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optera.backtest import run_backtest
from optera.models import MACHINE_TYPES, Allocation, Inventory, Prices
from optera.optimize import Constraints, solve
from optera.optimize.frontier import candidates, nearest_equivalent
from optera.pricefile import read_prices_csv
from optera.sim.prices import PriceModel

REAL_DAY = Path(__file__).resolve().parents[1] / "data" / "mara_prices_2025-06-21.csv"
# The default inventory, written out so the tests do not trust the code's own tables.
POWER = np.array([3500, 5000, 10000, 5000, 15000], dtype=float)
HASH = np.array([1000, 5000, 10000, 0, 0], dtype=float)
TOKENS = np.array([0, 0, 0, 1000, 50000], dtype=float)
FLEET = {"asic_compute": 20, "immersion_miners": 30, "hydro_miners": 40}
NO_CAP = np.full(5, 10**9)


def inventory(power, hashrate, tokens) -> Inventory:
    names = (("miners", "air"), ("miners", "hydro"), ("miners", "immersion"), ("inference", "gpu"),
             ("inference", "asic"))
    payload: dict = {"miners": {}, "inference": {}}
    for (cat, kind), p, h, t in zip(names, power, hashrate, tokens):
        payload[cat][kind] = {"power": p, "hashrate": h} if cat == "miners" else {"power": p, "tokens": t}
    return Inventory.from_api(payload)


def lexicographic_winner(counts: np.ndarray, profit: np.ndarray, power: np.ndarray,
                         moved: np.ndarray | None = None) -> np.ndarray | None:
    """The rule, by brute force: best profit (within solve()'s tolerance), fewest units (moved), least power.

    None when two different allocations are equal on all three (the rule leaves it open).
    """
    best = profit.max()
    tied = np.nonzero(profit >= best - (1e-9 * max(1.0, abs(best)) + 1e-9))[0]
    second = counts[tied].sum(axis=1) if moved is None else moved[tied]
    order = np.lexsort((power[tied], second))
    a, b = order[0], order[1] if len(order) > 1 else None
    if b is not None and second[a] == second[b] and power[tied][a] == power[tied][b]:
        return None
    return counts[tied[a]]


def all_allocations(limit: float, power: np.ndarray, caps: dict | None = None) -> np.ndarray:
    ub = [min(int(limit // power[i]), (caps or {}).get(n, 10**9)) for i, n in enumerate(MACHINE_TYPES)]
    return np.array([c for c in itertools.product(*[range(u + 1) for u in ub]) if np.dot(c, power) <= limit])


# Pairs of default types whose tie per watt the rule settles (fewer units). Hydro and GPU
# are both 5 kW, so a tie between them (or between immersion, equal per watt to hydro,
# and GPU) is equal on profit, units and power: a tie the rule leaves open.
SETTLED = [(2, 4), (1, 4), (0, 4), (0, 3), (3, 4), (0, 2)]


def tie_prices(rng, kind: int, power, hashrate, tokens, pairs=None) -> tuple[float, float, float]:
    """(hash, token, energy) prices with a tie: two types equal per watt, a type at zero profit, or a zero price."""
    h, t, e = rng.uniform(0.2, 5), rng.uniform(0.2, 4), rng.uniform(0.2, 3)
    i, j = rng.choice(5, 2, replace=False) if pairs is None else pairs[rng.integers(len(pairs))]
    unit_i = h * hashrate[i] + t * tokens[i] - e * power[i]
    if kind == 0:  # j earns per watt what i earns per watt
        if tokens[j] > 0:
            t = (unit_i / power[i] * power[j] + e * power[j] - h * hashrate[j]) / tokens[j]
        else:
            h = (unit_i / power[i] * power[j] + e * power[j] - t * tokens[j]) / hashrate[j]
    elif kind == 1:  # j earns exactly what its power costs
        if tokens[j] > 0:
            t = e * power[j] / tokens[j]
        else:
            h = e * power[j] / hashrate[j]
    elif kind == 2:
        e = 0.0
    elif kind == 3:
        h = 0.0
    elif kind == 4:
        t = 0.0
    return max(h, 0.0), max(t, 0.0), e


def test_equal_compositions_prefer_fewest_units():
    """2 hydro miners and 1 immersion miner are identical in power, hashrate and profit: the rule takes 1 unit."""
    prices = np.array([[6.0, 0.0, 2.0]])  # hash 6, token 0, energy 2: only miners earn
    c = candidates(1_000_000)
    assert list(c.counts[c.best(prices)[0][0]]) == [0, 0, 100, 0, 0]
    c = candidates(1_000_000, {"immersion_miners": 30})
    assert list(c.counts[c.best(prices)[0][0]]) == [0, 140, 30, 0, 0]
    s = solve(Prices(datetime(2025, 6, 21), 2.0, 6.0, 0.0), 1_000_000, Constraints(caps={"immersion_miners": 30}))
    assert s.allocation == Allocation(hydro_miners=140, immersion_miners=30)


def test_candidates_are_ordered_by_units_then_power():
    for caps in (None, FLEET):
        c = candidates(1_000_000, caps)
        key = list(zip(c.counts.sum(axis=1), c.power))
        assert key == sorted(key)


@pytest.mark.parametrize("inv_specs", [
    (POWER, HASH, TOKENS),
    ([1500, 2500, 4000, 3000, 4500], [700, 1300, 2300, 0, 0], [0, 0, 0, 2000, 2900]),
    ([1000, 2000, 3000, 1000, 2000], [1000, 2000, 3000, 0, 0], [0, 0, 0, 500, 1000]),
])
def test_first_best_candidate_is_the_rule_by_brute_force(inv_specs):
    power, hashrate, tokens = (np.array(v, dtype=float) for v in inv_specs)
    inv = inventory(power, hashrate, tokens)
    rng = np.random.default_rng(int(power.sum()))
    checked = 0
    for limit in (2 * power.max(), 3 * power.max() + power.min(), 12 * power.min()):
        for caps in (None, {MACHINE_TYPES[int(rng.integers(5))]: int(rng.integers(0, 3))}):
            every = all_allocations(limit, power, caps)
            c = candidates(limit, caps, inv)
            for trial in range(60):
                h, t, e = tie_prices(rng, trial % 6, power, hashrate, tokens) if trial % 6 < 5 else rng.uniform(0, 4, 3)
                profit = every @ (h * hashrate + t * tokens - e * power)
                want = lexicographic_winner(every, profit, every @ power)
                if want is None:
                    continue
                got = c.counts[c.best(np.array([[h, t, e]]))[0][0]]
                assert list(got) == list(want), (limit, caps, (h, t, e))
                checked += 1
    assert checked > 250


def nearest_by_brute_force(counts, current, upper):
    """Same hashrate and power (hydro/immersion swaps), fewest units moved from current, then fewer units."""
    z = counts[1] + 2 * counts[2]
    options = [np.array([counts[0], z - 2 * k, k, counts[3], counts[4]]) for k in range(z // 2 + 1)
               if z - 2 * k <= upper[1] and k <= upper[2]]
    return min(options, key=lambda o: (np.abs(o - current).sum(), o.sum()))


def test_nearest_equivalent_keeps_what_runs():
    assert list(nearest_equivalent(np.array([0, 0, 1, 0, 66]), np.array([0, 4, 0, 0, 60]), NO_CAP)) == [0, 2, 0, 0, 66]
    rng = np.random.default_rng(4)
    for _ in range(300):
        counts = np.array([rng.integers(0, 4), rng.integers(0, 30), rng.integers(0, 30), 0, rng.integers(0, 5)])
        current = rng.integers(0, 30, 5)
        upper = np.array([99, rng.integers(counts[1], 60), rng.integers(counts[2], 60), 99, 99])
        want = nearest_by_brute_force(counts, current, upper)
        assert list(nearest_equivalent(counts, current, upper)) == list(want)


# ---------------------------------------------------------------- solve() and the backtest agree

def frame_of(points: list[Prices]) -> pd.DataFrame:
    frame = pd.DataFrame([p.to_dict() for p in points])
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp")), name="timestamp")
    return frame


def with_ties(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every third interval moved onto a tie: ASIC per watt = immersion per watt, a zero-profit type, a zero price."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for k in range(0, len(out), 3):
        h, t, e = tie_prices(rng, (k // 3) % 5, POWER, HASH, TOKENS, SETTLED)
        out.iloc[k] = [e, h, t]
    return out


def assert_agree(frame: pd.DataFrame, limit: float, caps: dict | None, start: Allocation | None):
    """Interval by interval, the backtest runs what solve() picks (from the previous allocation, if any)."""
    series = run_backtest(frame, "optimal", limit, allocation=start, caps=caps).series
    got = series[list(MACHINE_TYPES)].to_numpy()
    current = start
    for k, row in enumerate(frame.itertuples()):
        p = Prices(row.Index.to_pydatetime(), row.energy_price, row.hash_price, row.token_price)
        want = solve(p, limit, Constraints(caps=caps or {}), current).allocation
        assert list(got[k]) == want.as_list(), (k, row)
        current = want if start is not None else None


@pytest.mark.parametrize("caps", [None, FLEET])
@pytest.mark.parametrize("start", [None, Allocation(hydro_miners=60, gpu_compute=20, asic_compute=10)])
def test_solve_and_backtest_agree_on_the_real_day(caps, start):
    real = read_prices_csv(REAL_DAY)
    assert_agree(with_ties(real, 1), 1_000_000, caps, start)


@pytest.mark.slow
@pytest.mark.parametrize("caps", [None, FLEET])
@pytest.mark.parametrize("start", [None, Allocation(hydro_miners=60, gpu_compute=20, asic_compute=10)])
def test_solve_and_backtest_agree_on_simulated_days(caps, start):
    t0 = datetime(2025, 6, 22)
    frame = frame_of(PriceModel(seed=3).series(t0, t0 + timedelta(days=2)))
    assert_agree(with_ties(frame, 2), 1_000_000, caps, start)
