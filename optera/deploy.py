"""Safe deploys: validate, send, read back, compare, record.

The same path serves the app, the CLI and the chat, so no surface can skip a
step. Confirmation is the caller's job (a dialog, a prompt, a card); this module
assumes it has been given and records every attempt, including refused ones.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Mapping

from .mara import MaraClient, SourceError, RefusedError
from .models import MACHINE_TYPES, Allocation, Inventory, DEFAULT_INVENTORY
from .optimize.repair import validate
from .store import Store


@dataclass(frozen=True)
class DeployResult:
    ok: bool
    message: str
    requested: Allocation
    previous: Allocation | None
    readback: Allocation | None
    audit_id: int | None


def diff(current: Allocation | None, target: Allocation, inventory: Inventory = DEFAULT_INVENTORY) -> list[dict]:
    """Per-type change from current to target: units and power."""
    current = current or Allocation()
    rows = []
    for name in MACHINE_TYPES:
        delta = target[name] - current[name]
        rows.append({"type": name, "current": current[name], "target": target[name], "change": delta,
                     "power_change": delta * inventory[name].power})
    return rows


def deploy(client: MaraClient, store: Store, target: Allocation | Mapping[str, int], *, power_limit: float,
           caps: Mapping[str, int] | None = None, action: str = "deploy", source: str = "app",
           inventory: Inventory = DEFAULT_INVENTORY, expected_current: Allocation | None = None) -> DeployResult:
    """Send `target` if it is valid and the site still runs `expected_current` (the diff the user confirmed)."""
    counts = target.to_dict() if isinstance(target, Allocation) else dict(target)
    issues = validate(counts, power_limit, caps, inventory)
    previous = _current(client, store)
    if issues:
        message = "Not sent: " + "; ".join(i.message for i in issues)
        requested = _lenient(counts)
        audit = _record(store, action=action, requested=requested, previous=previous,
                                        result="invalid", message=message, source=source)
        return DeployResult(False, message, requested, previous, None, audit)
    requested = _lenient(counts)
    if expected_current is not None and previous is not None and previous.to_dict() != expected_current.to_dict():
        message = ("Not sent: the site's allocation changed since you confirmed the diff "
                   f"(it now runs {_describe(previous)}). Review the new diff and confirm again.")
        audit = _record(store, action=action, requested=requested, previous=previous,
                                        result="stale", message=message, source=source)
        return DeployResult(False, message, requested, previous, None, audit)
    try:
        client.set_allocation(requested)
    except RefusedError as e:
        message = f"The site refused the allocation: {e.server_message or e.message}"
        audit = _record(store, action=action, requested=requested, previous=previous,
                                        result="refused", message=message, source=source)
        return DeployResult(False, message, requested, previous, None, audit)
    except SourceError as e:
        message = f"Deploy failed: {e.message}"
        audit = _record(store, action=action, requested=requested, previous=previous,
                                        result="error", message=message, source=source)
        return DeployResult(False, message, requested, previous, None, audit)
    try:
        status = client.get_status()
    except SourceError as e:
        message = f"Sent, but the read-back failed, so the result is unverified: {e.message}"
        audit = _record(store, action=action, requested=requested, previous=previous,
                                        result="unverified", message=message, source=source)
        return DeployResult(False, message, requested, previous, None, audit)
    store.add_snapshot(status)
    readback = status.allocation
    if readback.to_dict() == requested.to_dict():
        moved = requested.moved(previous) if previous else requested.total_units
        message = f"Deployed and verified: the site reports the requested allocation ({moved} units moved)."
        result, ok = "ok", True
    else:
        wrong = [n for n in MACHINE_TYPES if readback[n] != requested[n]]
        message = "Deployed, but the site reports a different allocation for " + ", ".join(
            f"{n} ({readback[n]} instead of {requested[n]})" for n in wrong)
        result, ok = "mismatch", False
    audit = _record(store, action=action, requested=requested, previous=previous, result=result,
                                    message=message, readback=readback, source=source)
    return DeployResult(ok, message, requested, previous, readback, audit)


def _current(client: MaraClient, store: Store) -> Allocation | None:
    try:
        return client.get_status().allocation
    except SourceError:
        snap = store.latest_snapshot()
        return snap[0].allocation if snap else None


def _record(store: Store, **row) -> int | None:
    """The audit row; the JSON-lines copy is written first, so a locked DB loses nothing."""
    try:
        return store.record_deployment(**row)
    except sqlite3.Error:
        return None


def _describe(allocation: Allocation) -> str:
    return ", ".join(f"{n} {allocation[n]}" for n in MACHINE_TYPES if allocation[n]) or "nothing"


def _lenient(counts: Mapping[str, object]) -> Allocation:
    """Whole non-negative counts: exact for a validated request, best effort for an invalid one."""
    safe = {}
    for name in MACHINE_TYPES:
        try:
            value = int(float(counts.get(name, 0) or 0))
        except (TypeError, ValueError):
            value = 0
        safe[name] = max(0, value)
    return Allocation(**safe)
