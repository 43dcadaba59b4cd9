"""Streamlit glue shared by the pages: the cached service, the sidebar, notices and tables.

Kept out of `optera/` because it imports streamlit; it holds no business logic.
Each page calls :func:`sidebar` first (AppTest does not deliver clicks to widgets
drawn by the navigation entry file, so the sidebar is drawn by the page).
"""

from __future__ import annotations

import gc
import math
import sys

import pandas as pd
import streamlit as st

from optera import charts
from optera.config import SIMULATOR_URL, load_settings
from optera.errors import ConfigError, DatabaseCorruptError, StorageError
from optera.redaction import plain
from optera.service import SYNC_INTERVAL, Service, recover_database
from optera.units import count, number, pct
from optera.vocabulary import GLOSSARY


@st.cache_resource(max_entries=1, show_spinner=False)
def _service(db_path: str, source: str, key_fingerprint: int) -> Service:
    return Service(load_settings())


def get_service() -> Service:
    """The process-wide service for the current settings (recreated if they change)."""
    try:
        settings = load_settings()
    except ConfigError as e:
        st.error(f"Optera cannot start with these settings: {plain(e.message)}", icon=":material/settings:")
        st.stop()
    try:
        # a changed key (hashed, never the key itself) gets a new client
        return _service(str(settings.db_path), settings.base_url, hash(settings.mara_api_key))
    except StorageError as e:
        st.error(plain(e.message), icon=":material/database:")
        if isinstance(e, DatabaseCorruptError) and st.button("Recover database", type="primary", key="recover_db"):
            kept, moved = recover_database(settings)
            _service.clear()
            st.success(f"The unreadable file was moved to {moved}; a fresh database was built and "
                       f"{kept:,} audit rows were kept. Syncing from the source now.")
            st.rerun()
        st.stop()


_FROZEN_WITH = [0]  # how many modules were loaded when the heap was last frozen


def settle_heap() -> None:
    """Keep the objects the imports built out of the garbage collector's walks.

    Streamlit collects all generations after every script run (``runner.postScriptGC``), holding
    the GIL, so the browser hears "done" only after it; with pandas, plotly, scipy and
    statsmodels loaded that walk was about half of a rerun's server CPU. What is alive once a
    run's imports are done (modules, classes, their caches) lives as long as the process, so it
    is collected once and frozen (``gc.freeze``); again only after a run that imported more.
    """
    if len(sys.modules) != _FROZEN_WITH[0]:
        gc.collect()
        gc.freeze()
        _FROZEN_WITH[0] = len(sys.modules)


NARROW_CSS = """<style>
@media (max-width: 1000px) {
  section[data-testid="stSidebar"][data-collapsed="false"] { width: 210px !important; min-width: 210px !important; }
  [data-testid="stMetricValue"] { font-size: 1.9rem; }
}
</style>"""


def sidebar() -> Service:
    """The sidebar every page starts with: source, freshness, refresh, live sync, what the numbers mean."""
    svc = get_service()
    st.html(NARROW_CSS)
    with st.sidebar:
        st.markdown("**Data source**")
        st.caption(plain(svc.settings.source_label))
        if st.button("Refresh now", icon=":material/refresh:", width="stretch", key="refresh_now"):
            with st.spinner("Syncing…"):
                result = svc.refresh()
            if result.ok:
                st.toast(f"Synced: {result.new_prices:,} new price points", icon=":material/check:")
            else:
                st.toast(plain(result.message, 300), icon=":material/error:")
            st.rerun()
        _live_status()
        with st.popover("What do these numbers mean?", icon=":material/help:", width="stretch"):
            st.markdown(GLOSSARY)
            st.caption(svc.money.period_note + ".")
    return svc


@st.fragment(run_every=SYNC_INTERVAL.total_seconds())
def _live_status() -> None:
    """Syncs on the price cadence while the app is open, without rerunning the page."""
    svc = get_service()
    svc.ensure_fresh(background=True)
    fresh = svc.freshness()
    if fresh.latest_price_at is not None:
        st.caption(f"Prices as of {fresh.latest_price_at:%Y-%m-%d %H:%M} UTC ({fresh.age_text()})")
    else:
        st.caption("No price data yet")
    if fresh.last_sync_ok is False:
        st.warning(f"Last sync failed: {plain(fresh.last_error, 300)}", icon=":material/cloud_off:")
    elif fresh.last_sync_at is not None:
        st.caption(f"Last sync {fresh.last_sync_at:%H:%M:%S} UTC")
    if svc.syncing:
        st.caption("Syncing in the background…")


def simulator_banner(svc: Service) -> None:
    """Says plainly, once per page, that the data is simulated and what in it is real."""
    if svc.settings.base_url != SIMULATOR_URL:
        return
    st.info("**Simulated site.** No MARA key is set, so Optera runs on its built-in simulator. Its prices start "
            "from the real MARA hackathon day (21 June 2025, 12:00–21:05 UTC) and continue with a model calibrated "
            f"on it, one point every 5 minutes, {svc.settings.history_days:g} days back from now; the demo site "
            "and its machines are simulated too. Set MARA_API_KEY to use a real site.",
            icon=":material/science:")


def caps_notice(svc: Service, where: str) -> None:
    """The saved caps shape the numbers below: say so, with a way to clear them."""
    text = svc.caps_text()
    if not text:
        return
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.caption(f":material/filter_alt: Your caps apply to {where}: {text}. Set them on the Optimizer.")
    if right.button("Clear caps", key=f"clear_caps_{where}", icon=":material/filter_alt_off:"):
        svc.clear_caps()
        st.rerun()


def row(gap: str = "medium"):
    """A row that wraps onto the next line when the page is narrow (metrics, buttons)."""
    return st.container(horizontal=True, wrap=True, gap=gap)


METRIC_WIDTH = 200  # px: wide enough for "$16.2M" and its delta; four fit at 1,440 px, two at 800 px


def show_table(frame: pd.DataFrame, *, hide_index: bool = True, percent: tuple[str, ...] = (),
               decimals: int = 2, key: str | None = None) -> None:
    """A dataframe with thousands separators, fixed decimals and percent columns."""
    config = {}
    for col in frame.columns:
        kind = getattr(frame[col], "dtype", None)
        if col in percent:
            config[col] = st.column_config.NumberColumn(format="percent")
        elif kind is not None and kind.kind == "f":
            config[col] = st.column_config.NumberColumn(format=f"%,.{decimals}f")
        elif kind is not None and kind.kind in "iu":
            config[col] = st.column_config.NumberColumn(format="%,d")
    st.dataframe(frame, hide_index=hide_index, width="stretch", column_config=config, key=key)


def small_table(frame: pd.DataFrame, *, percent: tuple[str, ...] = (), decimals: int = 2) -> None:
    """A few rows as a plain HTML table, numbers written as :func:`show_table` writes them.

    For tables of a handful of rows shown on a page's first paint: the browser draws them
    at once, without loading the data grid (half a megabyte of script) that
    :func:`show_table` needs for sorting and search.
    """
    def cell(value, col) -> str:
        if value is None:
            return "n/a"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if not isinstance(value, (int, float)):
            return plain(str(value), 200)
        if col in percent:
            return pct(value) if math.isfinite(value) else "n/a"
        return count(value) if isinstance(value, int) else number(value, decimals)

    shown = pd.DataFrame({col: [cell(v, col) for v in frame[col].tolist()] for col in frame.columns})
    st.table(shown, hide_index=True)


def chart(figure, key: str, width: int | str = "stretch") -> None:
    """A plotly chart without the toolbar (see charts.CONFIG)."""
    st.plotly_chart(figure, width=width, key=key, config=charts.CONFIG)


def csv_bytes(frame: pd.DataFrame, decimals: int = 6) -> bytes:
    """A tidy CSV: one header row, no index column unless it carries time, rounded floats."""
    out = frame.copy()
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = [" ".join(str(p) for p in col if p) for col in out.columns]
    if isinstance(out.index, pd.DatetimeIndex) or out.index.name:
        out = out.reset_index()
    floats = out.select_dtypes("float").columns
    out[floats] = out[floats].round(decimals)
    return out.to_csv(index=False).encode()


def download(frame: pd.DataFrame, label: str, name: str, decimals: int = 6) -> None:
    st.download_button(f"{label} (CSV)", csv_bytes(frame, decimals), file_name=f"{name}.csv",
                       mime="text/csv", key=f"dl_{name}", icon=":material/download:")
