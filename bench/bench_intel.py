"""Timing of the intel computations, the forecast and BTC metrics on a year of 5-minute prices.

Run: .venv/bin/python -m bench.bench_intel
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from optera.intel import metrics as intel
from optera.intel.btc import BtcMarket, btc_metrics, read_shipped
from optera.intel.forecast import backtest_error, forecast_prices

ROWS = 365 * 288  # 105,120 five-minute points


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


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


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
        ("forecast_prices (3 prices, h=12, 7-day window, 20 origins)", lambda: forecast_prices(prices)),
        ("backtest_error (1 price, full year, 50 origins)",
         lambda: backtest_error(prices["energy_price"].to_numpy(), 12, 50)),
        ("btc_metrics (4,092 shipped daily bars)", lambda: btc_metrics(market)),
    ]
    print(f"Intel and forecast over {len(prices):,} five-minute price rows (best of 3)\n")
    print("| computation | ms |")
    print("|---|---:|")
    for name, fn in cases:
        print(f"| {name} | {timed(fn):.1f} |")


if __name__ == "__main__":
    main()
