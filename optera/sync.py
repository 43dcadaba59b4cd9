"""Fetch -> validate -> store, idempotent.

Prices, inventory, site and status are separate steps: one failing is recorded in
``errors`` and the others still run, and nothing that failed validation is written.
Only when the source cannot be reached at all are the remaining steps skipped
(each would wait for the same timeouts again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import SourceError, StorageError, UnavailableError
from .mara import MaraClient
from .models import SiteStatus
from .redaction import redact
from .store import Store
from .units import power


@dataclass
class SyncResult:
    ok: bool
    new_prices: int
    message: str
    status: SiteStatus | None = None
    errors: list[str] = field(default_factory=list)


def sync(client: MaraClient, store: Store) -> SyncResult:  # noqa: C901 - each endpoint fails on its own and the others still sync
    errors: list[str] = []
    notes: list[str] = []
    new_prices = 0
    status: SiteStatus | None = None
    unreachable: str | None = None

    def step(name: str, action: Callable[[], None]) -> None:
        nonlocal unreachable
        if unreachable is not None:
            errors.append(f"{name}: skipped, the source is unreachable")
            return
        try:
            action()
        except UnavailableError as e:
            errors.append(f"{name}: {e.message}")
            if e.unreachable:
                unreachable = e.message
        except SourceError as e:
            errors.append(f"{name}: {e.message}")
        except StorageError as e:  # one step's storage failure must not stop the others
            errors.append(f"{name}: could not store the data: {e.message}")

    def prices() -> None:
        nonlocal new_prices
        points = client.get_prices()
        if not points:
            raise SourceError("The MARA API returned no price points.")
        new_prices = store.upsert_prices(points)
        notes.append(f"{new_prices} new of {len(points)} price points (latest {points[-1].timestamp:%Y-%m-%d %H:%M})")
        if getattr(points, "note", ""):
            notes.append(points.note)

    def inventory() -> None:
        store.set_inventory(client.get_inventory())

    def site() -> None:
        s = client.get_site()
        store.set_site(s.name, s.power)
        notes.append(f"site {s.name} ({power(s.power)})")

    def machines() -> None:
        nonlocal status
        got = client.get_status()
        store.add_snapshot(got)
        status = got

    step("prices", prices)
    step("inventory", inventory)
    step("site", site)
    step("status", machines)

    ok = not errors
    if ok:
        message = "Synced: " + "; ".join(notes) + "."
    elif unreachable is not None and len(errors) == 4 and errors[0].startswith("prices: "):
        message = unreachable
    else:
        message = "; ".join(errors)
    message = redact(message)
    errors = [redact(e) for e in errors]
    try:
        store.log_sync(ok, new_prices, message)
    except StorageError as e:  # the caller gets the result even when the log cannot be written
        errors.append(f"log: {e.message}")
        ok = False
        message = f"{message}; the sync could not be recorded: {e.message}"
    return SyncResult(ok=ok, new_prices=new_prices, message=message, status=status, errors=errors)
