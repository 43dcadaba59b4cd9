"""Shared fixtures: isolated DB, secrets and settings for every test; the simulator in
process, over real HTTP and as the ``optera sim`` command; a client wired to it with instant
retries; the fake MARA server with its faults (``faultserver.py``) and clients of it that
record their retry waits.

Temporary files live in memory (``/dev/shm``) when the machine has it and no TMPDIR is
set: almost every test opens fresh SQLite files, and their fsyncs on a shared, busy disk
(a dozen per new database, 3-30 ms each) were most of the suite's waiting.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported where used: pytest-xdist's controller loads this file and runs no test
    from optera.sim.api import Simulator
    from optera.store import Store


def pytest_configure(config):
    memory = "/dev/shm"
    if config.option.basetemp is None and "TMPDIR" not in os.environ and os.access(memory, os.W_OK):
        os.environ["TMPDIR"] = memory  # also for the servers and CLIs the tests start
        tempfile.tempdir = None  # gettempdir() reads TMPDIR again


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No test touches the developer's DB, simulator state, secrets or settings."""
    for name in list(os.environ):
        if name.startswith(("MARA_", "OPENAI_", "OPTERA_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPTERA_DB", str(tmp_path / "optera.db"))
    monkeypatch.setenv("OPTERA_SIM_STATE", str(tmp_path / "sim_state.json"))
    monkeypatch.setenv("OPTERA_BTC_LIVE", "0")  # never ask yfinance from a test
    monkeypatch.setenv("OPTERA_HISTORY_DAYS", "7")  # a week of simulated history is enough for any test
    yield


@pytest.fixture
def store(tmp_path) -> Store:
    from optera.store import Store

    s = Store(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture
def simulator(tmp_path) -> Simulator:
    from optera.sim.api import Simulator

    return Simulator(state_path=tmp_path / "sim.json")


@dataclass
class SimServer:
    url: str
    key: str
    sim: Simulator


@pytest.fixture
def sim_server(simulator):
    from optera.sim.api import DEMO_KEY
    from optera.sim.server import start_background

    server, url = start_background(simulator)
    yield SimServer(url=url, key=DEMO_KEY, sim=simulator)
    server.shutdown()


@pytest.fixture
def sim_command(tmp_path) -> str:
    """``optera sim`` in a subprocess (the test's settings, its own state file) on a free port;
    yields its URL. A port taken meanwhile by another worker's server is tried again."""
    from browser_kit import BIN, _spawn, free_port, stop

    for attempt in range(3):
        url = f"http://127.0.0.1:{free_port()}"
        args = [str(BIN / "optera"), "sim", "--port", url.rsplit(":", 1)[1], "--state", str(tmp_path / "sim.json")]
        try:
            proc = _spawn(args, dict(os.environ), tmp_path / "sim_command.log", url + "/prices")
            break
        except AssertionError as e:
            if "cannot listen" not in str(e) or attempt == 2:
                raise
    yield url
    stop(proc)


@pytest.fixture
def client(sim_server):
    from optera.mara import MaraClient

    c = MaraClient(sim_server.url, sim_server.key, timeout=5.0, retries=3, backoff=0, sleep=lambda _s: None)
    yield c
    c.close()


@pytest.fixture
def fault_server():
    """The suite's one fake MARA server (``faultserver.py``), demo key, fixed clock, no faults yet."""
    from faultserver import FaultServer

    s = FaultServer()
    yield s
    s.stop()


class Sleeps(list):
    """A client's ``sleep`` that records the waits between attempts instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def retry_waits(monkeypatch) -> Sleeps:
    """The app's own clients (``client_from_settings``: pages, CLI) record their waits between
    attempts instead of waiting; returns the record."""
    import optera.service

    real = optera.service.client_from_settings
    sleeps = Sleeps()
    monkeypatch.setattr(optera.service, "client_from_settings",
                        lambda settings, **kw: real(settings, **{"sleep": sleeps, **kw}))
    return sleeps


@pytest.fixture
def make_client(fault_server):
    """``make_client(key=DEMO_KEY, **kw) -> (client, sleeps)``: clients of the fault server whose
    retry waits are recorded, not waited (3 attempts, 0.25 s backoff, 2 s timeout unless given)."""
    from optera.mara import MaraClient
    from optera.sim.api import DEMO_KEY

    made = []

    def make(key: str | None = DEMO_KEY, **kw):
        kw.setdefault("retries", 3)
        kw.setdefault("backoff", 0.25)
        kw.setdefault("timeout", 2.0)
        sleeps = kw.pop("sleep", None) or Sleeps()
        client = MaraClient(fault_server.url, key, sleep=sleeps, **kw)
        made.append(client)
        return client, sleeps

    yield make
    for client in made:
        client.close()


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "data"
