"""Ledger speed on a year of 5-minute prices with a status read every interval.

Run: .venv/bin/python -m bench.bench_ledger

The store holds 105,120 price points (the simulator's PriceModel, as the backtest
bench) and 70,080 status snapshots, one per interval with the app closed every night
from 22:00 to 06:00 UTC (so the ledger has gaps to state), and a deploy every day at 12:02:30 (one in ten refused),
at a 1 MW site. Times are the median of five runs, each reading the database afresh;
CPU time is printed beside wall time because a busy machine inflates the latter.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from bench.bench_backtest import YEAR, simulated
from optera import ledger
from optera.models import Allocation, Prices
from optera.store import Store
from optera.vocabulary import MACHINE_TYPES

LIMIT = 1_000_000
RUNS = 5


def fill(store: Store) -> None:
    prices = simulated(YEAR / 288)
    store.upsert_prices(Prices(t.to_pydatetime(), *row) for t, row in zip(prices.index, prices.to_numpy()))
    store.set_site("bench", LIMIT)
    rng = np.random.default_rng(3)
    start = prices.index[0].to_pydatetime()
    current = Allocation(hydro_miners=50, asic_compute=30)
    snaps = []
    for i in range(YEAR):
        at = start + timedelta(minutes=5 * i, seconds=17)
        if at.hour >= 22 or at.hour < 6:
            continue
        snaps.append({"fetched_at": at.isoformat(), **current.to_dict(),
                      **{f"power_{n}": 0.0 for n in MACHINE_TYPES}, **{f"revenue_{n}": 0.0 for n in MACHINE_TYPES},
                      "total_power_used": 0.0, "total_power_cost": 0.0, "total_revenue": 0.0})
        if at.hour == 12 and at.minute == 0:
            target = Allocation(hydro_miners=int(rng.integers(0, 100)), asic_compute=int(rng.integers(0, 30)))
            refused = rng.random() < 0.1
            store.record_deployment(action="deploy", requested=target, previous=current,
                                    result="refused" if refused else "ok", message="",
                                    readback=None if refused else target, at=at + timedelta(minutes=2, seconds=13))
            current = current if refused else target
    store.db["snapshots"].insert_all(snaps, batch_size=5000)


def timed(fn) -> tuple[float, float]:
    """Median wall and CPU seconds (CPU time is the fairer number on a shared, busy machine)."""
    wall, cpu = [], []
    for _ in range(RUNS):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        t = time.perf_counter()
        fill(store)
        print(f"Store filled in {time.perf_counter() - t:.1f} s: {store.price_count():,} prices, "
              f"{store.db.execute('select count(*) from snapshots').fetchone()[0]:,} snapshots, "
              f"{store.db.execute('select count(*) from deployments').fetchone()[0]:,} deploys.\n")
        ledger.build(store, by="day")  # warm the candidate cache, as a running app has it
        first, last = store.price_range()
        month = last - timedelta(days=30)
        cases = [("year by day", lambda: ledger.build(store, by="day")),
                 ("year by hour", lambda: ledger.build(store, by="hour")),
                 ("year by week", lambda: ledger.build(store, by="week")),
                 ("year, pnl_json by day", lambda: ledger.pnl_json(store, by="day")),
                 ("last 30 days by day", lambda: ledger.build(store, month, by="day")),
                 ("Overview windows (recent)", lambda: ledger.recent(store, now=last + timedelta(minutes=5))),
                 ("last deploy", lambda: ledger.last_deploy(store))]
        print(f"| case | wall, median of {RUNS} (ms) | CPU, median of {RUNS} (ms) |")
        print("|---|---:|---:|")
        for label, fn in cases:
            wall, cpu = timed(fn)
            print(f"| {label} | {wall * 1000:,.0f} | {cpu * 1000:,.0f} |")
        year = ledger.build(store, by="day")
        print(f"\nYear: {year.total.intervals:,} intervals counted, {year.total.left_out:,} left out, "
              f"{len(year.rows)} day rows, {len(year.assumptions)} assumption lines, capture "
              f"{year.total.capture:.1%}.")
        store.close()


if __name__ == "__main__":
    main()
