"""The MARA API contract (``shared/mara-api.md``) as a pure request handler.

:meth:`Simulator.handle` maps (method, path, headers, body) to (status, JSON body);
:meth:`Simulator.transport` wraps it in an ``httpx.MockTransport`` so the app's one
client code path runs against it in process, and ``server.py`` serves it over HTTP.
Sites, keys and allocations persist in a JSON file (atomic replace), so a deployed
allocation survives a restart; prices come from :class:`PriceModel` and depend only
on the clock, so a restart never rewrites history.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import httpx

from ..models import DEFAULT_INVENTORY, MACHINE_TYPES, format_timestamp
from .prices import STEP, PriceModel

DEMO_KEY = "optera-demo-key"
DEMO_NAME = "optera-demo"
# The demo site starts where the hackathon prototype fell back to, so a new user
# sees a running site and what re-optimising it would change.
DEMO_ALLOCATION = {"air_miners": 0, "hydro_miners": 5, "immersion_miners": 10, "gpu_compute": 30,
                   "asic_compute": 20}
DEFAULT_POWER = 1_000_000


def _whole(value: float) -> int | float:
    """Watts as the published API writes them: integers (``1000000``, not ``1000000.0``)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class _Reply(Exception):
    """Short-circuits a handler with an HTTP error reply."""

    def __init__(self, status: int, detail: str):
        self.status = status
        self.detail = detail


class Simulator:
    def __init__(self, state_path: Path | None = None, now: Callable[[], datetime] | None = None,
                 history_days: float = 7, power: float = DEFAULT_POWER, *, model: PriceModel | None = None):
        self.state_path = Path(state_path) if state_path else None
        self.now = now or _utcnow
        self.history_days = float(history_days)
        self.power = _whole(float(power))
        self.model = model or PriceModel()
        self.inventory = DEFAULT_INVENTORY
        self._lock = threading.RLock()
        self._sites: dict[str, dict[str, Any]] = {}
        self._seen = None
        with self._lock, self._file_lock():
            self._load()
            if not any(s["api_key"] == DEMO_KEY for s in self._sites.values()):
                self._add_demo_site()

    def _add_demo_site(self) -> None:
        """The demo site has run the prototype's fallback allocation since its price history began."""
        site = self._new_site(DEMO_NAME, DEMO_KEY)
        with self._lock:
            site["allocation"] = dict(DEMO_ALLOCATION)
            site["created_at"] = site["updated_at"] = format_timestamp(self.now() - timedelta(days=self.history_days))
            self._save()

    # -- state -------------------------------------------------------------------
    def _load(self) -> None:
        self._seen = self._stamp()
        if self.state_path is None or not self.state_path.exists():
            return
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            sites = data["sites"]
            if isinstance(sites, dict):
                self._sites = {str(k): v for k, v in sites.items() if isinstance(v, dict) and "api_key" in v}
        except (OSError, ValueError, KeyError, TypeError):
            self._sites = {}  # an unreadable state file starts a fresh simulator

    def _save(self) -> None:
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=self.state_path.name + ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"sites": self._sites}, fh, indent=1)
            os.replace(tmp, self.state_path)
            self._seen = self._stamp()
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _new_site(self, name: str, key: str | None = None) -> dict[str, Any]:
        with self._lock:
            site_id = max((int(s["id"]) for s in self._sites.values()), default=0) + 1
            now = format_timestamp(self.now())
            site = {"id": site_id, "name": name, "power": self.power, "api_key": key or uuid.uuid4().hex,
                    "created_at": now, "allocation": {n: 0 for n in MACHINE_TYPES}, "allocation_id": site_id,
                    "updated_at": now}
            self._sites[str(site_id)] = site
            self._save()
            return site

    def site_for_key(self, key: str | None) -> dict[str, Any] | None:
        if not key:
            return None
        for site in self._sites.values():
            if site["api_key"] == key:
                return site
        return None

    # -- prices --------------------------------------------------------------------
    def latest_price(self):
        return self.model.point(self.now())

    def price_points(self) -> list[dict[str, Any]]:
        """GET /prices: newest first, from now - history_days to the last grid point <= now."""
        now = self.now()
        _, values = self.model.array(now - timedelta(days=self.history_days), now)
        k1 = self.model.index(now)
        n = len(values)
        first = self.model.timestamp(k1 - n + 1)
        out = []
        for i in range(n - 1, -1, -1):
            e, h, t = values[i]
            out.append({"timestamp": format_timestamp(first + i * STEP), "energy_price": float(e),
                        "hash_price": float(h), "token_price": float(t)})
        return out

    # -- request handling -------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        method = method.upper()
        path = "/" + path.split("?", 1)[0].strip("/")
        key = next((v for k, v in headers.items() if k.lower() == "x-api-key"), None)
        routes = {
            "/sites": {"POST": self._post_sites, "GET": self._get_sites},
            "/prices": {"GET": self._get_prices},
            "/inventory": {"GET": self._get_inventory},
            "/machines": {"GET": self._get_machines, "PUT": self._put_machines},
        }
        if path not in routes:
            return 404, {"detail": "Not Found"}
        handler = routes[path].get(method)
        if handler is None:
            return 405, {"detail": "Method Not Allowed"}
        try:
            with self._lock, self._file_lock():
                self._reload_if_changed()
                return handler(key, body)
        except _Reply as r:
            return r.status, {"detail": r.detail}

    @contextlib.contextmanager
    def _file_lock(self):
        """Serialise requests across processes (the app and a CLI) sharing one state file."""
        if self.state_path is None:
            yield
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_path.with_name("." + self.state_path.name + ".lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _reload_if_changed(self) -> None:
        """Pick up what another process saved since this one last read or wrote the file."""
        stamp = self._stamp()
        if stamp != self._seen:
            self._load()
            if not any(s["api_key"] == DEMO_KEY for s in self._sites.values()):
                self._add_demo_site()

    def _stamp(self):
        try:
            st = os.stat(self.state_path) if self.state_path else None
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size) if st else None

    def _auth(self, key: str | None) -> dict[str, Any]:
        site = self.site_for_key(key)
        if site is None:
            raise _Reply(401, "Missing API key" if not key else "Invalid API key")
        return site

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body.decode("utf-8") if body else "")
        except (UnicodeDecodeError, ValueError):
            raise _Reply(422, "The request body is not valid JSON") from None

    def _post_sites(self, key, body):
        data = self._json(body)
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise _Reply(422, "Body must be a JSON object with a non-empty \"name\"")
        site = self._new_site(name.strip()[:100])
        return 200, {"api_key": site["api_key"], "name": site["name"], "power": _whole(site["power"]),
                     "id": site["id"]}

    def _get_sites(self, key, body):
        site = self._auth(key)
        return 200, {"id": site["id"], "name": site["name"], "power": _whole(site["power"]),
                     "created_at": site["created_at"]}

    def _get_prices(self, key, body):
        return 200, self.price_points()

    def _get_inventory(self, key, body):
        return 200, {category: {kind: {k: _whole(v) for k, v in spec.items()} for kind, spec in group.items()}
                     for category, group in self.inventory.to_api().items()}

    def _get_machines(self, key, body):
        return 200, self.status(self._auth(key))

    def status(self, site: dict[str, Any]) -> dict[str, Any]:
        """GET /machines for a site, priced with the latest price point."""
        prices = self.latest_price()
        alloc = site["allocation"]
        power = {n: _whole(alloc[n] * self.inventory[n].power) for n in MACHINE_TYPES}
        revenue = {n: alloc[n] * self.inventory[n].unit_revenue(prices) for n in MACHINE_TYPES}
        used = sum(power.values())
        updated = max(site["updated_at"], format_timestamp(prices.timestamp))
        return {"id": site["allocation_id"], "site_id": site["id"], **alloc, "power": power, "revenue": revenue,
                "total_power_used": used, "total_power_cost": used * prices.energy_price,
                "total_revenue": sum(revenue.values()), "updated_at": updated}

    def _put_machines(self, key, body):
        site = self._auth(key)
        data = self._json(body)
        if not isinstance(data, dict):
            raise _Reply(422, "Body must be a JSON object of machine counts")
        unknown = sorted(set(data) - set(MACHINE_TYPES))
        if unknown:
            raise _Reply(422, f"Unknown field {unknown[0]!r}; allowed: {', '.join(MACHINE_TYPES)}")
        counts = {}
        for name in MACHINE_TYPES:
            value = data.get(name, 0)
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Reply(422, f"{name} must be a whole number of machines (got {value!r})")
            if value < 0:
                raise _Reply(422, f"{name} must not be negative (got {value})")
            counts[name] = value
        used = sum(counts[n] * self.inventory[n].power for n in MACHINE_TYPES)
        if used > site["power"]:
            raise _Reply(400, f"Allocation needs {used:,.0f} W, over the site's power limit of "
                              f"{site['power']:,.0f} W")
        site["allocation"] = counts
        site["allocation_id"] = int(site.get("allocation_id", 0)) + 1
        site["updated_at"] = format_timestamp(self.now())
        self._save()
        return 200, {**counts, "id": site["allocation_id"], "site_id": site["id"], "updated_at": site["updated_at"]}

    # -- transport -------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        """In-process transport for httpx: the embedded default, no port."""

        def respond(request: httpx.Request) -> httpx.Response:
            status, payload = self.handle(request.method, request.url.path, request.headers, request.read())
            return httpx.Response(status, json=payload)

        return httpx.MockTransport(respond)
