"""Replay allocation strategies over a price history, exactly and fast.

Each interval's optimum is an argmax over the exact candidate set of
:mod:`optera.optimize.frontier` (one matrix product), so a year of 5-minute data
replays in a fraction of a second. Strategies: re-optimise every interval (with
an optional switching cost and minimum hold), hold the current allocation, a
fixed allocation, and the best single allocation in hindsight.

Units: prices and profits are "per period" as the API gives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from .errors import BacktestInputError
from .models import DEFAULT_INVENTORY, Allocation, Inventory
from .optimize.frontier import Candidates, candidates
from .vocabulary import MACHINE_TYPES, PRICE_COLUMNS, STRATEGIES

_CHUNK = 8192
NO_DATA = "no price data in the chosen window"


@dataclass
class BacktestResult:
    """Totals and per-interval series of one strategy.

    ``profit`` is net of ``switching_cost_paid``. ``capture`` is profit divided by
    ``optimum_profit`` (the sum of per-interval optima without switching costs);
    it is None when that sum is 0, i.e. no allocation could earn anything in the
    window, so there was nothing to capture.
    """

    strategy: str
    intervals: int
    revenue: float
    cost: float
    profit: float
    switches: int
    switching_cost_paid: float
    capture: float | None
    optimum_profit: float
    allocation_final: Allocation | None
    series: pd.DataFrame = field(repr=False)


# ---------------------------------------------------------------- prices

def _price_matrix(prices: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Validate a price frame; returns it (DatetimeIndex, sorted) and [h, t, e] rows."""
    if not isinstance(prices, pd.DataFrame):
        raise BacktestInputError("prices must be a pandas DataFrame")
    if prices.empty:
        raise BacktestInputError(NO_DATA)
    frame = prices
    if not isinstance(frame.index, pd.DatetimeIndex) and "timestamp" in frame.columns:
        frame = frame.set_index(pd.to_datetime(frame["timestamp"]))
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise BacktestInputError(f"price data lacks column {missing[0]}")
    frame = frame.loc[:, list(PRICE_COLUMNS)].astype(float)
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index()
    values = frame.to_numpy()
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise BacktestInputError(f"price at {frame.index[r]} has an invalid {PRICE_COLUMNS[c]} ({values[r, c]!r}); "
                         "prices must be finite and not negative")
    x = np.ascontiguousarray(values[:, [1, 2, 0]])  # hash, token, energy
    return frame, x


# ---------------------------------------------------------------- backtest

def _check_allocation(alloc: Allocation, power_limit: float, caps: Mapping[str, int] | None,
                      inventory: Inventory) -> str | None:
    power = alloc.power(inventory)
    if power > power_limit + 1e-9:
        return f"uses {power:,.0f} W, over the power limit of {power_limit:,.0f} W"
    for n, c in (caps or {}).items():
        if c is not None and alloc[n] > c:
            return f"has {alloc[n]} {n}, over the cap of {c}"
    return None


def _alloc_vector(alloc: Allocation, inventory: Inventory) -> np.ndarray:
    return np.array([alloc.hashrate(inventory), alloc.tokens(inventory), -alloc.power(inventory)])


def _series(frame: pd.DataFrame, x: np.ndarray, counts: np.ndarray, cand: Candidates, idx: np.ndarray | None,
            extra_vec: np.ndarray | None, optimum: np.ndarray, switch_paid: np.ndarray) -> pd.DataFrame:
    """Per-interval columns; idx[t] is a candidate index, or -1 for the extra allocation."""
    if idx is None:
        hv = np.full(len(x), extra_vec[0])
        tv = np.full(len(x), extra_vec[1])
        pv = np.full(len(x), -extra_vec[2])
    else:
        h = np.append(cand.hashrate, extra_vec[0] if extra_vec is not None else 0.0)
        t = np.append(cand.tokens, extra_vec[1] if extra_vec is not None else 0.0)
        p = np.append(cand.power, -extra_vec[2] if extra_vec is not None else 0.0)
        hv, tv, pv = h[idx], t[idx], p[idx]
    revenue = x[:, 0] * hv + x[:, 1] * tv
    cost = x[:, 2] * pv
    profit = revenue - cost - switch_paid
    out = pd.DataFrame({"revenue": revenue, "cost": cost, "switching_cost": switch_paid, "profit": profit,
                        "optimum_profit": optimum, "cum_profit": np.cumsum(profit),
                        "cum_optimum": np.cumsum(optimum), "power": pv}, index=frame.index)
    for j, n in enumerate(MACHINE_TYPES):
        out[n] = counts[:, j]
    return out


def _optimum(x: np.ndarray, cand: Candidates) -> tuple[np.ndarray, np.ndarray]:
    mat = cand.matrix
    best = np.empty(len(x), dtype=np.int64)
    value = np.empty(len(x))
    for s in range(0, len(x), _CHUNK):
        q = x[s:s + _CHUNK] @ mat
        b = q.argmax(axis=1)
        best[s:s + _CHUNK] = b
        value[s:s + _CHUNK] = q[np.arange(len(b)), b]
    return best, value


def _replay(x: np.ndarray, cand: Candidates, best: np.ndarray, start: Allocation | None, start_ok: bool,
            switching_cost: float, min_hold: int, inventory: Inventory):
    """Myopic re-optimisation with a switching cost and a minimum hold.

    Each interval picks, among the hull candidates and staying put, the one that
    maximises this interval's profit minus switching_cost * units moved. After a
    switch the allocation is held for min_hold intervals (the switch interval
    included). Returns candidate indices (-1 = still on the start allocation) and
    the switching cost paid per interval.
    """
    n = len(x)
    c = len(cand)
    counts = cand.counts
    mat = cand.matrix
    idx = np.empty(n, dtype=np.int64)
    paid = np.zeros(n)
    if start is not None:
        sv = np.array(start.as_list())
        d0 = np.abs(counts - sv).sum(axis=1).astype(float)
        svec = _alloc_vector(start, inventory)
        same = np.nonzero(d0 == 0)[0]
        cur = int(same[0]) if len(same) else -1
    else:
        d0 = None
        cur = -2  # nothing yet: the first pick is free
    dist = None
    dmin = None
    if switching_cost > 0:
        dist = np.abs(counts[:, None, :] - counts[None, :, :]).sum(axis=2).astype(float)
        dm = dist + np.diag(np.full(c, np.inf))
        dmin = dm.min(axis=1) if c > 1 else np.full(c, np.inf)
        if d0 is not None:
            d0_min = d0[d0 > 0].min() if (d0 > 0).any() else np.inf
    hold_left = 0
    for s in range(0, n, _CHUNK):
        q = x[s:s + _CHUNK] @ mat
        for r in range(len(q)):
            t = s + r
            b = int(best[t])
            if cur == -2:
                cur = b
                hold_left = min_hold - 1
                idx[t] = cur
                continue
            if hold_left > 0:
                hold_left -= 1
                idx[t] = cur
                continue
            if cur == b:
                idx[t] = cur
                continue
            row = q[r]
            if cur >= 0:
                stay = row[cur]
            else:
                stay = float(x[t] @ svec) if start_ok else -np.inf
            if switching_cost <= 0:
                j = b
                if row[b] <= stay:
                    idx[t] = cur
                    continue
            else:
                dcur = dist[cur] if cur >= 0 else d0
                lower = dmin[cur] if cur >= 0 else d0_min
                if row[b] - switching_cost * lower <= stay:
                    idx[t] = cur
                    continue
                score = row - switching_cost * dcur
                j = int(score.argmax())
                if score[j] <= stay:
                    idx[t] = cur
                    continue
            moved = (dist[cur, j] if cur >= 0 else d0[j]) if switching_cost > 0 else 0.0
            paid[t] = switching_cost * moved
            cur = j
            hold_left = min_hold - 1
            idx[t] = cur
    return idx, paid


def run_backtest(prices: pd.DataFrame, strategy: str, power_limit: float, allocation: Allocation | None = None,
                 caps: dict[str, int] | None = None, switching_cost: float = 0.0, min_hold: int = 0,
                 inventory: Inventory = DEFAULT_INVENTORY) -> BacktestResult:
    """Replay one strategy over a price frame (DatetimeIndex; energy, hash, token prices).

    Strategies: "optimal" re-optimises every interval (with switching_cost > 0 the
    choice is myopic among the hull candidates and staying put; min_hold > 0 holds
    each new allocation that many intervals); "hold" keeps ``allocation`` (the
    site's current one; required); "fixed" keeps ``allocation``, which must fit the
    power limit and caps; "hindsight" runs the single allocation that would have
    earned most over the whole window (exact: total profit is linear in the summed
    prices). For "optimal" and "hindsight", ``allocation`` is the starting one:
    moving away from it pays the switching cost and counts as a switch; without
    it the first interval's choice is free.
    """
    if strategy not in STRATEGIES:
        raise BacktestInputError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if switching_cost is None or not math.isfinite(switching_cost) or switching_cost < 0:
        raise BacktestInputError(f"switching cost must be a non-negative number (got {switching_cost!r})")
    if min_hold < 0:
        raise BacktestInputError(f"min_hold must not be negative (got {min_hold})")
    frame, x = _price_matrix(prices)
    cand = candidates(power_limit, caps, inventory)
    best, optimum = _optimum(x, cand)
    n = len(x)
    paid = np.zeros(n)
    switches = 0

    if strategy in ("hold", "fixed"):
        if allocation is None:
            raise BacktestInputError(f"strategy {strategy!r} needs an allocation"
                             + (" (the site's current one)" if strategy == "hold" else ""))
        if strategy == "fixed":
            problem = _check_allocation(allocation, power_limit, caps, inventory)
            if problem:
                raise BacktestInputError(f"the fixed allocation {problem}")
        vec = _alloc_vector(allocation, inventory)
        counts = np.tile(np.array(allocation.as_list(), dtype=np.int64), (n, 1))
        series = _series(frame, x, counts, cand, None, vec, optimum, paid)
        final = allocation
    elif strategy == "hindsight":
        total = x.sum(axis=0) @ cand.matrix
        j = int(total.argmax())
        idx = np.full(n, j)
        if allocation is not None:
            moved = int(np.abs(cand.counts[j] - np.array(allocation.as_list())).sum())
            if moved:
                switches = 1
                paid[0] = switching_cost * moved
        series = _series(frame, x, cand.counts[idx], cand, idx, None, optimum, paid)
        final = cand.allocation(j)
    else:
        start_ok = allocation is not None and _check_allocation(allocation, power_limit, caps, inventory) is None
        if allocation is None and switching_cost == 0 and min_hold <= 1:
            idx = best
        else:
            idx, paid = _replay(x, cand, best, allocation, start_ok, switching_cost, min_hold, inventory)
        all_counts = cand.counts
        vec = None
        if (idx < 0).any():
            all_counts = np.vstack([cand.counts, np.array(allocation.as_list(), dtype=np.int64)])
            vec = _alloc_vector(allocation, inventory)
        counts = all_counts[idx]
        series = _series(frame, x, counts, cand, idx, vec, optimum, paid)
        prev = np.vstack([np.array(allocation.as_list()) if allocation is not None else counts[0], counts[:-1]])
        switches = int((np.abs(counts - prev).sum(axis=1) > 0).sum())
        last = counts[-1]
        final = Allocation(**{name: int(v) for name, v in zip(MACHINE_TYPES, last)})

    revenue = float(series["revenue"].sum())
    cost = float(series["cost"].sum())
    paid_total = float(paid.sum())
    profit = revenue - cost - paid_total
    opt = float(optimum.sum())
    capture = profit / opt if opt > 0 else None
    return BacktestResult(strategy=strategy, intervals=n, revenue=revenue, cost=cost, profit=profit,
                          switches=switches, switching_cost_paid=paid_total, capture=capture, optimum_profit=opt,
                          allocation_final=final, series=series)


def compare_strategies(prices: pd.DataFrame, power_limit: float, current: Allocation,
                       caps: dict[str, int] | None = None, switching_cost: float = 0.0, min_hold: int = 0,
                       inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """One row per strategy (optimal, optimal with switching cost, hold current, hindsight)."""
    runs = [("optimal", run_backtest(prices, "optimal", power_limit, current, caps, 0.0, 0, inventory))]
    if switching_cost > 0 or min_hold > 0:
        label = "optimal (switching cost)" if switching_cost > 0 else f"optimal (hold {min_hold})"
        runs.append((label, run_backtest(prices, "optimal", power_limit, current, caps, switching_cost, min_hold,
                                         inventory)))
    runs.append(("hold current", run_backtest(prices, "hold", power_limit, current, caps, 0.0, 0, inventory)))
    runs.append(("hindsight", run_backtest(prices, "hindsight", power_limit, current, caps, switching_cost, 0,
                                           inventory)))
    rows = [{"strategy": label, "profit": r.profit, "revenue": r.revenue, "cost": r.cost, "switches": r.switches,
             "switching_cost_paid": r.switching_cost_paid,
             "capture": np.nan if r.capture is None else r.capture} for label, r in runs]
    return pd.DataFrame(rows)
