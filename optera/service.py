"""The one door into the library's data and actions: settings, store, client, freshness.

Pages, the CLI and the chat tools ask a :class:`Service` for data (prices, status,
caps, the audit trail, chat history) and actions (sync, deploy); none of them
touches the store, the MARA client or the deploy path directly. The service owns
the cadence of syncs (one at a time, at most one per interval) and chooses the
client: the embedded simulator or a configured server.
"""

from __future__ import annotations

import getpass
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit
from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import Settings, load_settings
from .errors import SourceError
from .mara import MaraClient
from .clock import utcnow
from .economics import status_at
from .models import DEFAULT_INVENTORY, Allocation, Inventory, Prices, SiteStatus
from .store import Store, recover
from .sync import SyncResult, sync
from .units import Money
from .units import constraint as phrase
from .vocabulary import MACHINE_TYPES

if TYPE_CHECKING:
    import pandas as pd

    from .autopilot.state import AutopilotState
    from .deploy import DeployResult
    from .intel.btc import BtcMarket
    from .ledger import DeployChange, Ledger, Recent

SYNC_INTERVAL = timedelta(minutes=5)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def client_from_settings(settings: Settings, **kwargs) -> MaraClient:
    """The client for the configured source: the embedded simulator (an in-process
    transport, no port) when no URL or key is set, else the configured server."""
    if settings.source == "simulator":
        from .sim.api import DEMO_KEY, Simulator

        sim = Simulator(state_path=settings.sim_state, history_days=settings.history_days)
        # the whole history comes in one answer: ~90 bytes a point, 288 points a day
        kwargs.setdefault("max_bytes", max(16 << 20, int(settings.history_days * 288 * 120)))
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
        if self.settings.source == "simulator" and self.last_result.status is not None:
            self._demo_history(self.last_result.status)
        return self.last_result

    def _demo_history(self, status: SiteStatus) -> None:
        """The embedded simulator's demo site has run its starting allocation since its price
        history began (that is how the simulator is defined: see ``sim.api._add_demo_site``).
        Its first sync records that as a status read at the history's start, priced then, so the
        profit and loss has the whole history to show offline. A real site gets no such record:
        before Optera first reads it, its allocation is unknown."""
        if self.store.snapshot_count() != 1 or self.store.deployments(1):
            return
        span = self.store.price_range()
        first = self.store.price_history(span[0], span[0]) if span else None
        if first is None or first.empty:
            return
        row = first.iloc[0]
        then = Prices(span[0], float(row["energy_price"]), float(row["hash_price"]), float(row["token_price"]))
        self.store.add_snapshot(status_at(status.allocation, then, self.inventory()), fetched_at=span[0])

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
    @property
    def money(self) -> Money:
        return self.settings.money

    @property
    def cache_key(self) -> str:
        """Identifies the data behind this service, for callers' caches."""
        return f"{self.settings.db_path}|{self.settings.base_url}"

    def latest_prices(self) -> Prices | None:
        latest = self.store.latest_prices(1)
        return latest[0] if latest else None

    def recent_prices(self, n: int = 2) -> list[Prices]:
        """The n newest price points, newest first (the latest and its predecessor for changes)."""
        return self.store.latest_prices(n)

    def price_window(self, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        """Stored prices in [start, end], oldest first, indexed by timestamp."""
        return self.store.price_history(start, end)

    def price_span(self) -> tuple[datetime, datetime] | None:
        """First and last stored price time."""
        return self.store.price_range()

    def price_count(self) -> int:
        return self.store.price_count()

    def site_limit(self) -> float | None:
        """The site's power limit as last read from it, or None if it never was."""
        site = self.store.site()
        return float(site["power"]) if site and site.get("power") else None

    def power_limit(self) -> float:
        """The site's limit for planning; 1 MW (the API's documented default) until it is read.
        Deploys never use this: they read the limit fresh from the site."""
        return self.site_limit() or DEFAULT_POWER_LIMIT

    def inventory(self) -> Inventory:
        return self.store.inventory() or DEFAULT_INVENTORY

    def status(self) -> tuple[SiteStatus, datetime] | None:
        return self.store.latest_snapshot()

    def current_allocation(self) -> Allocation:
        """What the site ran at the last read; nothing when it was never read."""
        snap = self.store.latest_snapshot()
        return snap[0].allocation if snap else Allocation()

    def status_history(self, start: datetime | None = None) -> pd.DataFrame:
        """Status snapshots from ``start`` on, as stored at each sync or deploy."""
        return self.store.snapshot_history(start=start)

    def live_status(self) -> SiteStatus:
        """Read the site now (raises SourceError with a user-readable message)."""
        status = self.client.get_status()
        self.store.add_snapshot(status)
        return status

    # -- the user's standing constraints ----------------------------------------------
    def caps(self) -> dict[str, int]:
        """The machines the user owns (per-type maximum counts), kept across sessions."""
        caps = self.store.get_meta("caps", {}) or {}
        return {k: int(v) for k, v in caps.items() if k in MACHINE_TYPES and v is not None}

    def set_caps(self, caps: Mapping[str, int | None]) -> None:
        self.store.set_meta("caps", {k: int(v) for k, v in caps.items() if v is not None})

    def clear_caps(self) -> None:
        self.set_caps({})

    def caps_text(self) -> str:
        """The caps in words, or '' when none are set."""
        return "; ".join(phrase("cap", v, n) for n, v in self.caps().items())

    # -- deploys ---------------------------------------------------------------
    def deploy(self, target: Allocation | Mapping[str, Any], *, expected_current: Allocation | None,
               action: str = "deploy", source: str = "app", power_limit: float | None = None) -> DeployResult:
        """Send an allocation through every safety step of :mod:`optera.deploy`, under the saved caps."""
        from .deploy import deploy

        return deploy(self.client, self.store, target, power_limit=power_limit, caps=self.caps() or None,
                      action=action, source=source, by=_user(), inventory=self.inventory(),
                      expected_current=expected_current)

    def deployments(self, limit: int = 100) -> list[dict[str, Any]]:
        """The audit trail, newest first."""
        return self.store.deployments(limit)

    # -- history -----------------------------------------------------------------------
    def ledger(self, start=None, end=None, by: str = "day") -> Ledger:
        """Realized profit against the per-interval optimum (see :mod:`optera.ledger`)."""
        from . import ledger

        return ledger.build(self.store, start, end, by=by, power_limit=self.power_limit(),
                            caps=self.caps() or None, inventory=self.inventory())

    def recent_pnl(self, now=None) -> Recent:
        """Yesterday, the last 7 and the last 30 days of the ledger."""
        from . import ledger

        return ledger.recent(self.store, now=now, power_limit=self.power_limit(), caps=self.caps() or None,
                             inventory=self.inventory())

    def last_deploy(self) -> DeployChange | None:
        """What the last deploy that reached the site changed."""
        from . import ledger

        return ledger.last_deploy(self.store, inventory=self.inventory())

    def bitcoin(self) -> BtcMarket:
        """BTC-USD bars with their provenance (live, cached, or the shipped history)."""
        from .intel.btc import load_market, offline_fetcher

        return load_market(self.store, fetcher=None if self.settings.btc_live else offline_fetcher)

    # -- chat history ---------------------------------------------------------------
    def chat_history(self, limit: int = 200) -> list[dict[str, Any]]:
        return self.store.chat_history(limit)

    def add_chat(self, role: str, content: str, tools: list[dict[str, Any]] | None = None) -> None:
        self.store.add_chat(role, content, tools)

    def clear_chat(self) -> None:
        self.store.clear_chat()

    # -- autopilot (optera.autopilot: the loop runs in `optera autopilot`; the app reads and pauses it) --
    def autopilot_state(self, now: datetime | None = None) -> AutopilotState:
        """Running, paused or not running; mode, heartbeat, next check, last decision."""
        from .autopilot.state import read_state

        return read_state(self.store, now)

    def pause_autopilot(self, reason: str = "paused in the app", by: str = "app") -> None:
        """Set the pause flag the running autopilot obeys within seconds (and a new one starts paused)."""
        from .autopilot.state import pause

        pause(self.store, reason, by=by)

    def resume_autopilot(self) -> None:
        from .autopilot.state import resume

        resume(self.store)

    def autopilot_decisions(self, limit: int = 200) -> list[dict[str, Any]]:
        """The autopilot's recorded decisions, newest first."""
        return self.store.autopilot_decisions(limit)

    # -- maintenance -------------------------------------------------------------------
    def check_database(self) -> list[str]:
        """What ``PRAGMA quick_check`` finds wrong with the database; empty when sound."""
        return self.store.check()


def recover_database(settings: Settings) -> tuple[int, Path | None]:
    """Move an unreadable DB aside, rebuild it, replay the audit trail; (audit rows, moved to)."""
    store, moved = recover(settings.db_path)
    try:
        return len(store.deployments(1_000_000)), moved
    finally:
        store.close()


def _user() -> str:
    """Who deploys, for the audit trail: the OS user running Optera."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a minimal container
        return ""


__all__ = ["Service", "Freshness", "SYNC_INTERVAL", "client_from_settings", "recover_database"]
