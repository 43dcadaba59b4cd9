"""Intel: bitcoin market, which machine type pays and when, backtests, forecasts, the market brief."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from optera import charts
from optera.intel import metrics as intel
from optera.intel.brief import market_brief
from optera.backtest import compare_strategies, run_backtest
from optera.pricefile import read_prices_csv
from optera.intel.btc import btc_metrics, load_market, moving_averages
from optera.intel.forecast import forecast_prices
from optera.chat.llm import phrase_brief
from optera.models import LABELS, ValidationError
from optera.chat.tools import Toolbox
from ui.common import show_table, get_service, init, sidebar

sidebar()
st.title("Intel")
svc = get_service()
inventory = svc.inventory()


def download(frame: pd.DataFrame, name: str, key: str) -> None:
    st.download_button(f"Download {name} (CSV)", frame.to_csv().encode(), file_name=f"{key}.csv",
                       mime="text/csv", key=f"dl_{key}", icon=":material/download:")


def _offline(period: str, interval: str):
    raise RuntimeError("live bitcoin data is turned off (OPTERA_BTC_LIVE=0)")


@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def _market(db_path: str):
    return load_market(svc.store, fetcher=None if svc.settings.btc_live else _offline)


# -- bitcoin ----------------------------------------------------------------------
st.subheader("Bitcoin")
market = _market(str(svc.settings.db_path))
if market.source == "live":
    st.caption(f"BTC-USD, {market.message}")
else:
    st.warning(f"Live bitcoin data is not available, so this is {market.source} data as of "
               f"{market.as_of:%Y-%m-%d}" if market.as_of else "No bitcoin data", icon=":material/cloud_off:")
    st.caption(market.message)
if market.daily.empty:
    st.warning("No bitcoin data is available: the live source failed and the shipped history could not be read.")
else:
    metrics = btc_metrics(market)

    def pct(value, signed: bool = False) -> str:
        return "n/a" if value is None else (f"{value:+.2%}" if signed else f"{value:.1%}")

    c = st.columns(4)
    c[0].metric("Price (USD)", f"{metrics['price']:,.0f}")
    c[1].metric("24 h change", pct(metrics.get("change_24h"), signed=True), help=metrics.get("change_24h_basis"))
    c[2].metric("Drawdown from peak", pct(metrics["drawdown"]))
    c[3].metric("7-day average (USD)", "n/a" if metrics["ma_7"] is None else f"{metrics['ma_7']:,.0f}")
    c = st.columns(4)
    c[0].metric("7-day volatility", pct(metrics["volatility_7d"]), help="annualised, daily log returns")
    c[1].metric("30-day volatility", pct(metrics["volatility_30d"]), help="annualised, daily log returns")
    c[2].metric("30-day average (USD)", "n/a" if metrics["ma_30"] is None else f"{metrics['ma_30']:,.0f}")
    daily = market.daily.loc[market.daily.index >= market.daily.index[-1] - pd.Timedelta(days=365)]
    st.plotly_chart(charts.btc_figure(daily, moving_averages(daily)), width="stretch")
    download(market.daily, "BTC daily history", "btc_daily")

# -- window -------------------------------------------------------------------------
span = svc.store.price_range()
if span is None:
    st.info("No MARA price history yet: press Refresh now in the sidebar.")
    st.stop()
first, last = span
default_start = max(first, last - timedelta(days=7)).date()
picked = st.date_input("Window", min_value=first.date(), max_value=last.date(),
                       key=init("keep_intel_window", (default_start, last.date())))
if not isinstance(picked, (tuple, list)) or len(picked) != 2:
    st.info("Pick a start and an end date.")
    st.stop()
start = pd.Timestamp(picked[0]).to_pydatetime()
end = pd.Timestamp(picked[1]).to_pydatetime() + timedelta(days=1) - timedelta(seconds=1)


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def _prices(db_path: str, start, end, latest) -> pd.DataFrame:
    return svc.store.price_history(start, end)


prices = _prices(str(svc.settings.db_path), start, end, last)
if prices.empty:
    st.info("No price points in this window.")
    st.stop()
st.caption(f"{len(prices):,} price points from {prices.index[0]:%Y-%m-%d %H:%M} to {prices.index[-1]:%Y-%m-%d %H:%M} UTC")

# -- profitability ----------------------------------------------------------------
st.subheader("Which machines pay, and when")
per_kw = intel.profit_per_kw(prices, inventory)
st.plotly_chart(charts.lines_figure(per_kw, "Profit per kW per period, by machine type", "per kW"),
                width="stretch")
hourly = intel.hourly_profile(prices, inventory)
st.plotly_chart(charts.lines_figure(hourly, "When in the day each type pays: mean profit per kW by hour (UTC)",
                                    "per kW"), width="stretch")
best = intel.best_type_timeline(prices, inventory)
st.plotly_chart(charts.timeline_figure(best, "Best machine type per interval (profit per kW)"),
                width="stretch")
be = intel.break_even_energy(prices, inventory)
be_plot = be.copy()
be_plot["energy_price"] = prices["energy_price"]
st.plotly_chart(charts.lines_figure(be_plot, "Break-even energy price by type (runs while energy is below)",
                                    "energy price", labels={**LABELS, "energy_price": "Actual energy price"}),
                width="stretch")
left, _ = st.columns([2, 3])
share = intel.share_worth_running(prices, inventory)
share_table = pd.DataFrame({"Machine type": [LABELS[n] for n in share.index],
                            "Share of intervals worth running": share.to_numpy()})
left.dataframe(share_table, hide_index=True, width="stretch",
               column_config={"Share of intervals worth running": st.column_config.ProgressColumn(
                   min_value=0.0, max_value=1.0, format="percent")})
stats = intel.summary_stats(prices)
show_table(stats, hide_index=False, decimals=4)
download(per_kw.add_suffix("_profit_per_kw").join(be.add_suffix("_break_even_energy")), "profitability",
         "profitability")
download(stats, "summary statistics", "summary_stats")
download(hourly, "profit by hour of day", "hourly_profile")
download(share_table, "share of intervals worth running", "share_worth_running")

corr = intel.correlations(prices, market.daily)
corr_matrix = corr[0] if isinstance(corr, tuple) else corr
if corr_matrix is not None and not corr_matrix.empty:
    st.plotly_chart(charts.heatmap_figure(corr_matrix, "Correlations (daily resample)"), width="stretch")
    download(corr_matrix, "correlations", "correlations")
else:
    note = corr[1] if isinstance(corr, tuple) else "not enough overlapping days"
    btc_end = f"; the bitcoin data ends {market.as_of:%Y-%m-%d}" if market.as_of else ""
    st.caption(f"Correlations with BTC: {note} (the window runs {prices.index[0]:%Y-%m-%d} to "
               f"{prices.index[-1]:%Y-%m-%d}{btc_end}).")

# -- backtests ----------------------------------------------------------------------
st.subheader("Backtests")
b1, b2, b3, b4 = st.columns([1, 1, 1, 2])
switching = b1.number_input("Switching cost per unit moved", min_value=0.0, step=1.0,
                            key=init("keep_bt_switching", 0.0))
min_hold = b3.number_input("Minimum hold (intervals)", min_value=0, step=1, key=init("keep_bt_hold", 0),
                           help="After a switch, keep the new allocation at least this many intervals")
limit_kw = b2.number_input("Power limit (kW)", min_value=0, step=10, key=init("keep_bt_power", int(svc.power_limit() // 1000)))
upload = b4.file_uploader("Or your own prices (CSV: timestamp,energy_price,hash_price,token_price)", type="csv")
bt_prices, label = prices, "selected window"
if upload is not None:
    try:
        bt_prices, label = read_prices_csv(upload), f"uploaded file {upload.name}"
    except (ValueError, ValidationError) as e:
        st.error(f"That CSV cannot be used: {e}")


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def _compare(frame: pd.DataFrame, limit: float, current, caps: dict, switching: float, min_hold: int, _inventory,
             inventory_key: tuple):
    table = compare_strategies(frame, limit, current, caps=caps or None, switching_cost=switching,
                               min_hold=min_hold, inventory=_inventory)
    optimal = run_backtest(frame, "optimal", limit, allocation=current, caps=caps or None, switching_cost=switching,
                           min_hold=min_hold, inventory=_inventory)
    return table, optimal.series


try:
    table, series = _compare(bt_prices, float(limit_kw) * 1000, svc.current_allocation(), svc.caps(),
                             float(switching), int(min_hold), inventory, tuple(sorted(inventory.specs.items())))
    st.caption(f"Over the {label}: {len(bt_prices):,} intervals. Capture = profit as a share of the per-interval "
               "optimum. *Hindsight* is the best single allocation held over the whole span, known only afterwards.")
    show_table(table.rename(columns={"strategy": "Strategy", "profit": "Profit", "revenue": "Revenue", "cost": "Cost",
                                     "switches": "Switches", "switching_cost_paid": "Switching cost paid",
                                     "capture": "Capture"}), percent=("Capture",))
    st.plotly_chart(charts.cumulative_figure(series, "Cumulative profit: re-optimising every interval"),
                    width="stretch")
    download(series, "backtest intervals", "backtest_series")
    download(table, "backtest summary", "backtest")
except (ValueError, ValidationError) as e:
    st.error(f"Backtest not possible: {e}")

# -- forecast ----------------------------------------------------------------------
st.subheader("Short-horizon forecast")
st.caption("From the latest 7 days of stored prices, whatever the window above: a forecast is about what comes next.")
latest_week = _prices(str(svc.settings.db_path), last - timedelta(days=7), last, last)


@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def _forecast(db_path: str, latest, frame: pd.DataFrame):
    return forecast_prices(frame, horizon=12)


try:
    fc = _forecast(str(svc.settings.db_path), last, latest_week)
except ValueError as e:
    fc = None
    st.info(f"No forecast yet: {e}")
if fc is not None:
    cols = st.columns(3)
    recent = latest_week.iloc[-72:]
    for col, name in zip(cols, ("energy_price", "hash_price", "token_price")):
        col.plotly_chart(charts.forecast_figure(recent[name], fc.frame[name], charts.PRICE_LABELS[name],
                                                charts.COLORS[name]), width="stretch")
    st.caption("Out-of-sample error on this window (rolling origins), exponential smoothing vs the naive last value:")
    show_table(fc.errors.rename(columns={"model_mae": "Smoothing MAE", "model_mape": "Smoothing MAPE",
                                         "naive_mae": "Naive MAE", "naive_mape": "Naive MAPE",
                                         "coverage": "Interval coverage", "origins": "Origins",
                                         "beats_naive": "Beats naive"}),
               hide_index=False, percent=("Smoothing MAPE", "Naive MAPE", "Interval coverage"))
    download(fc.errors, "forecast errors", "forecast_errors")
    if st.button("Use the 1-hour forecast as an Optimizer what-if", icon=":material/tune:"):
        st.session_state["forecast_preset"] = fc.as_whatif
        for name, value in fc.as_whatif.items():
            st.session_state[f"keep_opt_{name}"] = float(value)
        st.switch_page("views/optimizer.py")
    download(pd.concat({n: fc.frame[n] for n in ("energy_price", "hash_price", "token_price")}, axis=1), "forecast",
             "forecast")

# -- brief ---------------------------------------------------------------------------
st.subheader("Market brief")
toolbox = Toolbox(svc)
brief = market_brief(toolbox, None if market.daily.empty else metrics, {"share_worth_running": share.to_dict(),
                                        "best_type_counts": best.value_counts().to_dict()})
if svc.settings.llm_configured and st.button("Rephrase with the LLM", icon=":material/edit_note:",
                                            help="The LLM may reword the brief; a version with new numbers is rejected"):
    with st.spinner("Asking the LLM…"):
        brief = phrase_brief(svc.settings, {"btc": None if market.daily.empty else metrics}, brief)
st.markdown(brief)
st.caption("Written from the numbers on this page; no figure is added by the LLM.")
