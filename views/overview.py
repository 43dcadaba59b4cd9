"""Overview: live prices, the site's allocation, power against the limit, economics, history."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from optera import charts
from optera.backtest import run_backtest
from optera.economics import allocation_economics, recorded_economics, status_breakdown
from optera.models import LABELS
from optera.service import SYNC_INTERVAL
from ui.common import show_table, get_service, init, money, per_day, sidebar

RANGES = {"6 h": timedelta(hours=6), "24 h": timedelta(days=1), "7 d": timedelta(days=7),
          "30 d": timedelta(days=30), "1 y": timedelta(days=365), "All": None}

sidebar()
st.title("Overview")


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def _window(db_path: str, latest: str, span: str) -> pd.DataFrame:
    svc = get_service()
    delta = RANGES[span]
    start = pd.Timestamp(latest).to_pydatetime() - delta + timedelta(seconds=1) if delta else None
    return svc.store.price_history(start=start)


@st.fragment(run_every=SYNC_INTERVAL.total_seconds())
def body() -> None:
    svc = get_service()
    svc.ensure_fresh(background=True)
    fresh = svc.freshness()
    if fresh.last_sync_ok is False:
        with st.container(border=True):
            st.error(f"The data source failed: {fresh.last_error}. Showing the last good data.",
                     icon=":material/cloud_off:")
            if st.button("Retry now", key="overview_retry", icon=":material/refresh:"):
                result = svc.refresh()
                (st.success if result.ok else st.error)(result.message)
    latest = svc.store.latest_prices(2)
    if not latest:
        st.info("No price data yet. Check the data source in the sidebar and press Refresh now.")
        return

    now = latest[0]
    prev = latest[1] if len(latest) > 1 else None
    st.caption(f"Prices as of {now.timestamp:%Y-%m-%d %H:%M} UTC · {fresh.source_label}")
    cols = st.columns(3)
    for col, name, label in zip(cols, ("energy_price", "hash_price", "token_price"),
                                ("Energy price", "Hash price", "Token price")):
        value = getattr(now, name)
        delta = value - getattr(prev, name) if prev else None
        col.metric(label, f"{value:.4f}", None if delta is None else f"{delta:+.4f}",
                   delta_color="inverse" if name == "energy_price" else "normal",
                   help="Change since the previous 5-minute point")

    snap = svc.status()
    limit = svc.power_limit()
    st.subheader("Site now")
    if snap is None:
        st.info("The site's allocation has not been read yet.")
    else:
        status, fetched = snap
        used = status.total_power_used
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Power used", f"{used / 1000:,.0f} kW", help=f"of {limit / 1000:,.0f} kW site limit")
        c2.metric("Revenue per period", money(status.total_revenue))
        c3.metric("Cost per period", money(status.total_power_cost))
        c4.metric("Profit per period", money(status.profit))
        st.caption(f"Per day ({svc.settings.periods_per_day:g} periods of {svc.settings.period_minutes:g} min): "
                   f"revenue {per_day(svc, status.total_revenue)}, cost {per_day(svc, status.total_power_cost)}, "
                   f"profit {per_day(svc, status.profit)}.")
        share = min(used / limit, 1.0) if limit else 0.0
        st.progress(share, text=f"{used:,.0f} W of {limit:,.0f} W ({used / limit:.1%} of the limit)")
        table = pd.DataFrame([{"Machine type": LABELS[r["type"]], "Units": r["units"], "Power (W)": r["power"],
                               "Revenue": r["revenue"], "Cost": r["cost"], "Profit": r["profit"]}
                              for r in status_breakdown(status)])
        show_table(table)
        st.caption(f"As reported by the site at {fetched:%Y-%m-%d %H:%M:%S} UTC; revenue and cost are per period "
                   f"({svc.settings.period_minutes:g} min), per-day figures assume that period. "
                   "The site reports cost as a total; per type it is split by power.")

    st.subheader("History")
    span = st.segmented_control("Range", list(RANGES), key=init("keep_overview_range", "7 d"))
    span = span or "7 d"
    prices = _window(str(svc.settings.db_path), now.timestamp.isoformat(), span)
    st.plotly_chart(charts.price_history_figure(prices), width="stretch")
    if snap is not None:
        econ = allocation_economics(prices, snap[0].allocation, svc.inventory())
        try:
            econ["optimum"] = run_backtest(prices, "optimal", limit, caps=svc.caps() or None,
                                           inventory=svc.inventory()).series["optimum_profit"].to_numpy()
        except ValueError as e:
            st.caption(f"The per-interval optimum is not drawn: {e}")
        recorded = recorded_economics(svc.store.snapshot_history(start=prices.index[0].to_pydatetime()))
        st.plotly_chart(charts.economics_figure(econ, "The current allocation at past prices, the per-interval "
                                                      "optimum, and what the site reported", recorded),
                        width="stretch")
    first_stored = svc.store.price_range()[0]
    st.caption(f"{len(prices):,} price points in range; stored history starts {first_stored:%Y-%m-%d %H:%M} UTC, "
               f"so longer ranges show all of it. Charts show at most {charts.MAX_POINTS:,} points per line "
               "(bucket means).")


body()
