"""Profitability intelligence over the stored MARA price history (vectorised pandas).

Input everywhere: the frame from ``Store.price_history()`` — a DatetimeIndex and the
columns energy_price, hash_price, token_price, in API units "per period". Outputs keep
those units: unit profit is per unit per period, profit per kW is per kW per period.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..models import DEFAULT_INVENTORY, MACHINE_TYPES, Inventory
from ..vocabulary import PRICE_COLUMNS


def _check(prices: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PRICE_COLUMNS if c not in prices.columns]
    if missing:
        raise ValueError(f"price history lacks column(s): {', '.join(missing)}")
    return prices[list(PRICE_COLUMNS)].astype(float)


def _specs(inventory: Inventory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hashrate = np.array([inventory[n].hashrate for n in MACHINE_TYPES], dtype=float)
    tokens = np.array([inventory[n].tokens for n in MACHINE_TYPES], dtype=float)
    power = np.array([inventory[n].power for n in MACHINE_TYPES], dtype=float)
    return hashrate, tokens, power


def unit_revenue(prices: pd.DataFrame, inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """Revenue of one unit of each type per interval (hashrate*hash_price + tokens*token_price)."""
    p = _check(prices)
    hashrate, tokens, _ = _specs(inventory)
    values = np.outer(p["hash_price"].to_numpy(), hashrate) + np.outer(p["token_price"].to_numpy(), tokens)
    return pd.DataFrame(values, index=p.index, columns=list(MACHINE_TYPES))


def unit_profit(prices: pd.DataFrame, inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """Profit of one unit of each type per interval: revenue - power * energy_price."""
    p = _check(prices)
    _, _, power = _specs(inventory)
    cost = np.outer(p["energy_price"].to_numpy(), power)
    return unit_revenue(p, inventory) - cost


def profit_per_kw(prices: pd.DataFrame, inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """Unit profit divided by unit power in kW: what one kW earns on each type.

    This is the right ranking under a power budget: a site limited by watts should
    put each kW where it earns most, not each unit.
    """
    _, _, power = _specs(inventory)
    return unit_profit(prices, inventory) / (power / 1000.0)


def hourly_profile(prices: pd.DataFrame, inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """Mean profit per kW of each type by hour of day (UTC): when in the day each type pays."""
    per_kw = profit_per_kw(prices, inventory)
    return per_kw.groupby(per_kw.index.hour).mean().rename_axis("hour (UTC)")


def best_type_timeline(prices: pd.DataFrame, inventory: Inventory = DEFAULT_INVENTORY) -> pd.Series:
    """The type with the highest profit per kW in each interval; "none" when no type is profitable."""
    per_kw = profit_per_kw(prices, inventory)
    if per_kw.empty:
        return pd.Series([], index=per_kw.index, dtype=object, name="best_type")
    values = per_kw.to_numpy()
    best = np.array(MACHINE_TYPES, dtype=object)[values.argmax(axis=1)]
    best[values.max(axis=1) <= 0] = "none"
    return pd.Series(best, index=per_kw.index, name="best_type")


def break_even_energy(prices: pd.DataFrame, inventory: Inventory = DEFAULT_INVENTORY) -> pd.DataFrame:
    """Energy price at which each type stops paying: unit revenue / unit power (per W per period)."""
    _, _, power = _specs(inventory)
    return unit_revenue(prices, inventory) / power


def share_worth_running(prices: pd.DataFrame, inventory: Inventory = DEFAULT_INVENTORY) -> pd.Series:
    """Share (0..1) of intervals in which one unit of each type makes a strictly positive profit."""
    profit = unit_profit(prices, inventory)
    if profit.empty:
        return pd.Series(np.nan, index=list(MACHINE_TYPES), name="share_worth_running")
    return (profit > 0).mean().rename("share_worth_running")


def ties(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Pairs of columns equal in every row: two types with the same profit per kW draw one line."""
    cols = list(frame.columns)
    values = frame.to_numpy(dtype=float)
    out = []
    for i, a in enumerate(cols):
        for j in range(i + 1, len(cols)):
            if len(values) and np.allclose(values[:, i], values[:, j], rtol=1e-9, atol=1e-12):
                out.append((a, cols[j]))
    return out


class Correlation(NamedTuple):
    """(matrix, message, points): empty matrix + a message saying why when too few points align."""

    matrix: pd.DataFrame
    message: str
    points: int


def correlations(prices: pd.DataFrame, btc: pd.DataFrame | None, rule: str = "1D", *,
                 changes: bool = False, min_points: int = 3) -> Correlation:
    """Pearson correlations of energy, hash, token prices and the BTC close on a common grid.

    Prices are averaged per ``rule`` bucket, BTC takes the last close in each bucket, and the
    two are inner-joined on the bucket index. ``changes=True`` correlates period-on-period
    relative changes instead of levels (levels of trending series correlate spuriously).
    """
    p = _check(prices)
    grid = p.resample(rule).mean()
    if btc is not None and not btc.empty and "Close" in btc.columns:
        close = btc["Close"].astype(float).resample(rule).last().rename("btc_close")
        grid = grid.join(close, how="inner")
    else:
        return Correlation(pd.DataFrame(), "No BTC data to correlate with.", 0)
    grid = grid.dropna()
    if changes:
        grid = grid.pct_change().replace([np.inf, -np.inf], np.nan).dropna()
    points = len(grid)
    if points < min_points:
        step = {"1D": "day", "1h": "hour", "1W": "week"}.get(rule, rule)
        return Correlation(pd.DataFrame(),
                           f"The site's prices and the bitcoin data have {points:,} {step}"
                           f"{'s' if points != 1 else ''} in common; a correlation needs at least {min_points}.",
                           points)
    matrix = grid.corr()
    what = "relative changes" if changes else "levels"
    return Correlation(matrix, f"Pearson correlation of {what} on {points} aligned {rule} points.", points)


def summary_stats(prices: pd.DataFrame) -> pd.DataFrame:
    """Per price: mean, std, min, max, first, last, change and relative change over the window."""
    p = _check(prices)
    if p.empty:
        return pd.DataFrame(index=PRICE_COLUMNS,
                            columns=["mean", "std", "min", "max", "first", "last", "change", "change_pct"],
                            dtype=float)
    out = pd.DataFrame({"mean": p.mean(), "std": p.std(ddof=1), "min": p.min(), "max": p.max(),
                        "first": p.iloc[0], "last": p.iloc[-1]})
    out["change"] = out["last"] - out["first"]
    first = out["first"].where(out["first"] != 0)
    out["change_pct"] = out["change"] / first
    return out
