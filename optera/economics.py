"""Revenue, cost and profit of an allocation over a price history (vectorised)."""

from __future__ import annotations

import pandas as pd

from .models import DEFAULT_INVENTORY, MACHINE_TYPES, Allocation, Inventory


def allocation_economics(prices: pd.DataFrame, allocation: Allocation,
                         inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """Per-period revenue, cost and profit the allocation earns at each price point."""
    hashrate = allocation.hashrate(inventory)
    tokens = allocation.tokens(inventory)
    power = allocation.power(inventory)
    revenue = hashrate * prices["hash_price"] + tokens * prices["token_price"]
    cost = power * prices["energy_price"]
    return pd.DataFrame({"revenue": revenue, "cost": cost, "profit": revenue - cost}, index=prices.index)


def breakdown(allocation: Allocation, prices, inventory: Inventory = DEFAULT_INVENTORY) -> list[dict]:
    """Units, power, revenue, cost and profit per machine type at one price point."""
    rows = []
    for name in MACHINE_TYPES:
        spec = inventory[name]
        units = allocation[name]
        revenue = units * spec.unit_revenue(prices)
        cost = units * spec.power * prices.energy_price
        rows.append({"type": name, "units": units, "power": units * spec.power, "revenue": revenue,
                     "cost": cost, "profit": revenue - cost})
    return rows
