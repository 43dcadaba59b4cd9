"""Backtest speed on a year of 5-minute intervals, and capture of each strategy.

Run: .venv/bin/python -m bench.bench_backtest
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from optera.backtest import run_backtest
from optera.optimize.frontier import _candidates, candidates
from optera.pricefile import read_prices_csv
from optera.models import Allocation

ROOT = Path(__file__).resolve().parents[1]
REAL_DAY = ROOT / "data" / "mara_prices_2025-06-21.csv"
LIMIT = 1_000_000
YEAR = 105_120
SWITCHING_COST = 5_000.0  # per unit moved, per-period units; a bench choice, not a calibrated number
MIN_HOLD = 12


def synthetic(n: int, seed: int = 42) -> pd.DataFrame:
    """Seeded mean-reverting log random walk around the real day's levels."""
    rng = np.random.default_rng(seed)
    real = read_prices_csv(REAL_DAY)
    mean = np.log(real.mean().to_numpy())
    vol = np.log(real).diff().std().to_numpy()
    x = np.empty((n, 3))
    x[0] = mean
    shocks = rng.normal(0, vol, (n, 3))
    for i in range(1, n):
        x[i] = x[i - 1] + 0.02 * (mean - x[i - 1]) + shocks[i]
    index = pd.date_range("2025-06-22", periods=n, freq="5min", name="timestamp")
    return pd.DataFrame(np.exp(x), columns=real.columns, index=index)


def simulated_days(days: int) -> tuple[pd.DataFrame, str]:
    """30 days from the simulator's price model if it exists, else the synthetic walk."""
    try:
        from optera.sim.prices import PriceModel
    except ImportError:
        return synthetic(days * 288, seed=7), "numpy random walk (optera.sim.prices not available)"
    start = datetime(2025, 6, 21, 12, 0)
    points = PriceModel(seed=0).series(start, start + timedelta(days=days) - timedelta(minutes=5))
    frame = pd.DataFrame([p.to_dict() for p in points])
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp")), name="timestamp")
    return frame, "optera.sim.prices.PriceModel(seed=0)"


def runs(prices: pd.DataFrame):
    """The strategies compared; 'hold' keeps the first interval's optimum all along."""
    first = run_backtest(prices.iloc[:1], "optimal", LIMIT).allocation_final
    return [
        ("optimal", dict(strategy="optimal")),
        (f"optimal, switching cost {SWITCHING_COST:,.0f}/unit", dict(strategy="optimal", allocation=first,
                                                                     switching_cost=SWITCHING_COST)),
        (f"optimal, min hold {MIN_HOLD}", dict(strategy="optimal", allocation=first, min_hold=MIN_HOLD)),
        ("hold first-interval optimum", dict(strategy="hold", allocation=first)),
        ("hindsight", dict(strategy="hindsight")),
    ]


def main() -> None:
    year = synthetic(YEAR)
    _candidates.cache_clear()
    t = time.perf_counter()
    run_backtest(year.iloc[:1], "optimal", LIMIT)
    build = time.perf_counter() - t
    print(f"## Backtest speed: {YEAR:,} intervals (one year of 5-minute data), {LIMIT:,} W\n")
    print(f"Candidate set (knapsack DP + hull), built once and cached: {build * 1000:.0f} ms\n")
    print("| strategy | seconds | switches | capture |")
    print("|---|---:|---:|---:|")
    for label, kw in runs(year):
        t = time.perf_counter()
        r = run_backtest(year, power_limit=LIMIT, **kw)
        dt = time.perf_counter() - t
        print(f"| {label} | {dt:.2f} | {r.switches:,} | {r.capture:.2%} |")
    caps = {"asic_compute": 20, "immersion_miners": 30, "hydro_miners": 40}
    _candidates.cache_clear()
    for label, kw in (("optimal, caps (build included)", {}),
                      (f"optimal, caps, switching cost {SWITCHING_COST:,.0f}/unit", {"switching_cost": SWITCHING_COST,
                                                                                      "allocation": Allocation()})):
        t = time.perf_counter()
        r = run_backtest(year, "optimal", LIMIT, caps=caps, **kw)
        dt = time.perf_counter() - t
        print(f"| {label} | {dt:.2f} | {r.switches:,} | {r.capture:.2%} |")
    print(f"\nCandidates: {len(candidates(LIMIT))} without caps, {len(candidates(LIMIT, caps))} with caps {caps}.")

    sim, source = simulated_days(30)
    real = read_prices_csv(REAL_DAY)
    print(f"\n## Capture (profit / sum of per-interval optima), {LIMIT:,} W\n")
    print(f"30 simulated days from {source}.\n")
    print("| strategy | real day 2025-06-21 (110 intervals) | 30 simulated days |")
    print("|---|---:|---:|")
    for (label, kw_real), (_, kw_sim) in zip(runs(real), runs(sim)):
        a = run_backtest(real, power_limit=LIMIT, **kw_real)
        b = run_backtest(sim, power_limit=LIMIT, **kw_sim)
        print(f"| {label} | {a.capture:.2%} ({a.switches} sw.) | {b.capture:.2%} ({b.switches} sw.) |")


if __name__ == "__main__":
    main()
