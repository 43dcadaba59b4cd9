"""Fault matrix: every way the MARA source can misbehave, against every surface that reads it.

The suite's fake MARA server (``faultserver.py``: the simulator over HTTP) first serves
good data, then moves on an hour and misbehaves in one way. Each cell checks what a user
relies on when the source breaks: no traceback, a clear message, the last good data still
shown, nothing invalid stored, no deploy sent unless a valid allocation was deliberately
deployed. Sync meets every fault, the hostile answers included, in the fast tier; so does
the CLI, each fault through one command chosen so that every command meets every kind of
outcome it has (``FAST_CLI``), and each page meets one fault (``FAST_PAGES``). The rest of
the matrix is ``slow``.
"""

from __future__ import annotations

import json
import math
import random
import time
from datetime import datetime

import pytest
import streamlit as st

from optera.sim.prices import STEP

from faultserver import FaultServer

KEY = "fault-test-key"
START = datetime(2025, 6, 21, 12, 0)  # the real day's first point: the simulator serves nothing earlier
GOOD_POINTS = 48   # served in good mode
FAULT_POINTS = 60  # served in fault mode: the good ones plus 12 newer ones
GOOD_NOW = START + (GOOD_POINTS - 1) * STEP
FAULT_NOW = START + (FAULT_POINTS - 1) * STEP
CLIENT_TIMEOUT = 0.5
CLIENT_DEADLINE = 1.0
SLOW_SECONDS = 1.5
_MODEL = None


def price_point(i: int) -> dict:
    """The i-th 5-minute point the simulator serves (the real day from 12:00)."""
    global _MODEL
    if _MODEL is None:
        from optera.sim.prices import PriceModel

        _MODEL = PriceModel()
    return _MODEL.point(START + i * STEP).to_dict()


def _first(field: str, value):
    """An edit of GET /prices: the newest point's ``field`` set to ``value`` (None: removed)."""
    def edit(points):
        head = {k: v for k, v in points[0].items() if k != field}
        if value is not None:
            head[field] = value
        return [head] + points[1:]
    return edit


# fault -> description
FAULTS = {
    "timeout": "no answer within the client timeout",
    "500": "internal server error",
    "502": "bad gateway",
    "503": "service unavailable",
    "429": "rate limited with Retry-After",
    "401": "key rejected",
    "html": "an HTML page instead of JSON",
    "truncated": "JSON cut off mid-document",
    "missing_fields": "price points and status without required fields",
    "nan": "NaN prices",
    "negative": "negative prices",
    "string": "prices as strings",
    "empty": "an empty price list",
    "duplicates": "duplicate timestamps (identical points)",
    "out_of_order": "timestamps in random order",
}
# Hostile answers, run against sync and the CLI (the pages meet them through the same sync)
HOSTILE = {
    "drip": "every answer one byte at a time: the client's deadline ends it",
    "huge": "a 40 MB answer on every route",
    "gzip_bomb": "a 100 KB gzip answer that inflates to 100 MB",
    "echo_key": "every route fails with the key echoed in the body and a header",
    "future": "a price point dated in the year 3000 among the new points",
    "huge_values": "a price of 1e300",
}
# Faults whose data is valid after cleaning: the new points may (and should) be stored.
VALID_DATA = {"duplicates", "out_of_order", "future"}
# Faults limited to GET /prices; the site endpoints keep answering, so a deploy may go through.
PRICES_ONLY = {"nan", "negative", "string", "empty", "duplicates", "out_of_order", "future", "huge_values"}


def apply_fault(server: FaultServer, fault: str) -> None:
    """Move the server to the newer points and make it misbehave as ``fault`` says."""
    server.now = FAULT_NOW
    every = {"timeout": dict(delay=SLOW_SECONDS), "429": dict(status=429, retry_after=0),
             "html": dict(html=True), "truncated": dict(truncated=True), "drip": dict(drip=0.02),
             "huge": dict(huge=40 * 2**20), "gzip_bomb": dict(gzip_bomb=100 * 2**20),
             "echo_key": dict(status=500, echo_key=True)}
    prices = {"nan": _first("energy_price", float("nan")),  # json.dumps writes NaN
              "negative": _first("energy_price", -3.0), "string": _first("hash_price", "1.5"),
              "huge_values": _first("token_price", 1e300), "empty": lambda points: [],
              "duplicates": lambda points: points[:1] + points + points[5:8],
              "out_of_order": lambda points: random.Random(7).sample(points, len(points)),
              "future": lambda points: [{**points[0], "timestamp": "3000-01-01T00:00:00"}] + points}
    if fault in every:
        server.set("*", **every[fault])
    elif fault in ("500", "502", "503", "401"):
        server.set("*", status=int(fault))
    elif fault in prices:
        server.set("/prices", edit=prices[fault])
    elif fault == "missing_fields":
        server.set("/prices", edit=_first("token_price", None))
        server.set("/machines", "GET",
                   edit=lambda s: {k: v for k, v in s.items() if k not in ("total_revenue", "power")})
        server.set("/machines", "PUT", body={"id": 1})
    else:
        raise AssertionError(fault)


# -- fixtures ----------------------------------------------------------------------

@pytest.fixture
def server():
    s = FaultServer(key=KEY, now=GOOD_NOW)
    yield s
    s.stop()


def _fast_client(settings):
    """The app's client, with a short timeout and no retry wait, so a cell takes about a second."""
    from optera.mara import MaraClient

    key = settings.mara_api_key.get() if settings.mara_api_key else None
    return MaraClient(settings.base_url, key, timeout=CLIENT_TIMEOUT, deadline=CLIENT_DEADLINE, retries=1,
                      backoff=0.0, sleep=lambda _s: None)


@pytest.fixture
def env(tmp_path, monkeypatch, server):
    """An isolated DB pointed at the fault server, with the fast client wired into the service."""
    for name in ("MARA_API_URL", "MARA_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPTERA_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPTERA_DB", str(tmp_path / "faults.db"))
    monkeypatch.setenv("OPTERA_SIM_STATE", str(tmp_path / "sim.json"))
    monkeypatch.setenv("MARA_API_URL", server.url)
    monkeypatch.setenv("MARA_API_KEY", KEY)
    import optera.mara
    import optera.service

    monkeypatch.setattr(optera.service, "client_from_settings", _fast_client)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


def _store():
    from optera.config import load_settings
    from optera.store import Store

    return Store(load_settings().db_path)


def _rows(store) -> list[tuple]:
    return store.db.execute("select timestamp, energy_price, hash_price, token_price from prices "
                            "order by timestamp").fetchall()


def _good_sync(server) -> None:
    from optera.config import load_settings
    from optera.sync import sync

    store = _store()
    result = sync(_fast_client(load_settings()), store)
    assert result.ok, result.message
    assert store.price_count() == GOOD_POINTS


def _expected_rows(fault: str) -> list[tuple]:
    n = FAULT_POINTS if fault in VALID_DATA else GOOD_POINTS  # fault None: nothing new was fetched
    return [(p["timestamp"], p["energy_price"], p["hash_price"], p["token_price"])
            for p in (price_point(i) for i in range(n))]


def _assert_store_ok(store, fault, synced: bool = True):
    """Stored prices are the good ones, plus the fault's new points only where they are valid.

    synced=False: the surface may or may not have synced (commands that sync only when stale).
    """
    rows = _rows(store)
    allowed = [_expected_rows(fault)] if synced else [_expected_rows(fault), _expected_rows(None)]
    assert rows in allowed, f"{fault}: stored prices changed wrongly ({len(rows)} rows)"
    for _, e, h, t in rows:
        assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in (e, h, t))


# -- surface 1: sync into a store with good data -------------------------------------

@pytest.mark.parametrize("fault", list(FAULTS) + list(HOSTILE))
def test_sync_surface(env, server, fault):
    from optera.config import load_settings
    from optera.sync import sync

    _good_sync(server)
    store = _store()
    apply_fault(server, fault)
    result = sync(_fast_client(load_settings()), store)
    _assert_store_ok(store, fault)
    if fault in VALID_DATA:
        assert result.ok, result.message
        assert result.new_prices == FAULT_POINTS - GOOD_POINTS
    elif fault == "empty":
        # an empty list adds nothing; whether it counts as a failure, it must say something
        assert result.new_prices == 0
        assert result.message
    else:
        assert not result.ok
        assert result.new_prices == 0
        assert result.message and "Traceback" not in result.message
        assert KEY not in result.message
    assert not server.puts


# -- surface 2: the CLI, in process ----------------------------------------------------

CLI_COMMANDS = {
    "sync": ["sync"],
    "status": ["status"],
    "optimize": ["optimize", "--json"],
    "deploy": ["deploy", "--yes", "--json"],
    "backtest": ["backtest", "--json"],
}
# The fast tier's cells: every fault once; sync meets valid, empty, failing and dripping
# answers, status valid and failing ones, deploy faults that stop it and ones that do not.
FAST_CLI = {
    "duplicates": "sync", "empty": "sync", "500": "sync", "drip": "sync",
    "out_of_order": "status", "503": "status", "huge": "status",
    "nan": "optimize", "html": "optimize", "gzip_bomb": "optimize", "429": "optimize",
    "negative": "deploy", "huge_values": "deploy", "timeout": "deploy", "echo_key": "deploy",
    "missing_fields": "deploy",
    "string": "backtest", "truncated": "backtest", "401": "backtest", "future": "backtest", "502": "backtest",
}


def _matrix(rows, columns, fast: dict) -> list:
    """Every (row, column) cell; those not in ``fast`` are ``slow``."""
    return [pytest.param(r, c, id=f"{r}-{c}", marks=() if fast.get(r) == c else pytest.mark.slow)
            for r in rows for c in columns]


@pytest.mark.parametrize("fault, command", _matrix(list(FAULTS) + list(HOSTILE), CLI_COMMANDS, FAST_CLI))
def test_cli_surface(env, server, capsys, fault, command):
    from optera.cli import main

    _good_sync(server)
    store = _store()
    # make the stored sync look old, so commands that sync when stale really hit the fault
    store.db.execute("update sync_log set at = '2000-01-01T00:00:00'")
    store.db.conn.commit()
    apply_fault(server, fault)
    code = main(CLI_COMMANDS[command])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert KEY not in out + err
    assert "internal error" not in err, err
    _assert_store_ok(_store(), fault, synced=command in ("sync", "status"))
    if code != 0:
        # one line per problem: warnings ("optera: warning: ...") then the error that stopped the command
        lines = err.strip().splitlines()
        assert lines and all(line.startswith("optera: ") for line in lines), err
        assert not lines[-1].startswith("optera: warning") and len(lines[-1]) > 12, err
    if command == "sync":
        if fault in VALID_DATA:
            assert code == 0, err
        elif fault != "empty":
            assert code == 1 and "sync failed" in err
    if command == "status":
        # the stored status is still shown, with a warning when the refresh failed
        assert code == 0, err
        assert "Power" in out
        if fault not in VALID_DATA and fault != "empty":
            assert "last sync failed" in out.lower()
    if command in ("optimize", "backtest"):
        # these work from stored prices: a broken source must not stop them
        assert code == 0, err
        json.loads(out)
    if command == "deploy":
        if fault in PRICES_ONLY:
            assert code == 0, err
            assert json.loads(out)["ok"] is True
            assert len(server.puts) == 1
        else:
            assert code != 0
            assert not server.puts, "a deploy was sent while the site could not be read"
    else:
        assert not server.puts


# -- surface 3: the pages (AppTest) ------------------------------------------------------

PAGES = {
    "overview": "views/overview.py",
    "optimizer": "views/optimizer.py",
    "intel": "views/intel.py",
    "chat": "views/chat.py",
}
# The fast tier's page cells: each page once, after a failing or a valid-but-messy answer.
FAST_PAGES = {"503": "overview", "out_of_order": "optimizer", "nan": "intel", "401": "chat"}
FAST_REFRESH = {"500", "duplicates"}


def _texts(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "toast"):
        try:
            parts += [str(getattr(e, "value", "") or "") for e in getattr(at, kind)]
        except (AttributeError, KeyError):
            continue
    return "\n".join(parts)


def _metric(at, label):
    found = [m for m in at.metric if m.label == label]
    return found[0].value if found else None


def _sync_count(store) -> int:
    return store.db.execute("select count(*) from sync_log").fetchone()[0]


def _wait_for_sync(store, before: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while _sync_count(store) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sync_count(store) > before, "the background sync never finished"


@pytest.mark.parametrize("fault, page", _matrix(FAULTS, PAGES, FAST_PAGES))
def test_page_surface(env, server, fault, page):
    """The app opened (or refreshed) while the source misbehaves, after a good sync earlier."""
    from streamlit.testing.v1 import AppTest

    _good_sync(server)
    store = _store()
    store.db.execute("update sync_log set at = '2000-01-01T00:00:00'")  # stale: opening the app syncs
    store.db.conn.commit()
    apply_fault(server, fault)
    syncs = _sync_count(store)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()  # the app opens on the Overview at once; its sync meets the fault in the background
    assert not at.exception, [e.value for e in at.exception]
    _wait_for_sync(store, syncs)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    failed = fault not in VALID_DATA
    sidebar = _texts(at.sidebar)
    if failed:
        assert "Last sync failed" in sidebar, sidebar
    if page != "overview":
        at.switch_page(PAGES[page]).run()
        assert not at.exception, [e.value for e in at.exception]
        sidebar = _texts(at.sidebar)
        if failed:
            assert "Last sync failed" in sidebar, sidebar
    text = _texts(at) + "\n" + sidebar
    assert KEY not in text and "Traceback" not in text
    _assert_store_ok(_store(), fault)
    latest = price_point((FAULT_POINTS if fault in VALID_DATA else GOOD_POINTS) - 1)
    if page == "overview":
        assert _metric(at, "Energy price") == f"{latest['energy_price']:.4f}"
        if failed:
            assert any("The data source failed" in e.value for e in at.error), _texts(at)
    elif page == "optimizer":
        assert _metric(at, "Optimal profit") is not None
        assert at.number_input(key="whatif.energy_price.box").value == pytest.approx(latest["energy_price"])
    elif page == "intel":
        assert any("Forecast" in t.value.columns for t in at.table), _texts(at)  # drawn from the cache
    elif page == "chat":
        at.chat_input[0].set_value("best allocation").run()
        assert not at.exception, [e.value for e in at.exception]
        assert len(at.chat_message) >= 2



@pytest.mark.parametrize("fault", [pytest.param(f, marks=() if f in FAST_REFRESH else pytest.mark.slow)
                                   for f in list(FAULTS) + list(HOSTILE)])
def test_refresh_now_surface(env, server, fault):
    """After a good first view, the source breaks and the user presses Refresh now."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _store().price_count() == GOOD_POINTS
    apply_fault(server, fault)
    n_requests = len(server.requests)
    at.sidebar.button(key="refresh_now").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(server.requests) > n_requests, "Refresh now did not contact the source"
    text = _texts(at) + "\n" + _texts(at.sidebar)
    assert KEY not in text and "Traceback" not in text
    _assert_store_ok(_store(), fault)
    assert not server.puts
    latest = price_point((FAULT_POINTS if fault in VALID_DATA else GOOD_POINTS) - 1)
    assert _metric(at, "Energy price") == f"{latest['energy_price']:.4f}"
    if fault not in VALID_DATA:
        assert "Last sync failed" in _texts(at.sidebar)
        assert any("The data source failed" in e.value for e in at.error)
