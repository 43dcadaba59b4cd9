"""Replay allocation strategies over a price history, exactly and fast.

The profit of an allocation is linear in the price vector:
``hash_price * H + token_price * T - energy_price * P``. So the optimum of every
interval is attained at a vertex of the convex hull of the feasible (H, T, P)
points, and that hull has few vertices. We build it once per (power limit, caps,
inventory) and then each interval's optimum is an argmax over one matrix
product. A MILP per interval would take minutes for a year of 5-minute data.

How the candidates are built (exact, not a heuristic):

1. Miners and inference are split. For each part a bounded knapsack DP over the
   power grid (gcd of the unit powers, 500 W for the default inventory) gives the
   largest output for power *exactly* p, honouring caps; only Pareto points
   (strictly more output for more power) are kept.
2. Any maximiser (m, i) for prices (h, t, e) >= 0 can be replaced by one whose
   inference part is a vertex of the upper hull of the inference points that fit
   in the remaining power, at equal profit. So the pairs are each miner point with
   the hull vertices of its inference "prefix".
3. The 3-D convex hull of those pairs (scipy/Qhull) keeps the vertices; if Qhull
   fails on degenerate (flat) input all pairs are kept.

Units: prices and profits are "per period" as the API gives them.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import IO, Mapping

import numpy as np
import pandas as pd

from .models import DEFAULT_INVENTORY, INFERENCE_TYPES, MACHINE_TYPES, MINER_TYPES, Allocation, Inventory

STRATEGIES = ("optimal", "hold", "fixed", "hindsight")
PRICE_COLUMNS = ("energy_price", "hash_price", "token_price")
_CHUNK = 8192
_MAX_GRID = 400_000  # power-grid steps per knapsack DP: 200 MW at 500 W
NO_DATA = "no price data in the chosen window"


@dataclass(frozen=True)
class Candidates:
    """Allocations that contain an optimum for every non-negative price vector."""

    counts: np.ndarray  # (C, 5) int64, columns in MACHINE_TYPES order
    hashrate: np.ndarray  # (C,)
    tokens: np.ndarray  # (C,)
    power: np.ndarray  # (C,)
    hull_ok: bool  # False when Qhull fell back to all Pareto pairs

    def __len__(self) -> int:
        return len(self.power)

    @property
    def matrix(self) -> np.ndarray:
        """(3, C) so that prices[h, t, e] @ matrix is the profit of each candidate."""
        return np.vstack([self.hashrate, self.tokens, -self.power])

    def allocation(self, index: int) -> Allocation:
        return Allocation(**{n: int(c) for n, c in zip(MACHINE_TYPES, self.counts[index])})


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


# ---------------------------------------------------------------- candidates

def _grid_step(powers: list[float]) -> Fraction:
    fr = [Fraction(p).limit_denominator(1000) for p in powers]
    num = 0
    den = 1
    for f in fr:
        den = den * f.denominator // math.gcd(den, f.denominator)
    for f in fr:
        num = math.gcd(num, int(f * den))
    return Fraction(num, den)


def _window_max(a: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Max and argmax of a[q-size+1 .. q] for every q (left-clipped), by doubling."""
    n = len(a)
    idx = np.arange(n)
    if size >= n:
        best = np.maximum.accumulate(a)
        arg = np.maximum.accumulate(np.where(a == best, idx, 0))
        return best, arg
    v, i = a.copy(), idx
    span = 1
    while span * 2 <= size:
        sv = np.full(n, -np.inf)
        si = np.zeros(n, dtype=np.int64)
        sv[span:] = v[:-span]
        si[span:] = i[:-span]
        take = sv > v
        v, i = np.where(take, sv, v), np.where(take, si, i)
        span *= 2
    shift = size - span
    sv = np.full(n, -np.inf)
    si = np.zeros(n, dtype=np.int64)
    if shift:
        sv[shift:] = v[:-shift]
        si[shift:] = i[:-shift]
    take = sv > v
    return np.where(take, sv, v), np.where(take, si, i)


def _frontier(weights: list[int], values: list[float], caps: list[int], k: int):
    """Bounded knapsack: best output at exactly p grid units, with the counts used.

    Returns (best[0..k], counts[0..k, types]); unreachable levels are -inf.
    """
    best = np.full(k + 1, -np.inf)
    best[0] = 0.0
    choice = np.zeros((k + 1, len(weights)), dtype=np.int64)
    for t, (w, v, cap) in enumerate(zip(weights, values, caps)):
        if cap <= 0 or w > k:
            continue
        new = best.copy()
        new_choice = choice.copy()
        for r in range(w):
            old = best[r::w]
            q = np.arange(len(old))
            a = old - q * v
            a[~np.isfinite(old)] = -np.inf
            m, j = _window_max(a, min(cap, len(old) - 1) + 1)
            val = m + q * v
            ok = np.isfinite(m)
            val[~ok] = -np.inf
            new[r::w] = val
            nc = choice[r::w][j].copy()
            nc[:, t] = q - j
            nc[~ok] = 0
            new_choice[r::w] = nc
        best, choice = new, new_choice
    return best, choice


def _pareto(best: np.ndarray) -> np.ndarray:
    """Grid levels whose output is strictly above every lower level's."""
    prev = np.concatenate([[-np.inf], np.maximum.accumulate(best)[:-1]])
    return np.nonzero(np.isfinite(best) & (best > prev))[0]


def _prefix_hulls(x: np.ndarray, y: np.ndarray) -> list[tuple[int, ...]]:
    """Upper hull (as indices) of points 0..k for each k; points sorted by x, y rising."""
    stack: list[int] = []
    out = []
    for k in range(len(x)):
        while len(stack) >= 2:
            o, a = stack[-2], stack[-1]
            cross = (x[a] - x[o]) * (y[k] - y[o]) - (y[a] - y[o]) * (x[k] - x[o])
            if cross >= 0:
                stack.pop()
            else:
                break
        stack.append(k)
        out.append(tuple(stack))
    return out


def _hull_vertices(points: np.ndarray) -> tuple[np.ndarray, bool]:
    from scipy.spatial import ConvexHull
    from scipy.spatial import QhullError

    varying = points.max(axis=0) > points.min(axis=0)
    pts = points[:, varying]
    if pts.shape[1] == 0 or len(points) <= pts.shape[1] + 1:
        return np.arange(len(points)), True
    if pts.shape[1] == 1:
        return np.unique([pts[:, 0].argmin(), pts[:, 0].argmax()]), True
    scale = np.abs(pts).max(axis=0)
    try:
        hull = ConvexHull(pts / scale)
    except (QhullError, ValueError):
        return np.arange(len(points)), False
    return np.sort(hull.vertices), True


def _inventory_key(inventory: Inventory) -> tuple:
    return tuple((n, inventory[n].power, inventory[n].hashrate, inventory[n].tokens) for n in MACHINE_TYPES)


def candidates(power_limit: float, caps: Mapping[str, int] | None = None,
               inventory: Inventory = DEFAULT_INVENTORY) -> Candidates:
    """The allocations among which every interval's optimum lies (cached)."""
    if not math.isfinite(power_limit) or power_limit < 0:
        raise ValueError(f"power limit must be a non-negative number of watts (got {power_limit!r})")
    caps = dict(caps or {})
    unknown = set(caps) - set(MACHINE_TYPES)
    if unknown:
        raise ValueError(f"unknown machine type in caps: {sorted(unknown)[0]}")
    for n, c in caps.items():
        if c is None:
            continue
        if c < 0:
            raise ValueError(f"cap for {n} must not be negative (got {c})")
    cap_key = tuple(None if caps.get(n) is None else int(caps[n]) for n in MACHINE_TYPES)
    return _candidates(float(power_limit), cap_key, _inventory_key(inventory))


@lru_cache(maxsize=32)
def _candidates(power_limit: float, cap_key: tuple, inv_key: tuple) -> Candidates:
    powers = [p for _, p, _, _ in inv_key]
    step = _grid_step(powers)
    k = int(math.floor(Fraction(power_limit).limit_denominator(10**6) / step))
    if k > _MAX_GRID:
        raise ValueError(f"power limit {power_limit:,.0f} W is too large for a {float(step):g} W power grid "
                         f"(at most {_MAX_GRID:,} steps)")
    units = [int(Fraction(p).limit_denominator(1000) / step) for p in powers]
    caps = [k // u if c is None else min(c, k // u) for c, u in zip(cap_key, units)]
    out = [h if n in MINER_TYPES else t for n, _, h, t in inv_key]
    mi = [MACHINE_TYPES.index(n) for n in MINER_TYPES]
    ii = [MACHINE_TYPES.index(n) for n in INFERENCE_TYPES]

    bm, cm = _frontier([units[j] for j in mi], [out[j] for j in mi], [caps[j] for j in mi], k)
    bi, ci = _frontier([units[j] for j in ii], [out[j] for j in ii], [caps[j] for j in ii], k)
    pm, pi = _pareto(bm), _pareto(bi)
    hulls = _prefix_hulls(pi.astype(float), bi[pi])

    pairs_m, pairs_i = [], []
    for m in pm:
        last = np.searchsorted(pi, k - m, side="right") - 1
        if last < 0:
            continue
        h = hulls[last]
        pairs_m.extend([m] * len(h))
        pairs_i.extend(pi[list(h)])
    pairs_m = np.asarray(pairs_m, dtype=np.int64)
    pairs_i = np.asarray(pairs_i, dtype=np.int64)
    pts = np.column_stack([bm[pairs_m], bi[pairs_i], (pairs_m + pairs_i).astype(float)])
    pts, first = np.unique(pts, axis=0, return_index=True)
    pairs_m, pairs_i = pairs_m[first], pairs_i[first]
    keep, ok = _hull_vertices(pts)
    origin = np.nonzero((pairs_m == 0) & (pairs_i == 0))[0]
    keep = np.union1d(keep, origin)
    pairs_m, pairs_i = pairs_m[keep], pairs_i[keep]

    counts = np.zeros((len(keep), len(MACHINE_TYPES)), dtype=np.int64)
    counts[:, mi] = cm[pairs_m]
    counts[:, ii] = ci[pairs_i]
    unit_power = np.array(powers, dtype=float)
    unit_hash = np.array([h for _, _, h, _ in inv_key], dtype=float)
    unit_tok = np.array([t for _, _, _, t in inv_key], dtype=float)
    counts.setflags(write=False)
    return Candidates(counts=counts, hashrate=counts @ unit_hash, tokens=counts @ unit_tok,
                      power=counts @ unit_power, hull_ok=ok)


# ---------------------------------------------------------------- prices

def _price_matrix(prices: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Validate a price frame; returns it (DatetimeIndex, sorted) and [h, t, e] rows."""
    if not isinstance(prices, pd.DataFrame):
        raise ValueError("prices must be a pandas DataFrame")
    if prices.empty:
        raise ValueError(NO_DATA)
    frame = prices
    if not isinstance(frame.index, pd.DatetimeIndex) and "timestamp" in frame.columns:
        frame = frame.set_index(pd.to_datetime(frame["timestamp"]))
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"price data lacks column {missing[0]}")
    frame = frame.loc[:, list(PRICE_COLUMNS)].astype(float)
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index()
    values = frame.to_numpy()
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"price at {frame.index[r]} has an invalid {PRICE_COLUMNS[c]} ({values[r, c]!r}); "
                         "prices must be finite and not negative")
    x = np.ascontiguousarray(values[:, [1, 2, 0]])  # hash, token, energy
    return frame, x


def _csv_error(row: int, column: str, reason: str, value) -> ValueError:
    return ValueError(f"row {row} (line {row + 1}), column {column}: {reason} (got {value!r})")


def read_prices_csv(path_or_buffer: str | Path | IO) -> pd.DataFrame:
    """Load and validate a user's price CSV (timestamp,energy_price,hash_price,token_price).

    Rows are numbered from 1 after the header. Returns a frame indexed by naive UTC
    timestamps, sorted, with duplicate timestamps dropped (the last one wins).
    """
    if isinstance(path_or_buffer, bytes):
        path_or_buffer = io.BytesIO(path_or_buffer)
    try:
        raw = pd.read_csv(path_or_buffer, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError("the CSV file is empty; expected a header "
                         "timestamp,energy_price,hash_price,token_price") from None
    except pd.errors.ParserError as e:
        raise ValueError(f"the CSV file could not be parsed: {str(e).strip()}") from None
    except UnicodeDecodeError:
        raise ValueError("the CSV file is not UTF-8 text") from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    for col in ("timestamp",) + PRICE_COLUMNS:
        if col not in raw.columns:
            raise ValueError(f"the CSV lacks the column {col}; expected a header "
                             "timestamp,energy_price,hash_price,token_price")
    if raw.empty:
        raise ValueError(NO_DATA)
    text = raw["timestamp"].str.strip()
    ts = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    retry = ts.isna() & (text != "")
    if retry.any():
        ts[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce", utc=True)
    bad = ts.isna().to_numpy()
    if bad.any():
        r = int(np.argmax(bad))
        value = text.iloc[r]
        raise _csv_error(r + 1, "timestamp", "missing timestamp" if value == "" else "not a timestamp", value)
    data = {}
    for col in PRICE_COLUMNS:
        s = raw[col].str.strip()
        num = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
        bad = ~np.isfinite(num) | (num < 0)
        if bad.any():
            r = int(np.argmax(bad))
            value = s.iloc[r]
            if value == "":
                reason = "missing value"
            elif math.isnan(num[r]):
                reason = "not a number"
            elif not math.isfinite(num[r]):
                reason = "not a finite number"
            else:
                reason = "must not be negative"
            raise _csv_error(r + 1, col, reason, value)
        data[col] = num
    index = pd.DatetimeIndex(ts.dt.tz_convert("UTC").dt.tz_localize(None), name="timestamp")
    frame = pd.DataFrame(data, index=index)
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame


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
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if switching_cost is None or not math.isfinite(switching_cost) or switching_cost < 0:
        raise ValueError(f"switching cost must be a non-negative number (got {switching_cost!r})")
    if min_hold < 0:
        raise ValueError(f"min_hold must not be negative (got {min_hold})")
    frame, x = _price_matrix(prices)
    cand = candidates(power_limit, caps, inventory)
    best, optimum = _optimum(x, cand)
    n = len(x)
    paid = np.zeros(n)
    switches = 0

    if strategy in ("hold", "fixed"):
        if allocation is None:
            raise ValueError(f"strategy {strategy!r} needs an allocation"
                             + (" (the site's current one)" if strategy == "hold" else ""))
        if strategy == "fixed":
            problem = _check_allocation(allocation, power_limit, caps, inventory)
            if problem:
                raise ValueError(f"the fixed allocation {problem}")
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
