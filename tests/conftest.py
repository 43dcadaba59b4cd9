"""Shared fixtures: isolated DB and secrets for every test, the simulator in process and
over real HTTP, a client wired to it with instant retries, the fake MARA server with its
faults (``faultserver.py``) and clients of it that record their retry waits."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from faultserver import FaultServer  # noqa: E402

from optera.mara import MaraClient  # noqa: E402
from optera.sim.api import DEMO_KEY, Simulator  # noqa: E402
from optera.sim.server import start_background  # noqa: E402
from optera.store import Store  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No test touches the developer's DB, simulator state or secrets."""
    for name in list(os.environ):
        if name.startswith(("MARA_", "OPENAI_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPTERA_DB", str(tmp_path / "optera.db"))
    monkeypatch.setenv("OPTERA_SIM_STATE", str(tmp_path / "sim_state.json"))
    monkeypatch.setenv("OPTERA_BTC_LIVE", "0")  # never ask yfinance from a test
    monkeypatch.setenv("OPTERA_HISTORY_DAYS", "7")  # a week of simulated history is enough for any test
    yield


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture
def simulator(tmp_path) -> Simulator:
    return Simulator(state_path=tmp_path / "sim.json")


@dataclass
class SimServer:
    url: str
    key: str
    sim: Simulator


@pytest.fixture
def sim_server(simulator):
    server, url = start_background(simulator)
    yield SimServer(url=url, key=DEMO_KEY, sim=simulator)
    server.shutdown()


@pytest.fixture
def client(sim_server):
    c = MaraClient(sim_server.url, sim_server.key, timeout=5.0, retries=3, backoff=0, sleep=lambda _s: None)
    yield c
    c.close()


@pytest.fixture
def fault_server():
    """The suite's one fake MARA server (``faultserver.py``), demo key, fixed clock, no faults yet."""
    s = FaultServer()
    yield s
    s.stop()


class Sleeps(list):
    """A client's ``sleep`` that records the waits between attempts instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def make_client(fault_server):
    """``make_client(key=DEMO_KEY, **kw) -> (client, sleeps)``: clients of the fault server whose
    retry waits are recorded, not waited (3 attempts, 0.25 s backoff, 2 s timeout unless given)."""
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
