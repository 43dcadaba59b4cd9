"""Intel: bitcoin market, which machine type pays and when, strategies compared, forecasts, the brief."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from optera import charts
from optera.backtest import best_schedule, run_backtest
from optera.chat.llm import phrase_brief
from optera.chat.tools import Toolbox
from optera.errors import InputError
from optera.intel import metrics as intel
from optera.intel.brief import market_brief
from optera.intel.btc import btc_metrics, moving_averages
from optera.intel.forecast import forecast_prices
from optera.pricefile import read_prices_csv
from optera.redaction import plain
from optera.units import pct
from optera.vocabulary import LABELS, LOWER, PRICE_COLUMNS, PRICE_LABELS, STAT_LABELS, STRATEGY_LABELS
from ui import whatif
from ui.autopilot import policy_backtest
from ui.common import (
    METRIC_WIDTH,
    caps_notice,
    chart,
    download,
    row,
    show_table,
    sidebar,
    simulator_banner,
    small_table,
)

svc = sidebar()
st.title("Intel")
simulator_banner(svc)
inventory = svc.inventory()
money = svc.money


@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def _market(key: str):
    return svc.bitcoin()


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def _prices(key: str, start, end, latest) -> pd.DataFrame:
    return svc.price_window(start, end)


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def _strategies(frame: pd.DataFrame, limit: float, current, caps: dict, switching: float, min_hold: int,
                _inventory, inventory_key: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = {"optimal": run_backtest(frame, "optimal", limit, current, caps or None, 0.0, 0, _inventory),
            "hold": run_backtest(frame, "hold", limit, current, caps or None, 0.0, 0, _inventory),
            "hindsight": run_backtest(frame, "hindsight", limit, current, caps or None, switching, 0, _inventory)}
    if switching > 0 or min_hold > 0:
        runs["policy"] = run_backtest(frame, "optimal", limit, current, caps or None, switching, min_hold, _inventory)
    if switching > 0:
        runs["schedule"] = best_schedule(frame, limit, switching, current, caps or None, _inventory)
    yardstick = runs["schedule"].profit if "schedule" in runs else runs["optimal"].profit
    table = pd.DataFrame([{
        "Strategy": STRATEGY_LABELS[k] + (" (your switching cost and hold)" if k == "policy" else ""),
        f"Profit ({money.unit})": r.profit, f"Revenue ({money.unit})": r.revenue, f"Energy cost ({money.unit})": r.cost,
        "Switches": r.switches, f"Switching cost paid ({money.unit})": r.switching_cost_paid,
        "Share of the per-interval optimum": r.capture,
        "Share of the best schedule": r.profit / yardstick if yardstick > 0 else None} for k, r in runs.items()])
    cumulative = pd.DataFrame({k: r.series["cum_profit"] for k, r in runs.items()})
    return table, cumulative


@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def _forecast(key: str, latest, frame: pd.DataFrame):
    return forecast_prices(frame, horizon=12)


def bitcoin():
    st.subheader("Bitcoin")
    market = _market(svc.cache_key)
    if market.source == "live":
        st.caption(f"BTC-USD, {plain(market.message)}")
    elif market.as_of is not None:
        st.warning(f"Live bitcoin data is not available ({'; '.join(market.warnings) or market.source}), so this "
                   f"is {'cached' if market.source == 'cache' else 'shipped'} data as of {market.as_of:%Y-%m-%d}.",
                   icon=":material/cloud_off:")
    if market.daily.empty:
        st.warning("No bitcoin data is available: the live source failed and the shipped history could not be read.")
        return market, None
    m = btc_metrics(market)
    with row():
        st.metric("Price (USD)", f"{m['price']:,.0f}", f"as of {m['price_time']:%Y-%m-%d}", delta_color="off",
                  delta_arrow="off", width=METRIC_WIDTH)
        st.metric("24 h change", pct(m.get("change_24h"), 2, signed=True), help=m.get("change_24h_basis"),
                  width=METRIC_WIDTH)
        st.metric("Below the peak", pct(m["drawdown"] and abs(m["drawdown"])), width=METRIC_WIDTH,
                  help=f"Peak {m['peak']:,.0f} USD on {m['peak_date']:%Y-%m-%d}")
        st.metric("30-day volatility", pct(m["volatility_30d"]), help="Annualised, from daily log returns",
                  width=METRIC_WIDTH)
    return market, m


def bitcoin_chart(market) -> None:
    if market.daily.empty:
        st.caption("No bitcoin data to draw.")
        return
    daily = market.daily.loc[market.daily.index >= market.daily.index[-1] - pd.Timedelta(days=365)]
    chart(charts.btc_figure(daily, moving_averages(daily)), "intel_btc")
    download(market.daily, "Bitcoin daily history", "btc_daily", decimals=2)


def window_picker():
    span = svc.price_span()
    if span is None:
        st.info("No MARA price history yet: press Refresh now in the sidebar.")
        st.stop()
    first, last = span
    default = (max(first, last - timedelta(days=7)).date(), last.date())
    picked = st.date_input("Window (UTC days)", value=default, min_value=first.date(), max_value=last.date(),
                           key="intel.window", persist_state="session")
    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick a start and an end date.")
        st.stop()
    start = pd.Timestamp(picked[0]).to_pydatetime()
    end = pd.Timestamp(picked[1]).to_pydatetime() + timedelta(days=1) - timedelta(seconds=1)
    prices = _prices(svc.cache_key, start, end, last)
    if prices.empty:
        st.info("No price points in this window.")
        st.stop()
    st.caption(f"{len(prices):,} price points from {prices.index[0]:%Y-%m-%d %H:%M} to "
               f"{prices.index[-1]:%Y-%m-%d %H:%M} UTC")
    return prices, last


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def _profitability(frame: pd.DataFrame, _inventory, inventory_key: tuple) -> dict:
    """Every per-type series of a window, computed once per window (the summary and the charts share them)."""
    per_kw = intel.profit_per_kw(frame, _inventory)
    stats = intel.summary_stats(frame)
    stats.index = [PRICE_LABELS[n] for n in stats.index]
    return {"per_kw": per_kw, "tied": intel.ties(per_kw), "hourly": intel.hourly_profile(frame, _inventory),
            "best": intel.best_type_timeline(frame, _inventory),
            "break_even": intel.break_even_energy(frame, _inventory),
            "share": intel.share_worth_running(frame, _inventory), "stats": stats.rename(columns=STAT_LABELS)}


def profitability_numbers(prices: pd.DataFrame) -> dict:
    return _profitability(prices, inventory, tuple(sorted(inventory.specs.items())))


def ties_caption(tied, charted: bool) -> None:
    if tied:
        st.caption(" ".join(f"{LABELS[a]} and {LOWER[b]} earn exactly the same per kW in every interval" + (
            ", so their lines lie on top of each other (drawn dashed and dotted)." if charted else ".")
            for a, b in tied))


def at_a_glance(numbers: dict) -> None:
    st.subheader("Which machines pay")
    ties_caption(numbers["tied"], charted=False)
    share = numbers["share"]
    share_table = pd.DataFrame({"Machine type": [LABELS[n] for n in share.index],
                                "Share of intervals worth running": share.to_numpy()})
    small_table(share_table, percent=("Share of intervals worth running",))
    stats = numbers["stats"]
    small_table(stats.reset_index(names="Price (per period)"), percent=(STAT_LABELS["change_pct"],), decimals=4)
    download(stats.reset_index(names="price"), "Summary statistics", "summary_stats")


def profitability(prices: pd.DataFrame, numbers: dict) -> None:
    st.subheader("Which machines pay, and when")
    per_kw, hourly, be = numbers["per_kw"], numbers["hourly"], numbers["break_even"]
    chart(charts.lines_figure(per_kw, "Profit per kW by machine type", f"{money.unit} per kW per period"),
          "intel_per_kw")
    ties_caption(numbers["tied"], charted=True)
    chart(charts.lines_figure(hourly, "When in the day each type pays (mean by UTC hour)",
                              f"{money.unit} per kW per period"), "intel_hourly")
    chart(charts.timeline_figure(numbers["best"], "Best machine type per interval (profit per kW)"), "intel_best")
    be_plot = be.copy()
    be_plot["energy_price"] = prices["energy_price"]
    chart(charts.lines_figure(be_plot, "Break-even energy price by type (a type pays while energy is below its "
                                       "line)", "energy price per period",
                              labels={**LABELS, "energy_price": "Actual energy price"}), "intel_be")
    with row(gap="small"):
        download(per_kw.rename(columns=lambda c: f"{LABELS[c]} profit per kW").join(
            be.rename(columns=lambda c: f"{LABELS[c]} break-even energy price")), "Profitability", "profitability")
        download(hourly.rename(columns=LABELS), "Profit by hour of day", "hourly_profile")


def correlations(prices: pd.DataFrame, market) -> None:
    corr = intel.correlations(prices, market.daily)
    if not corr.matrix.empty:
        chart(charts.heatmap_figure(corr.matrix, "Correlations (daily)"), "intel_corr")
        st.caption(corr.message)
        download(corr.matrix, "Correlations", "correlations", decimals=4)
    else:
        btc_end = f"; the bitcoin data ends {market.as_of:%Y-%m-%d}" if market.as_of else ""
        st.caption(f"No correlation with bitcoin: {corr.message} (the window runs {prices.index[0]:%Y-%m-%d} to "
                   f"{prices.index[-1]:%Y-%m-%d}{btc_end}).")


def backtests(prices: pd.DataFrame) -> None:
    st.subheader("Strategies compared")
    caps_notice(svc, "these backtests")
    b1, b2, b3, b4 = st.columns([1, 1, 1, 2])
    switching = b1.number_input(f"Switching cost per unit moved ({money.unit})", 0.0, 1e12, 0.0, step=1.0,
                                key="intel.switching", persist_state="session")
    limit_kw = b2.number_input("Power limit (kW)", 0, 1_000_000, int(svc.power_limit() // 1000), step=10,
                               key="intel.power", persist_state="session")
    min_hold = b3.number_input("Minimum hold (intervals)", 0, 100_000, 0, step=1, key="intel.hold",
                               persist_state="session", help="After a switch, keep the new allocation this long")
    upload = b4.file_uploader("Or your own prices (CSV: timestamp,energy_price,hash_price,token_price)", type="csv")
    frame, label = prices, "selected window"
    if upload is not None:
        try:
            frame, label = read_prices_csv(upload.getvalue()), f"uploaded file {upload.name}"
        except InputError as e:
            st.error(f"That CSV cannot be used: {plain(e.message)}")
    try:
        table, cumulative = _strategies(frame, float(limit_kw) * 1000, svc.current_allocation(), svc.caps(),
                                        float(switching), int(min_hold), inventory,
                                        tuple(sorted(inventory.specs.items())))
    except InputError as e:
        st.error(f"Backtest not possible: {plain(e.message)}")
        return
    st.caption(f"Over the {label}: {len(frame):,} intervals. *Share of the per-interval optimum* is profit over the "
               "sum of each interval's optimum, ignoring switching costs. *Best schedule in hindsight* is the most "
               "profitable sequence of allocations paying your switching cost, known only afterwards: the yardstick "
               "a policy can at best reach.")
    show_table(table, percent=("Share of the per-interval optimum", "Share of the best schedule"), decimals=0)
    chart(charts.strategies_figure(cumulative, "Cumulative profit of each strategy", money.unit), "intel_strategies")
    with row(gap="small"):
        download(cumulative.rename(columns=STRATEGY_LABELS), "Cumulative profit by strategy", "backtest_cumulative",
                 decimals=2)
        download(table, "Strategy summary", "backtest", decimals=4)


def _week_and_forecast(last):
    """The latest 7 days of stored prices and their forecast; None (with the reason shown) without enough."""
    week = _prices(svc.cache_key, last - timedelta(days=7), last, last)
    try:
        return week, _forecast(svc.cache_key, last, week)
    except ValueError as e:  # too little history (InputError is a ValueError too)
        st.info(f"No forecast yet: {plain(str(e))}")
        return None


def forecast_charts(last) -> None:
    st.caption("The latest 6 hours of each price, the forecast and its 90% prediction interval.")
    found = _week_and_forecast(last)
    if found is None:
        return
    week, fc = found
    recent = week.iloc[-72:]
    with row(gap="small"):
        for name in PRICE_COLUMNS:
            chart(charts.forecast_figure(recent[name], fc.frame[name], PRICE_LABELS[name], charts.COLORS[name]),
                  f"intel_fc_{name}", width=380)


def forecast(last) -> None:
    st.subheader("Short-horizon forecast")
    st.caption("From the latest 7 days of stored prices, whatever the window above: a forecast is about what comes "
               "next. Its charts are in the Forecast charts tab.")
    found = _week_and_forecast(last)
    if found is None:
        return
    week, fc = found
    ahead = pd.DataFrame({"Price (per period)": [PRICE_LABELS[n] for n in PRICE_COLUMNS],
                          "Last": [week[n].iloc[-1] for n in PRICE_COLUMNS],
                          "Forecast": [fc.frame[n]["mean"].iloc[-1] for n in PRICE_COLUMNS],
                          "Low (90%)": [fc.frame[n]["lower"].iloc[-1] for n in PRICE_COLUMNS],
                          "High (90%)": [fc.frame[n]["upper"].iloc[-1] for n in PRICE_COLUMNS]})
    st.markdown(f"**At {fc.frame.index[-1]:%Y-%m-%d %H:%M} UTC**, {fc.horizon} intervals after the latest price:")
    small_table(ahead, decimals=4)
    st.caption(plain(fc.message))
    errors = fc.errors.rename(index=PRICE_LABELS, columns={
        "model_mae": "Model error (MAE)", "model_mape": "Model error (%)", "naive_mae": "Naive error (MAE)",
        "naive_mape": "Naive error (%)", "coverage": "Interval coverage", "origins": "Origins",
        "beats_naive": "Beats naive"})
    small_table(errors.reset_index(names="Price"), percent=("Model error (%)", "Naive error (%)", "Interval coverage"),
                decimals=4)
    with row(gap="small"):
        use = st.button("Use the 1-hour forecast as an Optimizer what-if", icon=":material/tune:")
        download(errors.reset_index(names="price"), "Forecast errors", "forecast_errors", decimals=6)
        download(pd.concat({PRICE_LABELS[n]: fc.frame[n] for n in PRICE_COLUMNS}, axis=1), "Forecast", "forecast")
    if use:
        st.session_state["forecast.preset"] = fc.as_whatif
        whatif.apply(fc.as_whatif)
        st.switch_page("views/optimizer.py")


def brief(metrics_, share, best, prices) -> None:
    st.subheader("Market brief")
    text = market_brief(Toolbox(svc), metrics_, {"share_worth_running": share.to_dict(),
                                                 "best_type_counts": best.value_counts().to_dict(),
                                                 "window": (prices.index[0], prices.index[-1])})
    if svc.settings.llm_configured and st.button("Rephrase with the LLM", icon=":material/edit_note:",
                                                help="The LLM may reword the brief; a version with new numbers is "
                                                     "rejected"):
        with st.spinner("Asking the LLM…"):
            text = phrase_brief(svc.settings, {"btc": metrics_}, text)
    st.markdown(plain(text, 4000))
    st.caption("Written from the numbers on this page; no figure is added by the LLM.")


# The page opens on the summary; each other tab computes and draws only when it is opened
# (an unopened tab costs nothing: no backtest, no chart sent).
TABS = ("Summary and forecast", "Forecast charts", "Which machines pay", "Strategies compared", "Autopilot policy",
        "Bitcoin")


@st.fragment
def sections(market, btc, prices: pd.DataFrame, last) -> None:
    tabs = dict(zip(TABS, st.tabs(TABS, key="intel.tab", on_change="rerun")))
    numbers = profitability_numbers(prices)
    if tabs["Summary and forecast"].open:
        with tabs["Summary and forecast"]:
            at_a_glance(numbers)
            forecast(last)
            brief(btc, numbers["share"], numbers["best"], prices)
    if tabs["Forecast charts"].open:
        with tabs["Forecast charts"]:
            forecast_charts(last)
    if tabs["Which machines pay"].open:
        with tabs["Which machines pay"]:
            profitability(prices, numbers)
    if tabs["Strategies compared"].open:
        with tabs["Strategies compared"]:
            backtests(prices)
    if tabs["Autopilot policy"].open:
        with tabs["Autopilot policy"]:
            policy_backtest(svc, prices)
    if tabs["Bitcoin"].open:
        with tabs["Bitcoin"]:
            bitcoin_chart(market)
            correlations(prices, market)


market, btc = bitcoin()
prices, last = window_picker()
sections(market, btc, prices, last)
