"""Why an optimum is what it is, from the solver's own numbers.

Binding constraints, the value of one more kW and of the next whole machine's
worth of power, break-even prices per type, the difference to the current
allocation, and the profit curve across energy prices with the range over which
the optimum runs each type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..models import DEFAULT_INVENTORY, Allocation, Inventory, Prices
from ..units import Money, machines, price
from ..units import power as kw
from ..vocabulary import LOWER, MACHINE_TYPES
from .constraints import Constraints
from .milp import Solution, solve

if TYPE_CHECKING:
    import pandas as pd


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


def explain(solution: Solution, prices: Prices, power_limit: float, constraints: Constraints | None = None,
            current: Allocation | None = None, inventory: Inventory = DEFAULT_INVENTORY,
            money: Money | None = None) -> Explanation:
    """Numbers behind a solution, and a short rationale built only from them."""
    money = money or Money()
    periods_per_day = money.periods_per_day
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
    ranked = sorted(MACHINE_TYPES, key=lambda n: -break_even[n]["profit_per_kw"])
    top, low = ranked[0], ranked[-1]
    per_kw = {n: break_even[n]["profit_per_kw"] for n in MACHINE_TYPES}
    tied = [n for n in ranked[1:] if math.isclose(per_kw[n], per_kw[top], rel_tol=1e-9, abs_tol=1e-9)]
    leader = " and ".join(LOWER[n] for n in [top, *tied]) + (" tie: each" if tied else "")
    sentences = [
        f"{leader[0].upper() + leader[1:]} earns {money.rate(per_kw[top])} against "
        f"{money.rate(per_kw[low])} for {LOWER[low]} at an energy price of {price(prices.energy_price)}."
    ]
    running = [n for n in MACHINE_TYPES if alloc[n] > 0]
    if running:
        sentences.append(f"The optimum runs {machines(alloc)}, using {kw(solution.power_used)} of "
                         f"{kw(power_limit)} for a profit of {money.period(solution.profit)} "
                         f"({money.day(solution.profit)}).")
    else:
        sentences.append("No machine type earns more than its power costs, so the optimum runs nothing.")
    if solution.binding:
        sentences.append("Binding: " + "; ".join(solution.binding) + ".")
    sentences.append(f"One more kW is worth {money.period(value)} ({money.day(value)}).")
    if step_kw and value < step_value / step_kw - 1e-9:
        sentences.append(f"Power comes in whole machines: {kw(step_kw * 1000)} more would add "
                         f"{money.period(step_value)} ({money.rate(step_value / step_kw)}).")
    if diff and diff["moved"] == 0:
        sentences.append("It is what the site runs now.")
    elif diff:
        sentences.append(f"Against the current allocation this moves {diff['moved']:,} units and changes profit by "
                         f"{money.period(diff['profit_per_period'], signed=True)} "
                         f"({money.day(diff['profit_per_period'], signed=True)}).")
    return Explanation(list(solution.binding), value, break_even, diff, " ".join(sentences),
                       value * periods_per_day, step_kw, step_value)


def profit_curve(prices: Prices, power_limit: float, constraints: Constraints | None = None,
                 energy_prices: Sequence[float] | None = None,
                 inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """Optimal profit and allocation across energy prices (no current allocation assumed)."""
    import pandas as pd  # here, not at the top: `optera optimize` solves without pandas

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
