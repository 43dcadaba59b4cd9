"""The autopilot in the app: its state and a pause control (Overview), and a backtest of a policy (Intel, Optimizer).

The loop itself runs in a terminal (`optera autopilot`); the app reads its heartbeat and
decisions through the service and sets the pause flag it obeys within seconds.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from optera import charts
from optera.backtest import best_schedule, run_policy
from optera.clock import utcnow
from optera.errors import InputError
from optera.models import Allocation
from optera.policy import Policy
from optera.redaction import plain
from optera.service import Service
from optera.units import count, machines, pct
from optera.units import power as kw
from optera.vocabulary import (
    AUTOPILOT_MODES,
    AUTOPILOT_OUTCOMES,
    AUTOPILOT_STATUS,
    DEPLOY_SOURCES,
    POLICY_LABELS,
    STRATEGY_LABELS,
)
from ui.common import METRIC_WIDTH, caps_notice, row

TIMELINE = 500  # decisions drawn on the timeline


def _ago(when: datetime, now: datetime) -> str:
    seconds = max(0.0, (now - when).total_seconds())
    return f"{seconds:,.0f} s ago" if seconds < 120 else f"{seconds / 60:,.0f} min ago" if seconds < 7200 else \
        f"{seconds / 3600:,.1f} h ago"


def autopilot_panel(svc: Service) -> None:
    """State (running, paused, dry run, not running), heartbeat, last decision and reason, next check,
    pause/resume, and the timeline of decisions beside deploys. Refreshes itself every 30 s."""
    st.subheader("Autopilot")
    _state(svc)


@st.fragment(run_every=30)
def _state(svc: Service) -> None:
    now = utcnow()
    state = svc.autopilot_state(now)
    last = state.last_decision
    with row():
        st.metric("State", AUTOPILOT_STATUS[state.status], width=METRIC_WIDTH,
                  help="Paused: it holds and deploys nothing until resumed. Pausing: it will see the pause within "
                       "seconds.")
        if state.running:  # a stopped autopilot has no mode, heartbeat or next check to show
            st.metric("Mode", AUTOPILOT_MODES[state.mode] if state.mode else "none", width=METRIC_WIDTH,
                      help="A dry run records what it would do and deploys nothing; live deploys through the same "
                           "checks as the Deploy button.")
            st.metric("Last heartbeat", _ago(state.heartbeat_at, now), width=METRIC_WIDTH,
                      help=f"{state.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if state.heartbeat_at else None)
            st.metric("Next check", f"{state.next_check_at:%H:%M} UTC" if state.next_check_at else "none",
                      width=METRIC_WIDTH,
                      help=f"{state.next_check_at:%Y-%m-%d %H:%M:%S} UTC" if state.next_check_at else None)
    if last:
        st.markdown(f"**Last decision: {AUTOPILOT_OUTCOMES.get(last['outcome'], last['outcome'])}** "
                    f"(at the price of {last['price_at'].replace('T', ' ')} UTC)")
        st.caption(plain(last["reason"]) + (f" {plain(last['message'])}" if last.get("message") else ""))
    else:
        st.markdown("**Last decision:** none yet")
    if state.pause:
        by = state.pause.get("by")
        who = {"autopilot": "by a guardrail", "app": "in the app", "cli": "from the command line"}.get(by, "")
        at = str(state.pause.get("at") or "").replace("T", " ")
        st.warning(f"Paused {who} at {at} UTC" + ("." if by == "app" else f": {plain(state.pause.get('reason'))}")
                   + ("" if state.running else " An autopilot started now starts paused."),
                   icon=":material/pause_circle:")
        st.button("Resume autopilot", icon=":material/play_arrow:", key="autopilot.resume",
                  on_click=svc.resume_autopilot)
    else:  # callbacks run before the next run reads the state, so it shows the change at once
        st.button("Pause autopilot", icon=":material/pause:", key="autopilot.pause", on_click=svc.pause_autopilot,
                  args=("paused in the app",),
                  help="The running autopilot holds within seconds and deploys nothing until resumed.")
    if not state.running:
        st.caption("Start it in a terminal: `optera autopilot` records decisions without deploying; "
                   "`optera autopilot --live` deploys them. See the README's Autopilot section.")
    if state.policy:
        st.caption("Policy: " + plain("; ".join(state.policy)) + ".")
    _timeline(svc)


def _timeline(svc: Service) -> None:
    rows = svc.autopilot_decisions(TIMELINE)
    if not rows:
        return
    decisions = pd.DataFrame(rows)
    decisions.index = pd.to_datetime(decisions.pop("price_at"))
    first = decisions.index.min()
    deploys = pd.DataFrame([{"at": r["at"], "ok": r["result"] == "ok",
                             "source": DEPLOY_SOURCES.get(r.get("source"), "Other"),
                             "label": f"{AUTOPILOT_OUTCOMES.get(r['result'], r['result'])}, "
                                      f"{machines(r['requested'] or {})}"} for r in svc.deployments(TIMELINE)])
    if len(deploys):
        deploys.index = pd.to_datetime(deploys.pop("at"))
        deploys = deploys[deploys.index >= first]
    st.plotly_chart(charts.decisions_figure(decisions, deploys), width="stretch", key="autopilot_timeline")


# ---------------------------------------------------------------- what would this policy have earned

@st.cache_data(ttl=300, max_entries=16, show_spinner="Replaying the policy…")
def _replay(prices: pd.DataFrame, fields: tuple, caps: tuple, limit: float, start: tuple, _inventory,
            inventory_key: tuple, _money) -> dict:
    policy = Policy(**dict(fields), caps=dict(caps))
    start_ = Allocation(*start)
    r = run_policy(prices, policy, limit, start_, _inventory, money=_money, yardstick=False)
    best = best_schedule(prices, limit, policy.switching_cost, start_, policy.caps, _inventory)
    capture = r.profit / best.profit if best.profit > 0 else None
    return {"profit": r.profit, "yardstick": best.profit, "capture": capture,
            "deploys": int((r.series["action"] == "deploy").sum()), "paid": r.switching_cost_paid,
            "cumulative": pd.DataFrame({"policy": r.series["cum_profit"], "schedule": best.series["cum_profit"]})}


def policy_backtest(svc: Service, prices: pd.DataFrame, key: str = "policy") -> Policy | None:
    """Settings for a policy (kept for the session) and what it would have earned over ``prices``,
    against the best schedule in hindsight with the same switching cost. Returns the policy."""
    money = svc.money
    st.subheader("What would this policy have earned?")
    caps_notice(svc, "this policy")
    c = st.columns(4)
    fields = {
        "switching_cost": c[0].number_input(f"{POLICY_LABELS['switching_cost']} ({money.unit})", 0.0, 1e12, 0.0,
                                            step=100.0, key=f"{key}.switching_cost", persist_state="session"),
        "payback": c[1].number_input(POLICY_LABELS["payback"], 1, 10_000, 1, key=f"{key}.payback",
                                     persist_state="session",
                                     help="A move must earn back its switching cost within this many intervals."),
        "min_hold": c[2].number_input(POLICY_LABELS["min_hold"], 0, 100_000, 0, key=f"{key}.min_hold",
                                      persist_state="session"),
        "min_gain": c[3].number_input(f"{POLICY_LABELS['min_gain']} ({money.unit}/period)", 0.0, 1e12, 0.0,
                                      step=100.0, key=f"{key}.min_gain", persist_state="session"),
    }
    c = st.columns(4)
    fields["max_moved"] = c[0].number_input(POLICY_LABELS["max_moved"], 1, 1_000_000, None, key=f"{key}.max_moved",
                                            placeholder="no limit", persist_state="session")
    fields["max_deploys_per_hour"] = c[1].number_input(POLICY_LABELS["max_deploys_per_hour"], 0, 1_000, None,
                                                       key=f"{key}.per_hour", placeholder="no limit",
                                                       persist_state="session")
    headroom_kw = c[2].number_input(POLICY_LABELS["headroom_w"].replace("(W)", "(kW)"), 0.0, 1e6, 0.0, step=10.0,
                                    key=f"{key}.headroom", persist_state="session")
    fields["headroom_w"] = float(headroom_kw) * 1000
    limit = svc.power_limit()
    start = svc.current_allocation()
    c[3].caption(f"Power limit {kw(limit)}; starts from what the site runs now: {machines(start)}.")
    if prices.empty:
        st.info("No prices in this window to replay the policy over.")
        return None
    try:
        policy = Policy(**fields, caps=svc.caps())
        inventory = svc.inventory()
        out = _replay(prices, tuple(sorted(fields.items())), tuple(sorted(policy.caps.items())), limit,
                      tuple(start.as_list()), inventory, tuple(sorted(inventory.specs.items())), money)
    except InputError as e:
        st.error(f"This policy cannot be replayed: {plain(e.message)}")
        return None
    m = st.columns(4)
    m[0].metric("Profit with this policy", money.compact(out["profit"]), help=money.total(out["profit"]) +
                f" over the window, after {money.total(out['paid'])} of switching costs")
    m[1].metric("Best in hindsight", money.compact(out["yardstick"]),
                help=f"{money.total(out['yardstick'])}: the {STRATEGY_LABELS['schedule'].lower()}, the most any "
                     "schedule could have earned knowing every price in advance and paying the same switching cost")
    m[2].metric("Captured", pct(out["capture"], 2), help="Profit with this policy as a share of the best schedule")
    m[3].metric("Deploys", count(out["deploys"]))
    rules = policy.describe(money)
    st.caption(f"Over {len(prices):,} intervals ({prices.index[0]:%Y-%m-%d %H:%M} to {prices.index[-1]:%Y-%m-%d %H:%M} "
               "UTC), deciding as the autopilot would: " + ("; ".join(rules) or "no switching cost, no limits") + ".")
    st.plotly_chart(charts.strategies_figure(out["cumulative"], "Cumulative profit: this policy and the best schedule",
                                             money.unit),
                    width="stretch", key=f"{key}_backtest_chart")
    st.caption("Run it (a dry run until you add --live):")
    st.code(command(policy), language="bash")
    return policy


def command(policy: Policy) -> str:
    """The `optera autopilot` command for a policy."""
    flags = [("--switching-cost", policy.switching_cost, 0.0), ("--payback", policy.payback, 1),
             ("--min-hold", policy.min_hold, 0), ("--min-gain", policy.min_gain, 0.0),
             ("--max-step", policy.max_moved, None), ("--max-deploys-per-hour", policy.max_deploys_per_hour, None),
             ("--headroom", policy.headroom_w, 0.0)]
    return " ".join(["optera autopilot"] + [f"{f} {v:g}" for f, v, default in flags if v != default])
