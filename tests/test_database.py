"""The database under stress and abuse: concurrent writers, a held lock, a corrupt file, bad inputs.

What a user relies on: syncing from a terminal while the app is open never duplicates
data or crashes; a busy database makes writes wait, not fail with a traceback; a
corrupt file is named, recoverable in one step, and the deployment audit trail
survives; no input in the Optimizer or on the command line produces a traceback.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import streamlit as st

from optera.models import DEFAULT_INVENTORY, MACHINE_TYPES, Allocation, Prices

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_KEY = "optera-demo-key"


@pytest.fixture
def isolated(tmp_path):
    """Embedded simulator, the conftest's DB in tmp_path, no keys; streamlit caches cleared around the test."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


# -- concurrency ---------------------------------------------------------------------

def test_cli_sync_while_app_reads_and_deploys(tmp_path, monkeypatch, sim_server):
    """The terminals and the app share one site: the simulator over HTTP."""
    from optera.config import load_settings
    from optera.deploy import deploy
    from optera.service import Service

    monkeypatch.setenv("MARA_API_URL", sim_server.url)
    monkeypatch.setenv("MARA_API_KEY", DEMO_KEY)
    svc = Service(load_settings())
    first = svc.refresh()
    assert first.ok, first.message
    errors: list[BaseException] = []
    results = []
    rounds: list[int] = []
    stop = threading.Event()

    def reader():
        # paced (5 ms between rounds), so the CLI processes get the CPU of a small machine: still
        # hundreds of reads among their writes
        try:
            while not stop.wait(0.005):
                svc.latest_prices()
                svc.store.price_history()
                svc.freshness()
                svc.status()
                svc.store.deployments(20)
                rounds.append(1)
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    def deployer():
        try:
            for gpu in range(1, 6):
                r = deploy(svc.client, svc.store, Allocation(gpu_compute=gpu, hydro_miners=gpu),
                           power_limit=svc.power_limit(), source="test")
                results.append(r)
                svc.refresh()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=reader), threading.Thread(target=reader), threading.Thread(target=deployer)]
    for t in threads:
        t.start()
    # four terminals syncing at once, while the app reads and deploys
    procs = [subprocess.Popen([str(BIN / "optera"), "sync"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    try:
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        stop.set()
        for p in procs:
            if p.poll() is None:
                p.kill()
        for t in threads:
            t.join(60)
    assert not errors, errors
    assert len(rounds) >= 10, "the readers hardly ran while the terminals synced"
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in out + err
    assert len(results) == 5 and all(r.ok for r in results), [r.message for r in results]
    db = sqlite3.connect(str(tmp_path / "optera.db"))
    total, distinct = db.execute("select count(*), count(distinct timestamp) from prices").fetchone()
    assert total == distinct and total > 0
    # one audit row per deploy, in the DB and in the jsonl beside it
    assert db.execute("select count(*) from deployments where result = 'ok'").fetchone()[0] == 5
    audit = [json.loads(line) for line in (tmp_path / "optera_audit.jsonl").read_text().splitlines()]
    assert [a["phase"] for a in audit].count("intent") == 5
    assert sorted(a["result"] for a in audit if a["phase"] == "outcome") == ["ok"] * 5
    # the site's real state is the last deploy
    site = httpx.get(sim_server.url + "/machines", headers={"X-Api-Key": DEMO_KEY}, timeout=5).json()
    assert site["gpu_compute"] == 5 and site["hydro_miners"] == 5


# -- a locked database ------------------------------------------------------------------

def _hold_exclusive(path: Path, ready: threading.Event, release: threading.Event) -> None:
    conn = sqlite3.connect(str(path), timeout=5, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    ready.set()
    release.wait(30)
    conn.execute("COMMIT")
    conn.close()


def _points(n: int, start: datetime = datetime(2025, 6, 21, 12, 0)) -> list[Prices]:
    return [Prices(start + timedelta(minutes=5 * i), 0.5 + i / 1000, 1.5, 0.8) for i in range(n)]


def test_locked_db_write_waits_and_succeeds(tmp_path):
    from optera.store import Store

    store = Store(tmp_path / "lock.db")
    store.upsert_prices(_points(10))
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_exclusive, args=(tmp_path / "lock.db", ready, release))
    holder.start()
    assert ready.wait(5)
    threading.Timer(1.0, release.set).start()  # the lock is held for a second of the write
    new = store.upsert_prices(_points(20))  # blocks on the lock, then goes through
    store.record_deployment(action="deploy", requested=Allocation(gpu_compute=1), previous=Allocation(),
                            result="ok", message="test")
    holder.join()
    assert new == 10
    assert store.price_count() == 20
    assert store.deployments()[0]["requested"]["gpu_compute"] == 1


def test_locked_db_page_shows_message_not_traceback(isolated, monkeypatch):
    """A lock held longer than the busy timeout: the refresh fails with a message, the page still renders."""
    from streamlit.testing.v1 import AppTest

    import optera.store

    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [m.value for m in at.metric if m.label == "Energy price"]
    assert shown
    st.cache_resource.clear()  # new connections pick up the short busy timeout below
    monkeypatch.setattr(optera.store, "BUSY_TIMEOUT_S", 0.2)
    # force the refresh to have new data to write
    db = sqlite3.connect(str(isolated / "optera.db"))
    db.execute("delete from prices where timestamp = (select max(timestamp) from prices)")
    db.commit()
    db.close()
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_exclusive, args=(isolated / "optera.db", ready, release))
    holder.start()
    assert ready.wait(5)
    try:
        at.sidebar.button(key="refresh_now").click().run()  # the lock outlasts the whole run
    finally:
        release.set()
        holder.join()
    assert not at.exception, [e.value for e in at.exception]
    shown = list(at.error) + list(at.warning) + list(at.sidebar.warning) + list(at.toast)
    text = "\n".join(str(e.value) for e in shown)
    assert "locked" in text.lower() or "busy" in text.lower(), text


# -- a corrupt database ------------------------------------------------------------------

def _seed_then_corrupt(db_path: Path) -> None:
    from optera.store import Store

    store = Store(db_path)
    store.upsert_prices(_points(5))
    for gpu in (3, 7):
        store.record_deployment(action="deploy", requested=Allocation(gpu_compute=gpu), previous=Allocation(),
                                result="ok", message=f"deployed {gpu}", source="test")
    store.close()
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            side.unlink()
    db_path.write_bytes(b"this is not a database " * 400)


def test_corrupt_db_named_and_recovered_by_cli(isolated, capsys):
    from optera.cli import main
    from optera.store import Store, StoreError

    db_path = isolated / "optera.db"
    _seed_then_corrupt(db_path)
    with pytest.raises(StoreError) as info:
        Store(db_path)
    assert "optera db recover" in str(info.value)
    assert str(db_path) in str(info.value)

    assert main(["sync"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "optera db recover" in err and len(err.strip().splitlines()) == 1

    assert main(["db", "recover"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    moved = list(isolated.glob("optera.db.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes().startswith(b"this is not a database")
    store = Store(db_path)
    trail = store.deployments()
    assert [d["requested"]["gpu_compute"] for d in trail] == [7, 3]
    assert [d["message"] for d in trail] == ["deployed 7", "deployed 3"]
    assert main(["db", "check"]) == 0
    assert main(["sync"]) == 0
    assert store.price_count() > 0


def test_corrupt_db_app_offers_recovery(isolated):
    from streamlit.testing.v1 import AppTest

    from optera.store import Store

    db_path = isolated / "optera.db"
    _seed_then_corrupt(db_path)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in list(at.error) + list(at.sidebar.error)]
    assert any("cannot be read" in e and "Recover database" in e for e in errors), errors
    button = at.sidebar.button(key="recover_db") if any(b.key == "recover_db" for b in at.sidebar.button) \
        else at.button(key="recover_db")
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.label == "Energy price" for m in at.metric), "the overview did not come back after recovery"
    assert len(list(isolated.glob("optera.db.corrupt-*"))) == 1
    assert [d["requested"]["gpu_compute"] for d in Store(db_path).deployments()] == [7, 3]


# -- abusive inputs: the Optimizer ----------------------------------------------------------

PRICES = ["energy_price", "hash_price", "token_price", "power_kw"]
SLIDERS = [f"whatif.{n}.slider" for n in PRICES]
NUMBER_INPUTS = ([f"whatif.{n}.box" for n in PRICES] + [f"caps.{n}" for n in MACHINE_TYPES]
                 + [f"locks.{n}" for n in MACHINE_TYPES]
                 + ["constraints.min_tokens", "constraints.min_hashrate", "constraints.max_moved",
                    "constraints.switching"]
                 + [f"manual.{n}" for n in MACHINE_TYPES])
BAD_VALUES = {"negative": -1, "huge_float": 1e308, "huge_int": 10**12, "empty": None, "non_numeric": "abc"}
# The fast tier's widgets: one of each kind (an AppTest each); the rest are ``slow``.
FAST_WIDGETS = {"whatif.energy_price.slider", "whatif.token_price.box", "caps.asic_compute", "locks.gpu_compute",
                "constraints.min_tokens", "constraints.switching", "manual.hydro_miners"}


@pytest.fixture(scope="module")
def synced_db(tmp_path_factory):
    """One embedded-simulator sync, copied into each widget test (a sync per test would dominate the time)."""
    import shutil

    from optera.config import load_settings
    from optera.service import Service

    tmp = tmp_path_factory.mktemp("synced")
    with pytest.MonkeyPatch.context() as mp:  # the conftest's isolation, for the module
        for name in list(os.environ):
            if name.startswith(("MARA_", "OPENAI_", "OPTERA_")):
                mp.delenv(name)
        mp.setenv("OPTERA_DB", str(tmp / "optera.db"))
        mp.setenv("OPTERA_SIM_STATE", str(tmp / "sim_state.json"))
        mp.setenv("OPTERA_BTC_LIVE", "0")
        mp.setenv("OPTERA_HISTORY_DAYS", "7")
        svc = Service(load_settings())
        assert svc.refresh().ok
        svc.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        svc.store.close()
    yield tmp, shutil


@pytest.fixture
def optimizer(isolated, synced_db):
    from streamlit.testing.v1 import AppTest

    source, shutil = synced_db
    for name in ("optera.db", "sim_state.json"):
        shutil.copy(source / name, isolated / name)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("views/optimizer.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _page_text(at) -> str:
    return "\n".join(str(e.value) for kind in ("error", "warning", "info", "success", "caption", "markdown")
                     for e in getattr(at, kind))


def _assert_no_crash(at, what):
    assert not at.exception, f"{what}: " + "; ".join(str(e.value)[:300] for e in at.exception)
    text = _page_text(at)
    assert "Traceback" not in text
    for m in at.metric:
        assert "nan" not in str(m.value).lower() and "inf" not in str(m.value).lower(), (what, m.label, m.value)


@pytest.mark.parametrize("key", [pytest.param(k, marks=() if k in FAST_WIDGETS else pytest.mark.slow)
                                 for k in SLIDERS + NUMBER_INPUTS])
def test_optimizer_widget_bad_values(optimizer, key):
    at = optimizer

    def widget():
        return at.slider(key=key) if key in SLIDERS else at.number_input(key=key)

    good = widget().value
    for label, value in BAD_VALUES.items():
        try:
            widget().set_value(value)
            at.run()
        except (TypeError, ValueError):
            # the widget's own serialisation refuses the value (as the browser widget does) before the
            # script runs: nothing reaches the app
            widget().set_value(good)
            continue
        _assert_no_crash(at, f"{key}={label}")
    widget().set_value(good)
    at.run()
    _assert_no_crash(at, f"{key} reset")
    assert any(m.label == "Optimal profit" for m in at.metric), "the page did not recover"


# -- abusive inputs: the CLI ---------------------------------------------------------------

BASE = ["optimize", "--energy-price", "0.7", "--hash-price", "1.5", "--token-price", "0.85",
        "--power-limit", "1000000", "--json"]
CLI_FLAGS = {
    "--energy-price": "{}", "--hash-price": "{}", "--token-price": "{}", "--power-limit": "{}",
    "--max": "asic_compute={}", "--lock": "gpu_compute={}", "--min-inference-share": "{}",
    "--max-inference-share": "{}", "--min-tokens": "{}", "--min-hashrate": "{}", "--max-moved": "{}",
    "--switching-cost": "{}",
}
CLI_VALUES = {"negative": "-1", "huge_float": "1e308", "huge_int": str(10**12), "empty": "", "non_numeric": "abc"}


def _strict_json(text: str):
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.mark.parametrize("value", list(CLI_VALUES))
@pytest.mark.parametrize("flag", list(CLI_FLAGS))
def test_cli_flag_bad_values(isolated, capsys, flag, value):
    from optera.cli import main

    arg = CLI_FLAGS[flag].format(CLI_VALUES[value])
    code = main(BASE + [flag, arg])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "internal error" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("optera: "), err
    else:
        data = _strict_json(out)
        limit = 10**12 if (flag, value) == ("--power-limit", "huge_int") else \
            1e308 if (flag, value) == ("--power-limit", "huge_float") else 1_000_000
        power = sum(data["allocation"][n] * DEFAULT_INVENTORY[n].power for n in MACHINE_TYPES)
        assert power <= limit
        for name in ("power_used", "revenue", "cost", "profit"):
            assert math.isfinite(data[name]), (name, data[name])


@pytest.mark.parametrize("argv", [
    ["backtest", "--power-limit", "-1"], ["backtest", "--power-limit", "abc"], ["backtest", "--power-limit", ""],
    ["backtest", "--min-hold", "-3"], ["backtest", "--min-hold", "x"],
    ["backtest", "--start", "yesterday"], ["backtest", "--start", "2030-01-01T00:00:00"],
    ["deploy", "gpu_compute=-1", "--yes"], ["deploy", "gpu_compute=abc", "--yes"], ["deploy", "gpu_compute=", "--yes"],
    ["deploy", f"gpu_compute={10**12}", "--yes"], ["status", "--json", "extra"], ["db", "explode"],
])
def test_cli_other_bad_values(isolated, capsys, argv):
    from optera.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err, err
    assert code != 0
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("optera: "), err
