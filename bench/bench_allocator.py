"""Optimiser latency, and profit captured on the real hackathon day by four strategies."""

from __future__ import annotations

import random
import statistics
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from optera.models import MACHINE_TYPES, Allocation, Prices
from optera.optimize import Constraints, solve
from optera.optimize.repair import proportional_scale

DAY = Path(__file__).resolve().parent.parent / "data" / "mara_prices_2025-06-21.csv"
LIMIT = 1_000_000.0
FALLBACK = Allocation(hydro_miners=5, immersion_miners=10, gpu_compute=30, asic_compute=20)
PROTOTYPE_REQUEST = {"air_miners": 100, "hydro_miners": 80, "immersion_miners": 60, "gpu_compute": 100,
                     "asic_compute": 40}


def _random_case(rng: random.Random):
    prices = Prices(datetime(2025, 6, 21), rng.uniform(0.5, 4), rng.uniform(0.5, 5), rng.uniform(0.5, 4))
    c = Constraints(caps={n: rng.randint(0, 120) for n in rng.sample(MACHINE_TYPES, rng.randint(1, 5))})
    if rng.random() < 0.3:
        n = rng.choice(MACHINE_TYPES)
        c.locks = {n: rng.randint(0, min(10, c.caps.get(n, 10)))}
    if rng.random() < 0.4:
        c.min_inference_share = round(rng.uniform(0, 0.6), 2)
        c.max_inference_share = round(rng.uniform(c.min_inference_share, 1), 2)
    if rng.random() < 0.3:
        c.min_tokens = float(rng.randrange(0, 2_000_000, 1000))
    if rng.random() < 0.3:
        c.min_hashrate = float(rng.randrange(0, 500_000, 1000))
    current = Allocation(*[rng.randint(0, 30) for _ in MACHINE_TYPES])
    if current.power() > LIMIT:
        current = Allocation()
    if rng.random() < 0.5:
        c.max_moved = rng.randint(0, 60)
        c.switching_cost = rng.uniform(0, 2000)
    return prices, c, current


def latency(cases: int = 1000) -> dict:
    rng = random.Random(1)
    inputs = [_random_case(rng) for _ in range(cases)]
    solve(*inputs[0][:1], LIMIT)  # warm imports
    feasible, infeasible, cpu = [], [], []
    for prices, c, current in inputs:
        t, t_cpu = time.perf_counter(), time.process_time()
        s = solve(prices, LIMIT, c, current)
        (feasible if s.feasible else infeasible).append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - t_cpu) * 1000)
    times = sorted(feasible + infeasible)
    return {
        "median_cpu_ms": statistics.median(cpu),
        "cases": cases, "feasible": len(feasible), "infeasible": len(infeasible),
        "median_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))],
        "median_feasible_ms": statistics.median(feasible) if feasible else float("nan"),
        "median_infeasible_ms": statistics.median(infeasible) if infeasible else float("nan"),
    }


def capture(caps: dict[str, int] | None = None) -> dict[str, float]:
    """Each strategy's summed profit over the day as a share of the per-interval optimum's."""
    df = pd.read_csv(DAY, parse_dates=["timestamp"])
    points = [Prices(r.timestamp.to_pydatetime(), r.energy_price, r.hash_price, r.token_price)
              for r in df.itertuples()]
    optimum = [solve(p, LIMIT, Constraints(caps=dict(caps or {}))) for p in points]
    first = optimum[0].allocation
    scaled = proportional_scale(PROTOTYPE_REQUEST, LIMIT)
    total = sum(s.profit for s in optimum)
    strategies = {
        "Optera (per-interval optimum)": [s.profit for s in optimum],
        f"fixed fallback {FALLBACK.as_list()}": [FALLBACK.profit(p) for p in points],
        f"proportional scaling of prototype -> {scaled.as_list()}": [scaled.profit(p) for p in points],
        f"hold first interval's optimum {first.as_list()}": [first.profit(p) for p in points],
    }
    return {"intervals": len(points), "optimum_total": total,
            **{name: sum(v) / total for name, v in strategies.items()}}


def main() -> None:
    lat = latency()
    print("| solve latency (1,000 random constrained cases, 1 MW) | value |")
    print("|---|---|")
    print(f"| median | {lat['median_ms']:.2f} ms |")
    print(f"| p99 | {lat['p99_ms']:.2f} ms |")
    print(f"| median CPU time (process, all threads) | {lat['median_cpu_ms']:.2f} ms |")
    print(f"| median feasible ({lat['feasible']}) | {lat['median_feasible_ms']:.2f} ms |")
    print(f"| median infeasible with conflict search ({lat['infeasible']}) | {lat['median_infeasible_ms']:.2f} ms |")
    for title, caps in (("no caps", None), ("caps = the prototype's fleet", PROTOTYPE_REQUEST)):
        cap = capture(caps)
        print()
        print(f"| strategy on {DAY.name} ({cap['intervals']} intervals, 1 MW, {title}) | profit captured |")
        print("|---|---|")
        for name, share in cap.items():
            if name not in ("intervals", "optimum_total"):
                print(f"| {name} | {share:.1%} |")
        print(f"\nPer-interval optimum total: {cap['optimum_total']:,.0f} (sum of per-period profits).")


if __name__ == "__main__":
    main()
