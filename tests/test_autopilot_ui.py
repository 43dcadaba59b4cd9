"""The autopilot's components in the app (AppTest over tests/autopilot_app.py): state, pause and
resume, the timeline, and what a policy would have earned against the best schedule."""

from __future__ import annotations

import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from optera.backtest import best_schedule, run_policy
from optera.charts import decisions_figure
from optera.cli import main
from optera.clock import utcnow
from optera.config import load_settings
from optera.models import MACHINE_TYPES
from optera.policy import Policy
from optera.service import Service
from optera.units import pct

RAW = re.compile(r"\b(" + "|".join(MACHINE_TYPES) + r"|switching_cost|min_hold|headroom_w|max_moved|dry_run|"
                 r"sync_failed|prices_stale|expected_gain_per_period)\b")


@pytest.fixture(autouse=True)
def _site(monkeypatch):
    st.cache_data.clear()
    monkeypatch.setenv("OPTERA_HISTORY_DAYS", "1")
    svc = Service(load_settings())
    assert svc.refresh().ok
    yield svc
    st.cache_data.clear()


def page() -> AppTest:
    at = AppTest.from_file("autopilot_app.py", default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def words(at) -> str:
    parts = [str(getattr(e, "value", "")) for kind in ("markdown", "caption", "warning", "info", "error", "subheader")
             for e in getattr(at, kind)]
    parts += [m.label + " " + str(m.value) for m in at.metric] + [w.label for w in at.number_input]
    parts += [b.label for b in at.button]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts)).replace("**", "")


def test_a_site_without_an_autopilot_says_so_and_can_be_paused_ahead(_site):
    at = page()
    assert metric(at, "State") == "Not running" and "Last decision: none yet" in words(at)
    assert "optera autopilot --live" in words(at)
    at.button(key="autopilot.pause").click().run()
    assert _site.autopilot_state().pause["reason"] == "paused in the app"
    assert "Paused in the app at" in words(at) and "starts paused" in words(at)
    at.button(key="autopilot.resume").click().run()
    assert _site.autopilot_state().pause is None and not at.warning


def test_the_last_decision_its_reason_and_a_running_heartbeat_are_shown(_site, capsys):
    assert main(["autopilot", "--once", "--json"]) == 0
    capsys.readouterr()
    last = _site.autopilot_decisions(1)[0]
    now = utcnow()
    beat = {**_site.store.get_meta("autopilot"), "status": "running", "heartbeat_at": now.isoformat(),
            "next_check_at": now.replace(microsecond=0).isoformat()}
    _site.store.set_meta("autopilot", beat)
    at = page()
    assert (metric(at, "State"), metric(at, "Mode")) == ("Running", "Dry run")
    assert "Last decision: Would deploy (dry run)" in words(at)
    assert metric(at, "Next check") == f"{now:%H:%M} UTC" and metric(at, "Last heartbeat").endswith("s ago")
    assert last["reason"][:60] in words(at)
    assert len(at.get("plotly_chart")) == 2  # the timeline, and the policy's cumulative profit
    assert not RAW.search(words(at)), RAW.search(words(at))


def test_what_a_policy_would_have_earned_against_the_best_schedule(_site):
    at = page()
    at.number_input(key="policy.switching_cost").set_value(1000.0)
    at.number_input(key="policy.min_hold").set_value(3)
    at.number_input(key="policy.headroom").set_value(20.0)  # kW
    at.run()
    assert not at.exception and not at.error
    prices = _site.price_window()
    policy = Policy(switching_cost=1000, min_hold=3, headroom_w=20_000)
    start = _site.current_allocation()
    mine = run_policy(prices, policy, _site.power_limit(), start, _site.inventory(), yardstick=False)
    best = best_schedule(prices, _site.power_limit(), 1000, start, None, _site.inventory())
    assert mine.profit <= best.profit
    assert metric(at, "Captured") == pct(mine.profit / best.profit, 2)
    assert metric(at, "Deploys") == f"{(mine.series['action'] == 'deploy').sum():,}"
    assert at.code[0].value == "optera autopilot --switching-cost 1000 --min-hold 3 --headroom 20000"
    assert "keep 20 kW of power unused" in words(at)
    assert not RAW.search(words(at)), RAW.search(words(at))


def test_a_policy_the_site_cannot_hold_is_refused_with_a_message(_site):
    at = page()
    at.number_input(key="policy.headroom").set_value(5000.0)  # 5 MW of headroom on a 1 MW site
    at.run()
    assert not at.exception and "cannot be replayed" in at.error[0].value


def test_the_timeline_puts_each_decision_in_its_lane_with_escaped_reasons():
    import pandas as pd

    idx = pd.date_range("2025-06-22", periods=4, freq="5min")
    decisions = pd.DataFrame({"outcome": ["hold", "dry_run", "mismatch", "paused"],
                              "reason": ["a", "<img src=x>", "c", "d"]}, index=idx)
    deploys = pd.DataFrame({"ok": [True], "source": ["Autopilot"], "label": ["Deployed"]}, index=idx[2:3])
    fig = decisions_figure(decisions, deploys)
    lanes = {t.name: list(t.x) for t in fig.data}
    assert lanes["Held"] == [idx[0]] and lanes["Would deploy (dry run)"] == [idx[1]]
    assert lanes["Deploy not completed"] == [idx[2]] and lanes["Held by a guardrail"] == [idx[3]]
    assert lanes["Deploys (audit trail)"] == [idx[2]]
    assert all("<img" not in t for trace in fig.data for t in (trace.text or ()))
    assert decisions_figure(pd.DataFrame(), pd.DataFrame()).data  # nothing yet: empty lanes, no error
