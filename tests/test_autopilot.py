"""The autopilot on a clock the test controls: the simulator and the loop share a ManualClock,
so a day of five-minute decisions runs in seconds, and each decision can be checked
against the backtest's replay of the same prices."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import httpx
import numpy as np
import pytest

from optera.autopilot.loop import Autopilot, SiteLock
from optera.backtest import run_policy
from optera.cli import main
from optera.clock import ManualClock
from optera.config import load_settings
from optera.errors import AutopilotError
from optera.mara import MaraClient
from optera.models import MACHINE_TYPES, Allocation
from optera.policy import Policy
from optera.service import Service
from optera.sim.api import DEMO_ALLOCATION, DEMO_KEY, Simulator
from optera.store import Store

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2025, 6, 23, 0, 0, 10)  # ten seconds after a price, as the loop schedules itself
STEP = timedelta(minutes=5)
# the default inventory, written out so that the checks do not trust the code's own tables
POWER = np.array([3500, 5000, 10000, 5000, 15000], dtype=float)
HASH = np.array([1000, 5000, 10000, 0, 0], dtype=float)
TOKENS = np.array([0, 0, 0, 1000, 50000], dtype=float)
POLICY = Policy(switching_cost=500, payback=3, min_hold=3, min_gain=1_000, max_moved=40, max_deploys_per_hour=4,
                headroom_w=20_000, caps={"asic_compute": 60})


class GatedClock(ManualClock):
    """A ManualClock the test can stop: a sleep blocks while the gate is closed (``blocked`` says it is there)."""

    def __init__(self, start: datetime):
        super().__init__(start)
        self.gate, self.blocked = threading.Event(), threading.Event()
        self.gate.set()

    def sleep(self, seconds, stop=None):
        if not self.gate.is_set():
            self.blocked.set()
            self.gate.wait(30)
            self.blocked.clear()
        return super().sleep(seconds, stop)


@dataclass
class Rig:
    """A site (the simulator) and an Optera database, both on one ManualClock; ``fault`` may answer requests."""

    clock: GatedClock
    sim: Simulator
    svc: Service
    fault: list[Callable[[httpx.Request], httpx.Response | None]] = field(default_factory=list)

    def pilot(self, policy: Policy = POLICY, live: bool = False, **kw) -> Autopilot:
        return Autopilot(self.svc, policy, live=live, clock=self.clock, **kw)

    def site(self) -> Allocation:
        return Allocation.from_api(self.sim.status(self.sim.site_for_key(DEMO_KEY)))

    def decisions(self) -> list[dict]:
        return self.svc.autopilot_decisions(100_000)[::-1]


@pytest.fixture
def rig(tmp_path) -> Rig:
    clock = GatedClock(T0)
    sim = Simulator(state_path=tmp_path / "sim.json", now=clock.now, history_days=0.05)
    inner = sim.transport()
    faults: list = []

    def handle(request: httpx.Request) -> httpx.Response:
        for hook in faults:
            reply = hook(request)
            if reply is not None:
                return reply
        return inner.handle_request(request)

    client = MaraClient("http://sim.test", DEMO_KEY, transport=httpx.MockTransport(handle), retries=1, backoff=0,
                        sleep=lambda _s: None)
    return Rig(clock, sim, Service(load_settings(), client, Store(tmp_path / "optera.db")), faults)


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait on a condition another thread makes true (polled; never a fixed sleep)."""
    pause = threading.Event()
    deadline = datetime.now() + timedelta(seconds=seconds)
    while not condition():
        assert datetime.now() < deadline, "condition not met in time"
        pause.wait(0.005)


def replayed(rig: Rig, rows: list[dict], start: Allocation):
    """The backtest of the same policy over the prices the loop decided on."""
    stamps = [datetime.fromisoformat(r["price_at"]) for r in rows]
    assert all(b - a == STEP for a, b in zip(stamps, stamps[1:])), "one decision per price interval"
    prices = rig.svc.price_window(stamps[0], stamps[-1])
    assert list(prices.index.to_pydatetime()) == stamps
    return run_policy(prices, POLICY, rig.svc.site_limit(), start, rig.svc.inventory(), money=rig.svc.money,
                      yardstick=False)


def assert_same_decisions(rows: list[dict], series) -> None:
    for k, (row, (_, want)) in enumerate(zip(rows, series.iterrows())):
        assert (row["action"], row["reason"]) == (want["action"], want["reason"]), k
        assert [row["target"][n] for n in MACHINE_TYPES] == [int(want[n]) for n in MACHINE_TYPES], k
        assert row["expected_gain_per_period"] == pytest.approx(want["expected_gain_per_period"]), k


def check_guardrails(rows: list[dict], start: Allocation, limit: float) -> None:
    """The policy's rules, checked from the records alone with the test's own machine table."""
    deploys = [k for k, r in enumerate(rows) if r["action"] == "deploy"]
    assert len(deploys) >= 3
    assert all(b - a >= POLICY.min_hold for a, b in zip(deploys, deploys[1:]))
    current = np.array(start.as_list())
    for k, r in enumerate(rows):
        target = np.array([r["target"][n] for n in MACHINE_TYPES])
        assert [r["current"][n] for n in MACHINE_TYPES] == current.tolist(), k
        if r["action"] == "deploy":
            assert np.abs(target - current).sum() <= POLICY.max_moved
            assert target @ POWER <= limit - POLICY.headroom_w and target[4] <= 60
            assert r["expected_gain_per_period"] >= POLICY.min_gain
            in_hour = [j for j in deploys if j <= k and k - j < 12]
            assert len(in_hour) <= POLICY.max_deploys_per_hour
        current = target


@pytest.mark.parametrize("ticks", [36, pytest.param(288, marks=pytest.mark.slow)])
def test_a_dry_run_decides_as_the_backtest_decision_by_decision_and_deploys_nothing(rig, ticks):
    start = rig.site()
    rig.pilot().run(ticks=ticks)
    rows = rig.decisions()
    assert len(rows) == ticks and {r["mode"] for r in rows} == {"dry_run"}
    assert rig.clock.now() - T0 >= (ticks - 1) * STEP  # a simulated day, not a wall-clock one
    assert_same_decisions(rows, replayed(rig, rows, start).series)
    check_guardrails(rows, start, rig.svc.site_limit())
    assert {r["outcome"] for r in rows} <= {"hold", "dry_run"}
    assert rig.site() == start and rig.svc.deployments() == []


@pytest.mark.parametrize("ticks", [36, pytest.param(288, marks=pytest.mark.slow)])
def test_a_live_run_deploys_what_the_backtest_predicts_and_ends_on_its_allocation(rig, ticks):
    start = rig.site()
    rig.pilot(live=True).run(ticks=ticks)
    rows = rig.decisions()
    r = replayed(rig, rows, start)
    assert_same_decisions(rows, r.series)
    check_guardrails(rows, start, rig.svc.site_limit())
    assert rig.site() == r.allocation_final
    deploys = [row for row in rows if row["action"] == "deploy"]
    assert {row["outcome"] for row in deploys} == {"ok"}
    audit = rig.svc.deployments(1000)[::-1]
    assert [(a["source"], a["action"], a["result"]) for a in audit] == [("autopilot", "autopilot", "ok")] * len(deploys)
    assert [a["requested"] for a in audit] == [row["target"] for row in deploys]
    assert [row["audit_id"] for row in deploys] == [a["id"] for a in audit]


def test_a_restarted_live_autopilot_keeps_the_minimum_hold(rig):
    rig.pilot(Policy(min_hold=4), live=True).run(ticks=1)
    assert rig.decisions()[0]["action"] == "deploy"
    rig.clock.advance(STEP)
    again = rig.pilot(Policy(min_hold=4), live=True).once()  # a new process: the state comes from the database
    assert again.decision.action == "hold" and "last deploy was 1 interval ago" in again.decision.reason
    rig.clock.advance(STEP * 2)  # a price missed while it was stopped counts as a held interval
    assert "last deploy was 3 intervals ago" in rig.pilot(Policy(min_hold=4), live=True).once().decision.reason


# -- faults during the loop -----------------------------------------------------------------------------

def _down(request):
    raise httpx.ConnectError("connection refused", request=request)


def _rate_limited(request):
    if request.url.path == "/prices":
        return httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "slow down"})


def _refused(request):
    if request.method == "PUT":
        return httpx.Response(400, json={"detail": "Machines are in maintenance until 14:00"})


def _mismatch(rig: Rig):
    def hook(request):
        if request.method == "PUT":
            hook.sent = True
        elif hook.sent and request.url.path == "/machines":
            body = rig.sim.status(rig.sim.site_for_key(DEMO_KEY))
            body["air_miners"] += 3  # the site reports something other than what was sent
            return httpx.Response(200, json=body)

    hook.sent = False
    return hook


@pytest.mark.parametrize("fault, words", [(_down, "could not be reached"), (_rate_limited, "429")])
def test_a_failing_source_holds_and_says_why_then_the_loop_decides_again(rig, fault, words):
    start = rig.site()
    rig.fault.append(fault)
    tick = rig.pilot(live=True).tick()
    assert (tick.decision.action, tick.outcome) == ("hold", "sync_failed") and tick.record_id is not None
    assert "sync failed" in tick.decision.reason and words in tick.decision.reason.lower()
    assert rig.site() == start and rig.svc.deployments() == []
    rig.fault.clear()
    rig.clock.advance(STEP)
    assert rig.pilot(live=True).tick().outcome == "ok"  # the demo site is far from the optimum
    assert [r["outcome"] for r in rig.decisions()] == ["sync_failed", "ok"]


def test_a_late_price_is_waited_for_and_stale_prices_hold(rig):
    pilot = rig.pilot()
    pilot.tick()
    frozen = rig.clock.now()
    rig.sim.now = lambda: frozen  # a source that answers, but its prices stopped
    rig.clock.advance(STEP)
    assert pilot.tick(force=False) is None  # late: the loop asks again soon, and records nothing
    once = pilot.tick(force=True)
    assert (once.decision.action, once.outcome) == ("hold", "hold") and "decided on already" in once.decision.reason
    rig.clock.advance(STEP * 2)
    tick = pilot.tick(force=False)
    assert (tick.decision.action, tick.outcome) == ("hold", "prices_stale")
    assert "15 min ago" in tick.decision.reason and "needs a price from the last 10 min" in tick.decision.reason
    assert [r["outcome"] for r in rig.decisions()] == ["dry_run", "hold", "prices_stale"]


@pytest.mark.parametrize("fault, outcome, words", [(_refused, "refused", "maintenance until 14:00"),
                                                   ("mismatch", "mismatch", "reports a different allocation")])
def test_a_refused_or_mismatched_deploy_pauses_the_autopilot_and_says_why(rig, fault, outcome, words):
    rig.fault.append(_mismatch(rig) if fault == "mismatch" else fault)
    pilot = rig.pilot(live=True)
    tick = pilot.tick()
    assert (tick.decision.action, tick.outcome) == ("deploy", outcome)
    assert tick.paused and words in tick.paused and tick.record_id is not None
    assert rig.svc.deployments()[0]["result"] == outcome
    state = rig.svc.autopilot_state(now=rig.clock.now())
    assert state.pause["by"] == "autopilot" and words in state.pause["reason"]
    rig.fault.clear()
    rig.clock.advance(STEP)
    held = pilot.tick()
    assert (held.decision.action, held.outcome) == ("hold", "paused") and words in held.decision.reason
    assert len(rig.svc.deployments()) == 1  # nothing more was sent
    rig.svc.resume_autopilot()
    rig.clock.advance(STEP)
    assert pilot.tick().outcome in ("ok", "hold")


def test_a_policy_the_site_cannot_hold_pauses_instead_of_failing(rig):
    tick = rig.pilot(Policy(headroom_w=2_000_000), live=True).tick()  # the demo site has 1 MW
    assert (tick.decision.action, tick.outcome) == ("hold", "paused") and "more than the power limit" in tick.paused
    assert rig.svc.autopilot_state(now=rig.clock.now()).pause["by"] == "autopilot"
    assert rig.svc.deployments() == [] and tick.record_id is not None


def test_recorded_texts_are_redacted_and_bounded(rig):
    row = {"at": T0, "price_at": T0, "mode": "live", "action": "hold", "target": Allocation(), "current": Allocation(),
           "expected_gain_per_period": 0.0, "reason": "x-api-key: sk-abcdefghijklmnop " + "y" * 5000,
           "message": "Bearer abcdefgh12345678", "outcome": "hold"}
    rig.svc.store.add_autopilot_decision(row)
    got = rig.svc.autopilot_decisions(1)[0]
    assert "abcdefghijklmnop" not in got["reason"] and len(got["reason"]) <= 2000
    assert "abcdefgh12345678" not in got["message"] and got["target"] == Allocation().to_dict()
    assert got["price_at"] == T0.isoformat()


def test_a_locked_database_holds_and_loses_no_decision(rig, tmp_path, monkeypatch):
    import optera.store

    monkeypatch.setattr(optera.store, "BUSY_TIMEOUT_S", 0.05)
    store = Store(tmp_path / "locked.db")
    rig.svc = Service(load_settings(), rig.svc.client, store)
    pilot = rig.pilot(live=True)
    start = rig.site()
    holder = sqlite3.connect(str(tmp_path / "locked.db"))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        tick = pilot.tick()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (tick.decision.action, tick.outcome, tick.record_id) == ("hold", "sync_failed", None)
    assert "locked" in tick.decision.reason
    assert rig.site() == start
    rig.clock.advance(STEP)
    pilot.tick()
    rows = rig.decisions()
    assert [r["outcome"] for r in rows] == ["sync_failed", "ok"] and "locked" in rows[0]["reason"]


def test_decisions_a_locked_database_never_took_are_kept_beside_it(rig, tmp_path, monkeypatch):
    import optera.store

    monkeypatch.setattr(optera.store, "BUSY_TIMEOUT_S", 0.05)
    rig.svc = Service(load_settings(), rig.svc.client, Store(tmp_path / "locked.db"))
    holder = sqlite3.connect(str(tmp_path / "locked.db"))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        rig.pilot().run(ticks=2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    kept = [json.loads(x) for x in (tmp_path / "locked_autopilot.jsonl").read_text().splitlines()]
    assert [k["outcome"] for k in kept] == ["sync_failed", "sync_failed"]
    assert rig.decisions() == []


# -- the pause flag, the lock, stopping ----------------------------------------------------------------

def test_the_pause_flag_stops_a_running_loop_within_one_interval(rig):
    pilot = rig.pilot(live=True)
    stop = threading.Event()
    thread = threading.Thread(target=pilot.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(rig.svc.autopilot_decisions()) >= 3)
        assert rig.svc.autopilot_state(now=rig.clock.now()).status == "running"
        rig.clock.gate.clear()  # hold the loop in one of its waits, so the time the flag is set is exact
        wait_for(rig.clock.blocked.is_set)
        rig.svc.pause_autopilot("checking the cooling loop")
        set_at = rig.clock.now()
        assert rig.svc.autopilot_state(now=set_at).status == "pausing"
        rig.clock.gate.set()
        wait_for(lambda: rig.svc.autopilot_state(now=rig.clock.now()).status == "paused")
        seen = rig.svc.autopilot_state(now=rig.clock.now()).since
        assert timedelta(0) < seen - set_at <= timedelta(seconds=pilot.poll) < STEP
        wait_for(lambda: len([r for r in rig.decisions() if r["outcome"] == "paused"]) >= 3)
        after = [r for r in rig.decisions() if datetime.fromisoformat(r["at"]) > set_at]
        assert after and {(r["action"], r["outcome"]) for r in after} == {("hold", "paused")}
        stamps = [datetime.fromisoformat(r["at"]) for r in after]
        assert all(b - a >= STEP for a, b in zip(stamps, stamps[1:]))  # paused, it still holds once an interval
        assert all("checking the cooling loop" in r["reason"] for r in after)
        sent = len(rig.svc.deployments())
        rig.svc.resume_autopilot()
        wait_for(lambda: rig.decisions()[-1]["outcome"] != "paused")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert len(rig.svc.deployments()) >= sent
    assert rig.svc.autopilot_state(now=rig.clock.now()).status == "not running"


def test_a_paused_autopilot_starts_paused(rig):
    rig.svc.pause_autopilot("weekend")
    tick = rig.pilot(live=True).once()
    assert (tick.decision.action, tick.outcome) == ("hold", "paused") and "weekend" in tick.decision.reason
    assert rig.svc.deployments() == []


def test_a_second_autopilot_refuses_to_start(rig, capsys):
    lock = SiteLock(rig.svc.store.path)
    lock.acquire("live")
    try:
        with pytest.raises(AutopilotError, match="already running for this site.*pid"):
            rig.pilot().once()
    finally:
        lock.release()
    assert rig.pilot().once().record_id == 1  # free again


def test_the_cli_refuses_a_second_autopilot_on_the_same_database(capsys):
    lock = SiteLock(load_settings().db_path)
    lock.acquire("dry_run")
    try:
        assert main(["autopilot", "--once", "--json"]) == 1
    finally:
        lock.release()
    out = capsys.readouterr()
    assert out.out == "" and "Another autopilot is already running for this site" in out.err


def test_a_crashed_autopilot_does_not_block_the_next(tmp_path):
    db = tmp_path / "crash.db"
    code = (f"import os, signal; from optera.autopilot.loop import SiteLock; SiteLock({str(db)!r}).acquire('live'); "
            "print('locked', flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "locked" and done.returncode == -signal.SIGKILL
    lock = SiteLock(db)
    lock.acquire("live")  # the kernel dropped the dead process's lock
    lock.release()


def test_the_heartbeat_of_a_dead_autopilot_reads_not_running(rig):
    rig.svc.store.set_meta("autopilot", {"status": "running", "mode": "live",
                                         "heartbeat_at": (rig.clock.now() - timedelta(minutes=10)).isoformat()})
    assert rig.svc.autopilot_state(now=rig.clock.now()).status == "not running"


# -- the command -------------------------------------------------------------------------------------

def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_once_dry_run_json_is_one_strict_object_with_the_contract(capsys):
    assert main(["autopilot", "--once", "--dry-run", "--json", "--switching-cost", "1000", "--payback", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    got = strict_json(out)
    assert got["decision"] in ("deploy", "hold") and isinstance(got["reason"], str) and got["reason"]
    for key in ("target", "current"):
        assert sorted(got[key]) == sorted(MACHINE_TYPES) and all(type(v) is int for v in got[key].values())
    assert got["current"] == DEMO_ALLOCATION  # the simulator's demo site, as read just now
    store = Store(load_settings().db_path)
    p = store.price_history(datetime.fromisoformat(got["prices_at"]), datetime.fromisoformat(got["prices_at"]))
    unit = p["hash_price"].iloc[0] * HASH + p["token_price"].iloc[0] * TOKENS - p["energy_price"].iloc[0] * POWER
    target, current = (np.array([got[k][n] for n in MACHINE_TYPES]) for k in ("target", "current"))
    moved = np.abs(target - current).sum()
    assert got["decision"] == "deploy"  # the demo site is far from the optimum at the simulator's prices
    assert got["expected_gain_per_period"] == pytest.approx((target - current) @ unit - 1000 / 2 * moved)
    assert target @ POWER <= 1_000_000
    assert store.autopilot_decisions(5)[0]["mode"] == "dry_run" and store.deployments() == []


def test_once_live_deploys_and_bad_flags_are_one_line(capsys):
    assert main(["autopilot", "--once", "--live", "--json"]) == 0
    got = strict_json(capsys.readouterr().out)
    assert (got["decision"], got["outcome"], got["mode"]) == ("deploy", "ok", "live")
    assert Store(load_settings().db_path).deployments()[0]["source"] == "autopilot"
    assert main(["autopilot", "--live", "--dry-run"]) == 2
    assert main(["autopilot", "--once", "--payback", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "not allowed with argument" in err and "payback" in err


def test_backtest_policy_flags_report_capture_against_the_yardstick(capsys, data_dir):
    csv = str(data_dir / "mara_prices_2025-06-21.csv")
    base = ["backtest", "--prices-csv", csv, "--power-limit", "1000000", "--json", "--switching-cost", "2000"]
    assert main(base) == 0
    plain = strict_json(capsys.readouterr().out)
    assert plain["strategy"] == "optimal" and "yardstick_capture" not in plain
    assert main(base + ["--min-hold", "3", "--max-step", "30", "--headroom", "20000"]) == 0
    got = strict_json(capsys.readouterr().out)
    assert got["strategy"] == "policy" and set(plain) <= set(got)
    assert got["profit"] <= got["yardstick_profit"] + 1e-6
    assert got["yardstick_capture"] == pytest.approx(got["profit"] / got["yardstick_profit"])
    assert 0.9 < got["yardstick_capture"] <= 1.0 and got["deploys"] >= 1
    assert main(["backtest", "--prices-csv", csv, "--policy"]) == 0
    assert "captured" in capsys.readouterr().out


@pytest.mark.slow
def test_ctrl_c_stops_the_loop_cleanly(tmp_path):
    env = {**os.environ, "OPTERA_DB": str(tmp_path / "cli.db"), "OPTERA_SIM_STATE": str(tmp_path / "sim.json"),
           "OPTERA_HISTORY_DAYS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from optera.cli import main; sys.exit(main())",
                             "autopilot", "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = strict_json(proc.stdout.readline())
        assert first["mode"] == "dry_run"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out == "" and "Autopilot stopped" in err and "Traceback" not in err
    state = Service(load_settings({"OPTERA_DB": env["OPTERA_DB"]})).autopilot_state()
    assert state.status == "not running"
    SiteLock(tmp_path / "cli.db").acquire("live")  # released on the way out
