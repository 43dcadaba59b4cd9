"""Streamlit glue shared by the pages: the cached service, the sidebar, formatting.

Kept out of `optera/` because it imports streamlit; it holds no business logic.
"""

from __future__ import annotations

import streamlit as st

from optera.config import load_settings
from optera.errors import ConfigError
from optera.service import SYNC_INTERVAL, Service
from optera.store import StoreError, recover

KEEP_PREFIX = "keep_"
SHADOW = "_saved_"


@st.cache_resource(max_entries=1, show_spinner=False)
def _service(db_path: str, source: str, key_fingerprint: int) -> Service:
    return Service(load_settings())


def get_service() -> Service:
    """The process-wide service for the current settings (recreated if they change)."""
    try:
        settings = load_settings()
    except ConfigError as e:
        st.error(f"Optera cannot start with these settings: {e.message}", icon=":material/settings:")
        st.stop()
    try:
        # a changed key (hashed, never the key itself) gets a new client
        return _service(str(settings.db_path), settings.base_url, hash(settings.mara_api_key))
    except StoreError as e:
        st.error(str(e), icon=":material/database:")
        if st.button("Recover database", type="primary", key="recover_db"):
            _, moved = recover(settings.db_path)
            _service.clear()
            st.success(f"The unreadable file was moved to {moved}; a fresh database was built and the "
                       "audit trail replayed. Syncing from the source now.")
            st.rerun()
        st.stop()


def keep_widget_state() -> None:
    """Widgets keyed `keep_*` keep their values when the user switches pages.

    Streamlit drops a widget's state when a run does not draw it; a plain copy
    under another key survives, and :func:`init` restores from it.
    """
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(KEEP_PREFIX):
            st.session_state[SHADOW + key] = st.session_state[key]


def sidebar() -> None:
    """The sidebar every page starts with: source, freshness, refresh, live sync."""
    keep_widget_state()
    with st.sidebar:
        svc = get_service()
        st.markdown("**Data source**")
        st.caption(svc.settings.source_label)
        if st.button("Refresh now", icon=":material/refresh:", width="stretch", key="refresh_now"):
            with st.spinner("Syncing…"):
                result = svc.refresh()
            if result.ok:
                st.toast(f"Synced: {result.new_prices} new price points", icon=":material/check:")
            else:
                st.toast(result.message, icon=":material/error:")
            st.rerun()
        _live_status()


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
        st.warning(f"Last sync failed: {fresh.last_error}", icon=":material/cloud_off:")
    elif fresh.last_sync_at is not None:
        st.caption(f"Last sync {fresh.last_sync_at:%H:%M:%S} UTC")
    if svc.syncing:
        st.caption("Syncing in the background…")


def money(value: float) -> str:
    return f"{value:,.2f}"


def per_day(svc: Service, value: float) -> str:
    return f"{value * svc.settings.periods_per_day:,.0f}"


def init(key: str, default) -> str:
    """Seed a widget's value through session state, restoring it after a page switch."""
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(SHADOW + key, default)
    return key


def show_table(frame, *, hide_index: bool = True, percent: tuple[str, ...] = (), decimals: int = 2) -> None:
    """A dataframe with thousands separators, fixed decimals and optional percent columns."""
    config = {}
    for col in frame.columns:
        kind = getattr(frame[col], "dtype", None)
        if col in percent:
            config[col] = st.column_config.NumberColumn(format="percent")
        elif kind is not None and kind.kind == "f":
            config[col] = st.column_config.NumberColumn(format=f"%,.{decimals}f")
        elif kind is not None and kind.kind in "iu":
            config[col] = st.column_config.NumberColumn(format="%,d")
    st.dataframe(frame, hide_index=hide_index, width="stretch", column_config=config)
