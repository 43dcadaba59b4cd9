"""The autopilot's loop: time per decision, per tick, and for a simulated day on a ManualClock.

Run: .venv/bin/python -m bench.bench_autopilot
A tick is sync (GET /prices, /inventory, /sites, /machines into SQLite) + decide() +
the record (+ in live mode the deploy: fresh limit, audit intent, PUT, read-back,
outcome). The simulator runs in process on the same ManualClock, so a day of
288 five-minute decisions takes seconds of wall time; its cost is the sync, which
grows with the history the source returns on each GET /prices.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from optera.autopilot.loop import Autopilot
from optera.clock import ManualClock
from optera.config import load_settings
from optera.mara import MaraClient
from optera.models import Allocation
from optera.policy import Policy, PolicyState, decide
from optera.service import Service
from optera.sim.api import DEMO_KEY, Simulator
from optera.store import Store

T0 = datetime(2025, 6, 23, 0, 0, 10)
POLICY = Policy(switching_cost=500, payback=3, min_hold=3, max_moved=40, max_deploys_per_hour=4, headroom_w=20_000)


def rig(tmp: Path, history_days: float) -> tuple[ManualClock, Service]:
    clock = ManualClock(T0)
    sim = Simulator(state_path=tmp / "sim.json", now=clock.now, history_days=history_days)
    client = MaraClient("http://sim.test", DEMO_KEY, transport=sim.transport(), retries=1, backoff=0)
    return clock, Service(load_settings({"OPTERA_DB": str(tmp / "bench.db")}), client, Store(tmp / "bench.db"))


def decide_alone() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _, svc = rig(Path(tmp), 1)
        svc.refresh()
        prices, current = svc.latest_prices(), Allocation(hydro_miners=60, gpu_compute=20, asic_compute=10)
        for policy, label in ((POLICY, "guardrails (max 40 units moved)"), (Policy(switching_cost=500), "no limits")):
            times = []
            for _ in range(200):
                start = time.perf_counter()
                decide(policy, prices, current, PolicyState(), 1_000_000)
                times.append(time.perf_counter() - start)
            print(f"| decide() alone, {label} | {statistics.median(times) * 1e3:.2f} ms | "
                  f"{max(times) * 1e3:.2f} ms | 200 calls |")


def day(history_days: float, live: bool) -> None:
    """288 decisions through run(): the wall time of the day, and of each tick within it."""
    with tempfile.TemporaryDirectory() as tmp:
        clock, svc = rig(Path(tmp), history_days)
        pilot = Autopilot(svc, POLICY, live=live, clock=clock)
        ticks: list[float] = []
        tick = pilot.tick

        def timed_tick(force: bool = True):
            start = time.perf_counter()
            out = tick(force)
            ticks.append(time.perf_counter() - start)
            return out

        pilot.tick = timed_tick
        start = time.perf_counter()
        pilot.run(ticks=288)
        wall = time.perf_counter() - start
        deploys = sum(1 for r in svc.autopilot_decisions(1000) if r["action"] == "deploy")
    print(f"| a simulated day ({len(ticks)} ticks), {'live' if live else 'dry run'}, the source returns "
          f"{history_days:g} d of prices per sync | median tick {statistics.median(ticks) * 1e3:.1f} ms | "
          f"{wall:.2f} s the day | {deploys} deploys |")


def main() -> None:
    print("| what | per call or tick | worst or total | n |")
    print("|---|---:|---:|---:|")
    decide_alone()
    for history, live in ((0.05, False), (0.05, True), (1, True), (7, True)):
        day(history, live)


if __name__ == "__main__":
    main()
