"""What the analyst understood from a question: a ``Query``, and the one line that says so.

``Query.understood_text()`` is the first line of every built-in answer, so a misreading is
visible at once; it speaks the project's words (vocabulary) and numbers (units).
``Query.scenario()`` is the optimize / what_if tools' arguments; ``to_dict``/``from_dict``
let a follow-up find its previous question in the stored chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from .. import units
from ..vocabulary import LOWER, PRICE_COLUMNS, PRICE_SHORT, STRATEGY_LABELS
from .phrases import Change
from .timerange import TimeRange

INTENTS = ("status", "prices", "optimize", "what_if", "compare", "backtest", "why", "deploy", "pnl",
           "best_worst_day", "left_on_table", "last_deploy", "price_extreme", "help", "unknown")
OPTIMUM = ("optimize", "what_if", "compare", "why")  # answered by the optimiser at a scenario
HISTORY = ("pnl", "left_on_table", "best_worst_day", "price_extreme", "backtest", "prices")


@dataclass(frozen=True)
class Context:
    """What a question may refer to: latest prices (by API field), the site's power limit in W,
    the previous question's Query (for follow-ups) and now (naive UTC, for time ranges)."""

    prices: Mapping[str, float] | None = None
    power_limit: float | None = None
    previous: "Query | None" = None
    now: datetime | None = None


@dataclass(frozen=True)
class Query:
    """A question as understood. ``changes`` holds the price and power-limit changes (by API
    field, resolved to numbers); ``constraints`` is in the chat tools' argument names; a time
    range is ``[start, end)`` in naive UTC, with ``range_stated`` False when it is the default."""

    intent: str
    question: str = ""
    changes: Mapping[str, Change] = field(default_factory=dict)
    constraints: Mapping[str, Any] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    range_label: str | None = None
    range_stated: bool = False
    strategy: str | None = None
    switching_cost: float | None = None
    price: str | None = None  # price_extreme: which price (None: all three)
    extreme: str | None = None  # "max"/"min" (price_extreme), "best"/"worst" (best_worst_day; None: both)
    subject: str | None = None  # why: the machine type asked about ("why no GPUs?")
    followup: bool = False
    from_what_if: bool = False  # deploy: the previous answer was at other prices or power
    corrections: tuple[tuple[str, str], ...] = ()
    latest: Mapping[str, float] | None = None
    site_power_limit: float | None = None
    confidence: float = 1.0
    problem: str | None = None
    suggestions: tuple[str, ...] = ()

    @property
    def understood(self) -> bool:
        return self.intent != "unknown"

    @property
    def prices(self) -> dict[str, float]:
        """The changed prices, resolved: {'energy_price': 3.88}."""
        return {n: c.value for n, c in self.changes.items() if n in PRICE_COLUMNS and c.value is not None}

    @property
    def power_limit(self) -> float | None:
        change = self.changes.get("power_limit")
        return change.value if change else None

    @property
    def hours(self) -> float | None:
        return (self.end - self.start).total_seconds() / 3600 if self.start and self.end else None

    def scenario(self) -> dict[str, Any]:
        """Arguments for the optimize / what_if tools (a deploy: its constraints only)."""
        out: dict[str, Any] = {} if self.intent == "deploy" else {**self.prices}
        if self.power_limit is not None and self.intent != "deploy":
            out["power_limit"] = self.power_limit
        for key, value in self.constraints.items():
            out[key] = dict(value) if isinstance(value, Mapping) else value
        return out

    def understood_text(self) -> str:
        """One line: what was understood, in the project's words, or why it was not."""
        if not self.understood:
            return (f"Not understood: {self.problem or 'I could not match this to a question I can answer'}. "
                    "Closest questions I can answer: " + "; ".join(f"“{s}”" for s in self.suggestions) + ".")
        parts = [intent_words(self)]
        if self.intent in OPTIMUM or self.intent == "deploy":
            parts += _scenario_words(self)
        if self.intent in HISTORY and self.start and self.end:
            rng = TimeRange(self.start, self.end, self.range_label or "")
            parts.append(rng.describe() + ("" if self.range_stated else " (no range given)"))
        if self.switching_cost is not None:
            parts.append(units.constraint("switching_cost", self.switching_cost))
        if self.followup:
            parts.append("following on from your previous question")
        if self.corrections:
            parts.append("reading " + ", ".join(f"“{a}” as “{b}”" for a, b in self.corrections))
        return "Understood: " + ", ".join(p for p in parts if p) + "."

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, so a follow-up can find its previous question in the stored chat."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["changes"] = {n: c.to_dict() for n, c in self.changes.items()}
        out["constraints"] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.constraints.items()}
        for key in ("start", "end"):
            out[key] = out[key].isoformat() if out[key] else None
        out["corrections"] = [list(c) for c in self.corrections]
        out["suggestions"] = list(self.suggestions)
        out["latest"] = dict(self.latest) if self.latest else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Query":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["changes"] = {n: Change(**c) for n, c in (data.get("changes") or {}).items()}
        for key in ("start", "end"):
            known[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
        known["corrections"] = tuple(tuple(c) for c in data.get("corrections") or ())
        known["suggestions"] = tuple(data.get("suggestions") or ())
        return cls(**known)


# -- the words of understood_text ------------------------------------------------------------------


def _price_number(value: float) -> str:
    text = units.number(value, 4).rstrip("0")
    return text + "0" * (2 - len(text.split(".")[1])) if "." in text else text + ".00"


def _said(change: Change) -> str:
    """'×2', '+25%', '+0.30', '0.90': the change as said, in the project's numbers."""
    if change.op == "set":
        return ""
    if change.op == "scale":
        factor = change.amount
        if factor >= 2 or factor in (0.5, 0.25):
            return f"×{factor:g}"
        return units.pct(factor - 1, 0 if abs(round((factor - 1) * 100) - (factor - 1) * 100) < 1e-6 else 1,
                         signed=True)
    return f"{change.amount:+,.2f}"


def _change_words(change: Change, name: str) -> str:
    value = units.power(change.value) if change.name == "power_limit" else _price_number(change.value)
    said = _said(change)
    return f"{name} {said} → {value}" if said else f"{name} {value}"


def _constraint_words(constraints: Mapping[str, Any]) -> list[str]:
    out = []
    for table, kind in (("caps", "cap"), ("locks", "lock")):
        for machine, count in (constraints.get(table) or {}).items():
            out.append(units.constraint(kind, count, machine))
    for key, kind in (("min_inference_share", "min_share"), ("max_inference_share", "max_share"),
                      ("min_tokens", "min_tokens"), ("min_hashrate", "min_hashrate")):
        if constraints.get(key) is not None:
            out.append(units.constraint(kind, constraints[key]))
    return out


def _scenario_words(q: Query) -> list[str]:
    parts = []
    if q.intent == "deploy":
        parts.append("at the latest prices and the site's power limit")
    else:
        changed = [n for n in PRICE_COLUMNS if n in q.changes]
        parts += [_change_words(q.changes[n], PRICE_SHORT[n]) for n in changed]
        rest = [PRICE_SHORT[n] for n in PRICE_COLUMNS if n not in changed]
        if rest:
            parts.append(("prices" if len(rest) == 3 else " and ".join(rest)) + " at latest")
        if "power_limit" in q.changes:
            parts.append(_change_words(q.changes["power_limit"], "power limit"))
        else:
            parts.append(f"the site's power limit ({units.power(q.site_power_limit)})" if q.site_power_limit
                         else "the site's power limit")
    parts += ["your caps"] + _constraint_words(q.constraints)
    if q.from_what_if:
        parts.append("not the previous what-if's prices or power limit")
    return parts


def intent_words(q: Query) -> str:
    """The intent in words: 'realized profit and loss', 'when the energy price was lowest'."""
    if q.intent == "price_extreme":
        which = f"the {PRICE_SHORT[q.price]} price" if q.price else "each price"
        return f"when {which} was {'highest' if q.extreme == 'max' else 'lowest'}"
    if q.intent == "best_worst_day":
        return {"best": "the best day", "worst": "the worst day"}.get(q.extreme, "the best and worst days") \
            + " by realized profit"
    if q.intent == "backtest":
        label = STRATEGY_LABELS[q.strategy or "optimal"].lower()
        return f"a backtest of “{label}”" + ("" if q.strategy else " (the default strategy)")
    if q.intent == "why":
        if q.subject:
            return f"why the optimum does or does not run {LOWER[q.subject]}"
        return "why the optimum is what it is"
    return {"status": "the site's status now", "prices": "price statistics",
            "optimize": "the best allocation", "what_if": "a what-if: the best allocation against what runs now",
            "compare": "the optimum against what the site runs now",
            "deploy": "a deploy proposal of the optimum (nothing is sent until you confirm)",
            "pnl": "realized profit and loss", "left_on_table": "profit left on the table against the optimum",
            "last_deploy": "what the last deploy changed", "help": "what I can answer"}[q.intent]
