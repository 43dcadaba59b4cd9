"""The chat's history tools: realized profit, the best and worst day, money left on the table
and what the last deploy changed, all read from the ledger (:mod:`optera.ledger`).

Mixed into :class:`~optera.chat.tools.Toolbox`, so the built-in analyst and the LLM call
them the same way. Times are ISO 8601 in UTC, ``start`` inclusive and ``end`` exclusive;
a range may instead be ``hours`` ending now. Money in a row is the sum over its
intervals (each price interval accrues one period), never a per-period figure.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from ..errors import ToolError
from ..ledger import INTERVAL, Row, best_and_worst_day, iso
from ..vocabulary import MACHINE_TYPES
from . import toolargs as args
from .toolargs import spec, tool

MAX_ROWS = 100
BUCKETS = ("hour", "day", "week")
RANGE = {
    "start": {"type": "string", "description": "ISO 8601 UTC time, inclusive (e.g. 2025-06-23T00:00:00Z)."},
    "end": {"type": "string", "description": "ISO 8601 UTC time, exclusive (default: now)."},
    "hours": {"type": "number", "description": "Instead of start: the last N hours before end."},
}

LEDGER_SPECS: list[dict[str, Any]] = [
    spec("get_pnl", "Realized profit and loss from stored history over [start, end): what the site actually ran "
         "and earned (revenue, cost, realized profit), the per-interval optimum, the money left on the table and "
         "the share of the optimum captured, in rows by hour, day or week, with the ledger's assumptions "
         "(say them). Default: the last 24 hours.",
         {**RANGE, "by": {"type": "string", "enum": list(BUCKETS), "description": "Row size (default day)."}}),
    spec("best_worst_day", "The best and the worst UTC day by realized profit in a range (default the last 30 "
         "days), among days with at least 90% of their intervals known.", RANGE),
    spec("left_on_table", "Money left on the table against the per-interval optimum over a range (default the "
         "last 24 hours): the total, the hours where most was left, and what ran against what the optimum ran "
         "most often.", RANGE),
    spec("last_deploy", "What the last deploy the site accepted changed: when, by whom (source), the allocation "
         "before and after, units moved, and the profit per period before and after at the prices then."),
]


def row_dict(row: Row) -> dict[str, Any]:
    return {"start": iso(row.start), "end": iso(row.end), "intervals": row.intervals,
            "intervals_unknown": row.left_out, "revenue": row.revenue, "cost": row.cost,
            "realized_profit": row.realized_profit, "optimal_profit": row.optimal_profit,
            "left_on_table": row.left_on_table, "capture": row.capture}


class LedgerTools:
    """History tools over ``self.service`` (a :class:`~optera.service.Service`) and ``self.clock``."""

    def window(self, start: Any, end: Any, hours: Any, default_hours: float,
               anchor: datetime | None = None) -> tuple[datetime, datetime]:
        """[start, end) from the arguments: ``hours`` before ``end``; ``end`` defaults to ``anchor`` (now)."""
        s, e, h = args.when("start", start), args.when("end", end), args.hours(hours)
        if None not in (s, e, h):
            raise ToolError("give start and end, or hours, not all three")
        if e is None:
            e = s + timedelta(hours=h) if s is not None and h is not None else (anchor or self.clock.now())
        if s is None:
            s = e - timedelta(hours=h or default_hours)
        if s >= e:
            raise ToolError(f"start ({iso(s)}) must be before end ({iso(e)})")
        if (e - s).total_seconds() > args.MAX_HOURS * 3600:
            raise ToolError(f"a range is at most {args.MAX_HOURS // 24} days")
        return s, e

    def _ledger(self, start: Any, end: Any, hours: Any, default_hours: float, by: str = "day"):
        s, e = self.window(start, end, hours, default_hours)
        return self.service.ledger(s, e, by=by)

    @tool
    def get_pnl(self, start: Any = None, end: Any = None, hours: Any = None, by: Any = "day") -> dict[str, Any]:
        """Realized against optimal profit over a range, by hour, day or week."""
        by = "day" if by is None else str(by).strip().lower()
        if by not in BUCKETS:
            raise ToolError(f"by must be one of {', '.join(BUCKETS)} (got {by!r:.20})")
        ledger = self._ledger(start, end, hours, 24, by)
        rows = [row_dict(r) for r in ledger.rows]
        return {"start": iso(ledger.start), "end": iso(ledger.end), "by": by, "total": row_dict(ledger.total),
                "rows": rows[-MAX_ROWS:], "rows_not_shown": max(0, len(rows) - MAX_ROWS),
                "power_limit": ledger.power_limit, "assumptions": ledger.assumptions,
                "period_minutes": self.settings.period_minutes}

    @tool
    def best_worst_day(self, start: Any = None, end: Any = None, hours: Any = None) -> dict[str, Any]:
        """The best and worst fully known days by realized profit."""
        ledger = self._ledger(start, end, hours, 30 * 24)
        days = best_and_worst_day(ledger)
        out: dict[str, Any] = {"start": iso(ledger.start), "end": iso(ledger.end), "assumptions": ledger.assumptions}
        if days is None:
            out.update(best=None, worst=None, days_ranked=0,
                       note="no day in the range has at least 90% of its intervals known (sync history, "
                            "or ask over a range with status reads)")
            return out
        out.update(best=row_dict(days.best), worst=row_dict(days.worst), days_ranked=days.days,
                   days_skipped=days.skipped)
        return out

    @tool
    def left_on_table(self, start: Any = None, end: Any = None, hours: Any = None) -> dict[str, Any]:
        """The money left on the table, where it was left, and what ran against the optimum."""
        ledger = self._ledger(start, end, hours, 24, "hour")
        known = ledger.intervals[ledger.intervals["known"]]
        worst = sorted(ledger.aggregate("hour"), key=lambda r: r.left_on_table, reverse=True)[:3]

        def most(prefix: str) -> dict[str, Any] | None:
            if not len(known):
                return None
            rows = Counter(tuple(int(v) for v in r) for r in known[[prefix + m for m in MACHINE_TYPES]].to_numpy())
            counts, n = rows.most_common(1)[0]
            return {"allocation": dict(zip(MACHINE_TYPES, counts)), "intervals": n}

        return {"start": iso(ledger.start), "end": iso(ledger.end), "total": row_dict(ledger.total),
                "worst_hours": [row_dict(r) for r in worst if r.left_on_table > 0],
                "ran_most": most(""), "optimum_most": most("optimal_"), "interval_minutes":
                INTERVAL.total_seconds() / 60, "assumptions": ledger.assumptions}

    @tool
    def last_deploy(self) -> dict[str, Any]:
        """The last applied deploy and what it changed."""
        change = self.service.last_deploy()
        if change is None:
            return {"deploy": None, "note": "no deploy has reached the site yet"}
        per_period = change.profit_change
        inventory = self.service.inventory()
        out = {"at": iso(change.at), "action": change.action, "result": change.result, "source": change.source,
               "requested": change.requested, "previous": change.previous, "running": change.running,
               "moved": change.moved, "power_before": change.previous.power(inventory) if change.previous else None,
               "power_after": change.running.power(inventory),
               "prices": change.prices.to_dict() if change.prices else None,
               "profit_change": per_period,
               "profit_change_per_day": None if per_period is None else self.settings.money.per_day(per_period)}
        if change.prices is not None:
            out["profit_after"] = change.running.profit(change.prices, inventory)
            if change.previous is not None:
                out["profit_before"] = change.previous.profit(change.prices, inventory)
        return out
