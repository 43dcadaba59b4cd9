"""Exact optimiser of the five machine counts, and an explanation built from its numbers.

The problem is a small integer program solved by HiGHS through ``scipy.optimize.milp``.
The prototype asked an LLM for an allocation and scaled it down; this module replaces
that with a provable optimum and says which constraints cost money.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

from .models import (
    DEFAULT_INVENTORY,
    INFERENCE_TYPES,
    LABELS,
    MACHINE_TYPES,
    Allocation,
    Inventory,
    Prices,
    ValidationError,
)

N = len(MACHINE_TYPES)
_INF_MASK = np.array([n in INFERENCE_TYPES for n in MACHINE_TYPES])
# Feasibility jump costs ~5 ms of fixed start-up per call on a 5-variable model and
# finds nothing the root LP does not; milp passes the option verbatim to HiGHS.
_HIGHS_OPTIONS = {"mip_rel_gap": 1e-9, "mip_heuristic_run_feasibility_jump": False}


@dataclass
class Constraints:
    """User constraints; None or empty means "not set"."""

    caps: dict[str, int] = field(default_factory=dict)
    locks: dict[str, int] = field(default_factory=dict)
    min_inference_share: float | None = None
    max_inference_share: float | None = None
    min_tokens: float | None = None
    min_hashrate: float | None = None
    max_moved: int | None = None
    switching_cost: float = 0.0


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


@dataclass
class Explanation:
    binding: list[str]
    value_per_kw: float
    break_even: dict[str, dict]
    diff: dict
    rationale: str
    value_per_kw_per_day: float = 0.0
    next_step_kw: float = 0.0  # the extra power (one unit's worth) that pays most per kW
    next_step_value: float = 0.0  # the profit per period that step adds


# -- validation ----------------------------------------------------------------

MAX_INPUT = 1e15  # far beyond any real price or power; keeps every product finite in float64

def _finite_nonneg(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(name, value, "expected a number")
    v = float(value)
    if not math.isfinite(v):
        raise ValidationError(name, value, "must be a finite number")
    if v < 0:
        raise ValidationError(name, value, "must not be negative")
    if v > MAX_INPUT:
        raise ValidationError(name, value, f"is too large to compute with (at most {MAX_INPUT:.0e})")
    return v


def _count_map(kind: str, data: Mapping[str, Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in (data or {}).items():
        if name not in MACHINE_TYPES:
            raise ValidationError(f"{kind}.{name}", value,
                                  f"unknown machine type; use one of {', '.join(MACHINE_TYPES)}")
        if value is None:
            continue
        v = _finite_nonneg(f"{kind}.{name}", value)
        if not float(v).is_integer():
            raise ValidationError(f"{kind}.{name}", value, "expected a whole number of machines")
        out[name] = int(v)
    return out


@dataclass
class _Checked:
    caps: dict[str, int]
    locks: dict[str, int]
    min_share: float | None
    max_share: float | None
    min_tokens: float | None
    min_hashrate: float | None
    max_moved: int | None
    switching: float


def _check(prices: Prices, power_limit: float, c: Constraints) -> _Checked:
    for name in ("energy_price", "hash_price", "token_price"):
        _finite_nonneg(name, getattr(prices, name))
    _finite_nonneg("power_limit", power_limit)
    caps = _count_map("caps", c.caps)
    locks = _count_map("locks", c.locks)
    for name, lock in locks.items():
        if name in caps and lock > caps[name]:
            raise ValidationError(f"locks.{name}", lock, f"lock is above the cap of {caps[name]} you own")
    shares = []
    for label, value in (("min_inference_share", c.min_inference_share),
                         ("max_inference_share", c.max_inference_share)):
        v = _finite_nonneg(label, value, allow_none=True)
        if v is not None and v > 1:
            raise ValidationError(label, value, "must be a share between 0 and 1")
        shares.append(v)
    if shares[0] is not None and shares[1] is not None and shares[0] > shares[1]:
        raise ValidationError("min_inference_share", shares[0],
                              f"minimum share is above the maximum share {shares[1]:g}")
    max_moved = _finite_nonneg("max_moved", c.max_moved, allow_none=True)
    if max_moved is not None and not max_moved.is_integer():
        raise ValidationError("max_moved", c.max_moved, "expected a whole number of machines")
    return _Checked(
        caps=caps, locks=locks, min_share=shares[0], max_share=shares[1],
        min_tokens=_finite_nonneg("min_tokens", c.min_tokens, allow_none=True),
        min_hashrate=_finite_nonneg("min_hashrate", c.min_hashrate, allow_none=True),
        max_moved=int(max_moved) if max_moved is not None else None,
        switching=_finite_nonneg("switching_cost", c.switching_cost or 0.0),
    )


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


def _milp(m: _Model, active: set, objective: str = "profit", floor: float | None = None,
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
    ub[:N] = natural
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

def _w(v: float) -> str:
    return f"{v:,.0f} W"


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else f"{v:,.2f}"


def _describe(m: _Model, g: tuple) -> str:
    k = m.k
    kind = g[0]
    if kind == "power":
        return f"power limit {_w(m.limit)}"
    if kind == "lock":
        return f"lock {g[1]}={k.locks[g[1]]}"
    if kind == "cap":
        return f"cap {g[1]}<={k.caps[g[1]]}"
    if kind == "min_share":
        return f"min inference share {k.min_share:.0%}"
    if kind == "max_share":
        return f"max inference share {k.max_share:.0%}"
    if kind == "min_tokens":
        return f"min tokens {_num(k.min_tokens)}"
    if kind == "min_hashrate":
        return f"min hashrate {_num(k.min_hashrate)}"
    return f"max moved {k.max_moved}"


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
        names = ", ".join(f"{g[1]}={k.locks[g[1]]}" for g in lock_groups)
        if len(lock_groups) == 1:
            return [f"lock {names} needs {_w(need)} > power limit {_w(m.limit)}"]
        return [f"locks {names} need {_w(need)} > power limit {_w(m.limit)}"]
    for g, vec, label, goal in ((("min_tokens",), m.tokens, "min tokens", k.min_tokens),
                                (("min_hashrate",), m.hashrate, "min hashrate", k.min_hashrate)):
        if g in iis:
            others = [o for o in iis if o != g]
            if not others:
                break
            what = _and([_describe(m, o) for o in others])
            best = _max_output(m, set(others), vec)
            if best is None:
                return [f"{label} {_num(goal)} cannot be met together with {what}"]
            verb = "allows" if len(others) == 1 else "allow"
            return [f"{label} {_num(goal)} exceeds what the {what} {verb} (max {_num(best)})"]
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
        out.append(f"power limit {_w(m.limit)} (unused {_w(m.limit - used)})")
    for n, cap in k.caps.items():
        i = MACHINE_TYPES.index(n)
        if n not in k.locks and x[i] == cap and (cap > 0 or m.profit[i] > 0):
            out.append(f"cap {n}<={cap}")
    running = x > 0
    inf_used = float(xf[_INF_MASK] @ m.power[_INF_MASK])

    def tight(slack: float, steps: np.ndarray) -> bool:
        steps = steps[steps > 0]
        return slack <= 1e-9 * max(1.0, used) or (steps.size > 0 and slack <= steps.min() * (1 - 1e-12))

    if k.min_share is not None and k.min_share > 0:
        slack = inf_used - k.min_share * used
        if tight(slack, (m.power * np.where(_INF_MASK, 1 - k.min_share, k.min_share))[running]):
            out.append(f"min inference share {k.min_share:.0%}")
    if k.max_share is not None and k.max_share < 1:
        slack = k.max_share * used - inf_used
        if tight(slack, (m.power * np.where(_INF_MASK, 1 - k.max_share, k.max_share))[running]):
            out.append(f"max inference share {k.max_share:.0%}")
    if k.min_tokens is not None and k.min_tokens > 0 and tight(xf @ m.tokens - k.min_tokens, m.tokens[running]):
        out.append(f"min tokens {_num(k.min_tokens)}")
    if k.min_hashrate is not None and k.min_hashrate > 0 and tight(xf @ m.hashrate - k.min_hashrate,
                                                                   m.hashrate[running]):
        out.append(f"min hashrate {_num(k.min_hashrate)}")
    if m.moves and k.max_moved is not None and np.abs(x - m.current).sum() == k.max_moved:
        out.append(f"max moved {k.max_moved}")
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
    y = _milp(m, groups, "tiebreak", floor=best - 1e-9 * max(1.0, abs(best)) - 1e-9)
    if y is not None and _objective(m, y) >= best - 1e-9 * max(1.0, abs(best)) - 1e-9:
        x = y
    alloc = Allocation(**{n: int(v) for n, v in zip(MACHINE_TYPES, x)})
    revenue = alloc.revenue(prices, inventory)
    cost = alloc.cost(prices, inventory)
    switching = k.switching * float(np.abs(x - m.current).sum()) if m.moves else 0.0
    binding = _binding(m, x)
    message = (f"Optimal: profit {revenue - cost:,.2f} per period using {_w(alloc.power(inventory))} "
               f"of {_w(m.limit)}" + (f"; binding: {', '.join(binding)}" if binding else "") + ".")
    return Solution(True, alloc, alloc.power(inventory), revenue, cost, revenue - cost, switching,
                    binding, [], message)


def _objective(m: _Model, x: np.ndarray) -> float:
    value = float(x.astype(float) @ m.profit)
    if m.moves:
        value -= m.k.switching * float(np.abs(x - m.current).sum())
    return value


def explain(solution: Solution, prices: Prices, power_limit: float, constraints: Constraints | None = None,
            current: Allocation | None = None, inventory: Inventory = DEFAULT_INVENTORY,
            periods_per_day: float = 288) -> Explanation:
    """Numbers behind a solution, and a short rationale built only from them."""
    break_even: dict[str, dict] = {}
    for n in MACHINE_TYPES:
        s = inventory[n]
        unit = s.unit_profit(prices)
        out_price = prices.hash_price if s.is_miner else prices.token_price
        break_even[n] = {
            "unit_profit": unit,
            "profit_per_kw": unit / (s.power / 1000.0),
            "break_even_energy_price": s.output * out_price / s.power,
            ("break_even_hash_price" if s.is_miner else "break_even_token_price"):
                (s.power * prices.energy_price / s.output) if s.output > 0 else math.inf,
        }
    if not solution.feasible or solution.allocation is None:
        return Explanation([], math.nan, break_even, {}, solution.message, math.nan)
    more = solve(prices, power_limit + 1000.0, constraints, current, inventory)
    value = (more.net_profit - solution.net_profit) if more.feasible else 0.0
    # Machines come in 3.5-15 kW units, so one kW alone often adds nothing; the step of
    # one unit's power that adds most per kW says what more power is really worth.
    step_kw, step_value = 0.0, 0.0
    for extra in sorted({inventory[n].power for n in MACHINE_TYPES}):
        bigger = solve(prices, power_limit + extra, constraints, current, inventory)
        gain = (bigger.net_profit - solution.net_profit) if bigger.feasible else 0.0
        if gain > 1e-9 and (step_kw == 0 or gain / extra > step_value / (step_kw * 1000)):
            step_kw, step_value = extra / 1000, gain
    alloc = solution.allocation
    diff: dict = {}
    if current is not None:
        cur_profit = current.profit(prices, inventory)
        diff = {
            "units": {n: alloc[n] - current[n] for n in MACHINE_TYPES},
            "moved": alloc.moved(current),
            "power": alloc.power(inventory) - current.power(inventory),
            "current_profit": cur_profit,
            "profit_per_period": solution.profit - cur_profit,
            "profit_per_day": (solution.profit - cur_profit) * periods_per_day,
        }
    label = {n: LABELS[n] if LABELS[n][:3].isupper() else LABELS[n].lower() for n in MACHINE_TYPES}
    ranked = sorted(MACHINE_TYPES, key=lambda n: -break_even[n]["profit_per_kw"])
    top, low = ranked[0], ranked[-1]
    sentences = [
        f"{label[top]} earns {break_even[top]['profit_per_kw']:,.2f} per kW-period against "
        f"{break_even[low]['profit_per_kw']:,.2f} for {label[low]} at energy price {prices.energy_price:,.4f}."
    ]
    running = [n for n in MACHINE_TYPES if alloc[n] > 0]
    if running:
        sentences.append("The optimum runs " + ", ".join(f"{alloc[n]} {label[n]}" for n in running)
                         + f", using {_w(solution.power_used)} of {_w(power_limit)} for a profit of "
                           f"{solution.profit:,.2f} per period ({solution.profit * periods_per_day:,.0f} per day).")
    else:
        sentences.append("No machine type earns more than its power costs, so the optimum runs nothing.")
    if solution.binding:
        sentences.append("Binding: " + ", ".join(solution.binding) + ".")
    sentences.append(f"One more kW is worth {value:,.2f} per period ({value * periods_per_day:,.0f} per day).")
    if step_kw and value < step_value / step_kw - 1e-9:
        sentences.append(f"Power comes in whole machines: {step_kw:g} kW more would add {step_value:,.2f} per period "
                         f"({step_value / step_kw:,.2f} per kW).")
    if diff:
        sentences.append(f"Against the current allocation this moves {diff['moved']} units and changes profit by "
                         f"{diff['profit_per_period']:+,.2f} per period ({diff['profit_per_day']:+,.0f} per day).")
    return Explanation(list(solution.binding), value, break_even, diff, " ".join(sentences),
                       value * periods_per_day, step_kw, step_value)


def profit_curve(prices: Prices, power_limit: float, constraints: Constraints | None = None,
                 energy_prices: Sequence[float] | None = None,
                 inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """Optimal profit and allocation across energy prices (no current allocation assumed)."""
    if energy_prices is None:
        top = 2 * prices.energy_price
        if top <= 0:
            top = max([inventory[n].output * (prices.hash_price if inventory[n].is_miner else prices.token_price)
                       / inventory[n].power for n in MACHINE_TYPES] + [1.0]) * 1.2
        energy_prices = np.linspace(0.0, top, 60)
    rows = []
    previous = None
    for e in energy_prices:
        p = Prices(prices.timestamp, float(e), prices.hash_price, prices.token_price)
        s = solve(p, power_limit, constraints, None, inventory)
        counts = s.allocation.to_dict() if s.allocation is not None else {n: 0 for n in MACHINE_TYPES}
        key = tuple(counts.values()) if s.feasible else None
        rows.append({"energy_price": float(e), "profit": s.profit if s.feasible else math.nan, **counts,
                     "mix_change": previous is not None and key != previous})
        previous = key
    return pd.DataFrame(rows, columns=["energy_price", "profit", *MACHINE_TYPES, "mix_change"])


def running_ranges(curve: pd.DataFrame) -> dict[str, tuple[float, float] | None]:
    """For each type, the lowest and highest energy price on a profit curve at which the
    optimum runs it (None if never): the solver's own answer to "when is it worth running"
    under the power limit and constraints, to the curve's grid resolution."""
    out: dict[str, tuple[float, float] | None] = {}
    for name in MACHINE_TYPES:
        used = curve.loc[curve[name] > 0, "energy_price"]
        out[name] = (float(used.min()), float(used.max())) if len(used) else None
    return out
