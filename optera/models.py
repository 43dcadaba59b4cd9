"""Typed, validated domain objects.

Every payload that crosses the API boundary is checked here, so the rest of the
library can trust its inputs. A bad payload raises one error type,
:class:`ValidationError`, naming the field and the offending value.

Bounds (all through :func:`optera.numbers.check`, the one validator): prices,
outputs, powers and money are finite, not negative and at most ``MAX_VALUE``;
machine counts are whole numbers up to ``MAX_COUNT``; a machine or a site draws
at least ``MIN_POWER`` (1 W). Price points dated more than ``FUTURE_TOLERANCE``
ahead of now are dropped (and said so), never kept: one would stay "latest" for
ever. Site names are outside text: redacted and cut to ``MAX_NAME`` characters.
Every payload type and its bounds stay in this one module (about 390 lines), so the
boundary is read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from collections.abc import Mapping
from typing import Any

from .errors import ValidationError
from .numbers import MAX_COUNT, MAX_VALUE, check
from .redaction import safe
from .vocabulary import INFERENCE_TYPES, LABELS, MACHINE_TYPES, MINER_TYPES

__all__ = ["ValidationError", "MACHINE_TYPES", "MINER_TYPES", "INFERENCE_TYPES", "LABELS", "Prices",
           "MachineSpec", "Inventory", "Allocation", "SiteStatus", "Site", "DEFAULT_INVENTORY", "PriceList",
           "MIN_POWER", "MAX_NAME", "FUTURE_TOLERANCE", "parse_timestamp", "format_timestamp", "parse_price_list"]

_MISSING = object()
MIN_POWER = 1.0  # W: the least a machine or a site can draw; a 1e-300 W spec would ask for ~1e18 machines
MAX_NAME = 100  # characters of a site name kept (the simulator accepts up to 100)
FUTURE_TOLERANCE = timedelta(minutes=10)  # clock skew allowed for a price point's timestamp (two price steps)


def _object(data: Any, what: str) -> Mapping:
    """``data`` if it is a JSON object, else a ValidationError naming ``what``."""
    if not isinstance(data, Mapping):
        raise ValidationError(what, data, "expected a JSON object")
    return data


def _field(data: Any, name: str, *, prefix: str = "", default: Any = _MISSING, **bounds) -> Any:
    """``data[name]`` through :func:`optera.numbers.check`, named ``prefix + name`` in errors."""
    _object(data, prefix.rstrip(".") or "payload")
    value = data.get(name)
    if type(value) is float and not bounds and 0.0 <= value <= MAX_VALUE:
        return value  # hot path (a year of prices is 300,000 of these): what check() would return
    label = f"{prefix}{name}"
    if name not in data or (default is not _MISSING and value is None):
        if default is _MISSING:
            raise ValidationError(label, None, "missing field")
        return default
    return check(label, value, **bounds)


def _count(name: str, value: Any) -> int:
    """A machine count: a whole number from 0 to MAX_COUNT (plain ints skip pydantic: hot path)."""
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    return check(name, value, integer=True)


def parse_timestamp(value: Any, field_name: str = "timestamp") -> datetime:
    """Parse an ISO-8601 timestamp to a naive UTC datetime (the API's own form)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(field_name, value, "not an ISO-8601 timestamp") from None
    else:
        raise ValidationError(field_name, value, "not an ISO-8601 timestamp")
    if dt.tzinfo is not None:
        try:
            dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31T23:59:59-01:00 is past datetime's last day in UTC
            raise ValidationError(field_name, value, "is out of the range of dates") from None
    return dt


def format_timestamp(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Prices:
    """One price point: energy cost per W, revenue per unit hashrate and per token."""

    timestamp: datetime
    energy_price: float
    hash_price: float
    token_price: float

    @classmethod
    def from_api(cls, data: Any) -> "Prices":
        _object(data, "price")
        return cls(
            timestamp=parse_timestamp(data.get("timestamp"), "timestamp"),
            energy_price=_field(data, "energy_price"),
            hash_price=_field(data, "hash_price"),
            token_price=_field(data, "token_price"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": format_timestamp(self.timestamp),
            "energy_price": self.energy_price,
            "hash_price": self.hash_price,
            "token_price": self.token_price,
        }

    def with_overrides(self, energy: float | None = None, hash_: float | None = None,
                       token: float | None = None) -> "Prices":
        """A what-if copy; overrides are validated like API values."""
        data = self.to_dict()
        for name, value in (("energy_price", energy), ("hash_price", hash_), ("token_price", token)):
            if value is not None:
                data[name] = value
        return Prices.from_api(data)


class PriceList(list):
    """Validated price points, oldest first; ``dropped`` holds the future-dated points left out."""

    def __init__(self, points=(), dropped=()):
        super().__init__(points)
        self.dropped: list[Prices] = list(dropped)

    @property
    def note(self) -> str | None:
        """One line for the sync log when points were dropped, else None."""
        if not self.dropped:
            return None
        n = len(self.dropped)
        return (f"dropped {n} price point{'s' if n != 1 else ''} dated in the future "
                f"(latest {format_timestamp(max(p.timestamp for p in self.dropped))}, more than "
                f"{FUTURE_TOLERANCE.total_seconds() / 60:g} min ahead of now)")


def parse_price_list(payload: Any, *, now: datetime | None = None,
                     tolerance: timedelta = FUTURE_TOLERANCE) -> PriceList:
    """Validate a GET /prices payload; sorted oldest first, duplicates dropped.

    With ``now``, points dated after ``now + tolerance`` are dropped rather than failing the
    whole list (one bad point should not stop a sync), and listed in ``dropped``.
    """
    if not isinstance(payload, list):
        raise ValidationError("prices", payload, "expected a list of price points")
    points: dict[datetime, Prices] = {}
    for i, item in enumerate(payload):
        try:
            p = Prices.from_api(item)
        except ValidationError as e:
            raise ValidationError(f"prices[{i}].{e.field}", e.value, e.reason) from None
        points[p.timestamp] = p
    limit = None if now is None else now + tolerance
    kept = [points[t] for t in sorted(points) if limit is None or t <= limit]
    return PriceList(kept, [p for t, p in sorted(points.items()) if limit is not None and t > limit])


@dataclass(frozen=True)
class MachineSpec:
    """Per-unit spec of one machine type; output is hashrate (miners) or tokens."""

    name: str
    category: str  # "miners" | "inference"
    kind: str  # "air" | "hydro" | ...
    power: float
    hashrate: float = 0.0
    tokens: float = 0.0

    @property
    def is_miner(self) -> bool:
        return self.category == "miners"

    @property
    def output(self) -> float:
        return self.hashrate if self.is_miner else self.tokens

    def unit_revenue(self, prices: Prices) -> float:
        return self.hashrate * prices.hash_price + self.tokens * prices.token_price

    def unit_profit(self, prices: Prices) -> float:
        return self.unit_revenue(prices) - self.power * prices.energy_price


_FIELD_OF = {
    ("miners", "air"): "air_miners",
    ("miners", "hydro"): "hydro_miners",
    ("miners", "immersion"): "immersion_miners",
    ("inference", "gpu"): "gpu_compute",
    ("inference", "asic"): "asic_compute",
}


@dataclass(frozen=True)
class Inventory:
    specs: dict[str, MachineSpec]

    def __getitem__(self, name: str) -> MachineSpec:
        return self.specs[name]

    def __iter__(self):
        return iter(MACHINE_TYPES)

    @classmethod
    def from_api(cls, payload: Any) -> "Inventory":
        """Parse GET /inventory: {"miners": {"air": {...}}, "inference": {"gpu": {...}}}."""
        if not isinstance(payload, Mapping):
            raise ValidationError("inventory", payload, "expected a JSON object")
        specs: dict[str, MachineSpec] = {}
        for (category, kind), name in _FIELD_OF.items():
            group = payload.get(category)
            if not isinstance(group, Mapping):
                raise ValidationError(f"inventory.{category}", group, "missing or not an object")
            item = group.get(kind)
            prefix = f"inventory.{category}.{kind}."
            if not isinstance(item, Mapping):
                raise ValidationError(prefix.rstrip("."), item, "missing or not an object")
            power = _field(item, "power", prefix=prefix, minimum=MIN_POWER)
            if category == "miners":
                spec = MachineSpec(name, category, kind, power, hashrate=_field(item, "hashrate", prefix=prefix))
            else:
                spec = MachineSpec(name, category, kind, power, tokens=_field(item, "tokens", prefix=prefix))
            specs[name] = spec
        return cls(specs)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"miners": {}, "inference": {}}
        for spec in self.specs.values():
            entry: dict[str, float] = {"power": spec.power}
            if spec.is_miner:
                entry["hashrate"] = spec.hashrate
            else:
                entry["tokens"] = spec.tokens
            out[spec.category][spec.kind] = entry
        return out


DEFAULT_INVENTORY = Inventory.from_api(
    {
        "miners": {
            "air": {"hashrate": 1000, "power": 3500},
            "hydro": {"hashrate": 5000, "power": 5000},
            "immersion": {"hashrate": 10000, "power": 10000},
        },
        "inference": {
            "gpu": {"tokens": 1000, "power": 5000},
            "asic": {"tokens": 50000, "power": 15000},
        },
    }
)


@dataclass(frozen=True)
class Allocation:
    """Unit counts of the five machine types (non-negative integers)."""

    air_miners: int = 0
    hydro_miners: int = 0
    immersion_miners: int = 0
    gpu_compute: int = 0
    asic_compute: int = 0

    def __post_init__(self):
        for name in MACHINE_TYPES:
            object.__setattr__(self, name, _count(name, getattr(self, name)))

    @classmethod
    def from_api(cls, data: Any, *, prefix: str = "") -> "Allocation":
        """Parse counts; a field left out counts as 0, as in the API."""
        _object(data, prefix.rstrip(".") or "allocation")
        return cls(**{n: _field(data, n, prefix=prefix, default=0, integer=True) for n in MACHINE_TYPES})

    @classmethod
    def from_counts(cls, counts: Mapping[str, Any]) -> "Allocation":
        unknown = set(counts) - set(MACHINE_TYPES)
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(name, counts[name], f"unknown machine type; use one of {', '.join(MACHINE_TYPES)}")
        return cls.from_api(dict(counts))

    def to_dict(self) -> dict[str, int]:
        return {n: getattr(self, n) for n in MACHINE_TYPES}

    def __getitem__(self, name: str) -> int:
        return getattr(self, name)

    def as_list(self) -> list[int]:
        return [getattr(self, n) for n in MACHINE_TYPES]

    def power(self, inventory: Inventory = DEFAULT_INVENTORY) -> float:
        return sum(self[n] * inventory[n].power for n in MACHINE_TYPES)

    def hashrate(self, inventory: Inventory = DEFAULT_INVENTORY) -> float:
        return sum(self[n] * inventory[n].hashrate for n in MACHINE_TYPES)

    def tokens(self, inventory: Inventory = DEFAULT_INVENTORY) -> float:
        return sum(self[n] * inventory[n].tokens for n in MACHINE_TYPES)

    def revenue(self, prices: Prices, inventory: Inventory = DEFAULT_INVENTORY) -> float:
        return sum(self[n] * inventory[n].unit_revenue(prices) for n in MACHINE_TYPES)

    def cost(self, prices: Prices, inventory: Inventory = DEFAULT_INVENTORY) -> float:
        return self.power(inventory) * prices.energy_price

    def profit(self, prices: Prices, inventory: Inventory = DEFAULT_INVENTORY) -> float:
        return self.revenue(prices, inventory) - self.cost(prices, inventory)

    def moved(self, other: "Allocation") -> int:
        """Units that change between two allocations (sum of absolute differences)."""
        return sum(abs(self[n] - other[n]) for n in MACHINE_TYPES)

    @property
    def total_units(self) -> int:
        return sum(self.as_list())


@dataclass(frozen=True)
class SiteStatus:
    """GET /machines: the allocation with its power and revenue breakdown."""

    allocation: Allocation
    power: dict[str, float]
    revenue: dict[str, float]
    total_power_used: float
    total_power_cost: float
    total_revenue: float
    updated_at: datetime | None = None

    @property
    def profit(self) -> float:
        return self.total_revenue - self.total_power_cost

    @classmethod
    def from_api(cls, data: Any) -> "SiteStatus":
        _object(data, "machines")
        allocation = Allocation.from_api(data)
        power_block = data.get("power")
        revenue_block = data.get("revenue")
        if not isinstance(power_block, Mapping):
            raise ValidationError("power", power_block, "missing or not an object")
        if not isinstance(revenue_block, Mapping):
            raise ValidationError("revenue", revenue_block, "missing or not an object")
        power = {n: _field(power_block, n, prefix="power.", default=0.0) for n in MACHINE_TYPES}
        revenue = {n: _field(revenue_block, n, prefix="revenue.", default=0.0) for n in MACHINE_TYPES}
        updated = data.get("updated_at")
        return cls(
            allocation=allocation,
            power=power,
            revenue=revenue,
            total_power_used=_field(data, "total_power_used"),
            total_power_cost=_field(data, "total_power_cost"),
            total_revenue=_field(data, "total_revenue"),
            updated_at=parse_timestamp(updated, "updated_at") if updated else None,
        )

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.allocation.to_dict())
        out.update(
            power=dict(self.power),
            revenue=dict(self.revenue),
            total_power_used=self.total_power_used,
            total_power_cost=self.total_power_cost,
            total_revenue=self.total_revenue,
            updated_at=format_timestamp(self.updated_at) if self.updated_at else None,
        )
        return out


@dataclass(frozen=True)
class Site:
    """GET /sites: the site's name (outside text, redacted and cut) and power limit in W.

    Other fields the server sends (id, created_at, …) are not kept: nothing reads them,
    and outside data that is not kept needs no cleaning.
    """

    name: str
    power: float

    @classmethod
    def from_api(cls, data: Any) -> "Site":
        _object(data, "site")
        raw = data.get("name")
        name = safe(raw, MAX_NAME) if isinstance(raw, str) else ""
        if not name:
            raise ValidationError("name", raw, "expected a site name")
        power = _field(data, "power", minimum=MIN_POWER)
        return cls(name=name, power=power)
