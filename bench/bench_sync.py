"""Sync of a year of 5-minute prices (105,120 rows) into an empty DB, and the year's history query."""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from optera.mara import MaraClient
from optera.sim.api import DEMO_KEY, Simulator
from optera.sim.prices import PriceModel
from optera.store import Store
from optera.sync import sync

NOW = datetime(2026, 6, 21, 21, 6)  # a window of exactly 365 x 288 = 105,120 grid points
DAYS = 365


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    rows = []
    _, t = _timed(lambda: PriceModel().array(NOW - timedelta(days=DAYS), NOW))
    rows.append(("PriceModel: generate 365 days (fresh model)", f"{t * 1000:.0f} ms", "105,120 points"))
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulator(state_path=None, now=lambda: NOW, history_days=DAYS)
        client = MaraClient("http://sim", DEMO_KEY, transport=sim.transport())
        payload, t = _timed(client.get_prices)
        rows.append(("GET /prices, 365 days (embedded transport, JSON + validation)", f"{t:.2f} s",
                     f"{len(payload):,} points"))
        store = Store(Path(tmp) / "bench.db")
        result, t = _timed(lambda: sync(client, store))
        assert result.ok, result.message
        rows.append(("sync() into an empty DB (fetch + validate + store)", f"{t:.2f} s",
                     f"{result.new_prices:,} new rows"))
        again, t = _timed(lambda: sync(client, store))
        rows.append(("sync() again (idempotent, nothing new)", f"{t:.2f} s", f"{again.new_prices} new rows"))
        fresh = Store(Path(tmp) / "bench2.db")
        n, t = _timed(lambda: fresh.upsert_prices(payload))
        rows.append(("Store.upsert_prices alone, empty DB", f"{t:.2f} s", f"{n:,} rows"))
        frame, t = _timed(lambda: store.price_history(NOW - timedelta(days=DAYS), NOW))
        rows.append(("Store.price_history over 365 days", f"{t * 1000:.0f} ms", f"{len(frame):,} rows"))
        day, t = _timed(lambda: store.price_history(NOW - timedelta(days=1), NOW))
        rows.append(("Store.price_history over the last day", f"{t * 1000:.1f} ms", f"{len(day)} rows"))
    print("| step | time | size |")
    print("|---|---|---|")
    for name, time_s, size in rows:
        print(f"| {name} | {time_s} | {size} |")


if __name__ == "__main__":
    main()
