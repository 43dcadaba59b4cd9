"""How every number is written: money with its unit and period, power in kW or MW,
percentages as percentages, counts with separators, constraints in words.

Money is per period as the API gives it; per-day figures are derived from the
period length (a setting) and always say so. The money unit is a setting too
(``OPTERA_MONEY_UNIT``): a one-character symbol is written before the number
("$1,234/day"), a word after it ("1,234 USD/day").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from .vocabulary import LABELS, LOWER, MACHINE_TYPES

DEFAULT_MONEY_UNIT = "$"
DEFAULT_PERIOD_MINUTES = 5.0


def number(value: float | None, decimals: int = 0) -> str:
    """Thousands separators and fixed decimals; 'n/a' for a missing or non-finite value."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    text = f"{float(value):,.{decimals}f}"
    return "0" if text in ("-0", "-0.0", "-0.00") and decimals == 0 else text


def count(value: int | None) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def price(value: float | None) -> str:
    """A price per period, to 4 decimals (prices are small numbers)."""
    return number(value, 4)


def power(watts: float | None) -> str:
    """Power in kW, or MW from 1 MW up; W only ever appears where an API field is quoted."""
    if watts is None or not math.isfinite(float(watts)):
        return "n/a"
    w = float(watts)
    if abs(w) >= 1e6:
        mw = w / 1e6
        return f"{mw:,.2f}".rstrip("0").rstrip(".") + " MW"
    kw = w / 1e3
    return (f"{kw:,.0f}" if abs(kw - round(kw)) < 1e-9 else f"{kw:,.1f}") + " kW"


def pct(fraction: float | None, digits: int = 1, signed: bool = False) -> str:
    """A fraction (0.123) as a percentage ("12.3%")."""
    if fraction is None or not math.isfinite(float(fraction)):
        return "n/a"
    return f"{float(fraction) * 100:{'+' if signed else ''}.{digits}f}%"


def machines(counts: Mapping[str, Any] | Any, *, empty: str = "nothing running") -> str:
    """'5 hydro miners, 20 ASIC inference' from an Allocation or a mapping of counts."""
    get = counts.get if isinstance(counts, Mapping) else (lambda n, d=0: getattr(counts, n, d))
    parts = [f"{int(get(n, 0) or 0):,} {LOWER[n]}" for n in MACHINE_TYPES if get(n, 0)]
    return ", ".join(parts) or empty


_CONSTRAINTS = {
    "power": lambda v, m: f"power limit {power(v)}",
    "cap": lambda v, m: f"at most {count(v)} {LOWER[m]}" if v else f"no {LOWER[m]}",
    "lock": lambda v, m: f"exactly {count(v)} {LOWER[m]}",
    "min_share": lambda v, m: f"inference at least {pct(v, 0)} of power",
    "max_share": lambda v, m: f"inference at most {pct(v, 0)} of power",
    "min_tokens": lambda v, m: f"at least {number(v)} tokens",
    "min_hashrate": lambda v, m: f"at least {number(v)} hashrate",
    "max_moved": lambda v, m: f"at most {count(v)} units moved",
    "switching_cost": lambda v, m: f"switching cost {number(v, 2)} per unit moved",
}


def constraint(kind: str, value: Any = None, machine: str | None = None) -> str:
    """One constraint in words, the same on every surface ("at most 10 ASIC inference")."""
    words = _CONSTRAINTS.get(kind)
    return words(value, machine) if words else f"{kind} {value}"


@dataclass(frozen=True)
class Money:
    """Money in the configured unit, per period or per day."""

    unit: str = DEFAULT_MONEY_UNIT
    period_minutes: float = DEFAULT_PERIOD_MINUTES

    @property
    def periods_per_day(self) -> float:
        return 24 * 60 / self.period_minutes

    def per_day(self, per_period: float) -> float:
        return per_period * self.periods_per_day

    def amount(self, value: float | None, decimals: int | None = None, signed: bool = False) -> str:
        """The number with its unit; whole units from 1,000 up, where cents are noise."""
        if value is None or not math.isfinite(float(value)):
            return "n/a"
        v = float(value)
        if decimals is None:
            decimals = 0 if abs(v) >= 1000 else 2
        digits = f"{abs(v):,.{decimals}f}"
        sign = "-" if v < 0 and float(digits.replace(",", "")) != 0 else ("+" if signed else "")
        if len(self.unit) == 1:
            return f"{sign}{self.unit}{digits}"
        return f"{sign}{digits} {self.unit}".strip()

    def compact(self, value: float | None, signed: bool = False) -> str:
        """Short form for headline figures: '$16.2M', '-$355k', '$1,234' (full value in a tooltip)."""
        if value is None or not math.isfinite(float(value)):
            return "n/a"
        v = float(value)
        for size, suffix, start in ((1e12, "T", 999.95e9), (1e9, "B", 999.95e6), (1e6, "M", 999.95e3), (1e3, "k", 1e4)):
            if abs(v) >= start:
                scaled = abs(v) / size  # three significant digits: $4.11M, $62.3k, $355k
                digits = f"{scaled:,.{2 if scaled < 10 else 1 if scaled < 100 else 0}f}" + suffix
                break
        else:
            return self.amount(v, decimals=0 if abs(v) >= 100 else 2, signed=signed)
        sign = "-" if v < 0 else ("+" if signed else "")
        return f"{sign}{self.unit}{digits}" if len(self.unit) == 1 else f"{sign}{digits} {self.unit}"

    def rate(self, value: float | None, per: str = "kW") -> str:
        """Money per unit of something per period: '$4,155 per kW per period'."""
        text = self.amount(value)
        return text if text == "n/a" else f"{text} per {per} per period"

    def period(self, value: float | None, **kw) -> str:
        """'$1,234/period'."""
        text = self.amount(value, **kw)
        return text if text == "n/a" else f"{text}/period"

    def day(self, per_period_value: float | None, **kw) -> str:
        """A per-period value shown per day: '$355,392/day'."""
        if per_period_value is None:
            return "n/a"
        text = self.amount(self.per_day(per_period_value), **kw)
        return text if text == "n/a" else f"{text}/day"

    def total(self, value: float | None, **kw) -> str:
        """A sum over a range (no period): '$1.2M' is never used; the whole number is."""
        return self.amount(value, **kw)

    @property
    def period_note(self) -> str:
        return f"a period is {self.period_minutes:g} minutes ({self.periods_per_day:g} per day)"


def label_of(name: str) -> str:
    """Human name of a machine type or an API field, for table headers and captions."""
    return LABELS.get(name) or name.replace("_", " ").capitalize()
