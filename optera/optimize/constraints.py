"""What the user may ask of an allocation, checked once before any solver sees it.

:class:`Constraints` holds the user's wishes (caps of owned machines, locks,
inference share, minimum output, units moved, switching cost); :func:`check`
validates them against the prices and power limit and returns the plain numbers
the solver uses. Every value must be finite, non-negative and below ``MAX_INPUT``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ValidationError
from ..models import DEFAULT_INVENTORY, Allocation, Inventory, Prices
from ..numbers import MAX_VALUE, check
from ..units import constraint as phrase
from ..units import number, pct
from ..units import power as kw
from ..vocabulary import CONSTRAINT_LABELS, INFERENCE_TYPES, LOWER, MACHINE_TYPES, PRICE_COLUMNS, PRICE_LABELS


@dataclass
class Constraints:
    """User constraints; None or empty means "not set"."""

    caps: dict[str, int] = field(default_factory=dict)
    locks: dict[str, int] = field(default_factory=dict)
    min_inference_share: float | None = None
    max_inference_share: float | None = None
    min_tokens: float | None = None
    min_hashrate: float | None = None
    max_moved: int | None = None
    switching_cost: float = 0.0

    def describe(self) -> list[str]:
        """Each constraint that is set, in words ("at most 10 ASIC inference")."""
        out = [phrase("lock", v, n) for n, v in self.locks.items() if v is not None]
        out += [phrase("cap", v, n) for n, v in self.caps.items() if v is not None and n not in self.locks]
        for kind, value in (("min_share", self.min_inference_share), ("max_share", self.max_inference_share),
                            ("min_tokens", self.min_tokens), ("min_hashrate", self.min_hashrate),
                            ("max_moved", self.max_moved)):
            if value is not None:
                out.append(phrase(kind, value))
        if self.switching_cost:
            out.append(phrase("switching_cost", self.switching_cost))
        return out

    @property
    def active(self) -> bool:
        return bool(self.describe())

    def broken_by(self, allocation: Allocation, power_limit: float | None = None,
                  current: Allocation | None = None, inventory: Inventory = DEFAULT_INVENTORY) -> list[str]:
        """Each constraint (and the power limit) that ``allocation`` breaks, in words.

        Says why an optimum can earn less than what runs now: the running allocation
        may break a cap or a share the optimum must honour.
        """
        out = []
        used = allocation.power(inventory)
        if power_limit is not None and used > power_limit + 1e-6:
            out.append(f"{phrase('power', power_limit)} (it uses {kw(used)})")
        for n, v in self.locks.items():
            if v is not None and allocation[n] != v:
                out.append(f"{phrase('lock', v, n)} (it runs {allocation[n]:,})")
        for n, v in self.caps.items():
            if v is not None and n not in self.locks and allocation[n] > v:
                out.append(f"{phrase('cap', v, n)} (it runs {allocation[n]:,})")
        inference = sum(allocation[n] * inventory[n].power for n in INFERENCE_TYPES)
        share = inference / used if used else 0.0
        if self.min_inference_share is not None and used and share < self.min_inference_share - 1e-9:
            out.append(f"{phrase('min_share', self.min_inference_share)} (it has {pct(share, 0)})")
        if self.max_inference_share is not None and used and share > self.max_inference_share + 1e-9:
            out.append(f"{phrase('max_share', self.max_inference_share)} (it has {pct(share, 0)})")
        if self.min_tokens is not None and allocation.tokens(inventory) < self.min_tokens - 1e-9:
            out.append(f"{phrase('min_tokens', self.min_tokens)} (it makes {number(allocation.tokens(inventory))})")
        if self.min_hashrate is not None and allocation.hashrate(inventory) < self.min_hashrate - 1e-9:
            out.append(f"{phrase('min_hashrate', self.min_hashrate)} "
                       f"(it makes {number(allocation.hashrate(inventory))})")
        if self.max_moved is not None and current is not None and allocation.moved(current) > self.max_moved:
            out.append(f"{phrase('max_moved', self.max_moved)} (it moves {allocation.moved(current):,})")
        return out


# -- validation ----------------------------------------------------------------

MAX_INPUT = MAX_VALUE


def _count_map(kind: str, data: Mapping[str, Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in (data or {}).items():
        if name not in MACHINE_TYPES:
            raise ValidationError(f"{kind} of {name}", value,
                                  f"unknown machine type; use one of {', '.join(MACHINE_TYPES)}")
        if value is not None:
            out[name] = check(f"{kind} of {LOWER[name]}", value, integer=True)
    return out


@dataclass
class _Checked:
    caps: dict[str, int]
    locks: dict[str, int]
    min_share: float | None
    max_share: float | None
    min_tokens: float | None
    min_hashrate: float | None
    max_moved: int | None
    switching: float


def _check(prices: Prices, power_limit: float, c: Constraints) -> _Checked:
    for name in PRICE_COLUMNS:
        check(PRICE_LABELS[name], getattr(prices, name))
    check("Power limit (W)", power_limit)
    caps = _count_map("Cap", c.caps)
    locks = _count_map("Lock", c.locks)
    for name, lock in locks.items():
        if name in caps and lock > caps[name]:
            raise ValidationError(f"Lock of {LOWER[name]}", lock, f"is above the cap of {caps[name]} you own")
    shares = [check(CONSTRAINT_LABELS[k], v, maximum=1.0, allow_none=True)
              for k, v in (("min_share", c.min_inference_share), ("max_share", c.max_inference_share))]
    if shares[0] is not None and shares[1] is not None and shares[0] > shares[1]:
        raise ValidationError(CONSTRAINT_LABELS["min_share"], shares[0],
                              f"is above the maximum share {shares[1]:g}")
    return _Checked(
        caps=caps, locks=locks, min_share=shares[0], max_share=shares[1],
        min_tokens=check(CONSTRAINT_LABELS["min_tokens"], c.min_tokens, allow_none=True),
        min_hashrate=check(CONSTRAINT_LABELS["min_hashrate"], c.min_hashrate, allow_none=True),
        max_moved=check(CONSTRAINT_LABELS["max_moved"], c.max_moved, integer=True, allow_none=True),
        switching=check(CONSTRAINT_LABELS["switching_cost"], c.switching_cost or 0.0),
    )
