"""Optimizer: the exact best allocation under what-if prices and the user's constraints; safe deploys."""

import pandas as pd
import streamlit as st

from optera import charts
from optera.optimize import Constraints, explain, profit_curve, running_ranges, solve
from optera.deploy import deploy, diff
from optera.mara import SourceError
from optera.economics import breakdown
from optera.models import LABELS, MACHINE_TYPES, Allocation, Prices, ValidationError
from optera.optimize.repair import proportional_scale, repair, validate
from ui.common import SHADOW, show_table, get_service, init, money, sidebar

sidebar()
st.title("Optimizer")
MAX_UNITS = 100_000  # far beyond any site; keeps every product finite
svc = get_service()
latest = svc.latest_prices()
if latest is None:
    st.info("No price data yet: press Refresh now in the sidebar.")
    st.stop()

inventory = svc.inventory()
site_limit = svc.power_limit()
current = svc.current_allocation()

if "deploy_message" in st.session_state:
    ok, text = st.session_state.pop("deploy_message")
    (st.success if ok else st.error)(text, icon=":material/check_circle:" if ok else ":material/error:")


def _reset_prices() -> None:
    for name in ("energy_price", "hash_price", "token_price"):
        st.session_state[f"keep_opt_{name}"] = float(getattr(latest, name))
    st.session_state["keep_opt_power"] = int(site_limit // 1000)


def _apply_forecast(preset: dict) -> None:
    for name, value in preset.items():
        st.session_state[f"keep_opt_{name}"] = float(value)


# -- what-if inputs ---------------------------------------------------------
with st.container(border=True):
    st.markdown(f"**What-if prices** · latest at {latest.timestamp:%Y-%m-%d %H:%M} UTC: energy "
                f"{latest.energy_price:.4f}, hash {latest.hash_price:.4f}, token {latest.token_price:.4f}")
    cols = st.columns(4)
    values = {}
    for col, name, label in zip(cols, ("energy_price", "hash_price", "token_price"),
                                ("Energy price", "Hash price", "Token price")):
        base = float(getattr(latest, name))
        key = init(f"keep_opt_{name}", base)
        top = max(base * 3, float(st.session_state[key]) * 1.5, 1.0)
        values[name] = col.slider(label, 0.0, round(top, 2), step=0.01, key=key, format="%.2f")
    key = init("keep_opt_power", int(site_limit // 1000))
    power_kw = cols[3].slider("Power limit (kW)", 0, int(max(site_limit // 1000 * 2, 100)), step=5, key=key)
    b1, b2, _ = st.columns([1, 1, 3])
    b1.button("Reset to latest", on_click=_reset_prices, icon=":material/restart_alt:")
    forecast_preset = st.session_state.get("forecast_preset")
    if forecast_preset:
        b2.button("Use 1-hour forecast", on_click=_apply_forecast, args=(forecast_preset,),
                  icon=":material/query_stats:", help="The Intel page's forecast at its horizon")

with st.expander("Constraints", expanded=False):
    st.caption("Caps are the machines you own (empty = no cap). Locks fix a count exactly.")
    caps_saved = svc.caps()
    cap_cols = st.columns(5)
    lock_cols = st.columns(5)
    caps, locks = {}, {}
    for i, name in enumerate(MACHINE_TYPES):
        cap = cap_cols[i].number_input(f"Cap · {LABELS[name]}", min_value=0, max_value=MAX_UNITS, step=1, value=None,
                                       key=init(f"keep_cap_{name}", caps_saved.get(name)), placeholder="no cap")
        lock = lock_cols[i].number_input(f"Lock · {LABELS[name]}", min_value=0, max_value=MAX_UNITS, step=1, value=None,
                                         key=init(f"keep_lock_{name}", None), placeholder="free")
        if cap is not None:
            caps[name] = int(cap)
        if lock is not None:
            locks[name] = int(lock)
    if caps != caps_saved:
        svc.set_caps(caps)
    c1, c2, c3 = st.columns(3)
    share = c1.slider("Inference share of power used", 0.0, 1.0, step=0.05,
                      key=init("keep_share", (0.0, 1.0)))
    min_tokens = c2.number_input("Minimum tokens", min_value=0.0, step=10000.0, value=None,
                                 key=init("keep_min_tokens", None),
                                 placeholder="none")
    min_hash = c3.number_input("Minimum hashrate", min_value=0.0, step=10000.0, value=None,
                               key=init("keep_min_hash", None),
                               placeholder="none")
    c4, c5 = st.columns(2)
    max_moved = c4.number_input("Max units moved from current", min_value=0, step=1, value=None,
                                key=init("keep_max_moved", None), placeholder="no limit")
    switching = c5.number_input("Switching cost per unit moved", min_value=0.0, step=1.0,
                                key=init("keep_switching", 0.0))

constraints = Constraints(
    caps=caps, locks=locks,
    min_inference_share=share[0] if share[0] > 0 else None,
    max_inference_share=share[1] if share[1] < 1 else None,
    min_tokens=min_tokens or None, min_hashrate=min_hash or None,
    max_moved=int(max_moved) if max_moved is not None else None, switching_cost=float(switching or 0.0),
)
power_limit = float(power_kw) * 1000
prices = Prices(latest.timestamp, values["energy_price"], values["hash_price"], values["token_price"])
try:
    solution = solve(prices, power_limit, constraints, current, inventory)
    input_error = None
except ValidationError as e:
    solution, input_error = None, str(e)


@st.cache_data(max_entries=64, show_spinner=False)
def _curve(hash_price: float, token_price: float, power_limit: float, constraints: Constraints,
           current: Allocation, top: float) -> pd.DataFrame:
    grid = [top * i / 40 for i in range(41)]
    base = Prices(latest.timestamp, 0.0, hash_price, token_price)
    return profit_curve(base, power_limit, constraints, energy_prices=grid, inventory=inventory)


# -- result -------------------------------------------------------------------
st.subheader("Best allocation")
if input_error:
    st.error(f"Check the constraints: {input_error}", icon=":material/block:")
elif not solution.feasible:
    st.error(solution.message, icon=":material/block:")
    if len(solution.conflicts) > 1:
        for conflict in solution.conflicts:
            st.markdown(f"- {conflict}")
else:
    best = solution.allocation
    ex = explain(solution, prices, power_limit, constraints, current, inventory,
                 money=svc.settings.money)
    current_profit = current.profit(prices, inventory)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Optimal profit per period", money(solution.profit),
              f"{solution.profit - current_profit:+,.2f} vs current")
    m2.metric("Current profit per period", money(current_profit))
    m3.metric("Power used", f"{solution.power_used / 1000:,.0f} kW", f"of {power_limit / 1000:,.0f} kW",
              delta_color="off", delta_arrow="off")
    if ex.next_step_kw:
        m4.metric(f"{ex.next_step_kw:g} kW more would add", money(ex.next_step_value), "per period",
                  delta_color="off", delta_arrow="off",
                  help=f"One more kW alone adds {money(ex.value_per_kw)}: machines come in whole units")
    else:
        m4.metric("More power would add", money(0.0), "per period", delta_color="off", delta_arrow="off",
                  help="No extra machine would raise profit under these constraints")
    st.markdown(ex.rationale)
    if solution.binding:
        st.caption("Binding: " + "; ".join(solution.binding))

    cur_rows = {r["type"]: r for r in breakdown(current, prices, inventory)}
    opt_rows = {r["type"]: r for r in breakdown(best, prices, inventory)}
    side = pd.DataFrame([{
        "Machine type": LABELS[n], "Current units": cur_rows[n]["units"], "Optimal units": opt_rows[n]["units"],
        "Change": opt_rows[n]["units"] - cur_rows[n]["units"],
        "Current power (W)": cur_rows[n]["power"], "Optimal power (W)": opt_rows[n]["power"],
        "Current profit": cur_rows[n]["profit"], "Optimal profit": opt_rows[n]["profit"],
    } for n in MACHINE_TYPES])
    show_table(side)
    left, right = st.columns(2)
    left.plotly_chart(charts.allocation_figure(
        [{"type": n, "current_profit": cur_rows[n]["profit"], "optimal_profit": opt_rows[n]["profit"]}
         for n in MACHINE_TYPES], "profit", "Profit by type (per period)"), width="stretch")
    # up to where the last type stops paying, so every change of the optimal mix is on the chart
    highest_break_even = max(ex.break_even[n]["break_even_energy_price"] for n in MACHINE_TYPES)
    top = max(highest_break_even * 1.1, prices.energy_price * 1.2, 0.5)
    curve = _curve(prices.hash_price, prices.token_price, power_limit, constraints, current, round(top, 4))
    right.plotly_chart(charts.profit_curve_figure(curve, prices.energy_price, solution.profit),
                       width="stretch")
    ranges = running_ranges(curve)
    right.caption("Along this curve the optimum runs " + "; ".join(
        f"{LABELS[n]} at energy {lo:.2f}–{hi:.2f}" for n, r in ranges.items() if r for lo, hi in [r])
        + (". " if any(ranges.values()) else "nothing. ")
        + "Never: " + (", ".join(LABELS[n] for n, r in ranges.items() if not r) or "—") + ".")
    be = pd.DataFrame([{"Machine type": LABELS[n], **{k.replace("_", " ").capitalize(): v
                                                      for k, v in ex.break_even[n].items()}}
                       for n in MACHINE_TYPES])
    with st.expander("Break-even prices (each type on its own, ignoring the power limit)"):
        show_table(be, decimals=4)


@st.dialog("Confirm deploy", width="large")
def confirm_deploy(target: Allocation, action: str) -> None:
    try:
        live = svc.live_status().allocation
    except SourceError as e:
        st.error(f"Cannot read the site, so nothing can be deployed now: {e.message}")
        return
    if live.to_dict() == target.to_dict():
        st.info("The site already runs exactly this allocation; there is nothing to send.")
        return
    rows = diff(live, target, inventory)
    st.markdown(f"Send this allocation to **{svc.settings.source_label}**? The site runs the *Current* column now.")
    show_table(pd.DataFrame([{"Machine type": LABELS[r["type"]], "Current": r["current"], "New": r["target"],
                              "Change": r["change"], "Power change (W)": r["power_change"]} for r in rows]))
    st.markdown(f"Power after deploy: **{target.power(inventory):,.0f} W** of {site_limit:,.0f} W. Profit at the "
                f"what-if prices: {money(live.profit(prices, inventory))} → "
                f"**{money(target.profit(prices, inventory))}** per period.")
    left, right = st.columns([1, 5])
    if left.button("Deploy", type="primary", key="confirm_deploy_button"):
        run_deploy(target, action, live)
        st.rerun()
    if right.button("Cancel", key="cancel_deploy_button"):
        st.rerun()


def run_deploy(target: Allocation, action: str, confirmed_current: Allocation) -> None:
    with st.spinner("Deploying and reading back…"):
        result = deploy(svc.client, svc.store, target, power_limit=site_limit, caps=caps or None,
                        action=action, source="app", inventory=inventory, expected_current=confirmed_current)
    st.session_state["deploy_message"] = (result.ok, result.message)
    if result.ok:
        st.toast(result.message, icon=":material/check:")
        for name in MACHINE_TYPES:  # the manual editor starts again from what the site now runs
            st.session_state.pop(f"keep_manual_{name}", None)
            st.session_state.pop(f"{SHADOW}keep_manual_{name}", None)


if solution is not None and solution.feasible:
    if solution.allocation.to_dict() == current.to_dict():
        st.success("The site already runs the optimal allocation.", icon=":material/check_circle:")
    elif solution.power_used > site_limit:
        st.info(f"This optimum uses {solution.power_used:,.0f} W, more than the site's limit of {site_limit:,.0f} W "
                "(the power slider is a what-if), so it cannot be deployed.", icon=":material/info:")
    elif st.button("Deploy the optimal allocation…", type="primary", icon=":material/rocket_launch:"):
        confirm_deploy(solution.allocation, "deploy")

# -- manual allocation ------------------------------------------------------
st.subheader("Manual allocation")
mcols = st.columns(5)
manual = {}
for i, name in enumerate(MACHINE_TYPES):
    manual[name] = mcols[i].number_input(LABELS[name], min_value=0, max_value=MAX_UNITS, step=1, key=init(f"keep_manual_{name}",
                                                                                      current[name]))
issues = validate(manual, site_limit, caps or None, inventory)
manual_power = sum(manual[n] * inventory[n].power for n in MACHINE_TYPES)
if issues:
    for issue in issues:
        st.warning(issue.message, icon=":material/warning:")
    fixed = repair(manual, prices, site_limit, caps or None, inventory)
    scaled = proportional_scale(manual, site_limit, inventory)
    compare = pd.DataFrame([
        {"Method": "Requested", **{LABELS[n]: manual[n] for n in MACHINE_TYPES}, "Power (W)": manual_power,
         "Profit": sum(manual[n] * inventory[n].unit_profit(prices) for n in MACHINE_TYPES)},
        {"Method": "Optera repair", **{LABELS[n]: fixed[n] for n in MACHINE_TYPES},
         "Power (W)": fixed.power(inventory), "Profit": fixed.profit(prices, inventory)},
        {"Method": "Proportional scaling", **{LABELS[n]: scaled[n] for n in MACHINE_TYPES},
         "Power (W)": scaled.power(inventory), "Profit": scaled.profit(prices, inventory)},
    ])
    show_table(compare)
    if scaled.power(inventory) > site_limit:
        st.caption("Proportional scaling still breaks the power limit after rounding.")

    def _apply_repair() -> None:
        for n in MACHINE_TYPES:
            st.session_state[f"keep_manual_{n}"] = fixed[n]

    st.button("Repair", on_click=_apply_repair, icon=":material/build:",
              help="The most profitable allocation that fits the limit and caps, using no more of each type than "
                   "requested (it may drop a type that loses money)")
else:
    alloc = Allocation.from_counts(manual)
    st.caption(f"Valid: {manual_power:,.0f} W of {site_limit:,.0f} W, profit {money(alloc.profit(prices, inventory))} "
               "per period at the what-if prices.")
    if alloc != current and st.button("Deploy this allocation…", icon=":material/rocket_launch:"):
        confirm_deploy(alloc, "deploy")

# -- history --------------------------------------------------------------------
st.subheader("Deployment history")
history = svc.store.deployments(50)
if not history:
    st.caption("No deployments yet.")
else:
    st.dataframe(pd.DataFrame([{"When (UTC)": h["at"], "Action": h["action"], "Result": h["result"],
                                "Requested": ", ".join(f"{k} {v}" for k, v in (h["requested"] or {}).items() if v),
                                "Message": h["message"]} for h in history]),
                 hide_index=True, width="stretch")
    rollbackable = [h for h in history if h["result"] == "ok" and h["previous"]]
    if rollbackable:
        def describe(counts: dict) -> str:
            return ", ".join(f"{LABELS[n]} {counts[n]}" for n in MACHINE_TYPES if counts.get(n)) or "everything off"

        options = {f"before #{h['id']} ({h['at']}): {describe(h['previous'])}": h for h in rollbackable}
        choice = st.selectbox("Roll back to the allocation that ran before a deploy", list(options),
                              key=f"rollback_choice_{rollbackable[0]['id']}")
        if st.button("Roll back…", icon=":material/undo:"):
            confirm_deploy(Allocation.from_counts(options[choice]["previous"]), "rollback")
