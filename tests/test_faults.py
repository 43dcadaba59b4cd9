"""Fault matrix: every way the MARA source can misbehave, against every surface that reads it.

A small misbehaving MARA-compatible server (below) first serves good data, then one
fault. Each cell checks what a user relies on when the source breaks: no traceback,
a clear message, the last good data still shown, nothing invalid stored, no deploy
sent unless a valid allocation was deliberately deployed.
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import streamlit as st

from faultserver import send
from optera.models import DEFAULT_INVENTORY, MACHINE_TYPES

KEY = "fault-test-key"
START = datetime(2025, 6, 21, 12, 0)
GOOD_POINTS = 48   # served in good mode
FAULT_POINTS = 60  # served in fault mode: the good ones plus 12 newer ones
CLIENT_TIMEOUT = 0.5
SLOW_SECONDS = 1.5


def price_point(i: int) -> dict:
    """Deterministic, valid prices for the i-th 5-minute point."""
    return {
        "timestamp": (START + timedelta(minutes=5 * i)).isoformat(),
        "energy_price": round(0.6 + 0.2 * math.sin(i / 7), 6),
        "hash_price": round(1.4 + 0.3 * math.cos(i / 5), 6),
        "token_price": round(0.8 + 0.25 * math.sin(i / 3), 6),
    }


def newest_first(n: int) -> list[dict]:
    return [price_point(i) for i in reversed(range(n))]


# fault -> (description, True if the served data is valid and may be stored)
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
# Faults whose data is valid after cleaning: the new points may (and should) be stored.
VALID_DATA = {"duplicates", "out_of_order"}
# Faults limited to GET /prices; the site endpoints keep answering, so a deploy may go through.
PRICES_ONLY = {"nan", "negative", "string", "empty", "duplicates", "out_of_order"}


class FaultServer:
    """A MARA-compatible server on 127.0.0.1 that can be told to misbehave."""

    def __init__(self):
        self.fault: str | None = None
        self.requests: list[tuple[str, str]] = []
        self.allocation = {n: 0 for n in MACHINE_TYPES}
        self.power = 1_000_000.0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                outer._handle(self, "GET")

            def do_PUT(self):
                outer._handle(self, "PUT")

            def do_POST(self):
                outer._handle(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def puts(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] == "PUT"]

    # -- responses -----------------------------------------------------------
    def _send(self, h, status: int, body, content_type="application/json", headers=None):
        send(h, status, body if isinstance(body, bytes) else json.dumps(body).encode(), content_type, headers)

    def _status(self) -> dict:
        p = price_point((FAULT_POINTS if self.fault else GOOD_POINTS) - 1)
        power = {n: self.allocation[n] * DEFAULT_INVENTORY[n].power for n in MACHINE_TYPES}
        revenue = {n: self.allocation[n] * (DEFAULT_INVENTORY[n].hashrate * p["hash_price"]
                                            + DEFAULT_INVENTORY[n].tokens * p["token_price"])
                   for n in MACHINE_TYPES}
        used = sum(power.values())
        return {**self.allocation, "power": power, "revenue": revenue, "total_power_used": used,
                "total_power_cost": used * p["energy_price"], "total_revenue": sum(revenue.values()),
                "updated_at": p["timestamp"], "id": 1, "site_id": 1}

    def _handle(self, h, method: str):
        path = h.path.split("?")[0].rstrip("/")
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((method, path))
        fault = self.fault
        if fault == "timeout":
            time.sleep(SLOW_SECONDS)
            return self._send(h, 200, newest_first(FAULT_POINTS) if path == "/prices" else {})
        if fault in ("500", "502", "503"):
            return self._send(h, int(fault), {"detail": f"upstream says {fault}"})
        if fault == "429":
            return self._send(h, 429, {"detail": "slow down"}, headers={"Retry-After": "0"})
        if fault == "401":
            return self._send(h, 401, {"detail": "Invalid API key"})
        if fault == "html":
            return self._send(h, 200, b"<html><body><h1>Maintenance</h1></body></html>", "text/html")
        if fault == "truncated":
            full = json.dumps(newest_first(FAULT_POINTS) if path == "/prices" else self._status()).encode()
            return self._send(h, 200, full[: len(full) // 2])
        auth_ok = h.headers.get("X-Api-Key") == KEY
        if path == "/prices" and method == "GET":
            return self._send(h, 200, self._prices())
        if path == "/inventory" and method == "GET":
            return self._send(h, 200, DEFAULT_INVENTORY.to_api())
        if path == "/sites" and method == "POST":
            return self._send(h, 200, {"api_key": KEY, "name": "fault-site", "power": self.power})
        if not auth_ok:
            return self._send(h, 401, {"detail": "Invalid API key"})
        if path == "/sites" and method == "GET":
            return self._send(h, 200, {"name": "fault-site", "power": self.power, "id": 1})
        if path == "/machines" and method == "GET":
            status = self._status()
            if fault == "missing_fields":
                status.pop("total_revenue")
                status.pop("power")
            return self._send(h, 200, status)
        if path == "/machines" and method == "PUT":
            if fault == "missing_fields":
                return self._send(h, 200, {"id": 1})
            counts = json.loads(body or b"{}")
            new = {n: int(counts.get(n, 0)) for n in MACHINE_TYPES}
            if sum(new[n] * DEFAULT_INVENTORY[n].power for n in MACHINE_TYPES) > self.power:
                return self._send(h, 400, {"detail": "allocation exceeds the power limit"})
            self.allocation = new
            return self._send(h, 200, {**new, "id": 1, "site_id": 1, "updated_at": price_point(0)["timestamp"]})
        return self._send(h, 404, {"detail": "not found"})

    def _prices(self):
        fault = self.fault
        if fault is None:
            return newest_first(GOOD_POINTS)
        points = newest_first(FAULT_POINTS)
        if fault == "missing_fields":
            del points[0]["token_price"]
        elif fault == "nan":
            points[0]["energy_price"] = float("nan")  # json.dumps writes NaN
        elif fault == "negative":
            points[0]["energy_price"] = -3.0
        elif fault == "string":
            points[0]["hash_price"] = "1.5"
        elif fault == "empty":
            return []
        elif fault == "duplicates":
            points = points[:1] + points + points[5:8]
        elif fault == "out_of_order":
            import random

            random.Random(7).shuffle(points)
        return points


# -- fixtures ----------------------------------------------------------------------

@pytest.fixture
def server():
    s = FaultServer()
    yield s
    s.stop()


def _fast_client(settings):
    """The app's client, with a short timeout and no retry wait, so a cell takes about a second."""
    from optera.mara import MaraClient

    key = settings.mara_api_key.get() if settings.mara_api_key else None
    return MaraClient(settings.base_url, key, timeout=CLIENT_TIMEOUT, retries=1, backoff=0.0,
                      sleep=lambda _s: None)


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

@pytest.mark.parametrize("fault", list(FAULTS))
def test_sync_surface(env, server, fault):
    from optera.config import load_settings
    from optera.sync import sync

    _good_sync(server)
    store = _store()
    server.fault = fault
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


@pytest.mark.parametrize("command", list(CLI_COMMANDS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_cli_surface(env, server, capsys, fault, command):
    from optera.cli import main

    _good_sync(server)
    store = _store()
    # make the stored sync look old, so commands that sync when stale really hit the fault
    store.db.execute("update sync_log set at = '2000-01-01T00:00:00'")
    store.db.conn.commit()
    server.fault = fault
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


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_page_surface(env, server, fault, page):
    """The app opened (or refreshed) while the source misbehaves, after a good sync earlier."""
    from streamlit.testing.v1 import AppTest

    _good_sync(server)
    store = _store()
    store.db.execute("update sync_log set at = '2000-01-01T00:00:00'")  # stale: opening the app syncs
    store.db.conn.commit()
    server.fault = fault
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
        assert len(at.get("plotly_chart")) >= 1
    elif page == "chat":
        at.chat_input[0].set_value("best allocation").run()
        assert not at.exception, [e.value for e in at.exception]
        assert len(at.chat_message) >= 2



@pytest.mark.parametrize("fault", list(FAULTS))
def test_refresh_now_surface(env, server, fault):
    """After a good first view, the source breaks and the user presses Refresh now."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _store().price_count() == GOOD_POINTS
    server.fault = fault
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
