"""Backtests, policy replays and the hindsight yardstick on a year of 5-minute intervals.

Run: .venv/bin/python -m bench.bench_backtest
Times are wall-clock and CPU (process) seconds: on a shared machine the CPU time is
the steadier number.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

import optera.policy
from optera.backtest import best_schedule, run_backtest, run_policy
from optera.models import DEFAULT_INVENTORY
from optera.optimize.frontier import _candidates, _directions, _inventory_key, candidates
from optera.policy import Policy
from optera.pricefile import read_prices_csv
from optera.schedule import state_set
from optera.sim.prices import PriceModel

ROOT = Path(__file__).resolve().parents[1]
REAL_DAY = ROOT / "data" / "mara_prices_2025-06-21.csv"
LIMIT = 1_000_000
YEAR = 105_120
SWITCHING_COST = 5_000.0  # per unit moved, per-period money; a bench choice, not a calibrated number
CAPS = {"asic_compute": 20, "immersion_miners": 30, "hydro_miners": 40}


def simulated(days: float, seed: int = 0) -> pd.DataFrame:
    """Days of the simulator's prices (optera.sim.prices.PriceModel), from the real day's start."""
    model = PriceModel(seed=seed)
    start = model.start
    index, values = model.array(start, start + timedelta(days=days) - timedelta(minutes=5))
    stamps = pd.DatetimeIndex([start + timedelta(minutes=5 * int(k)) for k in index], name="timestamp")
    return pd.DataFrame(values, columns=["energy_price", "hash_price", "token_price"], index=stamps)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


class MilpCounter:
    """Counts the policy's calls to solve() (the MILP) during a replay."""

    def __enter__(self):
        self.calls, self._solve = 0, optera.policy.solve

        def counting(*args, **kwargs):
            self.calls += 1
            return self._solve(*args, **kwargs)

        optera.policy.solve = counting
        return self

    def __exit__(self, *exc):
        optera.policy.solve = self._solve


def policies(cost: float) -> list[tuple[str, Policy]]:
    return [
        ("move when one period's gain pays the switch", Policy(switching_cost=cost)),
        ("... within 3 periods (payback 3)", Policy(switching_cost=cost, payback=3)),
        ("+ hold 12 intervals (1 h)", Policy(switching_cost=cost, min_hold=12)),
        ("+ hold 12, act on gains of 5,000/period", Policy(switching_cost=cost, min_hold=12, min_gain=5_000)),
        ("at most 20 units moved per deploy", Policy(switching_cost=cost, max_moved=20)),
        ("at most 1 deploy per hour", Policy(switching_cost=cost, max_deploys_per_hour=1)),
        ("guardrails: hold 6, 20 units, 2/hour, 20 kW headroom",
         Policy(switching_cost=cost, min_hold=6, max_moved=20, max_deploys_per_hour=2, headroom_w=20_000)),
    ]


def strategies(year: pd.DataFrame) -> None:
    _candidates.cache_clear()
    _, build, _ = timed(lambda: candidates(LIMIT))
    print(f"### Strategies: {len(year):,} intervals (a year of 5-minute data), {LIMIT:,} W\n")
    print(f"Candidate set (knapsack DP + hull), built once and cached: {build * 1000:.0f} ms. Candidates: "
          f"{len(candidates(LIMIT))} without caps, {len(candidates(LIMIT, CAPS))} with caps {CAPS}.\n")
    print("| strategy | wall s | CPU s | switches | capture of per-interval optimum |")
    print("|---|---:|---:|---:|---:|")
    first = run_backtest(year.iloc[:1], "optimal", LIMIT).allocation_final
    for label, kw in (("optimal", dict(strategy="optimal")),
                      ("optimal, caps", dict(strategy="optimal", caps=CAPS)),
                      (f"optimal from the first optimum, switching cost {SWITCHING_COST:,.0f}/unit (policy)",
                       dict(strategy="optimal", allocation=first, switching_cost=SWITCHING_COST)),
                      ("optimal, min hold 12 (policy)", dict(strategy="optimal", allocation=first, min_hold=12)),
                      ("hold first-interval optimum", dict(strategy="hold", allocation=first)),
                      ("hindsight (best single allocation)", dict(strategy="hindsight"))):
        r, wall, cpu = timed(lambda kw=kw: run_backtest(year, power_limit=LIMIT, **kw))
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {r.switches:,} | {r.capture:.2%} |")


def yardstick(year: pd.DataFrame) -> None:
    print(f"\n### The yardstick: best schedule in hindsight with switching costs, {len(year):,} intervals\n")
    print("| caps | switching cost/unit | states (candidates) | wall s | CPU s | switches | "
          "capture of per-interval optimum |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    dirs = _directions(_inventory_key(DEFAULT_INVENTORY))
    for caps in (None, CAPS):
        upper = np.array([(caps or {}).get(n, 10**12) for n in ("air_miners", "hydro_miners", "immersion_miners",
                                                                 "gpu_compute", "asic_compute")])
        cand = candidates(LIMIT, caps)
        states = len(state_set(cand, None, False, upper, dirs))
        for cost in (1_000.0, SWITCHING_COST, 20_000.0):
            r, wall, cpu = timed(lambda cost=cost, caps=caps: best_schedule(year, LIMIT, cost, None, caps))
            print(f"| {'fleet' if caps else 'none'} | {cost:,.0f} | {states} ({len(cand)}) | {wall:.2f} | {cpu:.2f} | "
                  f"{r.switches:,} | {r.capture:.2%} |")


def replays(year: pd.DataFrame) -> None:
    print(f"\n### Policy replays: decide() on every one of {len(year):,} intervals, switching cost "
          f"{SWITCHING_COST:,.0f}/unit, from the first interval's optimum\n")
    print("| policy | wall s | CPU s | MILP calls | deploys | capture of the yardstick |")
    print("|---|---:|---:|---:|---:|---:|")
    best = best_schedule(year, LIMIT, SWITCHING_COST).profit
    for label, policy in policies(SWITCHING_COST):
        with MilpCounter() as milp:
            r, wall, cpu = timed(lambda policy=policy: run_policy(year, policy, LIMIT, yardstick=False))
        deploys = int((r.series["action"] == "deploy").sum())
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {milp.calls:,} | {deploys:,} | {r.profit / best:.2%} |")


def captures() -> None:
    real = read_prices_csv(REAL_DAY)
    sim = simulated(30, seed=1)
    print("\n### Capture of the yardstick, real day and 30 simulated days\n")
    print(f"Profit as a share of the best schedule in hindsight with the same switching cost, {LIMIT:,} W, "
          "starting on the first interval's optimum; 30 days of `PriceModel(seed=1)`.\n")
    print("| policy | real day, 1,000/unit | real day, 5,000/unit | 30 days, 1,000/unit | 30 days, 5,000/unit | "
          "30 days, 20,000/unit |")
    print("|---|---:|---:|---:|---:|---:|")
    columns = [(real, 1_000.0), (real, SWITCHING_COST), (sim, 1_000.0), (sim, SWITCHING_COST), (sim, 20_000.0)]
    best = [best_schedule(frame, LIMIT, cost).profit for frame, cost in columns]
    rows: dict[str, list[str]] = {}
    for (frame, cost), top in zip(columns, best):
        for label, policy in policies(cost):
            r = run_policy(frame, policy, LIMIT, yardstick=False)
            rows.setdefault(label, []).append(f"{r.profit / top:.2%} ({int((r.series['action'] == 'deploy').sum())})")
        hold = run_backtest(frame, "hold", LIMIT, allocation=run_backtest(frame.iloc[:1], "optimal",
                                                                          LIMIT).allocation_final)
        rows.setdefault("hold the first interval's optimum", []).append(f"{hold.profit / top:.2%} (0)")
        hind = run_backtest(frame, "hindsight", LIMIT)
        rows.setdefault("best single allocation in hindsight", []).append(f"{hind.profit / top:.2%} (0)")
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n(deploys in brackets)")


def main() -> None:
    year = simulated(365)
    strategies(year)
    yardstick(year)
    replays(year)
    captures()


if __name__ == "__main__":
    main()
