"""The exact optimum of the five machine counts: a small integer program solved by HiGHS.

The prototype asked an LLM for an allocation and scaled it down; this module solves
it exactly through ``scipy.optimize.milp``, breaks ties the same way as the
per-interval frontier (fewest units moved, then least power), and when nothing is
feasible names a small set of constraints that conflict.

About 360 lines: the model, its tie-break objectives and the conflict search read
the same constraint rows, built once here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from ..models import DEFAULT_INVENTORY, Allocation, Inventory, Prices
from ..numbers import MAX_COUNT
from ..units import constraint as phrase
from ..units import number
from ..units import power as kw
from ..vocabulary import INFERENCE_TYPES, MACHINE_TYPES
from .constraints import Constraints, _check, _Checked

N = len(MACHINE_TYPES)
_INF_MASK = np.array([n in INFERENCE_TYPES for n in MACHINE_TYPES])
# Feasibility jump costs ~5 ms of fixed start-up per call on a 5-variable model and
# finds nothing the root LP does not; milp passes the option verbatim to HiGHS.
_HIGHS_OPTIONS = {"mip_rel_gap": 1e-9, "mip_heuristic_run_feasibility_jump": False}


def tie_tolerance(best):
    """How far below the best value an allocation still counts as equally profitable.

    The one tolerance of the tie-break rule, shared with the per-interval frontier so
    that both optimisers call the same allocations ties. Works on arrays too.
    """
    return 1e-9 * np.maximum(1.0, np.abs(best)) + 1e-9


@dataclass
class Solution:
    feasible: bool
    allocation: Allocation | None
    power_used: float
    revenue: float
    cost: float
    profit: float
    switching_cost: float
    binding: list[str]
    conflicts: list[str]
    message: str

    @property
    def net_profit(self) -> float:
        """Profit after the switching cost of moving from the current allocation."""
        return self.profit - self.switching_cost


# -- the model -------------------------------------------------------------------

@dataclass
class _Model:
    """Arrays of one instance; groups name the constraints for conflict search."""

    power: np.ndarray
    hashrate: np.ndarray
    tokens: np.ndarray
    profit: np.ndarray
    limit: float
    k: _Checked
    current: np.ndarray
    moves: bool  # whether units moved are modelled (current known)

    def groups(self) -> list[tuple]:
        g: list[tuple] = [("power",)]
        g += [("lock", n) for n in self.k.locks]
        g += [("cap", n) for n in self.k.caps if n not in self.k.locks]
        for name in ("min_share", "max_share", "min_tokens", "min_hashrate"):
            if getattr(self.k, name) is not None:
                g.append((name,))
        if self.moves and self.k.max_moved is not None:
            g.append(("max_moved",))
        return g


def _build(prices: Prices, power_limit: float, k: _Checked, current: Allocation | None,
           inventory: Inventory) -> _Model:
    specs = [inventory[n] for n in MACHINE_TYPES]
    power = np.array([s.power for s in specs], dtype=float)
    hashrate = np.array([s.hashrate for s in specs], dtype=float)
    tokens = np.array([s.tokens for s in specs], dtype=float)
    profit = hashrate * prices.hash_price + tokens * prices.token_price - power * prices.energy_price
    cur = np.array(current.as_list(), dtype=float) if current is not None else np.zeros(N)
    return _Model(power, hashrate, tokens, profit, float(power_limit), k, cur, current is not None)


def _milp(m: _Model, active: set, objective: str = "profit", floor: float | None = None,  # noqa: C901 - one block per kind of constraint row, built in the order the model states them
          vec: np.ndarray | None = None):
    """Solve over the active constraint groups; returns integer counts or None if infeasible.

    objective "profit" maximises profit minus switching cost; "tiebreak" keeps that at
    least `floor` and minimises units moved, then power; "zero" is a feasibility check;
    "output" maximises `vec` (tokens or hashrate).
    """
    k = m.k
    use_d = m.moves and (("max_moved",) in active or k.switching > 0 or objective == "tiebreak")
    nv = 2 * N if use_d else N
    lb = np.zeros(nv)
    ub = np.full(nv, np.inf)
    natural = np.floor(m.limit / m.power + 1e-9) if ("power",) in active else np.full(N, np.inf)
    ub[:N] = np.minimum(natural, MAX_COUNT)  # no site has a million machines of one type
    for n, cap in k.caps.items():
        if ("cap", n) in active:
            i = MACHINE_TYPES.index(n)
            ub[i] = min(ub[i], cap)
    for n, lock in k.locks.items():
        if ("lock", n) in active:
            i = MACHINE_TYPES.index(n)
            lb[i] = ub[i] = lock
    if use_d:
        ub[N:] = np.inf
    rows, lo, hi = [], [], []

    def row(coef_x, low, high, coef_d=None):
        r = np.zeros(nv)
        r[:N] = coef_x
        if coef_d is not None:
            r[N:] = coef_d
        rows.append(r)
        lo.append(low)
        hi.append(high)

    if ("power",) in active:
        row(m.power, -np.inf, m.limit)
    inf_power = np.where(_INF_MASK, m.power, 0.0)
    if ("min_share",) in active:
        row(inf_power - k.min_share * m.power, 0.0, np.inf)
    if ("max_share",) in active:
        row(inf_power - k.max_share * m.power, -np.inf, 0.0)
    if ("min_tokens",) in active:
        row(m.tokens, k.min_tokens, np.inf)
    if ("min_hashrate",) in active:
        row(m.hashrate, k.min_hashrate, np.inf)
    if use_d:
        eye = np.eye(N)
        for i in range(N):
            row(eye[i], -np.inf, m.current[i], coef_d=-eye[i])  # x - d <= cur
            row(eye[i], m.current[i], np.inf, coef_d=eye[i])  # x + d >= cur
        if ("max_moved",) in active:
            row(np.zeros(N), -np.inf, k.max_moved, coef_d=np.ones(N))
    c = np.zeros(nv)
    if objective == "profit":
        c[:N] = -m.profit
        if use_d:
            c[N:] = k.switching
    elif objective == "output":
        c[:N] = -vec
    elif objective == "tiebreak":
        # fewer units moved first (integers), then less power (scaled below one unit)
        c[:N] = m.power / (float(np.sum(np.where(np.isfinite(ub[:N]), ub[:N], 0) * m.power)) + 1.0)
        if use_d:
            c[N:] = 1.0
        else:
            c[:N] += 1.0
        obj = np.concatenate([m.profit, np.full(N, -k.switching)]) if use_d else m.profit
        row(obj[:N], floor, np.inf, coef_d=obj[N:] if use_d else None)
    integrality = np.zeros(nv)
    integrality[:N] = 1
    constraints = LinearConstraint(np.array(rows), lo, hi) if rows else None
    if np.any(lb > ub):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = milp(c, integrality=integrality, bounds=Bounds(lb, ub), constraints=constraints,
                   options=dict(_HIGHS_OPTIONS))
    if res.x is None or res.status not in (0,):
        return None
    x = np.round(res.x[:N]).astype(int)
    return x if _satisfies(m, x, active) else None


def _satisfies(m: _Model, x: np.ndarray, active: set) -> bool:
    """Exact re-check of an integral point, with a relative tolerance on float rows."""
    k = m.k
    if np.any(x < 0):
        return False
    xf = x.astype(float)
    used = float(xf @ m.power)
    tol = 1e-9 * max(1.0, used, m.limit)
    if ("power",) in active and used > m.limit + tol:
        return False
    for n, cap in k.caps.items():
        if ("cap", n) in active and x[MACHINE_TYPES.index(n)] > cap:
            return False
    for n, lock in k.locks.items():
        if ("lock", n) in active and x[MACHINE_TYPES.index(n)] != lock:
            return False
    inf_used = float(xf[_INF_MASK] @ m.power[_INF_MASK])
    if ("min_share",) in active and inf_used < k.min_share * used - tol:
        return False
    if ("max_share",) in active and inf_used > k.max_share * used + tol:
        return False
    if ("min_tokens",) in active and xf @ m.tokens < k.min_tokens * (1 - 1e-9) - 1e-9:
        return False
    if ("min_hashrate",) in active and xf @ m.hashrate < k.min_hashrate * (1 - 1e-9) - 1e-9:
        return False
    if ("max_moved",) in active and m.moves and np.abs(x - m.current).sum() > k.max_moved:
        return False
    return True


# -- describing constraints --------------------------------------------------------

def _describe(m: _Model, g: tuple) -> str:
    """A constraint group in the words every surface uses."""
    k = m.k
    kind = g[0]
    if kind == "power":
        return phrase("power", m.limit)
    if kind in ("lock", "cap"):
        return phrase(kind, (k.locks if kind == "lock" else k.caps)[g[1]], g[1])
    value = {"min_share": k.min_share, "max_share": k.max_share, "min_tokens": k.min_tokens,
             "min_hashrate": k.min_hashrate, "max_moved": k.max_moved}[kind]
    return phrase(kind, value)


def _max_output(m: _Model, active: set, vec: np.ndarray) -> float | None:
    """Largest output (tokens or hashrate) the given groups allow, by a small MILP."""
    x = _milp(m, active, "output", vec=vec)
    return float(x @ vec) if x is not None else None


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _conflict_text(m: _Model, iis: list[tuple]) -> list[str]:
    """One specific sentence for the conflict set, naming its members and numbers."""
    k = m.k
    lock_groups = [g for g in iis if g[0] == "lock"]
    if lock_groups and set(iis) == set(lock_groups) | {("power",)}:
        need = sum(k.locks[g[1]] * m.power[MACHINE_TYPES.index(g[1])] for g in lock_groups)
        names = _and([_describe(m, g) for g in lock_groups])
        verb = "needs" if len(lock_groups) == 1 else "need"
        return [f"{names} {verb} {kw(need)}, more than the {phrase('power', m.limit)}"]
    for g, vec, unit in ((("min_tokens",), m.tokens, "tokens"), (("min_hashrate",), m.hashrate, "hashrate")):
        if g in iis:
            others = [o for o in iis if o != g]
            if not others:
                break
            what = _and([_describe(m, o) for o in others])
            best = _max_output(m, set(others), vec)
            if best is None:
                return [f"{_describe(m, g)} cannot be met together with {what}"]
            verb = "allows" if len(others) == 1 else "allow"
            return [f"{_describe(m, g)} cannot be reached: {what} {verb} at most {number(best)} {unit}"]
    names = [_describe(m, g) for g in iis]
    if len(names) == 1:
        return [f"{names[0]} cannot hold"]
    return [f"{names[0]} cannot hold together with {_and(names[1:])}"]


def _find_conflicts(m: _Model) -> list[tuple]:
    """A small irreducible set of constraint groups, by deletion filtering."""
    active = list(m.groups())
    i = 0
    while i < len(active):
        trial = active[:i] + active[i + 1:]
        if _milp(m, set(trial), "zero") is None:
            active = trial
        else:
            i += 1
    return active


# -- public API ---------------------------------------------------------------------

def _binding(m: _Model, x: np.ndarray) -> list[str]:
    k = m.k
    out: list[str] = []
    xf = x.astype(float)
    used = float(xf @ m.power)
    free = [i for i, n in enumerate(MACHINE_TYPES)
            if m.profit[i] > 0 and n not in k.locks and (n not in k.caps or x[i] < k.caps[n])]
    if free and m.limit - used < min(m.power[i] for i in free):
        out.append(f"{phrase('power', m.limit)} ({kw(m.limit - used)} unused)")
    for n, cap in k.caps.items():
        i = MACHINE_TYPES.index(n)
        if n not in k.locks and x[i] == cap and (cap > 0 or m.profit[i] > 0):
            out.append(phrase("cap", cap, n))
    running = x > 0
    inf_used = float(xf[_INF_MASK] @ m.power[_INF_MASK])

    def tight(slack: float, steps: np.ndarray) -> bool:
        steps = steps[steps > 0]
        return slack <= 1e-9 * max(1.0, used) or (steps.size > 0 and slack <= steps.min() * (1 - 1e-12))

    if k.min_share is not None and k.min_share > 0:
        slack = inf_used - k.min_share * used
        if tight(slack, (m.power * np.where(_INF_MASK, 1 - k.min_share, k.min_share))[running]):
            out.append(phrase("min_share", k.min_share))
    if k.max_share is not None and k.max_share < 1:
        slack = k.max_share * used - inf_used
        if tight(slack, (m.power * np.where(_INF_MASK, 1 - k.max_share, k.max_share))[running]):
            out.append(phrase("max_share", k.max_share))
    if k.min_tokens is not None and k.min_tokens > 0 and tight(xf @ m.tokens - k.min_tokens, m.tokens[running]):
        out.append(phrase("min_tokens", k.min_tokens))
    if k.min_hashrate is not None and k.min_hashrate > 0 and tight(xf @ m.hashrate - k.min_hashrate,
                                                                   m.hashrate[running]):
        out.append(phrase("min_hashrate", k.min_hashrate))
    if m.moves and k.max_moved is not None and np.abs(x - m.current).sum() == k.max_moved:
        out.append(phrase("max_moved", k.max_moved))
    return out


def solve(prices: Prices, power_limit: float, constraints: Constraints | None = None,
          current: Allocation | None = None, inventory: Inventory = DEFAULT_INVENTORY) -> Solution:
    """The integer allocation of maximum profit (minus switching cost) under the constraints.

    Never raises for an impossible combination: returns feasible=False with the
    conflicting constraints named. Raises ValidationError for malformed input. Units
    moved and switching cost count only when `current` is given; among equally
    profitable allocations it picks the one that moves fewest units, then uses least power.
    """
    k = _check(prices, power_limit, constraints or Constraints())
    m = _build(prices, power_limit, k, current, inventory)
    groups = set(m.groups())
    x = _milp(m, groups, "profit")
    if x is None:
        iis = _find_conflicts(m)
        conflicts = _conflict_text(m, iis) if iis else ["the constraints cannot all hold"]
        return Solution(False, None, 0.0, 0.0, 0.0, 0.0, 0.0, [], conflicts,
                        "No allocation satisfies these constraints: " + "; ".join(conflicts) + ".")
    best = _objective(m, x)
    floor = best - float(tie_tolerance(best))
    y = _milp(m, groups, "tiebreak", floor=floor)
    if y is not None and _objective(m, y) >= floor:
        x = y
    alloc = Allocation(**{n: int(v) for n, v in zip(MACHINE_TYPES, x)})
    revenue = alloc.revenue(prices, inventory)
    cost = alloc.cost(prices, inventory)
    switching = k.switching * float(np.abs(x - m.current).sum()) if m.moves else 0.0
    binding = _binding(m, x)
    message = (f"Optimal: profit {number(revenue - cost, 2)} per period using {kw(alloc.power(inventory))} "
               f"of {kw(m.limit)}" + (f"; binding: {'; '.join(binding)}" if binding else "") + ".")
    return Solution(True, alloc, alloc.power(inventory), revenue, cost, revenue - cost, switching,
                    binding, [], message)


def _objective(m: _Model, x: np.ndarray) -> float:
    value = float(x.astype(float) @ m.profit)
    if m.moves:
        value -= m.k.switching * float(np.abs(x - m.current).sum())
    return value


