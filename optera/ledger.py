"""Realized profit and loss from stored history: what ran, what it earned, what it could have.

About 540 lines: the interval table, its aggregation and the wording of its
assumptions share one vectorised representation, which splitting would expose.

For every stored price interval in a range the ledger takes the allocation that was
actually running, its revenue, cost and profit at that interval's prices, the
interval's optimum under the power limit and caps, and the difference (profit left
on the table). Money is per period as the API gives it; each price interval accrues
one period, and a row's money is the sum over its intervals.

Public API::

    build(store, start=None, end=None, *, by="day", power_limit=None, caps=None,
          inventory=None, max_gap=timedelta(hours=1), interval=timedelta(minutes=5)) -> Ledger
    Ledger.rows, .total (Row), .assumptions (list[str]), .deploys (list[DeployChange]),
          .intervals (DataFrame, one row per price interval)
    Ledger.aggregate(by) -> list[Row];  Ledger.between(start, end) -> Row
    Ledger.to_json() -> dict              the `optera pnl --json` contract
    pnl_json(store, start=None, end=None, by="day", **build_options) -> dict
    best_and_worst_day(ledger, min_coverage=0.9) -> DayExtremes | None
    recent(store, now=None, **build_options) -> Recent    yesterday, last 7 and 30 days
    last_deploy(store, inventory=None) -> DeployChange | None

``start``/``end`` are datetimes or ISO strings (naive means UTC); ``start`` is
inclusive, ``end`` exclusive; by default the whole stored history. ``power_limit``,
``caps`` and ``inventory`` default to the stored site, caps (meta key "caps") and
inventory. Bad input raises :class:`~optera.errors.InputError`. Rows are UTC hours, days
or ISO weeks (Monday start) cut to the range; a row without a counted interval is left
out. The JSON rounds money to the cent, so rows may differ from the total by a cent.

How the running allocation is reconstructed. Status reads (``snapshots``) and
deploys are observations; each holds from its moment until the next one, and an
interval split by a change is weighted by time. A deploy counts only if the site
accepted it: "ok" and "mismatch" count what the site reported right after (the
read-back), "unverified" (accepted, read-back failed) counts the requested
allocation, stated as an assumption; any other result ("invalid", "stale",
"refused", "error") was never applied and changes nothing. Intervals before the first observation are left
out of realized and optimal profit alike; a stretch longer than ``max_gap`` without
an observation carries the last allocation forward and says so. The optimum is an
argmax over the exact candidate frontier (as in the backtest) under today's limit
and caps, since no history of either is kept; the ledger says that too.

Over 350 lines because reconstruction, the optimum and the plain-words assumptions
belong together: every number here comes with the sentence that qualifies it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .backtest import _optimum, _price_matrix
from .clock import utcnow
from .errors import InputError
from .models import DEFAULT_INVENTORY, Allocation, Inventory, Prices, format_timestamp, parse_timestamp
from .optimize.frontier import candidates
from .optimize.repair import validate
from .store import Store
from .units import constraint, machines, power
from .vocabulary import MACHINE_TYPES, PRICE_COLUMNS

BUCKETS = ("hour", "day", "week")
APPLIED = ("ok", "mismatch", "unverified")  # results where the site accepted the allocation
INTERVAL = timedelta(minutes=5)
MAX_GAP = timedelta(hours=1)
MAX_GAP_LINES = 5
MONEY = ("revenue", "cost", "realized_profit", "optimal_profit", "left_on_table")
_NS = 1_000_000_000
_SPAN = {"hour": 3600 * _NS, "day": 86400 * _NS, "week": 7 * 86400 * _NS}
_MONDAY = 3 * 86400 * _NS  # 1970-01-01 was a Thursday; ISO weeks start on the Monday 3 days before


@dataclass(frozen=True)
class Row:
    """Sums over the counted intervals in [start, end); ``left_out`` had no known allocation."""

    start: datetime | None
    end: datetime | None
    intervals: int
    left_out: int
    revenue: float
    cost: float
    realized_profit: float
    optimal_profit: float
    left_on_table: float

    @property
    def capture(self) -> float | None:
        """Realized over optimal; None when the optimum is 0 (nothing could be earned)."""
        return self.realized_profit / self.optimal_profit if self.optimal_profit else None

    def to_json(self) -> dict[str, Any]:
        """The CLI contract's fields; money to the cent, so rows may differ from the total by a cent."""
        return {"start": iso(self.start), "end": iso(self.end), "intervals": self.intervals,
                **{k: round(getattr(self, k), 2) + 0.0 for k in ("realized_profit", "optimal_profit",
                                                                   "left_on_table")}}


@dataclass(frozen=True)
class DeployChange:
    """An applied deploy: what ran before and after, and the profit change per period at the prices then."""

    at: datetime
    action: str
    result: str
    source: str
    requested: Allocation
    previous: Allocation | None  # what the deploy read from the site just before
    running: Allocation  # what the ledger counts from ``at``
    prices: Prices | None = None  # the latest price at or before ``at``
    inventory: Inventory = field(default=DEFAULT_INVENTORY, repr=False)

    @property
    def moved(self) -> int | None:
        return None if self.previous is None else self.running.moved(self.previous)

    @property
    def profit_change(self) -> float | None:
        if self.previous is None or self.prices is None:
            return None
        return self.running.profit(self.prices, self.inventory) - self.previous.profit(self.prices, self.inventory)


@dataclass
class Ledger:
    """The ledger over [start, end); ``start``/``end`` are None only when no price is stored at all.

    ``intervals`` has one row per price interval (index: its start, naive UTC): the three
    prices; ``known`` (counted) and ``changed`` (an allocation change inside it, so its
    money is time-weighted); the five counts running at its start and the five
    ``optimal_`` counts; and ``revenue``, ``cost``, ``realized_profit``, ``optimal_profit``,
    ``left_on_table`` (0 where not counted).
    """

    start: datetime | None
    end: datetime | None
    by: str
    power_limit: float
    caps: dict[str, int]
    rows: list[Row]
    total: Row
    assumptions: list[str]
    deploys: list[DeployChange]  # applied deploys in the range, oldest first (marks for a chart)
    intervals: pd.DataFrame = field(repr=False)
    interval: timedelta = INTERVAL
    _sums: tuple = field(default=None, repr=False)  # from _prefix(intervals), shared by every aggregate

    def aggregate(self, by: str) -> list[Row]:
        """Rows by hour, day or ISO week (UTC), cut to the ledger's range; only rows with counted intervals."""
        _check_by(by)
        t = self.intervals.index.asi8
        span, shift = _SPAN[by], (_MONDAY if by == "week" else 0)
        keys = (t + shift) // span * span - shift
        cuts = np.r_[0, np.flatnonzero(np.diff(keys)) + 1, len(t)] if len(t) else np.zeros(1, np.int64)
        lo, hi = (_ns(self.start), _ns(self.end)) if len(t) else (0, 0)
        bounds = [(a, b, _dt(max(keys[a], lo)), _dt(min(keys[a] + span, hi))) for a, b in zip(cuts[:-1], cuts[1:])]
        return [r for r in _rows(self._sums, bounds) if r.intervals]

    def between(self, start: datetime | str, end: datetime | str) -> Row:
        """One row over [start, end), cut to the ledger's range."""
        s, e = parse_timestamp(start, "start"), parse_timestamp(end, "end")
        s, e = (max(s, self.start), min(e, self.end)) if self.start and self.end else (s, e)
        e = max(s, e)
        a, b = np.searchsorted(self.intervals.index.asi8, [_ns(s), _ns(e)])
        return _rows(self._sums, [(int(a), int(b), s, e)])[0]

    def to_json(self) -> dict[str, Any]:
        """``{"rows": [...], "total": {...}, "assumptions": [...]}``: strict JSON, ISO UTC times."""
        out = {"rows": [r.to_json() for r in self.rows], "total": self.total.to_json(),
               "assumptions": list(self.assumptions)}
        json.dumps(out, allow_nan=False)  # fails loudly rather than print NaN
        return out


@dataclass(frozen=True)
class DayExtremes:
    best: Row
    worst: Row
    days: int  # days ranked
    skipped: int  # days with too few counted intervals to rank


@dataclass(frozen=True)
class Recent:
    """What the Overview shows: three windows and the 30-day ledger (daily rows, deploys)."""

    yesterday: Row
    last_7_days: Row
    last_30_days: Row
    ledger: Ledger


# ---------------------------------------------------------------- public entry points

def build(store: Store, start: datetime | str | None = None, end: datetime | str | None = None, *,
          by: str = "day", power_limit: float | None = None, caps: Mapping[str, int] | None = None,
          inventory: Inventory | None = None, max_gap: timedelta = MAX_GAP,
          interval: timedelta = INTERVAL) -> Ledger:
    """The ledger over [start, end) grouped ``by`` hour, day or week."""
    _check_by(by)
    start = None if start is None else parse_timestamp(start, "start")
    end = None if end is None else parse_timestamp(end, "end")
    if start is not None and end is not None and start > end:
        raise InputError(f"the start ({_when(start)}) is after the end ({_when(end)})")
    limit, caps, inventory = _limits(store, power_limit, caps, inventory)
    prices = _prices(store, start, end)
    if len(prices):
        start = start or prices.index[0].to_pydatetime()
        end = end or prices.index[-1].to_pydatetime() + interval
    notes: list[str] = []
    lo = _last_read(store, start)
    deploys = _deploys(store, lo, end, inventory, notes, start)
    ev_t, ev_c, kinds = _events(store, lo, end, deploys)
    change = np.r_[True, (np.diff(ev_c, axis=0) != 0).any(axis=1)] if len(ev_t) else np.zeros(0, bool)
    frame = _intervals(prices, ev_t[change], ev_c[change], interval, limit, caps, inventory)
    known = frame["known"].to_numpy()
    if not len(frame):
        span = (f"between {_when(start)} and {_when(end)}" if start and end else f"from {_when(start)} on" if start
                else f"before {_when(end)}" if end else "yet")
        notes.insert(0, f"No prices are stored {span}: there is nothing to count.")
    elif not known.all():
        notes.insert(0, _unknown_note(int((~known).sum()), ev_t, kinds, end))
    in_range = _with_prices(store, [d for d in deploys if start is not None and start <= d.at], frame)
    if len(frame):
        notes += _price_gaps(frame.index, interval)
        notes += _gap_notes(frame, ev_t, ev_c, kinds, end, max_gap)
        notes += _limit_notes(frame, ev_c[change], limit, caps, inventory)
        notes += _previous_notes(in_range, ev_t, ev_c)
    sums = _prefix(frame)
    total = _rows(sums, [(0, len(frame), start, end)])[0]
    ledger = Ledger(start, end, by, limit, caps, [], total, notes, in_range, frame, interval, sums)
    ledger.rows = ledger.aggregate(by)
    return ledger


def pnl_json(store: Store, start: datetime | str | None = None, end: datetime | str | None = None,
             by: str = "day", **options) -> dict[str, Any]:
    """`optera pnl --json`: rows, total and assumptions (see :meth:`Ledger.to_json`)."""
    return build(store, start, end, by=by, **options).to_json()


def best_and_worst_day(ledger: Ledger, min_coverage: float = 0.9) -> DayExtremes | None:
    """Best and worst UTC day by realized profit, among days with at least ``min_coverage`` counted."""
    rows = ledger.aggregate("day")
    ranked = [r for r in rows if r.intervals >= min_coverage * (timedelta(days=1) / ledger.interval)]
    if not ranked:
        return None
    key = lambda r: r.realized_profit  # noqa: E731
    return DayExtremes(max(ranked, key=key), min(ranked, key=key), len(ranked), len(rows) - len(ranked))


def recent(store: Store, now: datetime | str | None = None, **options) -> Recent:
    """Yesterday (UTC calendar day), the last 7 and 30 days up to ``now``; one ledger by day."""
    now = utcnow() if now is None else parse_timestamp(now, "now")
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ledger = build(store, now - timedelta(days=30), now, by="day", **options)
    return Recent(ledger.between(today - timedelta(days=1), today), ledger.between(now - timedelta(days=7), now),
                  ledger.total, ledger)


def last_deploy(store: Store, inventory: Inventory | None = None) -> DeployChange | None:
    """The latest deploy the site accepted, with what it changed at the prices then; None if there is none."""
    applied = _deploys(store, "", None, inventory or store.inventory() or DEFAULT_INVENTORY, [], None)
    return replace(applied[-1], prices=_price_at(store, applied[-1].at)) if applied else None


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z: '2026-11-20T10:05:00Z'."""
    return None if dt is None else dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- reading the store

def _limits(store: Store, power_limit, caps, inventory) -> tuple[float, dict[str, int], Inventory]:
    if power_limit is None:
        site = store.site()
        if not site:
            raise InputError("The site's power limit is not known yet: run `optera sync` first, or give a limit.")
        power_limit = float(site["power"])
    caps = dict(store.get_meta("caps", {}) or {}) if caps is None else dict(caps)
    caps = {n: int(v) for n, v in caps.items() if v is not None}
    inventory = inventory or store.inventory() or DEFAULT_INVENTORY
    candidates(power_limit, caps, inventory)  # validates limit and caps with a clear message
    return float(power_limit), caps, inventory


def _prices(store: Store, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    rows = store.db.execute(
        "select timestamp, energy_price, hash_price, token_price from prices "
        "where timestamp >= ? and timestamp < ? order by timestamp",
        [format_timestamp(start) if start else "", format_timestamp(end) if end else "~"]).fetchall()
    table = np.array(rows, dtype=object).reshape(-1, 4)
    return pd.DataFrame(table[:, 1:].astype(float), columns=list(PRICE_COLUMNS), index=_index(table[:, 0]))


def _price_at(store: Store, at: datetime) -> Prices | None:
    row = store.db.execute("select timestamp, energy_price, hash_price, token_price from prices "
                           "where timestamp <= ? order by timestamp desc limit 1", [format_timestamp(at)]).fetchone()
    return Prices(datetime.fromisoformat(row[0]), *row[1:]) if row else None


def _with_prices(store: Store, deploys: list[DeployChange], frame: pd.DataFrame) -> list[DeployChange]:
    """Each deploy with the latest price at or before it, from the loaded intervals when they have it."""
    pos = np.searchsorted(frame.index.asi8, np.array([_ns(d.at) for d in deploys], dtype=np.int64), "right") - 1
    values = frame[list(PRICE_COLUMNS)].to_numpy()[pos].tolist()
    return [replace(d, prices=Prices(frame.index[p].to_pydatetime(), *v) if p >= 0 else _price_at(store, d.at))
            for d, p, v in zip(deploys, pos.tolist(), values)]


def _last_read(store: Store, start: datetime | None) -> str:
    """The last status read at or before ``start``: older observations cannot matter."""
    if start is None:
        return ""
    row = store.db.execute("select max(fetched_at) from snapshots where fetched_at <= ?",
                           [format_timestamp(start)]).fetchone()
    return row[0] or ""


def _deploys(store: Store, lo: str, end: datetime | None, inventory: Inventory, notes: list[str],
             start: datetime | None) -> list[DeployChange]:
    """Applied deploys in [lo, end), oldest first; notes for those from ``start`` on that need one."""
    rows = store.db.execute("select id, at, action, result, requested, previous, readback, source from deployments "
                            "where at >= ? and at < ? order by at, id",
                            [lo, format_timestamp(end) if end else "~"]).fetchall()
    out, unsent = [], {}
    for rid, at, action, result, requested, previous, readback, source in rows:
        at = datetime.fromisoformat(at)
        in_range = start is not None and start <= at
        if result not in APPLIED:
            if in_range:
                unsent[result] = unsent.get(result, 0) + 1
            continue
        try:
            req, prev, back = (None if v is None else Allocation.from_api(json.loads(v))
                               for v in (requested, previous, readback))
            if req is None:
                raise ValueError("no requested allocation")
        except (ValueError, TypeError):
            if in_range:
                notes.append(f"The deploy record {rid} at {_when(at)} cannot be read and is left out.")
            continue
        out.append(DeployChange(at, action, result, source or "", req, prev, back or req, None, inventory))
        if in_range and back is None:
            notes.append(f"The deploy at {_when(at)} was accepted but not read back: the requested allocation "
                         f"({machines(req)}) is assumed to run from then until the next status read.")
        elif in_range and back != req:
            notes.append(f"The deploy at {_when(at)} asked for {machines(req)} but the site reported "
                         f"{machines(back)}: the ledger counts what the site reported.")
    if unsent:
        n = sum(unsent.values())
        notes.append(f"{n:,} deploy attempt{'s' if n > 1 else ''} in the range ({', '.join(sorted(unsent))}) "
                     "never reached the site and change nothing.")
    return out


def _events(store: Store, lo: str, end: datetime | None, deploys: list[DeployChange]):
    """Observations in [lo, end): times (ns), counts, kinds; a read and a deploy in one second: the deploy wins."""
    rows = store.db.execute(f"select fetched_at, {', '.join(MACHINE_TYPES)} from snapshots "
                            "where fetched_at >= ? and fetched_at < ? order by fetched_at, id",
                            [lo, format_timestamp(end) if end else "~"]).fetchall()
    table = np.array(rows, dtype=object).reshape(-1, 1 + len(MACHINE_TYPES))
    t = np.concatenate([_index(table[:, 0]).asi8, np.array([_ns(d.at) for d in deploys], dtype=np.int64)])
    deployed = np.array([d.running.as_list() for d in deploys], dtype=np.int64).reshape(-1, len(MACHINE_TYPES))
    counts = np.vstack([table[:, 1:].astype(np.int64), deployed])
    kinds = np.array(["status read"] * len(rows) + ["deploy"] * len(deploys))
    order = np.argsort(t, kind="stable")
    return t[order], counts[order], kinds[order]


# ---------------------------------------------------------------- per interval

def _intervals(prices: pd.DataFrame, ev_t: np.ndarray, ev_c: np.ndarray, interval: timedelta, limit: float,
               caps: dict[str, int], inventory: Inventory) -> pd.DataFrame:
    """One row per price interval: prices, running and optimal counts, money; ``known`` marks counted ones.

    ``ev_t``/``ev_c`` are the changes of allocation; ``segment`` is the change in force at the interval's start.
    """
    n = len(prices)
    prices, x = _price_matrix(prices) if n else (prices, np.zeros((0, 3)))
    cand = candidates(limit, caps, inventory)
    best, optimal = _optimum(x, cand) if n else (np.zeros(0, np.int64), np.zeros(0))
    t = prices.index.asi8
    step = int(interval.total_seconds() * _NS)
    unit = np.array([[inventory[m].hashrate, inventory[m].tokens, inventory[m].power] for m in MACHINE_TYPES])
    vec = ev_c @ unit  # (changes, 3): hashrate, tokens, power
    i0 = np.searchsorted(ev_t, t, side="right") - 1
    i1 = np.searchsorted(ev_t, t + step, side="left") - 1
    known = i0 >= 0
    htp = np.zeros((n, 3))
    htp[known] = vec[i0[known]]
    for i in np.flatnonzero(known & (i1 > i0)):  # changes inside the interval: weight by time
        edges = np.r_[t[i], ev_t[i0[i] + 1:i1[i] + 1], t[i] + step]
        htp[i] = (np.diff(edges) / step) @ vec[i0[i]:i1[i] + 1]
    revenue = x[:, 0] * htp[:, 0] + x[:, 1] * htp[:, 1]
    cost = x[:, 2] * htp[:, 2]
    optimal = np.where(known, optimal, 0.0)
    running = np.zeros((n, len(MACHINE_TYPES)), np.int64)
    running[known] = ev_c[i0[known]]
    columns = {**{c: prices[c].to_numpy() for c in PRICE_COLUMNS},
               "known": known, "changed": known & (i1 > i0), "segment": i0,
               **{m: running[:, j] for j, m in enumerate(MACHINE_TYPES)},
               **{f"optimal_{m}": cand.counts[best, j] for j, m in enumerate(MACHINE_TYPES)},
               **dict(zip(MONEY, (revenue, cost, revenue - cost, optimal, optimal - (revenue - cost))))}
    return pd.DataFrame(columns, index=prices.index)


def _prefix(frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Counted intervals as a running count, and each money column as a list for math.fsum."""
    return np.r_[0, np.cumsum(frame["known"].to_numpy(dtype=np.int64))], {k: frame[k].tolist() for k in MONEY}


def _rows(sums: tuple, bounds: list[tuple[int, int, datetime | None, datetime | None]]) -> list[Row]:
    """A Row per (first, last + 1, start, end) slice; exact sums (math.fsum), so a year is right to the cent."""
    known, money = sums
    out = []
    for a, b, start, end in bounds:
        counted = int(known[b] - known[a])
        out.append(Row(start, end, counted, int(b - a) - counted, **{k: math.fsum(v[a:b]) for k, v in money.items()}))
    return out


# ---------------------------------------------------------------- assumptions in plain words

def _unknown_note(count: int, ev_t: np.ndarray, kinds: np.ndarray, end: datetime | None) -> str:
    if not len(ev_t):
        return (f"No status read or deploy is stored before {_when(end)}: the allocation is unknown, so all "
                f"{count:,} intervals are left out of realized and optimal profit.")
    return (f"Before the first {kinds[0]} at {_when(_dt(ev_t[0]))} the allocation is unknown: {count:,} "
            f"interval{'s are' if count > 1 else ' is'} left out of realized and optimal profit.")


def _price_gaps(index: pd.DatetimeIndex, interval: timedelta) -> list[str]:
    gaps = np.diff(index.asi8) / (interval.total_seconds() * _NS)
    missing = int(np.round(gaps[gaps > 1.5] - 1).sum())
    if not missing:
        return []
    return [f"Prices are missing for {missing:,} intervals in the range; those intervals are not in the ledger."]


def _gap_notes(frame: pd.DataFrame, ev_t: np.ndarray, ev_c: np.ndarray, kinds: np.ndarray, end: datetime,
               max_gap: timedelta) -> list[str]:
    """Stretches longer than ``max_gap`` without an observation, over counted intervals."""
    if not len(ev_t):
        return []
    t = frame.index.asi8
    nxt = np.r_[ev_t[1:], _ns(end)]
    lines, more, more_n = [], 0, 0
    for k in np.flatnonzero(nxt - ev_t > max_gap.total_seconds() * _NS):
        n = int(np.searchsorted(t, nxt[k], "left") - np.searchsorted(t, ev_t[k], "left"))
        if n <= 0:
            continue
        if len(lines) == MAX_GAP_LINES:
            more, more_n = more + 1, more_n + n
            continue
        seen, since, long = machines(dict(zip(MACHINE_TYPES, ev_c[k].tolist()))), _when(_dt(ev_t[k])), _hours(
            nxt[k] - ev_t[k])
        if k + 1 < len(ev_t):
            text = (f"No status read or deploy from {since} to {_when(_dt(nxt[k]))} ({long}): the allocation seen "
                    f"before ({seen}) is assumed to have run for those {n:,} intervals")
            if kinds[k + 1] == "status read" and (ev_c[k + 1] != ev_c[k]).any():
                text += "; the next read found a different one, so it changed at an unknown time in between"
        else:
            text = (f"No status read or deploy since {since} ({long} to the end of the range): the allocation "
                    f"seen then ({seen}) is assumed to have run for those {n:,} intervals")
        lines.append(text + ".")
    if more:
        lines.append(f"{more:,} more stretches longer than {_hours(max_gap.total_seconds() * _NS)} without a status "
                     f"read ({more_n:,} intervals) carry the last allocation seen forward in the same way.")
    return lines


def _limit_notes(frame: pd.DataFrame, changes: np.ndarray, limit: float, caps: dict[str, int],
                 inventory: Inventory) -> list[str]:
    """The limits the optimum uses, and any running allocation that breaks them."""
    caps_text = ", ".join(constraint("cap", v, m) for m, v in caps.items()) or "no caps"
    lines = [f"The optimum uses the site's power limit of {power(limit)} and {caps_text} for every interval: "
             "Optera keeps no history of either."]
    segment = frame["segment"].to_numpy()
    per_segment = np.bincount(segment[segment >= 0], minlength=len(changes))
    runs: dict[tuple, list[int]] = {}
    for k in np.flatnonzero(per_segment):
        runs.setdefault(tuple(changes[k].tolist()), []).append(k)
    for counts, segments in runs.items():
        alloc = dict(zip(MACHINE_TYPES, counts))
        issues = "; ".join(i.message for i in validate(alloc, limit, caps, inventory))
        if not issues:
            continue
        first = frame.index[int(np.argmax(np.isin(segment, segments)))].to_pydatetime()
        lines.append(f"From {_when(first)} the site ran {machines(alloc)} for {int(per_segment[segments].sum()):,} "
                     f"intervals, outside the limits used for the optimum ({issues}): there the profit left on "
                     "the table can be negative.")
    return lines


def _previous_notes(deploys: list[DeployChange], ev_t: np.ndarray, ev_c: np.ndarray) -> list[str]:
    """A deploy that found the site running something other than last recorded."""
    lines = []
    for d in deploys:
        k = int(np.searchsorted(ev_t, _ns(d.at), side="left")) - 1
        if d.previous is None or k < 0:
            continue
        seen = ev_c[k].tolist()
        if seen != d.previous.as_list():
            lines.append(f"The deploy at {_when(d.at)} found the site running {machines(d.previous)}, not "
                         f"{machines(dict(zip(MACHINE_TYPES, seen)))} as recorded at {_when(_dt(ev_t[k]))}: "
                         "it changed at an unknown time in between, and the ledger counts the recorded one "
                         "until the deploy.")
    return lines


# ---------------------------------------------------------------- small helpers

def _check_by(by: str) -> None:
    if by not in BUCKETS:
        raise InputError(f"cannot group by {by!r}; use one of {', '.join(BUCKETS)}")


def _index(stamps: np.ndarray) -> pd.DatetimeIndex:
    """Stored ISO timestamps as a nanosecond index (numpy parses them ten times faster than pandas)."""
    return pd.DatetimeIndex(np.asarray(stamps).astype("datetime64[ns]"), name="timestamp")


def _ns(dt: datetime) -> int:
    return int(pd.Timestamp(dt).as_unit("ns").value)


def _dt(ns: int) -> datetime:
    return pd.Timestamp(int(ns)).to_pydatetime()


def _when(dt: datetime | None) -> str:
    return "now" if dt is None else dt.strftime("%Y-%m-%d %H:%M UTC")


def _hours(ns: float) -> str:
    hours = ns / 3600 / _NS
    return f"{hours:,.1f} h" if hours < 48 else f"{hours / 24:,.1f} days"
