"""Replay strategies and policies over a price history, and the hindsight yardstick.

Each interval's optimum is the tie-break winner over the exact candidate set of
:mod:`optera.optimize.frontier` (one matrix product), so a year of 5-minute data
replays in a fraction of a second. Strategies: re-optimise every interval, hold the
current allocation, a fixed allocation, the best single allocation in hindsight.
Re-optimising from a start allocation, with a switching cost or a minimum hold, is
the autopilot's policy (:mod:`optera.policy`) replayed decision by decision;
:func:`run_policy` replays any policy and measures it against :func:`best_schedule`,
the best schedule in hindsight with switching costs (:mod:`optera.schedule`).

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
from .optimize.frontier import _directions, _inventory_key, candidates
from .policy import Policy, replay
from .pricefile import NO_DATA
from .schedule import best_path, state_set
from .units import Money
from .vocabulary import MACHINE_TYPES, PRICE_COLUMNS, STRATEGIES


@dataclass
class BacktestResult:
    """Totals and per-interval series of one strategy.

    ``profit`` is net of ``switching_cost_paid``. ``capture`` is profit divided by
    ``optimum_profit`` (the sum of per-interval optima without switching costs);
    it is None when that sum is 0, i.e. no allocation could earn anything in the
    window, so there was nothing to capture. ``yardstick_capture`` is profit divided
    by the best schedule in hindsight with the same switching cost (run_policy and
    best_schedule fill it). A policy's series also has the columns ``action``,
    ``expected_gain_per_period`` and ``reason``, one decision per interval.
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
    yardstick_profit: float | None = None
    yardstick_capture: float | None = None


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


# ---------------------------------------------------------------- results

def _check_allocation(alloc: Allocation, power_limit: float, caps: Mapping[str, int] | None,
                      inventory: Inventory) -> str | None:
    power = alloc.power(inventory)
    if power > power_limit + 1e-9:
        return f"uses {power:,.0f} W, over the power limit of {power_limit:,.0f} W"
    for n, c in (caps or {}).items():
        if c is not None and alloc[n] > c:
            return f"has {alloc[n]} {n}, over the cap of {c}"
    return None


def _optimum(x: np.ndarray, cand) -> tuple[np.ndarray, np.ndarray]:
    """Each interval's optimum (candidate index, profit): the frontier's tie-break winner.

    Kept for optera.ledger, which imports it; new code calls ``cand.best(x)``.
    """
    return cand.best(x)


def _unit(inventory: Inventory) -> np.ndarray:
    """(3, 5): hashrate, tokens and -power per unit, so that prices [h, t, e] @ unit @ counts is profit."""
    return np.array([[inventory[n].hashrate for n in MACHINE_TYPES], [inventory[n].tokens for n in MACHINE_TYPES],
                     [-inventory[n].power for n in MACHINE_TYPES]])


def _result(strategy: str, frame: pd.DataFrame, x: np.ndarray, counts: np.ndarray, paid: np.ndarray,
            optimum: np.ndarray, start: Allocation | None, inventory: Inventory) -> BacktestResult:
    """Totals and the per-interval series of the allocations in `counts` (one row per interval)."""
    unit = _unit(inventory)
    h, t, p = (counts @ unit.T).T
    revenue = x[:, 0] * h + x[:, 1] * t
    cost = x[:, 2] * -p
    profit = revenue - cost - paid
    series = pd.DataFrame({"revenue": revenue, "cost": cost, "switching_cost": paid, "profit": profit,
                           "optimum_profit": optimum, "cum_profit": np.cumsum(profit),
                           "cum_optimum": np.cumsum(optimum), "power": -p}, index=frame.index)
    for j, n in enumerate(MACHINE_TYPES):
        series[n] = counts[:, j]
    prev = np.vstack([np.array(start.as_list()) if start is not None else counts[0], counts[:-1]])
    opt = float(optimum.sum())
    total = float(profit.sum())
    return BacktestResult(strategy=strategy, intervals=len(x), revenue=float(revenue.sum()), cost=float(cost.sum()),
                          profit=total, switches=int((np.abs(counts - prev).sum(axis=1) > 0).sum()),
                          switching_cost_paid=float(paid.sum()), capture=total / opt if opt > 0 else None,
                          optimum_profit=opt,
                          allocation_final=Allocation(**{n: int(v) for n, v in zip(MACHINE_TYPES, counts[-1])}),
                          series=series)


def _with_yardstick(result: BacktestResult, yardstick: float) -> BacktestResult:
    result.yardstick_profit = yardstick
    result.yardstick_capture = result.profit / yardstick if yardstick > 0 else None
    return result


# ---------------------------------------------------------------- backtests

def run_backtest(prices: pd.DataFrame, strategy: str, power_limit: float, allocation: Allocation | None = None,
                 caps: dict[str, int] | None = None, switching_cost: float = 0.0, min_hold: int = 0,
                 inventory: Inventory = DEFAULT_INVENTORY) -> BacktestResult:
    """Replay one strategy over a price frame (DatetimeIndex; energy, hash, token prices).

    Strategies: "optimal" re-optimises every interval: without a start allocation,
    switching cost or minimum hold it runs each interval's optimum (the allocation
    ``solve()`` picks); otherwise it is the autopilot's policy with that switching
    cost and minimum hold (see :mod:`optera.policy`), starting from ``allocation``
    or, without one, from the first interval's optimum. "hold" keeps ``allocation``
    (the site's current one; required); "fixed" keeps ``allocation``, which must fit
    the power limit and caps; "hindsight" runs the single allocation that would have
    earned most over the whole window (exact: total profit is linear in the summed
    prices), moving to it from ``allocation`` at the switching cost.
    """
    if strategy not in STRATEGIES:
        raise BacktestInputError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if switching_cost is None or not math.isfinite(switching_cost) or switching_cost < 0:
        raise BacktestInputError(f"switching cost must be a non-negative number (got {switching_cost!r})")
    if min_hold < 0:
        raise BacktestInputError(f"min_hold must not be negative (got {min_hold})")
    frame, x = _price_matrix(prices)
    cand = candidates(power_limit, caps, inventory)
    best, optimum = cand.best(x)
    n = len(x)
    paid = np.zeros(n)

    if strategy in ("hold", "fixed"):
        if allocation is None:
            raise BacktestInputError(f"strategy {strategy!r} needs an allocation"
                                     + (" (the site's current one)" if strategy == "hold" else ""))
        if strategy == "fixed":
            problem = _check_allocation(allocation, power_limit, caps, inventory)
            if problem:
                raise BacktestInputError(f"the fixed allocation {problem}")
        counts = np.tile(np.array(allocation.as_list(), dtype=np.int64), (n, 1))
        return _result(strategy, frame, x, counts, paid, optimum, allocation, inventory)
    if strategy == "hindsight":
        j = int((x.sum(axis=0) @ cand.matrix).argmax())
        counts = np.tile(cand.counts[j], (n, 1))
        if allocation is not None:
            paid[0] = switching_cost * float(np.abs(cand.counts[j] - np.array(allocation.as_list())).sum())
        return _result(strategy, frame, x, counts, paid, optimum, allocation, inventory)
    if allocation is None and switching_cost == 0 and min_hold <= 1:
        return _result(strategy, frame, x, cand.counts[best], paid, optimum, None, inventory)
    policy = Policy(switching_cost=switching_cost, min_hold=min_hold, caps=caps or {})
    result = run_policy(frame, policy, power_limit, allocation, inventory, yardstick=False)
    result.strategy = strategy
    return result


def run_policy(prices: pd.DataFrame, policy: Policy, power_limit: float, start: Allocation | None = None,
               inventory: Inventory = DEFAULT_INVENTORY, *, money: Money | None = None,
               yardstick: bool = True) -> BacktestResult:
    """What the autopilot would have done: ``decide()`` replayed interval by interval.

    ``start`` is the allocation running before the first interval (the site's
    current one); without it the first interval starts on its optimum, free. The
    series has one decision per interval. With ``yardstick`` the result is also
    measured against the best schedule in hindsight with the policy's switching
    cost and caps on the full power limit (headroom is the policy's choice, so
    what it costs shows).
    """
    frame, x = _price_matrix(prices)
    limit = policy.power_available(power_limit)
    cand = candidates(limit, policy.caps, inventory)
    _, optimum = candidates(power_limit, policy.caps, inventory).best(x)
    if start is None:
        start = cand.allocation(int(cand.best(x[:1])[0][0]))
        origin = None
    else:
        origin = start
    stamps = list(frame.index.to_pydatetime())
    run = replay(policy, x, stamps, power_limit, start, inventory, money)
    result = _result("policy", frame, x, run.counts, run.switching_paid, optimum, origin, inventory)
    result.series["action"] = run.actions
    result.series["expected_gain_per_period"] = run.gains
    result.series["reason"] = run.reasons
    if yardstick:
        best = best_schedule(frame, power_limit, policy.switching_cost, origin, policy.caps, inventory)
        _with_yardstick(result, best.profit)
    return result


def best_schedule(prices: pd.DataFrame, power_limit: float, switching_cost: float = 0.0,
                  start: Allocation | None = None, caps: Mapping[str, int] | None = None,
                  inventory: Inventory = DEFAULT_INVENTORY) -> BacktestResult:
    """The most profitable schedule in hindsight, paying ``switching_cost`` per unit moved.

    Moving away from ``start`` (when given) is paid too; without it the first
    interval's allocation is free. With switching cost 0 this is the per-interval
    optimum; with a prohibitive one the best single allocation ("hindsight"), or the
    start allocation held when that fits.
    """
    if switching_cost is None or not math.isfinite(switching_cost) or switching_cost < 0:
        raise BacktestInputError(f"switching cost must be a non-negative number (got {switching_cost!r})")
    frame, x = _price_matrix(prices)
    cand = candidates(power_limit, caps, inventory)
    _, optimum = cand.best(x)
    s0 = None if start is None else np.array(start.as_list(), dtype=np.int64)
    upper = np.array([(caps or {}).get(n) if (caps or {}).get(n) is not None else np.iinfo(np.int64).max // 4
                      for n in MACHINE_TYPES], dtype=np.int64)
    start_ok = start is not None and _check_allocation(start, power_limit, caps, inventory) is None
    states = state_set(cand, s0, start_ok, upper, _directions(_inventory_key(inventory)))
    path = best_path(x, states, _unit(inventory), float(switching_cost), s0)
    counts = path.counts
    prev = np.vstack([s0 if s0 is not None else counts[0], counts[:-1]])
    paid = switching_cost * np.abs(counts - prev).sum(axis=1).astype(float)
    result = _result("schedule", frame, x, counts, paid, optimum, start, inventory)
    return _with_yardstick(result, result.profit)


def compare_strategies(prices: pd.DataFrame, power_limit: float, current: Allocation,
                       caps: dict[str, int] | None = None, switching_cost: float = 0.0, min_hold: int = 0,
                       inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """One row per strategy: optimal, optimal with switching cost, hold current, hindsight, best schedule.

    ``schedule_capture`` is each row's profit as a share of the best schedule in
    hindsight with the same switching cost, starting from ``current``.
    """
    runs = [("optimal", run_backtest(prices, "optimal", power_limit, current, caps, 0.0, 0, inventory))]
    if switching_cost > 0 or min_hold > 0:
        label = "optimal (switching cost)" if switching_cost > 0 else f"optimal (hold {min_hold})"
        runs.append((label, run_backtest(prices, "optimal", power_limit, current, caps, switching_cost, min_hold,
                                         inventory)))
    runs.append(("hold current", run_backtest(prices, "hold", power_limit, current, caps, 0.0, 0, inventory)))
    runs.append(("hindsight", run_backtest(prices, "hindsight", power_limit, current, caps, switching_cost, 0,
                                           inventory)))
    schedule = best_schedule(prices, power_limit, switching_cost, current, caps, inventory)
    runs.append(("best schedule", schedule))
    return _table(runs, schedule.profit)


def compare_policies(prices: pd.DataFrame, policies: Mapping[str, Policy], power_limit: float,
                     start: Allocation | None = None, inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """One row per policy (label -> Policy), then the best schedule in hindsight each is measured against."""
    runs, yardsticks = [], {}
    for label, policy in policies.items():
        key = (policy.switching_cost, tuple(sorted(policy.caps.items())))
        if key not in yardsticks:
            yardsticks[key] = best_schedule(prices, power_limit, policy.switching_cost, start, policy.caps, inventory)
        runs.append((label, _with_yardstick(run_policy(prices, policy, power_limit, start, inventory,
                                                       yardstick=False), yardsticks[key].profit)))
    for (cost, _), schedule in yardsticks.items():
        label = "best schedule" + (f" (switching cost {cost:g})" if len(yardsticks) > 1 else "")
        runs.append((label, schedule))
    return _table(runs, None)


def _table(runs: list[tuple[str, BacktestResult]], yardstick: float | None) -> pd.DataFrame:
    rows = []
    for label, r in runs:
        base = r.yardstick_profit if yardstick is None else yardstick
        rows.append({"strategy": label, "profit": r.profit, "revenue": r.revenue, "cost": r.cost,
                     "switches": r.switches, "switching_cost_paid": r.switching_cost_paid,
                     "capture": np.nan if r.capture is None else r.capture,
                     "schedule_capture": r.profit / base if base else np.nan})
    return pd.DataFrame(rows)
