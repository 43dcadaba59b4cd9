"""Server-side page render times (AppTest) with 7 and 365 days of 5-minute history, and app start-up time.

Run: .venv/bin/python -m bench.bench_pages
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


def _offline(period, interval):
    raise ConnectionError("benchmark runs offline")


def _fill(db_path: Path, days: float) -> int:
    """A store with `days` of simulator prices up to now, a site, an inventory, a snapshot, a fresh sync."""
    from optera.models import DEFAULT_INVENTORY, MACHINE_TYPES, Allocation, SiteStatus
    from optera.sim.prices import PriceModel
    from optera.store import Store, utcnow

    store = Store(db_path)
    end = utcnow()
    series = PriceModel().series(end - timedelta(days=days), end)
    store.upsert_prices(series)
    store.set_site("optera-demo", 1_000_000.0)
    store.set_inventory(DEFAULT_INVENTORY)
    alloc = Allocation(hydro_miners=40, immersion_miners=20, gpu_compute=30, asic_compute=10)
    p = series[-1]
    power = {n: alloc[n] * DEFAULT_INVENTORY[n].power for n in MACHINE_TYPES}
    revenue = {n: alloc[n] * DEFAULT_INVENTORY[n].unit_revenue(p) for n in MACHINE_TYPES}
    store.add_snapshot(SiteStatus(alloc, power, revenue, sum(power.values()),
                                  sum(power.values()) * p.energy_price, sum(revenue.values()), p.timestamp))
    store.log_sync(True, len(series), "benchmark fill")  # the app sees fresh data and does not sync
    store.close()
    return len(series)


def _timed_run(at) -> float:
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    if at.exception:
        raise RuntimeError("; ".join(str(e.value)[:200] for e in at.exception))
    return elapsed


def _page_times(db: Path, page: str | None, warm_runs: int = 3) -> tuple[float, float]:
    """(first run with empty caches, median of warm reruns) in seconds."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["OPTERA_DB"] = str(db)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=300)
    if page:
        at.run()
        at.switch_page(page)
        st.cache_data.clear()
    cold = _timed_run(at)
    warm = statistics.median(_timed_run(at) for _ in range(warm_runs))
    return cold, warm


def _overview_all(db: Path, tab: str, warm_runs: int = 3) -> tuple[float, float]:
    """Overview with the range set to All and one history tab open (every stored point through its pipeline)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["OPTERA_DB"] = str(db)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.segmented_control(key="overview.range").set_value("All")
    at.session_state["overview.history_tab"] = tab
    cold = _timed_run(at)
    warm = statistics.median(_timed_run(at) for _ in range(warm_runs))
    return cold, warm


def _slider_moves(db: Path, moves: int = 10) -> float:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["OPTERA_DB"] = str(db)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("views/optimizer.py").run()
    times = []
    for i in range(moves):
        at.slider(key="whatif.energy_price.slider").set_value(round(0.2 + 0.07 * i, 2))
        times.append(_timed_run(at))
    return statistics.median(times)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _startup(db: Path) -> float:
    import httpx

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARA_", "OPENAI_"))}
    env.update(OPTERA_DB=str(db), HTTPS_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    exe = Path(sys.executable).parent / "streamlit"
    start = time.perf_counter()
    proc = subprocess.Popen([str(exe), "run", APP, "--server.headless", "true", "--server.port", str(port),
                             "--server.address", "127.0.0.1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < 60:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                time.sleep(0.05)
        return float("nan")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    import optera.intel.btc

    optera.intel.btc.yfinance_fetcher = _offline
    for name in list(os.environ):
        if name.startswith(("MARA_", "OPENAI_")):
            del os.environ[name]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db7, db365 = tmp / "d7.db", tmp / "d365.db"
        os.environ["OPTERA_SIM_STATE"] = str(tmp / "sim.json")
        t = time.perf_counter()
        n7 = _fill(db7, 7)
        fill7 = time.perf_counter() - t
        t = time.perf_counter()
        n365 = _fill(db365, 365)
        fill365 = time.perf_counter() - t
        rows.append(("Fill store (PriceModel.series + upsert)", f"{n7:,} points", f"{fill7:.2f} s", ""))
        rows.append(("Fill store (PriceModel.series + upsert)", f"{n365:,} points", f"{fill365:.2f} s", ""))
        _page_times(db7, None, 1)  # warm the imports once so the first row is not an import benchmark
        for label, db, n in (("Overview (default range 7 d)", db7, n7), ("Overview (default range 7 d)", db365, n365)):
            cold, warm = _page_times(db, None)
            rows.append((label, f"{n:,} points", f"{cold:.2f} s", f"{warm:.2f} s"))
        for tab in ("Summary", "Price chart", "Economics chart", "Realized profit per day"):
            cold, warm = _overview_all(db365, tab)
            rows.append((f"Overview, range All, tab {tab}", f"{n365:,} points", f"{cold:.2f} s", f"{warm:.2f} s"))
        move = _slider_moves(db365)
        rows.append(("Optimizer rerun after a slider move (median of 10)", f"{n365:,} points", "", f"{move:.2f} s"))
        cold, warm = _page_times(db365, "views/intel.py")
        rows.append(("Intel", f"{n365:,} points", f"{cold:.2f} s", f"{warm:.2f} s"))
        rows.append(("`streamlit run app.py` until /_stcore/health answers", "", f"{_startup(db7):.2f} s", ""))
    print("| what | history | first run (empty caches) | warm rerun (median) |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
