"""What-if inputs that hold: a slider and an exact box per price, and the power limit.

Each input follows the live value until the user changes it; from then on it holds
its what-if value through page switches, new price points and syncs, until the
user changes it again or presses "Reset to latest". The value lives in plain
session state (``whatif.<name>``); the slider and the box are views of it, synced
by callbacks. Slider ranges are fixed for the session (from the stored history when
the page is first opened), so a widget's parameters never change while it is shown
— a changed parameter would make Streamlit create a new widget that forgets its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import streamlit as st

from optera.models import Prices
from optera.units import power as kw
from optera.units import price as fmt_price
from optera.vocabulary import PRICE_COLUMNS, PRICE_LABELS, PRICE_SHORT

POWER = "power_kw"
NAMES = (*PRICE_COLUMNS, POWER)
MAX_PRICE_BOX = 1e6
MAX_POWER_KW = 1_000_000


def _key(name: str, part: str = "") -> str:
    return f"whatif.{name}{'.' + part if part else ''}"


def nice_ceiling(x: float) -> float:
    """The next of 1, 2, 2.5, 5 x 10^k at or above x (a slider end a person can read)."""
    if not math.isfinite(x) or x <= 0:
        return 1.0
    exp = math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10 ** exp >= x - 1e-12:
            return float(m * 10 ** exp)
    return float(10 ** (exp + 1))


@dataclass(frozen=True)
class WhatIf:
    """The values the page answers at, and which of them the user set."""

    prices: Prices
    power_limit: float
    pinned: dict[str, bool]
    live: dict[str, float]

    @property
    def is_live(self) -> bool:
        return not any(self.pinned.values())

    def describe(self) -> str:
        """One line: live or what-if, and for each what-if its live counterpart."""
        if self.is_live:
            return (f"Answering at **live** values: prices as of {self.prices.timestamp:%Y-%m-%d %H:%M} UTC and the "
                    f"site's power limit ({kw(self.power_limit)}).")
        parts = []
        for name in PRICE_COLUMNS:
            if self.pinned[name]:
                parts.append(f"{PRICE_SHORT[name]} **{fmt_price(getattr(self.prices, name))}** "
                             f"(live {fmt_price(self.live[name])})")
        if self.pinned[POWER]:
            parts.append(f"power limit **{kw(self.power_limit)}** (site {kw(self.live[POWER] * 1000)})")
        rest = [PRICE_SHORT[n] for n in PRICE_COLUMNS if not self.pinned[n]] + (
            [] if self.pinned[POWER] else ["power limit"])
        tail = f"; {', '.join(rest)} live" if rest else ""
        return "Answering at **what-if** values: " + "; ".join(parts) + tail + "."


def _live_values(latest: Prices, site_limit_w: float) -> dict[str, float]:
    return {**{n: float(getattr(latest, n)) for n in PRICE_COLUMNS}, POWER: round(site_limit_w / 1000)}


def _setup(history_max: Callable[[], dict[str, float]], site_limit_w: float) -> None:
    """Fix the slider ranges for this session (never changed while the page is open)."""
    if "whatif.ranges" not in st.session_state:
        highest = history_max()
        ranges = {n: nice_ceiling(max(highest.get(n, 0.0), 0.01) * 1.5) for n in PRICE_COLUMNS}
        ranges[POWER] = int(nice_ceiling(max(site_limit_w / 1000 * 2, 100)))
        st.session_state["whatif.ranges"] = ranges
    for name in NAMES:
        st.session_state.setdefault(_key(name, "pinned"), False)


def _set(name: str, value: float) -> None:
    """Set a value from the user: it is pinned from now on."""
    st.session_state[_key(name)] = value
    st.session_state[_key(name, "pinned")] = True


def _from_slider(name: str) -> None:
    _set(name, st.session_state[_key(name, "slider")])


def _from_box(name: str) -> None:
    value = st.session_state[_key(name, "box")]
    if value is not None:  # a cleared box restores the held value below
        _set(name, value)


def reset() -> None:
    """Back to following the live values."""
    for name in NAMES:
        st.session_state[_key(name, "pinned")] = False


def apply(values: dict[str, float]) -> None:
    """Pin the given prices (e.g. a forecast), from any page."""
    for name, value in values.items():
        if name in PRICE_COLUMNS and math.isfinite(value) and value >= 0:
            _set(name, float(value))


def inputs(latest: Prices, site_limit_w: float, history_max: Callable[[], dict[str, float]]) -> WhatIf:
    """Draw the four inputs; returns the values to answer at. ``history_max`` gives each price's
    highest stored value; it is asked once per session, to fix the slider ranges."""
    _setup(history_max, site_limit_w)
    ranges = st.session_state["whatif.ranges"]
    live = _live_values(latest, site_limit_w)
    values: dict[str, float] = {}
    for name in NAMES:
        if not st.session_state[_key(name, "pinned")]:
            st.session_state[_key(name)] = live[name]
        value = st.session_state[_key(name)]
        top = ranges[name]
        st.session_state[_key(name, "slider")] = min(max(value, 0), top) if name != POWER else int(min(value, top))
        st.session_state[_key(name, "box")] = min(value, MAX_PRICE_BOX if name != POWER else MAX_POWER_KW)
        values[name] = value
    cols = st.columns(4)
    for col, name in zip(cols[:3], PRICE_COLUMNS):
        with col:
            st.slider(PRICE_LABELS[name], 0.0, float(ranges[name]), step=0.01, format="%.2f",
                      key=_key(name, "slider"), on_change=_from_slider, args=(name,),
                      help=f"Drag for a what-if, or type the exact value below (range fixed for this session: "
                           f"0 to {ranges[name]:g}).")
            st.number_input(f"{PRICE_LABELS[name]}, exact", 0.0, MAX_PRICE_BOX, step=0.01, format="%.4f",
                            key=_key(name, "box"), on_change=_from_box, args=(name,), label_visibility="collapsed")
            if values[name] > ranges[name]:
                st.caption(f"{fmt_price(values[name])} is beyond the slider's end")
    with cols[3]:
        st.slider("Power limit (kW)", 0, int(ranges[POWER]), step=5, key=_key(POWER, "slider"),
                  on_change=_from_slider, args=(POWER,), help="A what-if limit; deploys always use the site's own.")
        st.number_input("Power limit (kW), exact", 0, MAX_POWER_KW, step=1, key=_key(POWER, "box"),
                        on_change=_from_box, args=(POWER,), label_visibility="collapsed")
    prices = Prices(latest.timestamp, *(float(values[n]) for n in PRICE_COLUMNS))
    return WhatIf(prices, float(values[POWER]) * 1000, {n: st.session_state[_key(n, "pinned")] for n in NAMES}, live)
