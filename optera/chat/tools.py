"""The chat assistant's tools: plain functions over the store and the optimiser.

Both the built-in analyst and the LLM agent answer only from these results, so
every number a user reads in the chat was computed here. Each tool returns a
JSON-serialisable dict; bad arguments give ``{"error": "..."}``, never an
exception, because the caller may be a language model that can correct itself.
No tool changes the site: ``propose_deploy`` only returns a proposal that the
user confirms in the app.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

import numpy as np

from ..models import (DEFAULT_INVENTORY, INFERENCE_TYPES, MACHINE_TYPES, Allocation, Inventory, Prices,
                     ValidationError, format_timestamp)
from ..service import Service

PRICE_NAMES = ("energy_price", "hash_price", "token_price")
STRATEGIES = ("optimal", "hold", "fixed", "hindsight")
MAX_HOURS = 24 * 366


class ToolError(ValueError):
    """A bad tool argument; its message goes back to the caller as {"error": ...}."""


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (numpy scalars, datetimes, NaN -> None)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Allocation):
        return value.to_dict()
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _num(name: str, value: Any, *, positive: bool = False, maximum: float | None = None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ToolError(f"{name} must be a number (got {value!r})")
    if isinstance(value, str):
        try:
            value = float(value.replace(",", "").replace("$", "").strip())
        except ValueError:
            raise ToolError(f"{name} must be a number (got {value!r})") from None
    if not isinstance(value, (int, float)):
        raise ToolError(f"{name} must be a number (got {value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ToolError(f"{name} must be a finite number (got {value!r})")
    if value < 0 or (positive and value == 0):
        raise ToolError(f"{name} must be {'positive' if positive else 'zero or more'} (got {value:g})")
    if maximum is not None and value > maximum:
        raise ToolError(f"{name} must be at most {maximum:g} (got {value:g})")
    return value


def _share(name: str, value: Any) -> float | None:
    value = _num(name, value)
    if value is None:
        return None
    if 1 < value <= 100:
        value = value / 100
    if value > 1:
        raise ToolError(f"{name} is a share of power between 0 and 1 (got {value:g})")
    return value


def _counts(name: str, value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ToolError(f"{name} must be an object of machine type -> count (got {value!r})")
    out = {}
    for key, count in value.items():
        if key not in MACHINE_TYPES:
            raise ToolError(f"{name}: unknown machine type {key!r}; use one of {', '.join(MACHINE_TYPES)}")
        number = _num(f"{name}.{key}", count)
        if number is None or not float(number).is_integer():
            raise ToolError(f"{name}.{key} must be a whole number of machines (got {count!r})")
        out[key] = int(number)
    return out


def _allocation(value: Any) -> Allocation:
    if isinstance(value, Allocation):
        return value
    counts = _counts("allocation", value)
    try:
        return Allocation.from_counts(counts or {})
    except ValidationError as e:
        raise ToolError(f"allocation: {e}") from None


def _obj(value: Any) -> dict[str, Any]:
    """Dataclass-ish result -> dict of its public fields."""
    if value is None:
        return {}
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return dict(value)


_PRICE_PROPS = {
    "energy_price": {"type": "number", "description": "What-if energy price per W per period (default: latest)."},
    "hash_price": {"type": "number", "description": "What-if hash price per unit hashrate per period."},
    "token_price": {"type": "number", "description": "What-if token price per token per period."},
    "power_limit": {"type": "number", "description": "Site power limit in W (default: the site's)."},
    "caps": {"type": "object", "description": "Max units per machine type, e.g. {\"asic_compute\": 10}; "
             "added to the site's own availability caps.",
             "additionalProperties": {"type": "integer"}},
    "locks": {"type": "object", "description": "Exact units per machine type that must stay.",
              "additionalProperties": {"type": "integer"}},
    "min_inference_share": {"type": "number", "description": "Minimum share (0-1) of power for inference."},
    "max_inference_share": {"type": "number", "description": "Maximum share (0-1) of power for inference."},
    "min_tokens": {"type": "number", "description": "Minimum token throughput."},
    "min_hashrate": {"type": "number", "description": "Minimum hashrate."},
}
_ALLOC_SCHEMA = {"type": "object", "description": "Counts per machine type: air_miners, hydro_miners, "
                 "immersion_miners, gpu_compute, asic_compute.", "additionalProperties": {"type": "integer"}}


def _spec(name: str, description: str, properties: dict | None = None, required: list[str] | None = None) -> dict:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties or {}, "required": required or []}}}


TOOL_SPECS: list[dict[str, Any]] = [
    _spec("get_status", "The site's latest stored status: allocation, power used vs limit, revenue, cost, "
          "profit per period and per day, and the latest prices."),
    _spec("get_prices", "Price statistics over the last N hours of stored history (first, last, min, max, mean, "
          "change) for energy, hash and token prices.",
          {"hours": {"type": "number", "description": "Window length in hours (default 24)."}}),
    _spec("optimize", "The profit-maximising allocation (exact solver) at the latest or given prices and "
          "constraints, with binding constraints, value of one more kW and break-even energy prices.",
          _PRICE_PROPS),
    _spec("what_if", "Compare the optimum under given prices/constraints with the site's current allocation: "
          "per-type diff and profit delta per period and per day.", _PRICE_PROPS),
    _spec("backtest", "Replay a strategy over the last N hours of stored prices.",
          {"hours": {"type": "number", "description": "Window in hours (default 24)."},
           "strategy": {"type": "string", "enum": list(STRATEGIES),
                        "description": "optimal (re-optimise every interval), hold (keep current), fixed, "
                                       "hindsight (best single allocation)."},
           "switching_cost": {"type": "number", "description": "Cost per unit moved (default 0)."}}),
    _spec("explain_allocation", "Revenue, cost and profit by machine type of the current (or a given) "
          "allocation at the latest prices, with each type's break-even energy price.",
          {"allocation": _ALLOC_SCHEMA}),
    _spec("propose_deploy", "Prepare (never send) a deploy of an allocation or of the optimum; the user sees "
          "a card and must confirm it in the app.",
          {"allocation": {"description": "\"optimal\" or counts per machine type.",
                          "anyOf": [{"type": "string", "enum": ["optimal"]}, _ALLOC_SCHEMA]}}),
]
TOOL_NAMES = tuple(s["function"]["name"] for s in TOOL_SPECS)


class Toolbox:
    """The tools over one :class:`~optera.service.Service`: the chat reads what the pages read."""

    def __init__(self, service: Service):
        self.service = service
        self.settings = service.settings

    # -- context -------------------------------------------------------------
    @property
    def inventory(self) -> Inventory:
        return self.service.inventory()

    @property
    def periods_per_day(self) -> float:
        return self.settings.periods_per_day

    def power_limit(self) -> float:
        return self.service.power_limit()

    def latest_prices(self) -> Prices | None:
        return self.service.latest_prices()

    def current_allocation(self) -> Allocation | None:
        """The site's allocation at the last read, or None when it was never read."""
        snap = self.service.status()
        return snap[0].allocation if snap else None

    def stored_caps(self) -> dict[str, int]:
        return self.service.caps()

    def _prices(self, args: Mapping[str, Any]) -> Prices:
        base = self.latest_prices()
        energy = _num("energy_price", args.get("energy_price"))
        hash_ = _num("hash_price", args.get("hash_price"))
        token = _num("token_price", args.get("token_price"))
        if base is None:
            if None in (energy, hash_, token):
                raise ToolError("no prices stored yet: sync first, or give energy_price, hash_price and "
                                "token_price")
            return Prices(datetime(1970, 1, 1), energy, hash_, token)
        return base.with_overrides(energy, hash_, token)

    def _per_day(self, value: float) -> float:
        return value * self.periods_per_day

    # -- dispatch --------------------------------------------------------------
    def call(self, name: str, arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run a tool by name; unknown tools and bad arguments give {"error": ...}."""
        if name not in TOOL_NAMES:
            return {"error": f"unknown tool {name!r}; available: {', '.join(TOOL_NAMES)}"}
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            return {"error": f"arguments for {name} must be a JSON object"}
        allowed = set(TOOL_SPECS[TOOL_NAMES.index(name)]["function"]["parameters"]["properties"])
        extra = sorted(set(arguments) - allowed)
        if extra:
            return {"error": f"{name} does not take {', '.join(extra)}"
                             + (f"; it takes {', '.join(sorted(allowed))}" if allowed else "")}
        return getattr(self, name)(**arguments)

    def _safe(fn):  # noqa: N805 - decorator inside the class body
        def wrapper(self, *args, **kwargs):
            try:
                return _jsonable(fn(self, *args, **kwargs))
            except (ToolError, ValidationError, ValueError) as e:
                return {"error": str(e)}
            except Exception as e:  # a tool must never raise into the chat
                return {"error": f"{fn.__name__} failed: {type(e).__name__}: {e}"}
        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        return wrapper

    # -- tools ---------------------------------------------------------------
    @_safe
    def get_status(self) -> dict[str, Any]:
        """Latest snapshot, prices and power use from the store."""
        prices = self.latest_prices()
        snap = self.service.status()
        limit = self.power_limit()
        if prices is None and snap is None:
            raise ToolError("no data stored yet: sync with the site first")
        out: dict[str, Any] = {"source": self.settings.source_label, "power_limit": limit,
                               "period_minutes": self.settings.period_minutes,
                               "prices": prices.to_dict() if prices else None}
        if snap is None:
            out.update(allocation=None, note="no site status stored yet")
            return out
        status, fetched = snap
        out.update(
            fetched_at=fetched, updated_at=status.updated_at, allocation=status.allocation.to_dict(),
            power_used=status.total_power_used, power_share=status.total_power_used / limit if limit else None,
            power_free=limit - status.total_power_used,
            revenue=status.total_revenue, cost=status.total_power_cost, profit=status.profit,
            profit_per_day=self._per_day(status.profit),
            by_type={n: {"units": status.allocation[n], "power": status.power[n], "revenue": status.revenue[n]}
                     for n in MACHINE_TYPES})
        return out

    @_safe
    def get_prices(self, hours: Any = 24) -> dict[str, Any]:
        """Window statistics, anchored at the newest stored price."""
        hours = _num("hours", 24 if hours is None else hours, positive=True, maximum=MAX_HOURS)
        latest = self.latest_prices()
        if latest is None:
            raise ToolError("no prices stored yet: sync first")
        frame = self.service.price_window(latest.timestamp - timedelta(hours=hours), latest.timestamp)
        out: dict[str, Any] = {"hours": hours, "points": len(frame), "start": frame.index[0].to_pydatetime(),
                               "end": frame.index[-1].to_pydatetime(), "period_minutes": self.settings.period_minutes}
        for name in PRICE_NAMES:
            col = frame[name].astype(float)
            first, last = float(col.iloc[0]), float(col.iloc[-1])
            out[name] = {"first": first, "last": last, "min": float(col.min()), "max": float(col.max()),
                         "mean": float(col.mean()), "change": last - first,
                         "change_pct": (last / first - 1) * 100 if first else None}
        return out

    def _constraints(self, args: Mapping[str, Any]):
        from ..optimize import Constraints

        caps = {**self.stored_caps(), **(_counts("caps", args.get("caps")) or {})}
        return Constraints(
            caps=caps, locks=_counts("locks", args.get("locks")) or {},
            min_inference_share=_share("min_inference_share", args.get("min_inference_share")),
            max_inference_share=_share("max_inference_share", args.get("max_inference_share")),
            min_tokens=_num("min_tokens", args.get("min_tokens")),
            min_hashrate=_num("min_hashrate", args.get("min_hashrate")))

    def _solve(self, args: Mapping[str, Any]):
        from ..optimize import explain, solve

        prices = self._prices(args)
        limit = _num("power_limit", args.get("power_limit"), positive=True)
        limit = self.power_limit() if limit is None else limit
        constraints = self._constraints(args)
        current = self.current_allocation()
        inventory = self.inventory
        solution = solve(prices, limit, constraints, None, inventory)
        explanation = None
        if solution.feasible:
            explanation = explain(solution, prices, limit, constraints, current, inventory,
                                  money=self.settings.money)
        return prices, limit, constraints, current, solution, explanation

    def _solution_dict(self, prices, limit, constraints, solution, explanation) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prices": prices.to_dict(), "power_limit": limit, "feasible": solution.feasible,
            "constraints": {k: v for k, v in _obj(constraints).items() if v not in (None, {}, 0.0)},
            "message": solution.message, "conflicts": list(solution.conflicts),
            "period_minutes": self.settings.period_minutes}
        if not solution.feasible or solution.allocation is None:
            out["allocation"] = None
            return out
        out.update(allocation=solution.allocation.to_dict(), power_used=solution.power_used,
                   revenue=solution.revenue, cost=solution.cost, profit=solution.profit,
                   profit_per_day=self._per_day(solution.profit), binding=list(solution.binding))
        if explanation is not None:
            out.update(value_per_kw=explanation.value_per_kw, break_even=explanation.break_even,
                       rationale=explanation.rationale)
        return out

    @_safe
    def optimize(self, **args: Any) -> dict[str, Any]:
        """The exact optimum at the latest (or given) prices and constraints."""
        prices, limit, constraints, _, solution, explanation = self._solve(args)
        return self._solution_dict(prices, limit, constraints, solution, explanation)

    @_safe
    def what_if(self, **args: Any) -> dict[str, Any]:
        """The optimum under the given scenario vs the current allocation at the same prices."""
        prices, limit, constraints, current, solution, explanation = self._solve(args)
        out = self._solution_dict(prices, limit, constraints, solution, explanation)
        inventory = self.inventory
        base = current or Allocation()
        cur_profit = base.profit(prices, inventory)
        out["current"] = {"allocation": base.to_dict() if current else None,
                          "power_used": base.power(inventory), "revenue": base.revenue(prices, inventory),
                          "cost": base.cost(prices, inventory), "profit": cur_profit,
                          "profit_per_day": self._per_day(cur_profit),
                          "fits_power_limit": base.power(inventory) <= limit}
        if out.get("allocation") is not None:
            target = solution.allocation
            out["diff"] = {n: target[n] - base[n] for n in MACHINE_TYPES}
            out["units_moved"] = target.moved(base)
            out["profit_delta"] = solution.profit - cur_profit
            out["profit_delta_per_day"] = self._per_day(solution.profit - cur_profit)
        return out

    @_safe
    def backtest(self, hours: Any = 24, strategy: Any = "optimal", switching_cost: Any = 0.0) -> dict[str, Any]:
        """Replay a strategy over the newest `hours` of stored prices."""
        from ..backtest import run_backtest

        hours = _num("hours", 24 if hours is None else hours, positive=True, maximum=MAX_HOURS)
        strategy = "optimal" if strategy is None else str(strategy).strip().lower()
        if strategy not in STRATEGIES:
            raise ToolError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
        cost = _num("switching_cost", 0.0 if switching_cost is None else switching_cost)
        latest = self.latest_prices()
        if latest is None:
            raise ToolError("no prices stored yet: sync first")
        frame = self.service.price_window(latest.timestamp - timedelta(hours=hours), latest.timestamp)
        current = self.current_allocation()
        if strategy in ("hold", "fixed") and current is None:
            raise ToolError(f"the {strategy} strategy needs the site's current allocation; sync first")
        limit = self.power_limit()
        result = run_backtest(frame, strategy, limit, allocation=current, caps=self.stored_caps() or None,
                              switching_cost=cost, inventory=self.inventory)
        days = len(frame) / self.periods_per_day
        return {"strategy": strategy, "hours": hours, "intervals": result.intervals,
                "start": frame.index[0].to_pydatetime(), "end": frame.index[-1].to_pydatetime(),
                "power_limit": limit, "switching_cost": cost, "revenue": result.revenue, "cost": result.cost,
                "profit": result.profit, "optimum_profit": result.optimum_profit, "capture": result.capture,
                "switches": result.switches, "switching_cost_paid": getattr(result, "switching_cost_paid", None),
                "profit_per_day": result.profit / days if days else None,
                "allocation_final": result.allocation_final.to_dict() if result.allocation_final else None,
                "period_minutes": self.settings.period_minutes}

    @_safe
    def explain_allocation(self, allocation: Any = None) -> dict[str, Any]:
        """Profit by type of the current or a given allocation, with break-even energy prices."""
        prices = self._prices({})
        inventory = self.inventory
        if allocation is None:
            alloc = self.current_allocation()
            if alloc is None:
                raise ToolError("no current allocation stored yet: sync first, or pass an allocation")
            which = "current"
        else:
            alloc, which = _allocation(allocation), "given"
        by_type = {}
        for name in MACHINE_TYPES:
            spec = inventory[name]
            unit_rev = spec.unit_revenue(prices)
            units = alloc[name]
            by_type[name] = {
                "units": units, "power": units * spec.power, "revenue": units * unit_rev,
                "cost": units * spec.power * prices.energy_price,
                "profit": units * (unit_rev - spec.power * prices.energy_price),
                "unit_profit": unit_rev - spec.power * prices.energy_price,
                "profit_per_kw": (unit_rev - spec.power * prices.energy_price) / spec.power * 1000,
                "break_even_energy_price": unit_rev / spec.power,
                "worth_running": unit_rev > spec.power * prices.energy_price}
        limit = self.power_limit()
        profit = alloc.profit(prices, inventory)
        return {"which": which, "prices": prices.to_dict(), "allocation": alloc.to_dict(),
                "power_used": alloc.power(inventory), "power_limit": limit,
                "fits_power_limit": alloc.power(inventory) <= limit,
                "revenue": alloc.revenue(prices, inventory), "cost": alloc.cost(prices, inventory),
                "profit": profit, "profit_per_day": self._per_day(profit),
                "inference_share": (sum(by_type[n]["power"] for n in INFERENCE_TYPES) / alloc.power(inventory)
                                    if alloc.power(inventory) else 0.0),
                "by_type": by_type, "period_minutes": self.settings.period_minutes}

    @_safe
    def propose_deploy(self, allocation: Any = "optimal") -> dict[str, Any]:
        """A deploy proposal for the user to confirm; never sends anything."""
        from ..optimize.repair import validate

        inventory = self.inventory
        limit = self.power_limit()
        caps = self.stored_caps() or None
        prices = self.latest_prices()
        if allocation is None or (isinstance(allocation, str) and allocation.strip().lower() in ("optimal", "best")):
            from ..optimize import Constraints, solve

            if prices is None:
                raise ToolError("no prices stored yet: sync first")
            solution = solve(prices, limit, Constraints(caps=caps or {}), None, inventory)
            if not solution.feasible or solution.allocation is None:
                raise ToolError(f"no feasible optimum to deploy: {solution.message}")
            target, source = solution.allocation, "optimal"
        elif isinstance(allocation, str):
            raise ToolError(f"allocation must be \"optimal\" or counts per machine type (got {allocation!r})")
        else:
            target, source = _allocation(allocation), "given"
        current = self.current_allocation()
        issues = validate(target.to_dict(), limit, caps, inventory)
        base = current or Allocation()
        out = {"kind": "deploy_proposal", "source": source, "target": target.to_dict(),
               "current": current.to_dict() if current else None,
               "diff": {n: target[n] - base[n] for n in MACHINE_TYPES}, "units_moved": target.moved(base),
               "power": target.power(inventory), "power_limit": limit,
               "valid": not issues, "issues": [i.message for i in issues]}
        if prices is not None:
            out.update(profit=target.profit(prices, inventory), current_profit=base.profit(prices, inventory),
                       prices=prices.to_dict())
            out["profit_delta_per_day"] = self._per_day(out["profit"] - out["current_profit"])
        return out

    del _safe


def dumps(result: Any) -> str:
    """Compact JSON of a tool result, for a chat model."""
    return json.dumps(_jsonable(result), separators=(",", ":"))
