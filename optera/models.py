"""Typed, validated domain objects.

Every payload that crosses the API boundary is checked here, so the rest of the
library can trust its inputs. A bad payload raises one error type,
:class:`ValidationError`, naming the field and the offending value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from .errors import ValidationError
from .vocabulary import INFERENCE_TYPES, LABELS, MACHINE_TYPES, MINER_TYPES

__all__ = ["ValidationError", "MACHINE_TYPES", "MINER_TYPES", "INFERENCE_TYPES", "LABELS", "Prices",
           "MachineSpec", "Inventory", "Allocation", "SiteStatus", "Site", "DEFAULT_INVENTORY",
           "parse_timestamp", "format_timestamp", "parse_price_list"]

def _number(data: Mapping[str, Any], name: str, *, allow_zero: bool = True, prefix: str = "") -> float:
    label = f"{prefix}{name}"
    if not isinstance(data, Mapping):
        raise ValidationError(prefix.rstrip(".") or "payload", data, "expected a JSON object")
    if name not in data:
        raise ValidationError(label, None, "missing field")
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(label, value, "expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValidationError(label, value, "must be a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValidationError(label, value, "must not be negative" if value < 0 else "must be positive")
    return value


def _count(data: Mapping[str, Any], name: str, *, prefix: str = "", default: int | None = None) -> int:
    label = f"{prefix}{name}"
    if name not in data or data[name] is None:
        if default is None:
            raise ValidationError(label, None, "missing field")
        return default
    value = data[name]
    if isinstance(value, bool):
        raise ValidationError(label, value, "expected a whole number of machines")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValidationError(label, value, "expected a whole number of machines")
        value = int(value)
    if not isinstance(value, int):
        raise ValidationError(label, value, "expected a whole number of machines")
    if value < 0:
        raise ValidationError(label, value, "must not be negative")
    return value


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
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
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
        if not isinstance(data, Mapping):
            raise ValidationError("price", data, "expected a JSON object")
        return cls(
            timestamp=parse_timestamp(data.get("timestamp"), "timestamp"),
            energy_price=_number(data, "energy_price"),
            hash_price=_number(data, "hash_price"),
            token_price=_number(data, "token_price"),
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


def parse_price_list(payload: Any) -> list[Prices]:
    """Validate a GET /prices payload; sorted oldest first, duplicates dropped."""
    if not isinstance(payload, list):
        raise ValidationError("prices", payload, "expected a list of price points")
    points: dict[datetime, Prices] = {}
    for i, item in enumerate(payload):
        try:
            p = Prices.from_api(item)
        except ValidationError as e:
            raise ValidationError(f"prices[{i}].{e.field}", e.value, e.reason) from None
        points[p.timestamp] = p
    return [points[t] for t in sorted(points)]


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
            power = _number(item, "power", allow_zero=False, prefix=prefix)
            if category == "miners":
                spec = MachineSpec(name, category, kind, power, hashrate=_number(item, "hashrate", prefix=prefix))
            else:
                spec = MachineSpec(name, category, kind, power, tokens=_number(item, "tokens", prefix=prefix))
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
            _count({name: getattr(self, name)}, name)

    @classmethod
    def from_api(cls, data: Any, *, prefix: str = "") -> "Allocation":
        """Parse counts; a field left out counts as 0, as in the API."""
        if not isinstance(data, Mapping):
            raise ValidationError(prefix.rstrip(".") or "allocation", data, "expected a JSON object")
        return cls(**{n: _count(data, n, prefix=prefix, default=0) for n in MACHINE_TYPES})

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
        if not isinstance(data, Mapping):
            raise ValidationError("machines", data, "expected a JSON object")
        allocation = Allocation.from_api(data)
        power_block = data.get("power")
        revenue_block = data.get("revenue")
        if not isinstance(power_block, Mapping):
            raise ValidationError("power", power_block, "missing or not an object")
        if not isinstance(revenue_block, Mapping):
            raise ValidationError("revenue", revenue_block, "missing or not an object")
        power = {n: _number(power_block, n, prefix="power.") if n in power_block else 0.0 for n in MACHINE_TYPES}
        revenue = {n: _number(revenue_block, n, prefix="revenue.") if n in revenue_block else 0.0
                   for n in MACHINE_TYPES}
        updated = data.get("updated_at")
        return cls(
            allocation=allocation,
            power=power,
            revenue=revenue,
            total_power_used=_number(data, "total_power_used"),
            total_power_cost=_number(data, "total_power_cost"),
            total_revenue=_number(data, "total_revenue"),
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
    name: str
    power: float
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: Any) -> "Site":
        if not isinstance(data, Mapping):
            raise ValidationError("site", data, "expected a JSON object")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ValidationError("name", name, "expected a site name")
        power = _number(data, "power", allow_zero=False)
        extra = {k: v for k, v in data.items() if k not in ("name", "power", "api_key")}
        return cls(name=name, power=power, extra=extra)
