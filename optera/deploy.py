"""Safe deploys: validate, read the site's limit fresh, record the intent, send, read back, check.

The same path serves the app, the CLI, the chat and the autopilot, so no surface can
skip a step. Confirmation is the caller's job (a dialog, a prompt, a card, a policy);
this module assumes it was given and records every attempt, refused ones included:

1. the counts must be whole, non-negative and bounded;
2. the site's power limit is read right before sending; if it cannot be read, nothing
   is sent (a stale or default limit once sent 500 kW to a 50 kW site);
3. the counts must fit that limit (and the caller's tighter limit and caps);
4. the site must still run what the user confirmed the diff against, and the target
   must differ from it (a no-op is never sent);
5. the intent is written to the audit trail before the PUT (if it cannot be written
   anywhere, nothing is sent), and completed with the outcome after;
6. the site's answer is read back: same counts, and power used within the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .audit import NOT_SENT
from .errors import (
    BadResponseError,
    DeployNotSent,
    DeployUnverified,
    RefusedError,
    SourceError,
    StorageError,
    ValidationError,
)
from .mara import MaraClient
from .models import DEFAULT_INVENTORY, Allocation, Inventory
from .numbers import check
from .optimize.repair import validate
from .store import Store
from .units import machines, power
from .vocabulary import MACHINE_TYPES

POWER_TOLERANCE_W = 1e-6  # float noise in a site's reported total


@dataclass(frozen=True)
class DeployResult:
    """What happened to one attempt; ``outcome`` is its audit result (see optera.audit)."""

    outcome: str
    message: str
    requested: Allocation | None
    previous: Allocation | None
    readback: Allocation | None
    audit_id: int | None
    power_limit: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def sent(self) -> bool:
        return self.outcome not in NOT_SENT and self.outcome != "unrecorded"

    def raise_for_outcome(self) -> None:
        """Raise DeployNotSent or DeployUnverified unless the deploy was sent and verified."""
        if self.ok:
            return
        raise (DeployUnverified if self.sent else DeployNotSent)(self.message, self)


def parse_counts(counts: Allocation | Mapping[str, Any]) -> tuple[Allocation | None, list[str]]:
    """Whole, non-negative, bounded counts of known types, or the problems with them."""
    if isinstance(counts, Allocation):
        return counts, []
    problems, clean = [], {}
    for name, value in dict(counts).items():
        if name not in MACHINE_TYPES:
            problems.append(f"unknown machine type {str(name)[:40]!r}")
            continue
        try:
            clean[name] = check(name, value, integer=True, text=True)
        except ValidationError as e:
            problems.append(e.message)
    return (Allocation(**clean) if not problems else None), problems


def deploy(client: MaraClient, store: Store, target: Allocation | Mapping[str, Any], *,  # noqa: C901 - the safety sequence reads top to bottom: validate, audit, re-read the limit, send, read back
           power_limit: float | None = None, caps: Mapping[str, int] | None = None, action: str = "deploy",
           source: str = "app", by: str = "", inventory: Inventory = DEFAULT_INVENTORY,
           expected_current: Allocation | None = None) -> DeployResult:
    """Send ``target`` through every check above; returns the recorded outcome, never raises.

    ``power_limit`` is an extra, tighter limit of the caller's (a what-if); the site's own
    limit, read fresh, always applies. ``expected_current`` is what the user confirmed the
    diff against: if the site now runs something else, nothing is sent.
    """
    requested, problems = parse_counts(target)

    def done(outcome: str, message: str, *, previous: Allocation | None = None, readback=None,
             limit: float | None = None) -> DeployResult:
        audit_id = None
        try:
            audit_id = store.audit.record(action=action, requested=requested or dict(target), previous=previous,
                                          result=outcome, message=message, readback=readback, source=source,
                                          by=by)
        except StorageError:
            pass  # nothing was sent; the message still reaches the user
        return DeployResult(outcome, message, requested, previous, readback, audit_id, limit)

    if problems:
        return done("invalid", "Not sent: " + "; ".join(problems))
    try:
        site = client.get_site()
    except SourceError as e:
        return done("no_limit", f"Not sent: the site's power limit could not be read right before sending "
                                f"({e.message}). A deploy needs a fresh limit.")
    limit = site.power if power_limit is None else min(site.power, float(power_limit))
    issues = validate(requested.to_dict(), limit, caps, inventory)
    if issues:
        return done("invalid", "Not sent: " + "; ".join(i.message for i in issues), limit=limit)
    try:
        previous = client.get_status().allocation
    except SourceError as e:
        return done("unsafe", f"Not sent: the site's current allocation could not be read ({e.message}).",
                    limit=limit)
    if expected_current is not None and previous != expected_current:
        return done("stale", "Not sent: the site's allocation changed since you confirmed the diff "
                             f"(it now runs {machines(previous)}). Review the new diff and confirm again.",
                    previous=previous, limit=limit)
    if previous == requested:
        return done("noop", f"Not sent: the site already runs this allocation ({machines(requested)}).",
                    previous=previous, limit=limit)
    try:
        key, audit_id = store.audit.begin(action=action, requested=requested, previous=previous, site=site.name,
                                          by=by, source=source)
    except StorageError as e:
        return DeployResult("unrecorded", f"Not sent: {e.message}", requested, previous, None, None, limit)

    def finish(outcome: str, message: str, readback: Allocation | None = None) -> DeployResult:
        store.audit.finish(key, audit_id, result=outcome, message=message, readback=readback)
        return DeployResult(outcome, message, requested, previous, readback, audit_id, limit)

    try:
        client.set_allocation(requested)
    except RefusedError as e:
        return finish("refused", f"The site refused the allocation: {e.server_message or e.message}")
    except BadResponseError:
        pass  # the site answered 2xx with counts that make no sense: the read-back below says what it runs
    except SourceError as e:
        return finish("error", f"Deploy failed, and it is not known whether the site applied it: {e.message}")
    try:
        status = client.get_status()
    except SourceError as e:
        return finish("unverified", f"Sent, but the read-back failed, so the result is unverified: {e.message}")
    try:
        store.add_snapshot(status)
    except StorageError:
        pass  # the audit outcome below carries the read-back
    readback = status.allocation
    if readback != requested:
        wrong = [n for n in MACHINE_TYPES if readback[n] != requested[n]]
        return finish("mismatch", "Deployed, but the site reports a different allocation: " + ", ".join(
            f"{machines({n: readback[n]}, empty='no ' + n)} instead of {requested[n]:,}" for n in wrong), readback)
    if status.total_power_used > site.power + POWER_TOLERANCE_W:
        return finish("over_limit", f"Deployed, but the site reports {power(status.total_power_used)} in use, over "
                                    f"its limit of {power(site.power)}.", readback)
    moved = requested.moved(previous)
    return finish("ok", f"Deployed and verified: the site reports the requested allocation ({moved:,} units moved).",
                  readback)
