"""Timing of the intel computations, the forecast and BTC metrics on a year of 5-minute prices,
then how well the forecast's 90 % intervals cover out of sample, fitted on log prices or on prices.

Run: .venv/bin/python -m bench.bench_intel
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from optera.intel import metrics as intel
from optera.intel.btc import BtcMarket, btc_metrics, read_shipped
from optera.intel.forecast import backtest_error, fit, forecast_prices, predict
from optera.sim.prices import PriceModel

ROWS = 365 * 288  # 105,120 five-minute points
WEEK = 7 * 288  # what the Intel page forecasts from


def year_of_prices(seed: int = 0) -> pd.DataFrame:
    """Mean-reverting log random walks around the hackathon day's price levels."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2025-06-21 12:00", periods=ROWS, freq="5min", name="timestamp")
    out = {}
    for name, base in (("energy_price", 1.7), ("hash_price", 1.6), ("token_price", 1.7)):
        shocks = rng.normal(0, 0.02, ROWS)
        logs = lfilter([1.0], [1.0, -0.995], shocks)  # AR(1): x_t = 0.995 x_{t-1} + e_t
        out[name] = base * np.exp(logs)
    return pd.DataFrame(out, index=index)


def simulator_weeks(count: int = 6) -> list[np.ndarray]:
    """Consecutive weeks of the embedded simulator's prices (n x 3)."""
    model, start = PriceModel(), datetime(2025, 7, 1)
    return [model.array(start + timedelta(days=7 * k), start + timedelta(days=7 * (k + 1), minutes=-5))[1]
            for k in range(count)]


def local_level(seed: int) -> np.ndarray:
    """A slowly moving level under large noise: smoothing's alpha is small (about 0.06)."""
    rng = np.random.default_rng(seed)
    return 10 * np.exp(np.cumsum(rng.normal(0, 0.002, WEEK)) + rng.normal(0, 0.03, WEEK))


def calibration(prices: pd.DataFrame) -> None:
    """Mean out-of-sample coverage of the 90 % interval (100 origins x 12 steps per series)."""
    sources = {"simulator, 6 weeks x 3 prices": [w[:, j] for w in simulator_weeks() for j in range(3)],
               "synthetic AR(1), 4 weeks x 3 prices": [prices[c].to_numpy()[k * 5 * WEEK:(k * 5 + 1) * WEEK]
                                                       for k in range(4) for c in prices],
               "real hackathon day, 110 points x 3": list(PriceModel().real_values.T),
               "local level (alpha ~0.06), 6 series": [local_level(seed) for seed in range(6)]}
    print("\n| series | coverage, log fit | coverage, price fit | price fit's 1-hour lower bound at 0 "
          "| MAE / naive MAE, log fit |")
    print("|---|---:|---:|---:|---:|")
    for name, series in sources.items():
        on_logs = [backtest_error(x, 12, 100, log=True) for x in series]
        on_prices = [backtest_error(x, 12, 100, log=False) for x in series]
        at_zero = sum(predict(fit(x, log=False), 12)[1][-1] == 0 for x in series)
        ratio = np.mean([e["model_mae"] / e["naive_mae"] for e in on_logs])
        print(f"| {name} | {np.mean([e['coverage'] for e in on_logs]):.3f} "
              f"| {np.mean([e['coverage'] for e in on_prices]):.3f} | {at_zero} of {len(series)} | {ratio:.3f} |")


def timed(fn, repeat: int = 5) -> tuple[float, float]:
    """Best wall and best CPU milliseconds: CPU time tells the work apart from a busy machine."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    return wall * 1000, cpu * 1000


def main() -> None:
    prices = year_of_prices()
    btc = read_shipped()
    btc_year = btc.iloc[-365:].copy()
    btc_year.index = pd.date_range(prices.index[0].normalize(), periods=len(btc_year), freq="D", name="Date")
    market = BtcMarket(daily=btc, intraday=None, source="shipped", as_of=None, message="")
    cases = [
        ("unit_profit", lambda: intel.unit_profit(prices)),
        ("profit_per_kw", lambda: intel.profit_per_kw(prices)),
        ("best_type_timeline", lambda: intel.best_type_timeline(prices)),
        ("break_even_energy", lambda: intel.break_even_energy(prices)),
        ("share_worth_running", lambda: intel.share_worth_running(prices)),
        ("summary_stats", lambda: intel.summary_stats(prices)),
        ("correlations (1D, 365 points)", lambda: intel.correlations(prices, btc_year, "1D")),
        ("forecast_prices (3 prices x 7 days, h=12, 20 origins: the Intel page)",
         lambda: forecast_prices(prices.iloc[-WEEK:])),
        ("forecast_prices (3 prices, a year: 7-day fit windows, 20 origins)", lambda: forecast_prices(prices)),
        ("backtest_error (1 price, full year, 50 origins)",
         lambda: backtest_error(prices["energy_price"].to_numpy(), 12, 50)),
        ("btc_metrics (4,092 shipped daily bars)", lambda: btc_metrics(market)),
    ]
    print(f"Intel and forecast over {len(prices):,} five-minute price rows (best of 5)\n")
    print("| computation | ms | CPU ms |")
    print("|---|---:|---:|")
    for name, fn in cases:
        wall, cpu = timed(fn)
        print(f"| {name} | {wall:.1f} | {cpu:.1f} |")
    calibration(prices)


if __name__ == "__main__":
    main()
