"""One policy for the backtest and the autopilot: where to move the site, and when.

About 390 lines: the policy's settings, its guardrails and the one decision core
stay together so the backtest and the autopilot cannot drift apart.

:func:`decide` is the only decision function. The backtest
(:func:`optera.backtest.run_policy`, through :func:`replay`) calls it interval by
interval and the live autopilot calls it once per price interval, so a backtest of
a policy says what the autopilot would have done.

Where: the allocation ``solve()`` picks for the policy's constraints (caps, the
power limit less the headroom, at most ``max_moved`` units from the current
allocation): the most profitable, then the fewest units moved, then the least
power. The switching cost does not change the target; it decides whether to go.

When: a move is made when its gain per period at the current prices, less its
switching cost spread over ``payback`` periods (1: the move must pay for itself
within one period), is positive and at least ``min_gain``; never within
``min_hold`` intervals of the last deploy, nor beyond ``max_deploys_per_hour``
deploys in the hour before the price's timestamp. A current allocation that breaks
the policy (over the power available or a cap) is moved without the gain test, the
guardrails still holding.

Speed: the target comes from the per-interval candidate frontier (exact, shared
with the backtest); only at degenerate prices (ties between allocations of
different output, a zero energy price) or when ``max_moved`` cuts the move short
does it ask the MILP, so a year of 5-minute intervals replays in seconds.
Money is per period as the API gives it.

One module on purpose (a little over the usual length): the decision, the state it
carries and the replay share one core, and must not drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from .errors import ValidationError
from .models import DEFAULT_INVENTORY, Allocation, Inventory, Prices
from .numbers import check
from .optimize.constraints import Constraints
from .optimize.frontier import _candidates, _directions, _grid_step, _inventory_key, _nearest
from .optimize.milp import solve, tie_tolerance
from .units import Money, count
from .units import constraint as phrase
from .units import power as kw
from .vocabulary import LOWER, MACHINE_TYPES, POLICY_LABELS

DEPLOY, HOLD = "deploy", "hold"
HOUR = timedelta(hours=1)
_BIG = np.iinfo(np.int64).max // 4  # "no cap"
_CLEAR = 1000.0  # a winner must beat the runner-up by this many tie tolerances to skip the MILP
_ROWS = 8192  # price rows per matrix product
_ALREADY = "Holding: the current allocation is already the best at these prices."


@dataclass(frozen=True)
class Policy:
    """What the autopilot may do; every field is validated on creation.

    ``headroom_w`` is in watts (absolute, so a 50 kW margin for metering error stays
    50 kW whatever the site's limit); ``min_gain`` and ``switching_cost`` are money
    in the API's unit, per period and per unit moved.
    """

    switching_cost: float = 0.0
    payback: int = 1
    min_hold: int = 0
    min_gain: float = 0.0
    max_moved: int | None = None
    max_deploys_per_hour: int | None = None
    headroom_w: float = 0.0
    caps: Mapping[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self):
        for name, integer, optional, least in (
                ("switching_cost", False, False, 0), ("payback", True, False, 1), ("min_hold", True, False, 0),
                ("min_gain", False, False, 0), ("max_moved", True, True, 0), ("max_deploys_per_hour", True, True, 0),
                ("headroom_w", False, False, 0)):
            value = check(POLICY_LABELS[name], getattr(self, name), integer=integer, allow_none=optional,
                          minimum=least)
            object.__setattr__(self, name, value)
        caps = {}
        for name, value in dict(self.caps or {}).items():
            if name not in MACHINE_TYPES:
                raise ValidationError(f"Cap of {name}", value,
                                      f"unknown machine type; use one of {', '.join(MACHINE_TYPES)}")
            if value is not None:
                caps[name] = check(f"Cap of {LOWER[name]}", value, integer=True)
        object.__setattr__(self, "caps", caps)

    @property
    def amortised_switching_cost(self) -> float:
        """Switching cost per unit moved, spread over the payback periods (per period)."""
        return self.switching_cost / self.payback

    def power_available(self, power_limit: float) -> float:
        """The power limit less the headroom; ValidationError if the headroom takes it all."""
        limit = check("Power limit (W)", power_limit)
        if self.headroom_w > limit:
            raise ValidationError(POLICY_LABELS["headroom_w"], self.headroom_w,
                                  f"is more than the power limit of {kw(limit)}")
        return limit - self.headroom_w

    def describe(self, money: Money | None = None) -> list[str]:
        """Each rule that is set, in words."""
        money = money or Money()
        out = []
        if self.switching_cost:
            out.append(f"switching cost {money.amount(self.switching_cost)} per unit moved")
        if self.payback > 1:
            out.append(f"a move must pay back its switching cost within {count(self.payback)} intervals")
        if self.min_hold > 1:
            out.append(f"hold each allocation at least {count(self.min_hold)} intervals")
        if self.min_gain:
            out.append(f"act only on gains of at least {money.period(self.min_gain)}")
        if self.max_moved is not None:
            out.append(phrase("max_moved", self.max_moved) + " per deploy")
        if self.max_deploys_per_hour is not None:
            out.append(f"at most {count(self.max_deploys_per_hour)} deploys per hour")
        if self.headroom_w:
            out.append(f"keep {kw(self.headroom_w)} of power unused")
        out += [phrase("cap", v, n) for n, v in self.caps.items()]
        return out


@dataclass(frozen=True)
class PolicyState:
    """What the policy remembers between intervals; the autopilot stores it (to_dict)."""

    since_deploy: int | None = None  # intervals decided since the last deploy; None: none yet
    recent_deploys: tuple[datetime, ...] = ()  # price timestamps of deploys in the last hour

    def after(self, decision: "Decision", carried_out: bool = True) -> "PolicyState":
        """The state for the next interval; a deploy counts only when it was carried out."""
        if decision.action == DEPLOY and carried_out:
            cutoff = decision.timestamp - HOUR
            return PolicyState(1, tuple(t for t in self.recent_deploys if t > cutoff) + (decision.timestamp,))
        return PolicyState(None if self.since_deploy is None else self.since_deploy + 1, self.recent_deploys)

    def deploys_in_hour(self, now: datetime) -> int:
        return sum(1 for t in self.recent_deploys if now - HOUR < t <= now)

    def to_dict(self) -> dict[str, Any]:
        return {"since_deploy": self.since_deploy, "recent_deploys": [t.isoformat() for t in self.recent_deploys]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PolicyState":
        since = data.get("since_deploy")
        return cls(None if since is None else check("since_deploy", since, integer=True),
                   tuple(datetime.fromisoformat(t) for t in data.get("recent_deploys", ())))


@dataclass(frozen=True)
class Decision:
    """One interval's decision; ``to_dict`` is the autopilot's JSON."""

    timestamp: datetime
    action: str  # "deploy" | "hold"
    target: Allocation  # the allocation to run (the current one on hold)
    current: Allocation
    expected_gain_per_period: float  # net of the spread switching cost; 0 on hold
    reason: str
    moved: int = 0
    switching_cost: float = 0.0  # paid once for this move (policy.switching_cost x moved)

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.action, "target": self.target.to_dict(), "current": self.current.to_dict(),
                "expected_gain_per_period": self.expected_gain_per_period, "reason": self.reason}


# ---------------------------------------------------------------- what the prices say

@dataclass(frozen=True)
class _Context:
    """Everything about (power available, caps, inventory) that does not depend on prices."""

    cand: Any
    profits: np.ndarray  # (3, C): [h, t, e] @ profits = each candidate's profit
    unit: np.ndarray  # (3, 5): [h, t, e] @ unit = each machine type's profit per unit
    power: np.ndarray  # (5,) watts per unit
    upper: np.ndarray
    steps: tuple[float, float, float]  # smallest power, hashrate and token differences
    directions: tuple | None  # equal-composition directions (frontier._directions)


def _context_for(policy: Policy, limit: float, inventory: Inventory) -> _Context:
    return _context(float(limit), tuple(policy.caps.get(n) for n in MACHINE_TYPES), _inventory_key(inventory))


@lru_cache(maxsize=32)
def _context(limit: float, caps: tuple, inv_key: tuple) -> _Context:
    """Cached per (power available, caps, inventory numbers); thread-safe like the candidates' own cache."""
    cand = _candidates(limit, caps, inv_key)
    spec = np.array([[p, h, t] for _, p, h, t in inv_key], dtype=float)
    steps = tuple(float(_grid_step([v for v in spec[:, j] if v > 0] or [1.0])) for j in range(3))
    upper = np.array([_BIG if c is None else c for c in caps], dtype=np.int64)
    unit = np.vstack([spec[:, 1], spec[:, 2], -spec[:, 0]])
    return _Context(cand, cand.matrix, unit, spec[:, 0], upper, steps, _directions(inv_key))


@dataclass(frozen=True)
class _Quotes:
    """What the prices of some intervals say, computed in one vectorised pass.

    The live autopilot builds it for one interval, the replay for all of them, and
    both hand row i to the same decision core.
    """

    winner: np.ndarray  # (n,) index of the tie-break winner among the candidates
    best: np.ndarray  # (n,) its profit
    clear: np.ndarray  # (n,) bool: the optimum's hashrate, tokens and power are unique
    unit: np.ndarray  # (n, 5) profit per unit of each machine type

    @classmethod
    def of(cls, ctx: _Context, x: np.ndarray) -> "_Quotes":
        """Rows of x are [hash, token, energy] prices.

        A clear winner beats every other candidate by a margin, the energy price is
        positive (else allocations that waste power tie), and each output price is
        zero or worth more than the margin per smallest output step. Elsewhere the
        optimum may have several shapes and the MILP settles it.
        """
        winner, best = ctx.cand.best(x)
        margin = _CLEAR * tie_tolerance(best)
        near = np.concatenate([((x[s:s + _ROWS] @ ctx.profits) >= (best[s:s + _ROWS] - margin[s:s + _ROWS])[:, None])
                               .sum(axis=1) for s in range(0, len(x), _ROWS)])
        step_value = x * np.array([ctx.steps[1], ctx.steps[2], ctx.steps[0]])
        clear = ((near == 1) & (step_value[:, 2] > margin)
                 & ((x[:, 0] == 0) | (step_value[:, 0] > margin)) & ((x[:, 1] == 0) | (step_value[:, 1] > margin)))
        return cls(winner, best, clear, x @ ctx.unit)


# ---------------------------------------------------------------- deciding

def _n(k: int, noun: str) -> str:
    return f"{k:,} {noun}" + ("" if k == 1 else "s")


def _changes(target: np.ndarray, current: np.ndarray) -> str:
    parts = [f"{'+' if d > 0 else '-'}{abs(int(d)):,} {LOWER[n]}" for n, d in zip(MACHINE_TYPES, target - current) if d]
    return ", ".join(parts)


def _violation(cur: np.ndarray, ctx: _Context, limit: float, policy: Policy) -> str | None:
    used = float(cur @ ctx.power)
    if used > limit + 1e-9 * max(1.0, limit):
        less = f" (the limit less {kw(policy.headroom_w)} headroom)" if policy.headroom_w else ""
        return f"uses {kw(used)}, over the {kw(limit)} available{less}"
    over = np.nonzero(cur > ctx.upper)[0]
    if len(over):
        j = int(over[0])
        return f"runs {cur[j]:,} {LOWER[MACHINE_TYPES[j]]}, over the cap of {ctx.upper[j]:,}"
    return None


def decide(policy: Policy, prices: Prices, current: Allocation, state: PolicyState | None, power_limit: float,
           inventory: Inventory = DEFAULT_INVENTORY, *, money: Money | None = None) -> Decision:
    """The policy's decision for one price interval: deploy a target allocation or hold.

    Pure: the same inputs give the same decision, in the backtest and live. ``state``
    is None before the first decision; the caller carries it forward with
    ``state.after(decision)``. ``power_limit`` is the site's, in watts (the policy
    keeps its headroom below it).
    """
    limit = policy.power_available(power_limit)
    ctx = _context_for(policy, limit, inventory)
    quotes = _Quotes.of(ctx, np.array([[prices.hash_price, prices.token_price, prices.energy_price]], dtype=float))
    cur = np.array(current.as_list(), dtype=np.int64)
    return _decide(policy, ctx, quotes, 0, prices, current, cur, _violation(cur, ctx, limit, policy),
                   state or PolicyState(), limit, inventory, money or Money())


def _decide(policy: Policy, ctx: _Context, quotes: _Quotes, i: int, prices: Prices, current: Allocation,  # noqa: C901 - the guardrails in the order the README lists them, each a reason to hold
            cur: np.ndarray, problem: str | None, state: PolicyState, limit: float, inventory: Inventory,
            money: Money) -> Decision:
    """The decision core shared by decide() and replay(); row i of quotes is this interval.

    ``problem`` is how the current allocation breaks the policy (_violation), or None.
    """
    ts = prices.timestamp

    def hold(reason: str) -> Decision:
        return Decision(ts, HOLD, current, current, 0.0, reason)

    if state.since_deploy is not None and state.since_deploy < policy.min_hold:
        return hold(f"Holding: the last deploy was {_n(state.since_deploy, 'interval')} ago; this policy holds "
                    f"each allocation at least {_n(policy.min_hold, 'interval')}.")
    if policy.max_deploys_per_hour is not None and state.deploys_in_hour(ts) >= policy.max_deploys_per_hour:
        return hold(f"Holding: {_n(state.deploys_in_hour(ts), 'deploy')} in the last hour already, the most this "
                    "policy allows.")

    best = float(quotes.best[i])
    unit = quotes.unit[i]
    cur_profit = float(cur @ unit)
    if problem is None and cur_profit >= best - tie_tolerance(best):
        return hold(_ALREADY)
    s_eff = policy.amortised_switching_cost

    def enough(net: float) -> bool:
        return net >= policy.min_gain and net > tie_tolerance(cur_profit)

    if problem is None and not enough(best - cur_profit - s_eff):  # even a one-unit move to the best is not worth it
        if policy.min_gain > 0:
            return hold(f"Holding: no move can gain more than {money.period(best - cur_profit - s_eff)} after "
                        f"switching costs, below the minimum of {money.period(policy.min_gain)}.")
        return hold("Holding: no move would pay for its switching cost at these prices.")
    target = None
    if quotes.clear[i]:
        target = _nearest(ctx.cand.counts[quotes.winner[i]], cur, ctx.upper, ctx.directions)
        if target is not None and policy.max_moved is not None and np.abs(target - cur).sum() > policy.max_moved:
            target = None
    if target is None:
        sol = solve(prices, limit, Constraints(caps=dict(policy.caps), max_moved=policy.max_moved), current,
                    inventory)
        if not sol.feasible:
            return hold(f"Holding: the current allocation {problem}, and {'; '.join(sol.conflicts)}."
                        if problem else f"Holding: {sol.message}")
        target = np.array(sol.allocation.as_list(), dtype=np.int64)

    moved = int(np.abs(target - cur).sum())
    if moved == 0:
        return hold(_ALREADY)
    gross = float(target @ unit) - cur_profit
    net = gross - s_eff * moved
    spread = ""
    if s_eff:
        spread = f", less {money.amount(s_eff * moved)} of switching cost"
        if policy.payback > 1:
            spread += f" (spread over {policy.payback} intervals)"
    what = f"moving {_n(moved, 'unit')} ({_changes(target, cur)})"
    if problem is None and not enough(net):
        short = (f"below the minimum of {money.period(policy.min_gain)}" if policy.min_gain > 0
                 else "which does not pay")
        return hold(f"Holding: {what} would {'gain' if gross >= 0 else 'lose'} {money.period(abs(gross))}{spread}: "
                    f"{money.period(net, signed=True)}, {short}.")
    why = (f"The current allocation {problem}; " if problem else "") + what[0].upper() + what[1:]
    alloc = Allocation(**{n: int(v) for n, v in zip(MACHINE_TYPES, target)})
    return Decision(ts, DEPLOY, alloc, current, net,
                    f"{why} gains {money.period(gross)} at these prices{spread}: {money.period(net, signed=True)}.",
                    moved, policy.switching_cost * moved)


# ---------------------------------------------------------------- replaying

@dataclass
class Replay:
    """A policy replayed over a price history: per interval, what ran and what was decided."""

    counts: np.ndarray  # (n, 5) the allocation running in each interval (after that interval's decision)
    switching_paid: np.ndarray  # (n,) switching cost paid in each interval
    actions: list[str]
    gains: np.ndarray  # (n,) expected gain per period of each decision
    reasons: list[str]


def replay(policy: Policy, x: np.ndarray, stamps: list[datetime], power_limit: float, start: Allocation,
           inventory: Inventory = DEFAULT_INVENTORY, money: Money | None = None) -> Replay:
    """decide() interval by interval over validated prices (rows [hash, token, energy]).

    Every deploy is taken as carried out; the allocation it sets runs from its own
    interval on, as the live autopilot deploys as soon as a price arrives.
    """
    money = money or Money()
    limit = policy.power_available(power_limit)
    ctx = _context_for(policy, limit, inventory)
    quotes = _Quotes.of(ctx, np.ascontiguousarray(x, dtype=float))
    n = len(x)
    counts = np.empty((n, len(MACHINE_TYPES)), dtype=np.int64)
    paid, gains = np.zeros(n), np.zeros(n)
    actions: list[str] = []
    reasons: list[str] = []
    current, cur, state = start, np.array(start.as_list(), dtype=np.int64), PolicyState()
    problem = _violation(cur, ctx, limit, policy)
    for i, (h, t, e) in enumerate(x.tolist()):
        d = _decide(policy, ctx, quotes, i, Prices(stamps[i], e, h, t), current, cur, problem, state, limit,
                    inventory, money)
        state = state.after(d)
        if d.action == DEPLOY:
            current, cur = d.target, np.array(d.target.as_list(), dtype=np.int64)
            problem = _violation(cur, ctx, limit, policy)
            paid[i], gains[i] = d.switching_cost, d.expected_gain_per_period
        counts[i] = cur
        actions.append(d.action)
        reasons.append(d.reason)
    return Replay(counts, paid, actions, gains, reasons)
