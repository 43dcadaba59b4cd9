"""Overview: live prices, what the site runs, what to do next, profit and loss, history."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from optera import charts
from optera.backtest import run_backtest
from optera.economics import allocation_economics, recorded_economics, status_breakdown
from optera.errors import InputError
from optera.intel.metrics import summary_stats
from optera.optimize import Constraints, solve
from optera.redaction import plain
from optera.service import SYNC_INTERVAL
from optera.units import pct, price
from optera.units import power as kw
from optera.vocabulary import LABELS, LOWER, MACHINE_TYPES, PRICE_COLUMNS, PRICE_LABELS, PRICE_MEANING, STAT_LABELS
from ui.autopilot import autopilot_panel
from ui.common import METRIC_WIDTH, caps_notice, row, sidebar, simulator_banner, small_table

RANGES = {"6 h": timedelta(hours=6), "24 h": timedelta(days=1), "7 d": timedelta(days=7),
          "30 d": timedelta(days=30), "90 d": timedelta(days=90), "1 y": timedelta(days=365), "All": None}

svc = sidebar()
st.title("Overview")
simulator_banner(svc)
money = svc.money


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def _window(key: str, latest: str, span: str) -> pd.DataFrame:
    delta = RANGES[span]
    start = pd.Timestamp(latest).to_pydatetime() - delta + timedelta(seconds=1) if delta else None
    return svc.price_window(start=start)


@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def _pnl(key: str, latest: str, deploys: int, caps: str):
    return svc.recent_pnl()


def prices_now(now, prev) -> None:
    with row():
        for name in PRICE_COLUMNS:
            value = getattr(now, name)
            delta = value - getattr(prev, name) if prev else None
            st.metric(PRICE_LABELS[name], price(value), None if delta is None else f"{delta:+.4f}",
                      delta_color="inverse" if name == "energy_price" else "normal", width=METRIC_WIDTH,
                      help=f"Per period: {PRICE_MEANING[name]}. The change is since the previous 5-minute point.")


def next_step(status, now, limit: float) -> None:
    """The gap to the optimum per day, what loses money now, and the way to fix it."""
    inventory = svc.inventory()
    caps = svc.caps()
    best = solve(now, limit, Constraints(caps=caps), None, inventory)
    losing = [n for n in MACHINE_TYPES if status.allocation[n] and inventory[n].unit_profit(now) < 0]
    with st.container(border=True):
        st.markdown("**What to do next**")
        if not best.feasible:
            st.warning(plain(best.message))
            return
        gap = best.profit - status.allocation.profit(now, inventory)
        if best.allocation == status.allocation or gap <= 1e-9:
            st.markdown(":green[The site runs the optimal allocation at the latest prices.]")
        else:
            st.markdown(f"Re-optimising would earn **{money.day(gap)}** more at the latest prices "
                        f"({money.period(gap)}).")
        if losing:
            st.markdown("Losing money right now: " + ", ".join(
                f"{status.allocation[n]:,} {LOWER[n]} "
                f"({money.period(status.allocation[n] * inventory[n].unit_profit(now))})"
                for n in losing) + ".")
        st.page_link("views/optimizer.py", label="Open the Optimizer", icon=":material/tune:")


def site_now(snap, limit: float) -> None:
    st.subheader("Site now")
    if snap is None:
        st.info("The site's allocation has not been read yet.")
        return
    status, fetched = snap
    used = status.total_power_used
    with row():
        st.metric("Power used", kw(used), f"of {kw(limit)}", delta_color="off", delta_arrow="off", width=METRIC_WIDTH)
        for label, value in (("Revenue", status.total_revenue), ("Energy cost", status.total_power_cost),
                             ("Profit", status.profit)):
            st.metric(label, money.compact(value), "per period", delta_color="off", delta_arrow="off",
                      help=money.period(value), width=METRIC_WIDTH)
    st.caption(f"Per day: revenue {money.day(status.total_revenue)}, cost {money.day(status.total_power_cost)}, "
               f"profit {money.day(status.profit)} ({money.period_note}).")
    st.progress(min(used / limit, 1.0) if limit else 0.0, text=f"{kw(used)} of {kw(limit)} ({pct(used / limit)})")
    small_table(pd.DataFrame([{"Machine type": LABELS[r["type"]], "Units": r["units"], "Power (kW)": r["power"] / 1000,
                               f"Revenue ({money.unit}/period)": r["revenue"],
                               f"Cost ({money.unit}/period)": r["cost"],
                               f"Profit ({money.unit}/period)": r["profit"]} for r in status_breakdown(status)]),
                decimals=0)
    st.caption(f"As reported by the site at {fetched:%Y-%m-%d %H:%M:%S} UTC. The site reports cost as a total; "
               "per type it is split by power.")


def _deploy_label(d, money) -> str:
    moved = d.moved if d.moved is not None else "?"
    change = money.period(d.profit_change, signed=True) if d.profit_change is not None else "change unknown"
    return f"{d.action}: {moved} units moved, {change}"


def profit_and_loss(now) -> None:
    st.subheader("Profit and loss")
    try:
        recent = _pnl(svc.cache_key, now.timestamp.isoformat(), len(svc.deployments(1000)), svc.caps_text())
    except InputError as e:
        st.info(f"No profit and loss yet: {plain(e.message)}")
        return
    windows = (("yesterday", recent.yesterday), ("last 7 days", recent.last_7_days),
               ("last 30 days", recent.last_30_days))
    with row():
        for label, r in windows:
            if not r.intervals:
                st.metric(f"Realized profit, {label}", "no record", "the site was not read then", delta_color="off",
                          delta_arrow="off", width=METRIC_WIDTH + 40)
                continue
            st.metric(f"Realized profit, {label}", money.compact(r.realized_profit),
                      f"{pct(r.capture)} of the optimum" if r.capture is not None else "nothing could be earned",
                      delta_color="off", delta_arrow="off", width=METRIC_WIDTH + 40,
                      help=f"{money.total(r.realized_profit)} over {r.intervals:,} intervals; left on the table "
                           f"{money.total(r.left_on_table)} ({money.compact(r.left_on_table)})")
    if recent.ledger.assumptions:
        st.caption("  \n".join(f":material/info: {plain(note, 400)}" for note in recent.ledger.assumptions[:4]))


def pnl_chart(now) -> None:
    try:
        ledger = _pnl(svc.cache_key, now.timestamp.isoformat(), len(svc.deployments(1000)), svc.caps_text()).ledger
    except InputError as e:
        st.info(f"No profit and loss yet: {plain(e.message)}")
        return
    if not ledger.rows:
        st.info("No day has a recorded allocation yet: the ledger needs the site's status read at least once.")
        return
    days = pd.DataFrame([{"day": r.start, "realized_profit": r.realized_profit,
                          "optimal_profit": r.optimal_profit} for r in ledger.rows]).set_index("day")
    deploys = pd.DataFrame([{"at": d.at, "label": _deploy_label(d, money)} for d in ledger.deploys],
                           columns=["at", "label"]).set_index("at")
    st.plotly_chart(charts.pnl_figure(days, deploys, money.unit), width="stretch", key="ov_pnl")


def price_summary(prices: pd.DataFrame) -> None:
    stats = summary_stats(prices)[["min", "mean", "max", "last", "change_pct"]]
    stats.index = [PRICE_LABELS[n] for n in stats.index]
    small_table(stats.rename(columns=STAT_LABELS).reset_index(names="Price (per period)"),
                percent=(STAT_LABELS["change_pct"],), decimals=4)


def economics_chart(prices: pd.DataFrame, snap, limit: float) -> None:
    if snap is None or not len(prices):
        st.info("The site's allocation has not been read yet, so there is nothing to price.")
        return
    econ = allocation_economics(prices, snap[0].allocation, svc.inventory())
    try:
        econ["optimum"] = run_backtest(prices, "optimal", limit, caps=svc.caps() or None,
                                       inventory=svc.inventory()).series["optimum_profit"].to_numpy()
    except InputError as e:
        st.caption(f"The per-interval optimum is not drawn: {plain(e.message)}")
    recorded = recorded_economics(svc.status_history(start=prices.index[0].to_pydatetime()))
    st.plotly_chart(charts.economics_figure(econ, "What runs now, at past prices, against the optimum",
                                            money.unit, recorded), width="stretch", key="ov_econ")


# The history opens on a table; each chart is drawn only when its tab is opened, so a first
# visit and every price tick send no chart the analyst has not asked for.
TABS = ("Summary", "Price chart", "Economics chart", "Realized profit per day")


def history(now, snap, limit: float) -> None:
    st.subheader("History")
    span = st.segmented_control("Range", list(RANGES), default="7 d", key="overview.range",
                                persist_state="session") or "7 d"
    prices = _window(svc.cache_key, now.timestamp.isoformat(), span)
    tabs = dict(zip(TABS, st.tabs(TABS, key="overview.history_tab", on_change="rerun")))
    if tabs["Summary"].open:
        with tabs["Summary"]:
            price_summary(prices)
    if tabs["Price chart"].open:
        with tabs["Price chart"]:
            st.plotly_chart(charts.price_history_figure(prices), width="stretch", key="ov_prices")
    if tabs["Economics chart"].open:
        with tabs["Economics chart"]:
            economics_chart(prices, snap, limit)
    if tabs["Realized profit per day"].open:
        with tabs["Realized profit per day"]:
            pnl_chart(now)
    first, _ = svc.price_span()
    st.caption(f"{len(prices):,} price points in range; stored history starts {first:%Y-%m-%d %H:%M} UTC, so longer "
               f"ranges show all of it. Charts show at most {charts.MAX_POINTS:,} points per line (bucket means).")


@st.fragment(run_every=SYNC_INTERVAL.total_seconds())
def body() -> None:
    svc.ensure_fresh(background=True)
    fresh = svc.freshness()
    if fresh.last_sync_ok is False:
        with st.container(border=True):
            st.error(f"The data source failed: {plain(fresh.last_error)}. Showing the last good data.",
                     icon=":material/cloud_off:")
            if st.button("Retry now", key="overview_retry", icon=":material/refresh:"):
                result = svc.refresh()
                (st.success if result.ok else st.error)(plain(result.message))
    latest = svc.recent_prices(2)
    if not latest:
        st.info("No price data yet. Check the data source in the sidebar and press Refresh now.")
        return
    now, prev = latest[0], (latest[1] if len(latest) > 1 else None)
    st.caption(f"Prices per period as of {now.timestamp:%Y-%m-%d %H:%M} UTC · {plain(fresh.source_label)}")
    prices_now(now, prev)
    caps_notice(svc, "the optimum on this page")
    snap = svc.status()
    limit = svc.power_limit()
    if snap is not None:
        next_step(snap[0], now, limit)
    site_now(snap, limit)
    profit_and_loss(now)
    autopilot_panel(svc)
    history(now, snap, limit)


body()
