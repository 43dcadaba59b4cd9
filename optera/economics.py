"""Revenue, cost and profit of an allocation over a price history (vectorised)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import DEFAULT_INVENTORY, MACHINE_TYPES, Allocation, Inventory, SiteStatus

if TYPE_CHECKING:
    import pandas as pd


def diff(current: Allocation | None, target: Allocation, inventory: Inventory = DEFAULT_INVENTORY) -> list[dict]:
    """Per-type change from current to target: units and power (W)."""
    current = current or Allocation()
    rows = []
    for name in MACHINE_TYPES:
        delta = target[name] - current[name]
        rows.append({"type": name, "current": current[name], "target": target[name], "change": delta,
                     "power_change": delta * inventory[name].power})
    return rows


def allocation_economics(prices: pd.DataFrame, allocation: Allocation,
                         inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """Per-period revenue, cost and profit the allocation earns at each price point."""
    import pandas as pd

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


def status_at(allocation: Allocation, prices, inventory: Inventory = DEFAULT_INVENTORY) -> SiteStatus:
    """What GET /machines reports for ``allocation`` at ``prices`` (the API's revenue model)."""
    power = {n: allocation[n] * inventory[n].power for n in MACHINE_TYPES}
    revenue = {n: allocation[n] * inventory[n].unit_revenue(prices) for n in MACHINE_TYPES}
    used = sum(power.values())
    return SiteStatus(allocation=allocation, power=power, revenue=revenue, total_power_used=used,
                      total_power_cost=used * prices.energy_price, total_revenue=sum(revenue.values()),
                      updated_at=prices.timestamp)


def status_breakdown(status) -> list[dict]:
    """Per-type rows of a GET /machines status, in the API's own numbers.

    The API reports cost only as a total; it is split by each type's share of the
    power used, so the rows add up exactly to the site's totals.
    """
    rows = []
    for name in MACHINE_TYPES:
        power = status.power[name]
        share = power / status.total_power_used if status.total_power_used else 0.0
        cost = status.total_power_cost * share
        rows.append({"type": name, "units": status.allocation[name], "power": power,
                     "revenue": status.revenue[name], "cost": cost, "profit": status.revenue[name] - cost})
    return rows


def recorded_economics(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Revenue, cost and profit per period as the site reported them at each sync."""
    import pandas as pd

    if snapshots.empty:
        return pd.DataFrame(columns=["revenue", "cost", "profit"])
    frame = pd.DataFrame({"revenue": snapshots["total_revenue"].to_numpy(),
                          "cost": snapshots["total_power_cost"].to_numpy()},
                         index=pd.DatetimeIndex(snapshots["fetched_at"], name="timestamp"))
    frame["profit"] = frame["revenue"] - frame["cost"]
    return frame
