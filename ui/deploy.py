"""The deploy confirmation shared by the Optimizer and the Chat: the exact diff against what
the site runs right now, the power after, the change in profit said plainly (and why it
is negative, when it is), then :meth:`Service.deploy` and its message on the next run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from optera.economics import diff
from optera.errors import SourceError
from optera.models import Allocation, Prices
from optera.redaction import plain
from optera.service import Service
from optera.units import machines
from optera.units import power as kw
from optera.vocabulary import LABELS

MESSAGE = "deploy.message"


def diff_frame(svc: Service, current: Allocation, target: Allocation) -> pd.DataFrame:
    rows = diff(current, target, svc.inventory())
    return pd.DataFrame([{"Machine type": LABELS[r["type"]], "Now": r["current"], "After": r["target"],
                          "Change": r["change"], "Power change (kW)": r["power_change"] / 1000} for r in rows])


def profit_change(svc: Service, current: Allocation, target: Allocation, prices: Prices, why_lower: list[str],
                  what: str) -> None:
    """Profit now and after at ``prices``; a drop is shown in red with the reason."""
    inv, money = svc.inventory(), svc.money
    before, after = current.profit(prices, inv), target.profit(prices, inv)
    delta = after - before
    text = (f"Profit at {what}: {money.period(before)} → **{money.period(after)}** "
            f"({money.period(delta, signed=True)}, {money.day(delta, signed=True)}).")
    if delta < -1e-9:
        st.markdown(f":red[{text}]")
        if why_lower:
            st.markdown(":red[It earns less because the site's current allocation breaks "
                        + "; ".join(why_lower) + ", which the new one must honour.]")
    else:
        st.markdown(text)


def run(svc: Service, target: Allocation, confirmed: Allocation, *, action: str, source: str) -> None:
    """The action behind the dialog's button (tests call it directly: dialog buttons do not run in AppTest)."""
    with st.spinner("Deploying and reading back…"):
        result = svc.deploy(target, expected_current=confirmed, action=action, source=source)
    st.session_state[MESSAGE] = (result.ok, result.message)
    if result.ok:
        st.toast(result.message, icon=":material/check:")


def show_message() -> None:
    """The outcome of the last deploy, once."""
    if MESSAGE in st.session_state:
        ok, text = st.session_state.pop(MESSAGE)
        if ok:
            st.success(plain(text, 1000), icon=":material/check_circle:")
        else:
            st.error(plain(text, 1000), icon=":material/error:")


@st.dialog("Confirm deploy", width="large")
def confirm(svc: Service, target: Allocation, *, action: str, source: str, prices: Prices, what: str,
            why_lower: list[str] | None = None) -> None:
    try:
        live = svc.live_status().allocation
    except SourceError as e:
        st.error(f"Cannot read the site, so nothing can be deployed now: {plain(e.message)}")
        return
    if live == target:
        st.info(f"The site already runs exactly this allocation ({machines(target)}); there is nothing to send.")
        return
    st.markdown(f"Send this allocation to **{plain(svc.settings.source_label)}**? *Now* is what the site runs "
                "at this moment.")
    st.dataframe(diff_frame(svc, live, target), hide_index=True, width="stretch",
                 column_config={"Power change (kW)": st.column_config.NumberColumn(format="%+,.1f")})
    limit = svc.site_limit()
    st.markdown(f"Power after deploy: **{kw(target.power(svc.inventory()))}**"
                + (f" of the site's {kw(limit)}" if limit else "")
                + ". The site's limit is read again right before sending.")
    profit_change(svc, live, target, prices, why_lower or [], what)
    left, right = st.columns([1, 4])
    if left.button("Deploy", type="primary", key="confirm_deploy_button"):
        run(svc, target, live, action=action, source=source)
        st.rerun()
    if right.button("Cancel", key="cancel_deploy_button"):
        st.rerun()
