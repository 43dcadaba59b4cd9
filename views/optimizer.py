"""Optimizer: the exact best allocation at live or what-if values under the user's constraints; safe deploys."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from optera import charts
from optera.economics import breakdown
from optera.errors import ValidationError
from optera.models import Allocation, Prices
from optera.optimize import Constraints, explain, profit_curve, running_ranges, solve
from optera.optimize.repair import proportional_scale, repair, validate
from optera.redaction import plain
from optera.units import machines
from optera.units import power as kw
from optera.vocabulary import LABELS, LOWER, MACHINE_TYPES, PRICE_COLUMNS
from ui import deploy as deploy_ui
from ui import whatif
from ui.common import METRIC_WIDTH, chart, row, show_table, sidebar, small_table

svc = sidebar()
st.title("Optimizer")
MAX_UNITS = 100_000  # far beyond any site; keeps every product finite
latest = svc.latest_prices()
if latest is None:
    st.info("No price data yet: press Refresh now in the sidebar.")
    st.stop()
inventory = svc.inventory()
money = svc.money
site_limit = svc.power_limit()
current = svc.current_allocation()
deploy_ui.show_message()


def _history_max() -> dict[str, float]:
    window = svc.price_window(latest.timestamp - timedelta(days=90))
    return {n: float(window[n].max()) for n in PRICE_COLUMNS} if len(window) else {}


def _save_cap(name: str) -> None:
    caps = svc.caps()
    value = st.session_state[f"caps.{name}"]
    if value is None:
        caps.pop(name, None)
    else:
        caps[name] = int(value)
    svc.set_caps(caps)
    _answer_again()


def _answer_again() -> None:
    """A constraint changed: the page answers again (the inputs' own fragment alone would not)."""
    st.rerun()


def constraint_inputs() -> None:
    """The constraint inputs; their values live in session state under their keys (see :func:`held_constraints`)."""
    saved = svc.caps()
    st.caption("Caps are the machines you own (empty = no cap); they are saved and apply on every page. "
               "Locks fix a count exactly, for this session.")
    cap_cols, lock_cols = st.columns(5), st.columns(5)
    for i, name in enumerate(MACHINE_TYPES):
        if f"caps.{name}" not in st.session_state:
            st.session_state[f"caps.{name}"] = saved.get(name)
        cap_cols[i].number_input(f"Cap · {LABELS[name]}", 0, MAX_UNITS, step=1, key=f"caps.{name}",
                                 placeholder="no cap", on_change=_save_cap, args=(name,))
        lock_cols[i].number_input(f"Lock · {LABELS[name]}", 0, MAX_UNITS, value=None, step=1, key=f"locks.{name}",
                                  placeholder="free", persist_state="session", on_change=_answer_again)
    c1, c2, c3 = st.columns(3)
    c1.slider("Inference share of power used", 0.0, 1.0, (0.0, 1.0), step=0.05, format="percent",
              key="constraints.share", persist_state="session", on_change=_answer_again)
    c2.number_input("Minimum tokens", 0.0, 1e12, value=None, step=10_000.0, format="%.0f",
                    key="constraints.min_tokens", placeholder="none", persist_state="session",
                    on_change=_answer_again)
    c3.number_input("Minimum hashrate", 0.0, 1e12, value=None, step=10_000.0, format="%.0f",
                    key="constraints.min_hashrate", placeholder="none", persist_state="session",
                    on_change=_answer_again)
    c4, c5 = st.columns(2)
    c4.number_input("Most units moved from now", 0, MAX_UNITS, value=None, step=1, key="constraints.max_moved",
                    placeholder="no limit", persist_state="session", on_change=_answer_again)
    c5.number_input(f"Switching cost per unit moved ({money.unit})", 0.0, 1e12, value=0.0, step=1.0,
                    key="constraints.switching", persist_state="session", on_change=_answer_again)


def held_constraints() -> Constraints:
    """The constraints the inputs hold, read from session state, so the optimum can answer without
    drawing (and re-sending) the inputs."""
    state = st.session_state
    caps = {n: int(state[f"caps.{n}"]) for n in MACHINE_TYPES if state.get(f"caps.{n}") is not None}
    locks = {n: int(state[f"locks.{n}"]) for n in MACHINE_TYPES if state.get(f"locks.{n}") is not None}
    share = state.get("constraints.share", (0.0, 1.0))
    max_moved = state.get("constraints.max_moved")
    return Constraints(caps=caps, locks=locks,
                       min_inference_share=share[0] if share[0] > 0 else None,
                       max_inference_share=share[1] if share[1] < 1 else None,
                       min_tokens=state.get("constraints.min_tokens") or None,
                       min_hashrate=state.get("constraints.min_hashrate") or None,
                       max_moved=int(max_moved) if max_moved is not None else None,
                       switching_cost=float(state.get("constraints.switching") or 0.0))


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def _curve(hash_price: float, token_price: float, power_limit: float, constraints: Constraints, top: float,
           _inventory, inventory_key: tuple) -> pd.DataFrame:
    grid = [top * i / 40 for i in range(41)]
    return profit_curve(Prices(latest.timestamp, 0.0, hash_price, token_price), power_limit, constraints,
                        energy_prices=grid, inventory=_inventory)


@st.fragment
def constraints_box() -> None:
    """Its own fragment, above the what-if box, so a price step does not re-send these twenty inputs;
    a change here reruns the page (see :func:`_answer_again`). A popover, not an expander: the browser
    builds a popover's inputs only when it is opened (a collapsed expander's are built and laid out
    with the page: a quarter of a price step's browser time)."""
    with st.popover("Constraints", icon=":material/tune:", width="stretch"):
        constraint_inputs()


@st.fragment
def what_if_and_optimum() -> None:
    with st.container(border=True):
        values = whatif.inputs(latest, site_limit, _history_max)
        st.markdown(values.describe())
        with row(gap="small"):
            st.button("Reset to latest", on_click=whatif.reset, icon=":material/restart_alt:", disabled=values.is_live)
            preset = st.session_state.get("forecast.preset")
            if preset:
                st.button("Use 1-hour forecast", on_click=whatif.apply, args=(preset,), icon=":material/query_stats:",
                          help="The Intel page's forecast at its horizon")
    constraints = held_constraints()
    active = constraints.describe()
    if active:
        st.caption(":material/filter_alt: Constraints in force: " + "; ".join(active) + ".")
    show_optimum(values.prices, values.power_limit, constraints, "live prices" if values.is_live else "these prices")


def show_optimum(prices: Prices, power_limit: float, constraints: Constraints, what: str) -> None:
    st.subheader("Best allocation")
    try:
        solution = solve(prices, power_limit, constraints, current, inventory)
    except ValidationError as e:
        st.error(f"Check the constraints: {plain(e.message)}", icon=":material/block:")
        return
    if not solution.feasible:
        st.error(plain(solution.message), icon=":material/block:")
        return
    ex = explain(solution, prices, power_limit, constraints, current, inventory, money=money)
    now_profit = current.profit(prices, inventory)
    delta = solution.profit - now_profit
    with row():
        same = abs(delta) < 0.005  # no green arrow for a gain that rounds to nothing
        st.metric("Optimal profit", money.compact(solution.profit),
                  "same as now" if same else f"{money.compact(delta, signed=True)} vs now",
                  delta_color="off" if same else "normal", delta_arrow="off" if same else "auto",
                  help=f"{money.period(solution.profit)}; {money.day(solution.profit)}", width=METRIC_WIDTH)
        st.metric("Profit now", money.compact(now_profit), "per period", delta_color="off", delta_arrow="off",
                  help=f"The site's current allocation at {what}: {money.period(now_profit)}", width=METRIC_WIDTH)
        st.metric("Power used", kw(solution.power_used), f"of {kw(power_limit)}", delta_color="off",
                  delta_arrow="off", width=METRIC_WIDTH)
        if ex.next_step_kw:
            st.metric(f"{kw(ex.next_step_kw * 1000)} more adds", money.compact(ex.next_step_value), "per period",
                      delta_color="off", delta_arrow="off", width=METRIC_WIDTH,
                      help=f"One more kW alone adds {money.period(ex.value_per_kw)}: machines come in whole units")
        else:
            st.metric("More power adds", money.compact(0.0), "per period", delta_color="off", delta_arrow="off",
                      help="No extra machine would raise profit under these constraints", width=METRIC_WIDTH)
    st.caption(f"Money per period ({money.period_note}).")
    deploy_prompt(solution, prices, power_limit, constraints, delta, what)
    st.markdown(ex.rationale)
    views(solution, prices, power_limit, constraints, ex)


def deploy_prompt(solution, prices: Prices, power_limit: float, constraints: Constraints, delta: float,
                  what: str) -> None:
    best = solution.allocation
    if best == current:
        st.success("The site already runs this optimum; there is nothing to deploy.", icon=":material/check_circle:")
        return
    if solution.power_used > site_limit:
        st.info(f"This optimum uses {kw(solution.power_used)}, more than the site's limit of {kw(site_limit)} "
                "(the power limit above is a what-if), so it cannot be deployed.", icon=":material/info:")
        return
    broken = constraints.broken_by(current, power_limit, None, inventory)
    if delta < -1e-9:
        st.warning(f"The optimum earns **{money.period(-delta)} less** than what runs now "
                   f"({money.day(delta, signed=True)})" + (
                       ", because the current allocation breaks " + "; ".join(broken) + ". Deploying brings the "
                       "site within your constraints." if broken else "."), icon=":material/trending_down:")
    if st.button("Deploy the optimal allocation…", type="primary", icon=":material/rocket_launch:"):
        deploy_ui.confirm(svc, best, action="deploy", source="app", prices=prices, what=what, why_lower=broken)


def comparison(best: Allocation, prices: Prices) -> None:
    now_rows = {r["type"]: r for r in breakdown(current, prices, inventory)}
    opt_rows = {r["type"]: r for r in breakdown(best, prices, inventory)}
    small_table(pd.DataFrame([{
        "Machine type": LABELS[n], "Now": now_rows[n]["units"], "Optimal": opt_rows[n]["units"],
        "Change": opt_rows[n]["units"] - now_rows[n]["units"],
        "Power now (kW)": now_rows[n]["power"] / 1000, "Power optimal (kW)": opt_rows[n]["power"] / 1000,
        f"Profit now ({money.unit}/period)": now_rows[n]["profit"],
        f"Profit optimal ({money.unit}/period)": opt_rows[n]["profit"],
    } for n in MACHINE_TYPES]), decimals=0)


def views(solution, prices: Prices, power_limit: float, constraints: Constraints, ex) -> None:
    """The optimum as a table, or as either chart, in tabs that run only when shown (a price step
    re-sends the open one alone), and the break-even table only when opened."""
    table, by_type, curve = st.tabs(["Table", "Profit by type", "Profit as energy moves"], key="optimizer.view",
                                    on_change="rerun")
    if table.open:
        with table:
            comparison(solution.allocation, prices)
    if by_type.open:
        with by_type:
            profit_by_type(solution.allocation, prices)
    if curve.open:
        with curve:
            profit_as_energy_moves(solution, prices, power_limit, constraints, ex)
    with st.expander("Break-even prices (each type on its own, ignoring the power limit)", key="optimizer.break_even",
                     on_change="rerun") as box:
        if box.open:
            break_even_table(ex)


def profit_by_type(best: Allocation, prices: Prices) -> None:
    chart(charts.allocation_figure(
        [{"type": n, "current_profit": current[n] * inventory[n].unit_profit(prices),
          "optimal_profit": best[n] * inventory[n].unit_profit(prices)} for n in MACHINE_TYPES],
        "profit", f"Profit by type ({money.unit}/period)"), "opt_by_type")


def profit_as_energy_moves(solution, prices: Prices, power_limit: float, constraints: Constraints, ex) -> None:
    # up to where the last type stops paying, so every change of the optimal mix is on the chart
    highest = max(ex.break_even[n]["break_even_energy_price"] for n in MACHINE_TYPES)
    top = round(max(highest * 1.1, prices.energy_price * 1.2, 0.5), 4)
    curve = _curve(prices.hash_price, prices.token_price, power_limit, constraints, top, inventory,
                   tuple(sorted(inventory.specs.items())))
    chart(charts.profit_curve_figure(curve, prices.energy_price, solution.profit, money.unit), "opt_curve")
    ranges = running_ranges(curve)
    st.caption("Along this curve the optimum runs " + "; ".join(
        f"{LOWER[n]} at energy {lo:.2f}–{hi:.2f}" for n, r in ranges.items() if r for lo, hi in [r])
        + (". " if any(ranges.values()) else "nothing. ")
        + "Never: " + (", ".join(LOWER[n] for n, r in ranges.items() if not r) or "none") + ".")


def break_even_table(ex) -> None:
    show_table(pd.DataFrame([{
        "Machine type": LABELS[n],
        f"Profit per unit ({money.unit}/period)": ex.break_even[n]["unit_profit"],
        f"Profit per kW ({money.unit}/period)": ex.break_even[n]["profit_per_kw"],
        "Break-even energy price": ex.break_even[n]["break_even_energy_price"],
        "Break-even hash or token price": ex.break_even[n].get("break_even_hash_price",
                                                               ex.break_even[n].get("break_even_token_price")),
    } for n in MACHINE_TYPES]), decimals=4)


@st.fragment
def manual_editor() -> None:
    st.subheader("Manual allocation")
    prices = latest
    cols = st.columns(5, vertical_alignment="bottom")  # a label on two lines keeps its box in the row
    manual = {}
    for i, name in enumerate(MACHINE_TYPES):
        key = f"manual.{name}"
        if key not in st.session_state:
            st.session_state[key] = current[name]
        manual[name] = cols[i].number_input(LABELS[name], 0, MAX_UNITS, step=1, key=key)
    caps = svc.caps() or None
    issues = validate(manual, site_limit, caps, inventory)
    power_used = sum(manual[n] * inventory[n].power for n in MACHINE_TYPES)
    if not issues:
        alloc = Allocation.from_counts(manual)
        profit = money.period(alloc.profit(prices, inventory))
        st.caption(f"Valid: {kw(power_used)} of {kw(site_limit)}, profit {profit} at the latest prices.")
        if alloc != current and st.button("Deploy this allocation…", icon=":material/rocket_launch:"):
            deploy_ui.confirm(svc, alloc, action="deploy", source="app", prices=prices, what="the latest prices")
        return
    for issue in issues:
        st.warning(issue.message, icon=":material/warning:")
    fixed = repair(manual, prices, site_limit, caps, inventory)
    scaled = proportional_scale(manual, site_limit, inventory)
    show_table(pd.DataFrame([
        {"Method": label, **{LABELS[n]: a[n] for n in MACHINE_TYPES}, "Power (kW)": p / 1000,
         f"Profit ({money.unit}/period)": profit}
        for label, a, p, profit in (
            ("Requested", manual, power_used, sum(manual[n] * inventory[n].unit_profit(prices) for n in MACHINE_TYPES)),
            ("Optera repair", fixed, fixed.power(inventory), fixed.profit(prices, inventory)),
            ("Proportional scaling", scaled, scaled.power(inventory), scaled.profit(prices, inventory)))]),
        decimals=0)
    if scaled.power(inventory) > site_limit:
        st.caption("Proportional scaling (the prototype's fix) still breaks the power limit after rounding.")

    def _apply_repair() -> None:
        for n in MACHINE_TYPES:
            st.session_state[f"manual.{n}"] = fixed[n]

    st.button("Repair", on_click=_apply_repair, icon=":material/build:",
              help="The most profitable allocation that fits the limit and caps, using no more of each type than "
                   "requested (it may drop a type that loses money)")


RESULTS = {"ok": "Verified", "pending": "Sent, no outcome recorded", "invalid": "Not sent: invalid",
           "no_limit": "Not sent: limit unreadable", "stale": "Not sent: site changed", "noop": "Not sent: no change",
           "unsafe": "Not sent: site unreadable", "refused": "Refused by the site", "error": "Failed",
           "unverified": "Sent, unverified", "mismatch": "Sent, site differs", "over_limit": "Sent, over the limit"}


def history() -> None:
    st.subheader("Deployment history")
    rows = svc.deployments(50)
    if not rows:
        st.caption("No deployments yet.")
        return
    st.dataframe(pd.DataFrame([{
        "When (UTC)": r["at"], "Action": str(r["action"]).capitalize(), "Result": RESULTS.get(r["result"], r["result"]),
        "Requested": machines(r["requested"] or {}, empty="everything off"), "By": r.get("by") or "",
        "Message": r["message"]} for r in rows]), hide_index=True, width="stretch")
    done = [r for r in rows if r["result"] == "ok" and r["previous"]]
    if not done:
        return
    options = {f"Before #{r['id']} ({r['at']}): {machines(r['previous'], empty='everything off')}": r for r in done}
    choice = st.selectbox("Roll back to the allocation that ran before a deploy", list(options),
                          key="rollback.choice")
    if st.button("Roll back…", icon=":material/undo:"):
        deploy_ui.confirm(svc, Allocation.from_counts(options[choice]["previous"]), action="rollback",
                          source="app", prices=latest, what="the latest prices")


constraints_box()
what_if_and_optimum()
manual_editor()
history()
