"""The exact per-interval candidate set: every optimum, for any prices, is one of a few allocations.

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

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Mapping

import numpy as np

from ..errors import BacktestInputError
from ..models import DEFAULT_INVENTORY, Allocation, Inventory
from ..vocabulary import INFERENCE_TYPES, MACHINE_TYPES, MINER_TYPES

_MAX_GRID = 400_000  # power-grid steps per knapsack DP: 200 MW at 500 W


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
    counts.setflags(write=False)
    return Candidates(counts=counts, hashrate=counts @ unit_hash, tokens=counts @ unit_tok,
                      power=counts @ unit_power, hull_ok=ok)


