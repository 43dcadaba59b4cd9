"""The exact per-interval candidate set: every optimum, for any prices, is one of a few allocations.

About 360 lines: the construction below is one argument in three steps, kept in one file.

The profit of an allocation is linear in the price vector:
``hash_price * H + token_price * T - energy_price * P``. So the optimum of every
interval is attained at a vertex of the convex hull of the feasible (H, T, P)
points, and that hull has few vertices. We build it once per (power limit, caps,
inventory) and then each interval's optimum is an argmax over one matrix
product. A MILP per interval would take minutes for a year of 5-minute data.

How the candidates are built (exact, not a heuristic):

1. Miners and inference are split. For each part a bounded knapsack DP over the
   power grid (gcd of the unit powers, 500 W for the default inventory) gives the
   largest output for power *exactly* p, honouring caps, in its fewest-unit
   composition (1 immersion miner, not 2 hydro); only Pareto points (strictly more
   output for more power) are kept.
2. Any maximiser (m, i) for prices (h, t, e) >= 0 can be replaced by one whose
   inference part is a vertex of the upper hull of the inference points that fit
   in the remaining power, at equal profit. So the pairs are each miner point with
   the hull vertices of its inference "prefix".
3. The 3-D convex hull of those pairs (scipy/Qhull) keeps the vertices; if Qhull
   fails on degenerate (flat) input all pairs are kept.

Ties follow ``solve()``'s rule: candidates are ordered by units, then power, and
:meth:`Candidates.best` takes the first within the MILP's tie tolerance, so both
optimisers pick the same allocation (checked against brute force at tie prices).
:func:`nearest_equivalent` gives the composition ``solve()`` picks when a current
allocation is known (fewest units moved).

Units: prices and profits are "per period" as the API gives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Mapping

import numpy as np

from ..errors import BacktestInputError
from ..models import DEFAULT_INVENTORY, Allocation, Inventory
from ..vocabulary import INFERENCE_TYPES, MACHINE_TYPES, MINER_TYPES
from .milp import tie_tolerance

_MAX_GRID = 400_000  # power-grid steps per knapsack DP: 200 MW at 500 W
_CHUNK = 8192  # price rows per matrix product: bounds memory on a year of data


@dataclass(frozen=True)
class Candidates:
    """Allocations that contain an optimum for every non-negative price vector.

    Ordered by units, then power, so that the first candidate within the tie
    tolerance of the best is the one ``solve()`` picks without a current allocation.
    """

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

    @property
    def units(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    def allocation(self, index: int) -> Allocation:
        return Allocation(**{n: int(c) for n, c in zip(MACHINE_TYPES, self.counts[index])})

    def best(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of x ([hash, token, energy] prices): the tie-break winner's index and its profit."""
        x = np.atleast_2d(x)
        mat = self.matrix
        index = np.empty(len(x), dtype=np.int64)
        value = np.empty(len(x))
        for s in range(0, len(x), _CHUNK):
            q = x[s:s + _CHUNK] @ mat
            top = q.max(axis=1)
            first = (q >= (top - tie_tolerance(top))[:, None]).argmax(axis=1)
            index[s:s + _CHUNK] = first
            value[s:s + _CHUNK] = q[np.arange(len(first)), first]
        return index, value


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


def _window_best(a: np.ndarray, u: np.ndarray, size: int, tol: float):
    """Best of a[q-size+1 .. q] for every q (left-clipped), by doubling.

    Best means the largest a, and among values within tol of each other the
    smallest u (fewest units). Returns (a, u, index) of the best.
    """
    n = len(a)
    v, w, i = a.copy(), u.copy(), np.arange(n)
    size = min(size, n)

    def merge(shift):
        sv = np.full(n, -np.inf)
        sw = np.zeros(n, dtype=w.dtype)
        si = np.zeros(n, dtype=np.int64)
        sv[shift:], sw[shift:], si[shift:] = v[:-shift], w[:-shift], i[:-shift]
        take = (sv > v + tol) | ((sv >= v - tol) & (sw < w) & np.isfinite(sv))
        return np.where(take, sv, v), np.where(take, sw, w), np.where(take, si, i)

    span = 1
    while span * 2 <= size:
        v, w, i = merge(span)
        span *= 2
    if size - span:
        v, w, i = merge(size - span)
    return v, w, i


def _frontier(weights: list[int], values: list[float], caps: list[int], k: int):
    """Bounded knapsack: best output at exactly p grid units, and its fewest-unit composition.

    Returns (best[0..k], counts[0..k, types]); unreachable levels are -inf. Among
    compositions of equal output (2 hydro and 1 immersion miner) the one with fewest
    units wins, as in ``solve()``'s tie-break.
    """
    best = np.full(k + 1, -np.inf)
    best[0] = 0.0
    units = np.zeros(k + 1, dtype=np.int64)
    choice = np.zeros((k + 1, len(weights)), dtype=np.int64)
    tol = 1e-9 * max(1.0, k * max(values, default=0.0))
    for t, (w, v, cap) in enumerate(zip(weights, values, caps)):
        if cap <= 0 or w > k:
            continue
        new, new_units, new_choice = best.copy(), units.copy(), choice.copy()
        for r in range(w):
            old = best[r::w]
            q = np.arange(len(old))
            a = old - q * v
            a[~np.isfinite(old)] = -np.inf
            m, fewest, j = _window_best(a, units[r::w] - q, cap + 1, tol)
            ok = np.isfinite(m)
            new[r::w] = np.where(ok, m + q * v, -np.inf)
            new_units[r::w] = np.where(ok, fewest + q, 0)
            nc = choice[r::w][j].copy()
            nc[:, t] = q - j
            nc[~ok] = 0
            new_choice[r::w] = nc
        best, units, choice = new, new_units, new_choice
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
    from scipy.spatial import ConvexHull, QhullError

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
        raise BacktestInputError(f"power limit must be a non-negative number of watts (got {power_limit!r})")
    caps = dict(caps or {})
    unknown = set(caps) - set(MACHINE_TYPES)
    if unknown:
        raise BacktestInputError(f"unknown machine type in caps: {sorted(unknown)[0]}")
    for n, c in caps.items():
        if c is None:
            continue
        if c < 0:
            raise BacktestInputError(f"cap for {n} must not be negative (got {c})")
    cap_key = tuple(None if caps.get(n) is None else int(caps[n]) for n in MACHINE_TYPES)
    return _candidates(float(power_limit), cap_key, _inventory_key(inventory))


@lru_cache(maxsize=32)
def _candidates(power_limit: float, cap_key: tuple, inv_key: tuple) -> Candidates:
    powers = [p for _, p, _, _ in inv_key]
    step = _grid_step(powers)
    k = int(math.floor(Fraction(power_limit).limit_denominator(10**6) / step))
    if k > _MAX_GRID:
        raise BacktestInputError(f"power limit {power_limit:,.0f} W is too large for a {float(step):g} W power grid "
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
    power = counts @ unit_power
    order = np.lexsort((power, counts.sum(axis=1)))
    counts = counts[order]
    counts.setflags(write=False)
    return Candidates(counts=counts, hashrate=counts @ unit_hash, tokens=counts @ unit_tok,
                      power=power[order], hull_ok=ok)




# ---------------------------------------------------------------- equal compositions

def _primitive(vec: list[Fraction]) -> np.ndarray:
    den = math.lcm(*(f.denominator for f in vec))
    ints = [int(f * den) for f in vec]
    g = math.gcd(*ints)
    return np.array([i // g for i in ints], dtype=np.int64)


@lru_cache(maxsize=32)
def _directions(inv_key: tuple) -> tuple | None:
    """Per category: (column indexes, integer direction) along which output and power stay equal.

    The direction is None when a category's composition is unique for its output and
    power. Returns None when some category has more than one free direction (three
    proportional machine types), which the callers leave to the MILP.
    """
    out = []
    for names, output in ((MINER_TYPES, 2), (INFERENCE_TYPES, 3)):
        cols = [MACHINE_TYPES.index(n) for n in names]
        rows = [[Fraction(inv_key[c][output]).limit_denominator(10**6) for c in cols],
                [Fraction(inv_key[c][1]).limit_denominator(10**6) for c in cols]]
        if len(cols) == 3:
            a, b = rows
            cross = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
            if not any(cross):
                return None
            out.append((cols, _primitive(cross)))
        elif len(cols) == 2:
            det = rows[0][0] * rows[1][1] - rows[0][1] * rows[1][0]
            out.append((cols, None if det else _primitive([rows[1][1], -rows[1][0]])))
        else:
            out.append((cols, None))
    return tuple(out)


def nearest_equivalent(counts, current, upper, inventory: Inventory = DEFAULT_INVENTORY) -> np.ndarray | None:
    """The composition with the same hashrate, tokens and power as `counts` that moves fewest units from `current`.

    2 hydro miners and 1 immersion miner are interchangeable: solve() with a current
    allocation keeps what is already running. `upper` bounds each count (caps; use a
    large number for none). Ties in units moved go to fewer units. Returns None for an
    inventory whose equal compositions form more than a line (the caller asks the MILP).
    """
    return _nearest(counts, current, upper, _directions(_inventory_key(inventory)))


def _nearest(counts, current, upper, dirs: tuple | None) -> np.ndarray | None:
    """nearest_equivalent() on plain integers: it runs once per deploy in a year-long replay."""
    if dirs is None:
        return None
    best = [int(v) for v in counts]
    for cols, d in dirs:
        if d is None:
            continue
        x0 = [best[c] for c in cols]
        cur = [int(current[c]) for c in cols]
        ub = [int(upper[c]) for c in cols]
        dd = [int(v) for v in d]
        k_lo, k_hi = -math.inf, math.inf
        ks = {0}
        for x, c, u, di in zip(x0, cur, ub, dd):
            if di:
                lo, hi = sorted(((-x) / di, (u - x) / di))
                k_lo, k_hi = max(k_lo, math.ceil(lo - 1e-9)), min(k_hi, math.floor(hi + 1e-9))
                ks.update((math.floor((c - x) / di), math.ceil((c - x) / di)))
        options = []
        for k in {min(max(k, k_lo), k_hi) for k in ks}:
            y = [x + k * di for x, di in zip(x0, dd)]
            options.append((sum(abs(a - c) for a, c in zip(y, cur)), sum(y), abs(k), y))
        y = min(options)[3]
        for c, v in zip(cols, y):
            best[c] = v
    return np.array(best, dtype=np.int64)
