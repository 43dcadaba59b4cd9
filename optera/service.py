"""The app's one handle on the library: settings, store, client, freshness.

Pages and the CLI ask a :class:`Service` for data and actions; it owns the
cadence of syncs (one at a time, at most one per interval) and turns failures
into messages so no caller ever sees a traceback.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit
from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import Settings, load_settings
from .errors import SourceError
from .mara import MaraClient
from .models import DEFAULT_INVENTORY, Allocation, Inventory, Prices, SiteStatus
from .store import Store, utcnow
from .sync import SyncResult, sync

SYNC_INTERVAL = timedelta(minutes=5)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def client_from_settings(settings: Settings, **kwargs) -> MaraClient:
    """The client for the configured source: the embedded simulator (an in-process
    transport, no port) when no URL or key is set, else the configured server."""
    if settings.source == "simulator":
        from .sim.api import DEMO_KEY, Simulator

        sim = Simulator(state_path=settings.sim_state, history_days=settings.history_days)
        return MaraClient(settings.base_url, DEMO_KEY, transport=sim.transport(), **kwargs)
    key = settings.mara_api_key.get() if settings.mara_api_key else None
    if key is None and urlsplit(settings.base_url).hostname in LOCAL_HOSTS:
        from .sim.api import DEMO_KEY

        key = DEMO_KEY  # a local `optera sim` always has the demo site
    return MaraClient(settings.base_url, key, **kwargs)
DEFAULT_POWER_LIMIT = 1_000_000.0


@dataclass(frozen=True)
class Freshness:
    source_label: str
    latest_price_at: datetime | None
    last_sync_at: datetime | None
    last_sync_ok: bool | None
    last_error: str | None

    def age_text(self, now: datetime | None = None) -> str:
        if self.latest_price_at is None:
            return "no data yet"
        minutes = ((now or utcnow()) - self.latest_price_at).total_seconds() / 60
        if minutes < 1:
            return "latest price less than a minute old"
        if minutes < 120:
            return f"latest price {minutes:.0f} min old"
        if minutes < 48 * 60:
            return f"latest price {minutes / 60:.1f} h old"
        return f"latest price {minutes / 1440:.1f} days old"


class Service:
    def __init__(self, settings: Settings | None = None, client: MaraClient | None = None,
                 store: Store | None = None):
        self.settings = settings or load_settings()
        self.store = store or Store(self.settings.db_path)
        self._client = client
        self._sync_lock = threading.Lock()
        self.last_result: SyncResult | None = None

    @property
    def client(self) -> MaraClient:
        if self._client is None:
            self._client = client_from_settings(self.settings)
        return self._client

    # -- syncing -------------------------------------------------------------
    def refresh(self) -> SyncResult:
        """Sync now (callers wanting at most one sync per interval use ensure_fresh)."""
        with self._sync_lock:
            return self._sync()

    def _sync(self) -> SyncResult:
        try:
            client = self.client
        except SourceError as e:  # e.g. a malformed MARA_API_URL: a message, like any other failed sync
            self.store.log_sync(False, 0, e.message)
            self.last_result = SyncResult(ok=False, new_prices=0, message=e.message, status=None, errors=[e.message])
            return self.last_result
        self.last_result = sync(client, self.store)
        return self.last_result

    def ensure_fresh(self, max_age: timedelta = SYNC_INTERVAL, background: bool = False) -> SyncResult | None:
        """Sync if the last attempt is older than max_age; never waits for a sync already running.

        With `background`, and data already stored to show meanwhile, the sync runs in a
        thread so a slow or failing source never holds up a page.
        """
        last = self.store.last_sync()
        if last is not None and utcnow() - datetime.fromisoformat(last["at"]) < max_age:
            return None
        if not self._sync_lock.acquire(blocking=False):
            return None
        if background and self.store.price_count() > 0:
            threading.Thread(target=self._sync_and_release, name="optera-sync", daemon=True).start()
            return None
        try:
            return self._sync()
        finally:
            self._sync_lock.release()

    def _sync_and_release(self) -> None:
        try:
            self._sync()
        finally:
            self._sync_lock.release()

    @property
    def syncing(self) -> bool:
        return self._sync_lock.locked()

    def freshness(self) -> Freshness:
        latest = self.store.latest_prices(1)
        last = self.store.last_sync()
        error = None
        if last is not None and not last["ok"]:
            error = last["message"]
        return Freshness(
            source_label=self.settings.source_label,
            latest_price_at=latest[0].timestamp if latest else None,
            last_sync_at=datetime.fromisoformat(last["at"]) if last else None,
            last_sync_ok=bool(last["ok"]) if last else None,
            last_error=error,
        )

    # -- current state -------------------------------------------------------
    def latest_prices(self) -> Prices | None:
        latest = self.store.latest_prices(1)
        return latest[0] if latest else None

    def power_limit(self) -> float:
        site = self.store.site()
        return float(site["power"]) if site else DEFAULT_POWER_LIMIT

    def inventory(self) -> Inventory:
        return self.store.inventory() or DEFAULT_INVENTORY

    def status(self) -> tuple[SiteStatus, datetime] | None:
        return self.store.latest_snapshot()

    def current_allocation(self) -> Allocation:
        snap = self.store.latest_snapshot()
        return snap[0].allocation if snap else Allocation()

    def live_status(self) -> SiteStatus:
        """Read the site now (raises SourceError with a user-readable message)."""
        status = self.client.get_status()
        self.store.add_snapshot(status)
        return status

    def caps(self) -> dict[str, int]:
        return dict(self.store.get_meta("caps", {}) or {})

    def set_caps(self, caps: dict[str, int]) -> None:
        self.store.set_meta("caps", {k: int(v) for k, v in caps.items() if v is not None})


__all__ = ["Service", "Freshness", "SourceError", "SYNC_INTERVAL"]
