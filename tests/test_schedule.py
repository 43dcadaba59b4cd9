"""The hindsight yardstick: the best schedule with switching costs, by dynamic programming."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from optera.backtest import best_schedule, run_backtest, run_policy
from optera.models import DEFAULT_INVENTORY, MACHINE_TYPES, Allocation
from optera.optimize.frontier import _directions, _inventory_key, candidates
from optera.policy import Policy
from optera.schedule import state_set
from optera.sim.prices import PriceModel

# The default inventory, written out so the tests do not trust the code's own tables.
POWER = np.array([3500, 5000, 10000, 5000, 15000], dtype=float)
HASH = np.array([1000, 5000, 10000, 0, 0], dtype=float)
TOKENS = np.array([0, 0, 0, 1000, 50000], dtype=float)
NO_CAP = np.full(5, 10**9)


def prices_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2025-06-22", periods=n, freq="5min", name="timestamp")
    return pd.DataFrame({"energy_price": rng.uniform(0.5, 3, n), "hash_price": rng.uniform(0.5, 5, n),
                         "token_price": rng.uniform(0.2, 2, n)}, index=index)


def simulated(days: float, seed: int) -> pd.DataFrame:
    t0 = datetime(2025, 6, 22)
    points = PriceModel(seed=seed).series(t0, t0 + timedelta(days=days) - timedelta(minutes=5))
    frame = pd.DataFrame([p.to_dict() for p in points])
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp")), name="timestamp")
    return frame


def brute_force(frame: pd.DataFrame, allocations: np.ndarray, cost: float, start: np.ndarray | None) -> float:
    """Best total over every sequence of the given allocations, profit less cost per unit moved.

    Enumerates all len(allocations) ** len(frame) sequences, one first allocation at a time.
    """
    profit = np.stack([allocations @ (r.hash_price * HASH + r.token_price * TOKENS - r.energy_price * POWER)
                       for r in frame.itertuples()])  # (T, N)
    moved = np.abs(allocations[:, None, :] - allocations[None, :, :]).sum(axis=2)  # (N, N)
    n, steps = len(allocations), len(frame)
    rest = np.array(list(itertools.product(range(n), repeat=steps - 1)), dtype=np.int64).reshape(-1, steps - 1)
    best = -np.inf
    for first in range(n):
        seq = np.column_stack([np.full(len(rest), first), rest])
        total = profit[np.arange(steps), seq].sum(axis=1) - cost * moved[seq[:, :-1], seq[:, 1:]].sum(axis=1)
        if start is not None:
            total -= cost * np.abs(allocations[first] - start).sum()
        best = max(best, total.max())
    return float(best)


@pytest.mark.parametrize("limit,caps,cost,start", [
    (20_000, None, 2_000.0, None),
    (25_000, {"immersion_miners": 1}, 5_000.0, [2, 1, 0, 0, 0]),
    (30_000, {"asic_compute": 1, "hydro_miners": 2}, 20_000.0, [0, 2, 0, 1, 1]),
    (15_000, None, 50_000.0, [1, 0, 0, 2, 0]),
])
def test_dp_equals_brute_force_over_every_schedule_of_its_states(limit, caps, cost, start):
    frame = prices_frame(4, seed=limit + int(cost))
    s0 = None if start is None else np.array(start)
    r = best_schedule(frame, limit, cost, None if start is None else Allocation(*start), caps)
    cand = candidates(limit, caps)
    upper = np.array([(caps or {}).get(n, 10**9) for n in MACHINE_TYPES])
    fits = s0 is not None and s0 @ POWER <= limit and (s0 <= upper).all()
    states = state_set(cand, s0, fits, upper, _directions(_inventory_key(DEFAULT_INVENTORY)))
    assert len(states) <= 16
    assert r.profit == pytest.approx(brute_force(frame, states, cost, s0), rel=1e-12)
    counts = r.series[list(MACHINE_TYPES)].to_numpy()
    assert {tuple(c) for c in counts} <= {tuple(c) for c in states}


def test_dp_never_beats_any_schedule_and_is_exact_without_switching_cost():
    """Against every schedule of every allocation of a tiny site: never above; equal at cost 0."""
    limit = 20_000
    every = np.array([c for c in itertools.product(*[range(int(limit // p) + 1) for p in POWER])
                      if np.dot(c, POWER) <= limit])
    frame = prices_frame(3, seed=1)
    free = best_schedule(frame, limit, 0.0)
    profit = np.stack([every @ (r.hash_price * HASH + r.token_price * TOKENS - r.energy_price * POWER)
                       for r in frame.itertuples()])
    assert free.profit == pytest.approx(profit.max(axis=1).sum(), rel=1e-12)
    for cost, start in ((3_000.0, None), (10_000.0, np.array([1, 1, 0, 1, 0]))):
        r = best_schedule(frame, limit, cost, None if start is None else Allocation(*(int(v) for v in start)))
        assert r.profit <= brute_force(frame, every, cost, start) + 1e-6


def test_no_switching_cost_is_the_per_interval_optimum():
    frame = simulated(1, seed=4)
    caps = {"asic_compute": 20, "immersion_miners": 30}
    for start in (None, Allocation(hydro_miners=50)):
        r = best_schedule(frame, 1_000_000, 0.0, start, caps)
        opt = run_backtest(frame, "optimal", 1_000_000, caps=caps)
        np.testing.assert_allclose(r.series["profit"], opt.series["profit"], rtol=1e-12, atol=1e-6)
        assert r.switching_cost_paid == 0 and r.capture == pytest.approx(1.0)


def test_a_prohibitive_switching_cost_is_the_best_single_allocation():
    frame = simulated(1, seed=6)
    r = best_schedule(frame, 1_000_000, 1e12)
    hind = run_backtest(frame, "hindsight", 1_000_000)
    assert r.profit == pytest.approx(hind.profit, rel=1e-12)
    assert r.switches == 0 and r.allocation_final == hind.allocation_final
    start = Allocation(hydro_miners=30, asic_compute=10)
    held = best_schedule(frame, 1_000_000, 1e12, start)
    assert held.profit == pytest.approx(run_backtest(frame, "hold", 1_000_000, allocation=start).profit, rel=1e-12)
    assert held.switches == 0


def test_switching_is_paid_per_unit_moved():
    frame = simulated(2, seed=8)
    start = Allocation(air_miners=20, gpu_compute=40)
    r = best_schedule(frame, 1_000_000, 4_000.0, start)
    counts = r.series[list(MACHINE_TYPES)].to_numpy()
    moved = np.abs(np.diff(np.vstack([start.as_list(), counts]), axis=0)).sum()
    assert r.switches >= 2 and r.switching_cost_paid == pytest.approx(4_000.0 * moved)
    gross = (frame["hash_price"].to_numpy() * (counts @ HASH) + frame["token_price"].to_numpy() * (counts @ TOKENS)
             - frame["energy_price"].to_numpy() * (counts @ POWER)).sum()
    assert r.profit == pytest.approx(gross - 4_000.0 * moved, rel=1e-12)
    assert r.yardstick_capture == pytest.approx(1.0)


def test_the_yardstick_is_above_every_policy_at_one_megawatt():
    frame = simulated(2, seed=11)
    for start in (None, Allocation(hydro_miners=50, gpu_compute=10, asic_compute=20)):
        for cost in (0.0, 2_000.0, 20_000.0):
            best = best_schedule(frame, 1_000_000, cost, start).profit
            for policy in (Policy(switching_cost=cost), Policy(switching_cost=cost, min_hold=12, min_gain=1_000),
                           Policy(switching_cost=cost, max_moved=15)):
                r = run_policy(frame, policy, 1_000_000, start, yardstick=False)
                assert r.profit <= best + 1e-9 * abs(best), (start, cost, policy)
