"""A site with a history for the chat tests: status reads at known times, a deploy, and the
profit arithmetic written out by hand (the published inventory), independent of the library."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable, Iterable

from optera.models import Allocation, Prices, SiteStatus
from optera.store import Store
from optera.vocabulary import MACHINE_TYPES

FIVE = timedelta(minutes=5)
SPEC = {  # power W, hashrate, tokens: the published inventory, written out by hand
    "air_miners": (3500, 1000, 0), "hydro_miners": (5000, 5000, 0), "immersion_miners": (10000, 10000, 0),
    "gpu_compute": (5000, 0, 1000), "asic_compute": (15000, 0, 50000)}


def hand_profit(counts: dict, p: Prices) -> float:
    return sum(counts.get(n, 0) * (h * p.hash_price + t * p.token_price - w * p.energy_price)
               for n, (w, h, t) in SPEC.items())


def hand_power(counts: dict) -> float:
    return sum(counts.get(n, 0) * SPEC[n][0] for n in SPEC)


def status(counts: dict) -> SiteStatus:
    zero = {n: 0.0 for n in MACHINE_TYPES}
    return SiteStatus(Allocation.from_counts(counts), zero, zero, 0.0, 0.0, 0.0)


def read_every(store: Store, start: datetime, end: datetime, counts: dict, step=timedelta(minutes=15)) -> None:
    """Status reads of ``counts`` from ``start`` up to ``end``, as the sync would have stored them."""
    t = start
    while t < end:
        store.add_snapshot(status(counts), fetched_at=t)
        t += step


def deploy(store: Store, at: datetime, before: dict, after: dict) -> None:
    """A deploy the site accepted and read back, with the read-back stored as a status read."""
    store.record_deployment(action="deploy", requested=Allocation.from_counts(after),
                            previous=Allocation.from_counts(before), result="ok", message="",
                            readback=Allocation.from_counts(after), source="chat", at=at)
    store.add_snapshot(status(after), fetched_at=at)


def prices_in(store: Store, start: datetime, end: datetime) -> list[Prices]:
    """Stored prices with start <= timestamp < end."""
    frame = store.price_history(start, end)
    return [Prices(ts.to_pydatetime(), r.energy_price, r.hash_price, r.token_price)
            for ts, r in frame.iterrows() if ts.to_pydatetime() < end]


def realized(points: Iterable[Prices], running: Callable[[datetime], dict]) -> float:
    """Realized profit: each interval accrues one period of what ran at its start."""
    return sum(hand_profit(running(p.timestamp), p) for p in points)
