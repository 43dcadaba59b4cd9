"""Power validation and repair of hand-made allocations.

validate() says precisely what is wrong with counts typed by a user; repair() finds the
feasible allocation that loses the least profit; proportional_scale() reproduces the
hackathon prototype's fix (scale every count by limit/power and round), shown as the foil.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..models import DEFAULT_INVENTORY, MACHINE_TYPES, Allocation, Inventory, Prices
from ..redaction import shorten
from ..units import power as kw
from ..vocabulary import LABELS


@dataclass(frozen=True)
class Issue:
    field: str
    message: str


def _show(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def _parse(value: Any) -> float | None:
    """A number from an int, float or numeric string; None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def validate(counts: Mapping[str, Any], power_limit: float, caps: Mapping[str, int] | None = None,
             inventory: Inventory = DEFAULT_INVENTORY) -> list[Issue]:
    """Every problem with the counts, one Issue each; an empty list means deployable."""
    issues: list[Issue] = []
    clean: dict[str, int] = {}
    for name, value in counts.items():
        if name not in MACHINE_TYPES:
            issues.append(Issue(str(name), f"unknown machine type {shorten(str(name), 40)}"))
            continue
        number = _parse(value)
        if number is None or math.isnan(number):
            issues.append(Issue(name, f"{LABELS[name]}: {shorten(repr(value), 40)} is not a number"))
            continue
        if not math.isfinite(number):
            issues.append(Issue(name, f"{LABELS[name]}: {shorten(repr(value), 40)} is not a finite number"))
            continue
        if number < 0:
            issues.append(Issue(name, f"{LABELS[name]}: {_show(number)} is negative"))
            continue
        if not number.is_integer():
            issues.append(Issue(name, f"{LABELS[name]}: {_show(number)} is not a whole number"))
            continue
        clean[name] = int(number)
        cap = (caps or {}).get(name)
        if cap is not None and clean[name] > cap:
            issues.append(Issue(name, f"{LABELS[name]}: {clean[name]:,} exceeds the {cap:,} you own"))
    used = sum(clean[n] * inventory[n].power for n in clean)
    if used > power_limit:
        issues.append(Issue("power", f"power {kw(used)} exceeds the limit of {kw(power_limit)} "
                                     f"by {kw(used - power_limit)}"))
    return issues


def _requested(counts: Mapping[str, Any]) -> dict[str, int]:
    """Usable whole counts: unknown types and non-numbers dropped, fractions floored, negatives 0."""
    out = {}
    for name in MACHINE_TYPES:
        number = _parse(counts.get(name, 0))
        if number is None or not math.isfinite(number) or number < 0:
            out[name] = 0
        else:
            out[name] = int(math.floor(number))
    return out


def repair(counts: Mapping[str, Any], prices: Prices, power_limit: float,
           caps: Mapping[str, int] | None = None, inventory: Inventory = DEFAULT_INVENTORY) -> Allocation:
    """The allocation within the limit and caps, no count above the request, of highest profit.

    Ties go to the allocation that keeps most of what was requested. Loss-making units
    are dropped: removing them only raises profit.
    """
    from .constraints import Constraints
    from .milp import solve

    req = _requested(counts)
    bounds = {n: min(req[n], (caps or {}).get(n, req[n])) for n in MACHINE_TYPES}
    requested = Allocation(**req)
    solution = solve(prices, power_limit, Constraints(caps=bounds), requested, inventory)
    if solution.allocation is None:
        return Allocation()
    return solution.allocation


def proportional_scale(counts: Mapping[str, Any], power_limit: float,
                       inventory: Inventory = DEFAULT_INVENTORY) -> Allocation:
    """The prototype's fix: if over the limit, multiply each count by limit/power and round.

    Rounding to nearest (Python's round) can leave the result over the limit, and the
    shrink leaves power unused; both are the point of showing it.
    """
    req = _requested(counts)
    used = sum(req[n] * inventory[n].power for n in MACHINE_TYPES)
    if used <= power_limit or used == 0:
        return Allocation(**req)
    factor = power_limit / used
    return Allocation(**{n: int(round(req[n] * factor)) for n in MACHINE_TYPES})
