"""The chat assistant's tools: plain functions over the service and the optimiser.

Both the built-in analyst and the LLM agent answer only from these results, so
every number a user reads in the chat was computed here. Each tool returns a
JSON-serialisable dict; bad arguments give ``{"error": "..."}``, never an
exception, because the caller may be a language model that can correct itself.
No tool changes the site: ``propose_deploy`` only returns a proposal that the
user confirms in the app, and only when the target differs from what runs.
The history tools (profit and loss from the ledger) are in :mod:`.ledger_tools`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Mapping

from ..clock import Clock
from ..errors import ToolError
from ..ledger import INTERVAL, iso
from ..models import INFERENCE_TYPES, MACHINE_TYPES, Allocation, Inventory, Prices
from ..service import Service
from ..vocabulary import PRICE_COLUMNS, STRATEGIES
from . import toolargs as args
from .ledger_tools import LEDGER_SPECS, RANGE, LedgerTools
from .toolargs import jsonable, spec, tool

_PRICES = {
    "energy_price": {"type": "number", "description": "What-if energy price per W per period (default: latest)."},
    "hash_price": {"type": "number", "description": "What-if hash price per unit hashrate per period."},
    "token_price": {"type": "number", "description": "What-if token price per token per period."},
}
_SCENARIO = {
    **_PRICES,
    "power_limit": {"type": "number", "description": "Site power limit in W (default: the site's)."},
    "caps": {"type": "object", "description": "Max units per machine type, e.g. {\"asic_compute\": 10}; "
             "added to the site's own availability caps.", "additionalProperties": {"type": "integer"}},
    "locks": {"type": "object", "description": "Exact units per machine type that must stay.",
              "additionalProperties": {"type": "integer"}},
    "min_inference_share": {"type": "number", "description": "Minimum share (0-1) of power for inference."},
    "max_inference_share": {"type": "number", "description": "Maximum share (0-1) of power for inference."},
    "min_tokens": {"type": "number", "description": "Minimum token throughput."},
    "min_hashrate": {"type": "number", "description": "Minimum hashrate."},
}
_ALLOC = {"type": "object", "description": "Counts per machine type: air_miners, hydro_miners, "
          "immersion_miners, gpu_compute, asic_compute.", "additionalProperties": {"type": "integer"}}
_PRICE_RANGE = {**RANGE, "hours": {"type": "number", "description": "Instead of start: the last N hours of "
                                    "stored prices (default 24)."}}

TOOL_SPECS: list[dict[str, Any]] = [
    spec("get_status", "The site's latest stored status: allocation, power used vs limit, revenue, cost, "
         "profit per period and per day, and the latest prices."),
    spec("get_prices", "Price statistics over a range of stored history (first, last, lowest and highest with "
         "when each happened, mean, change) for energy, hash and token prices. Default: the last 24 hours of "
         "stored prices.", _PRICE_RANGE),
    spec("optimize", "The profit-maximising allocation (exact solver) at the latest or given prices and "
         "constraints, with binding constraints, value of one more kW and break-even energy prices.", _SCENARIO),
    spec("what_if", "Compare the optimum under given prices/constraints with the site's current allocation: "
         "per-type diff and profit delta per period and per day.", _SCENARIO),
    spec("backtest", "Replay a strategy over a range of stored prices (default the last 24 hours), against "
         "the per-interval optimum.",
         {**_PRICE_RANGE,
          "strategy": {"type": "string", "enum": list(STRATEGIES),
                       "description": "optimal (re-optimise every interval), hold (keep the current allocation), "
                                      "fixed, hindsight (best single allocation)."},
          "switching_cost": {"type": "number", "description": "Cost per unit moved (default 0)."}}),
    spec("explain_allocation", "Revenue, cost and profit by machine type of the current (or a given) "
         "allocation at the latest (or given) prices, with each type's break-even energy price.",
         {"allocation": _ALLOC, **_PRICES}),
    spec("propose_deploy", "Prepare (never send) a deploy of an allocation or of the optimum; the user sees "
         "a card and must confirm it in the app. When the site already runs the target, there is nothing to "
         "propose and the result says so (kind \"no_change\").",
         {"allocation": {"description": "\"optimal\" or counts per machine type.",
                         "anyOf": [{"type": "string", "enum": ["optimal"]}, _ALLOC]}}),
    *LEDGER_SPECS,
]
TOOL_NAMES = tuple(s["function"]["name"] for s in TOOL_SPECS)


class Toolbox(LedgerTools):
    """The tools over one :class:`~optera.service.Service`: the chat reads what the pages read."""

    def __init__(self, service: Service, clock: Clock | None = None):
        self.service = service
        self.settings = service.settings
        self.clock = clock or Clock()

    # -- context -------------------------------------------------------------
    @property
    def inventory(self) -> Inventory:
        return self.service.inventory()

    def power_limit(self) -> float:
        return self.service.power_limit()

    def latest_prices(self) -> Prices | None:
        return self.service.latest_prices()

    def current_allocation(self) -> Allocation | None:
        """The site's allocation at the last read, or None when it was never read."""
        snap = self.service.status()
        return snap[0].allocation if snap else None

    def _prices(self, arguments: Mapping[str, Any]) -> Prices:
        base = self.latest_prices()
        energy, hash_, token = (args.num(n, arguments.get(n)) for n in PRICE_COLUMNS)
        if base is None:
            if None in (energy, hash_, token):
                raise ToolError("no prices stored yet: sync first, or give energy_price, hash_price and token_price")
            return Prices(datetime(1970, 1, 1), energy, hash_, token)
        return base.with_overrides(energy, hash_, token)

    def _per_day(self, value: float) -> float:
        return self.settings.money.per_day(value)

    def _price_frame(self, start: Any, end: Any, hours: Any):
        """Stored prices in [start, end); by default the last 24 hours up to the newest price."""
        latest = self.latest_prices()
        if latest is None:
            raise ToolError("no prices stored yet: sync first")
        s, e = self.window(start, end, hours, 24, anchor=latest.timestamp + INTERVAL)
        frame = self.service.price_window(s, e)
        frame = frame[frame.index < e]
        if not len(frame):
            raise ToolError(f"no prices are stored from {iso(s)} to {iso(e)}")
        return frame, s, e

    # -- dispatch --------------------------------------------------------------
    def call(self, name: str, arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run a tool by name; unknown tools and bad arguments give {"error": ...}."""
        if not isinstance(name, str) or name not in TOOL_NAMES:
            return {"error": f"unknown tool {str(name)[:60]!r}; available: {', '.join(TOOL_NAMES)}"}
        arguments = {} if arguments is None else arguments
        if not isinstance(arguments, Mapping):
            return {"error": f"arguments for {name} must be a JSON object"}
        allowed = set(TOOL_SPECS[TOOL_NAMES.index(name)]["function"]["parameters"]["properties"])
        extra = sorted(map(str, set(arguments) - allowed))
        if extra:
            return {"error": f"{name} does not take {', '.join(extra)[:200]}"
                             + (f"; it takes {', '.join(sorted(allowed))}" if allowed else "")}
        return getattr(self, name)(**arguments)

    # -- tools ---------------------------------------------------------------
    @tool
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
            fetched_at=fetched, allocation=status.allocation.to_dict(), power_used=status.total_power_used,
            power_share=status.total_power_used / limit if limit else None,
            power_free=limit - status.total_power_used, revenue=status.total_revenue, cost=status.total_power_cost,
            profit=status.profit, profit_per_day=self._per_day(status.profit),
            by_type={n: {"units": status.allocation[n], "power": status.power[n], "revenue": status.revenue[n]}
                     for n in MACHINE_TYPES})
        return out

    @tool
    def get_prices(self, hours: Any = None, start: Any = None, end: Any = None) -> dict[str, Any]:
        """Statistics over a window, with when each price was highest and lowest."""
        frame, s, e = self._price_frame(start, end, hours)
        out: dict[str, Any] = {"start": s, "end": e, "hours": (e - s).total_seconds() / 3600, "points": len(frame),
                               "first_at": frame.index[0], "last_at": frame.index[-1],
                               "period_minutes": self.settings.period_minutes}
        for name in PRICE_COLUMNS:
            col = frame[name].astype(float)
            first, last = float(col.iloc[0]), float(col.iloc[-1])
            out[name] = {"first": first, "last": last, "min": float(col.min()), "min_at": col.idxmin(),
                         "max": float(col.max()), "max_at": col.idxmax(), "mean": float(col.mean()),
                         "change": last - first, "change_pct": (last / first - 1) * 100 if first else None}
        return out

    def _constraints(self, arguments: Mapping[str, Any]):
        from ..optimize import Constraints

        return Constraints(
            caps={**self.service.caps(), **(args.counts("caps", arguments.get("caps")) or {})},
            locks=args.counts("locks", arguments.get("locks")) or {},
            min_inference_share=args.share("min_inference_share", arguments.get("min_inference_share")),
            max_inference_share=args.share("max_inference_share", arguments.get("max_inference_share")),
            min_tokens=args.num("min_tokens", arguments.get("min_tokens")),
            min_hashrate=args.num("min_hashrate", arguments.get("min_hashrate")))

    def _solve(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], Any, Prices, float]:
        """The optimum of a scenario as a result dict, with the solution, prices and limit it used."""
        from ..optimize import explain, solve

        prices = self._prices(arguments)
        limit = args.num("power_limit", arguments.get("power_limit"), positive=True)
        limit = self.power_limit() if limit is None else limit
        constraints = self._constraints(arguments)
        inventory = self.inventory
        solution = solve(prices, limit, constraints, None, inventory)
        out: dict[str, Any] = {
            "prices": prices.to_dict(), "power_limit": limit, "feasible": solution.feasible,
            "constraints": {k: v for k, v in args.fields(constraints).items() if v not in (None, {}, 0.0)},
            "message": solution.message, "conflicts": list(solution.conflicts),
            "period_minutes": self.settings.period_minutes, "allocation": None}
        if solution.feasible and solution.allocation is not None:
            e = explain(solution, prices, limit, constraints, self.current_allocation(), inventory,
                        money=self.settings.money)
            out.update(allocation=solution.allocation.to_dict(), power_used=solution.power_used,
                       revenue=solution.revenue, cost=solution.cost, profit=solution.profit,
                       profit_per_day=self._per_day(solution.profit), binding=list(solution.binding),
                       value_per_kw=e.value_per_kw, break_even=e.break_even, rationale=e.rationale)
        return out, solution, prices, limit

    @tool
    def optimize(self, **arguments: Any) -> dict[str, Any]:
        """The exact optimum at the latest (or given) prices and constraints."""
        return self._solve(arguments)[0]

    @tool
    def what_if(self, **arguments: Any) -> dict[str, Any]:
        """The optimum under the given scenario vs the current allocation at the same prices."""
        out, solution, prices, limit = self._solve(arguments)
        inventory, current = self.inventory, self.current_allocation()
        base = current or Allocation()
        cur_profit = base.profit(prices, inventory)
        out["current"] = {"allocation": base.to_dict() if current else None,
                          "power_used": base.power(inventory), "revenue": base.revenue(prices, inventory),
                          "cost": base.cost(prices, inventory), "profit": cur_profit,
                          "profit_per_day": self._per_day(cur_profit),
                          "fits_power_limit": base.power(inventory) <= limit}
        if out["allocation"] is not None:
            target = solution.allocation
            out.update(diff={n: target[n] - base[n] for n in MACHINE_TYPES}, units_moved=target.moved(base),
                       profit_delta=solution.profit - cur_profit,
                       profit_delta_per_day=self._per_day(solution.profit - cur_profit))
        return out

    @tool
    def backtest(self, hours: Any = None, strategy: Any = "optimal", switching_cost: Any = 0.0,
                 start: Any = None, end: Any = None) -> dict[str, Any]:
        """Replay a strategy over a window of stored prices."""
        from ..backtest import run_backtest

        strategy = "optimal" if strategy is None else str(strategy).strip().lower()
        if strategy not in STRATEGIES:
            raise ToolError(f"unknown strategy {strategy!r:.30}; use one of {', '.join(STRATEGIES)}")
        cost = args.num("switching_cost", 0.0 if switching_cost is None else switching_cost)
        frame, s, e = self._price_frame(start, end, hours)
        current = self.current_allocation()
        if strategy in ("hold", "fixed") and current is None:
            raise ToolError(f"the {strategy} strategy needs the site's current allocation; sync first")
        limit = self.power_limit()
        result = run_backtest(frame, strategy, limit, allocation=current, caps=self.service.caps() or None,
                              switching_cost=cost, inventory=self.inventory)
        days = len(frame) * INTERVAL / timedelta(days=1)
        return {"strategy": strategy, "start": s, "end": e, "hours": (e - s).total_seconds() / 3600,
                "intervals": result.intervals, "first_at": frame.index[0], "last_at": frame.index[-1],
                "power_limit": limit, "switching_cost": cost, "revenue": result.revenue, "cost": result.cost,
                "profit": result.profit, "optimum_profit": result.optimum_profit, "capture": result.capture,
                "switches": result.switches, "switching_cost_paid": result.switching_cost_paid,
                "profit_per_day": result.profit / days if days else None,
                "allocation": current.to_dict() if strategy == "hold" and current else None}

    @tool
    def explain_allocation(self, allocation: Any = None, **prices: Any) -> dict[str, Any]:
        """Profit by type of the current or a given allocation, with break-even energy prices."""
        p = self._prices(prices)
        inventory = self.inventory
        alloc = self.current_allocation() if allocation is None else args.allocation(allocation)
        if alloc is None:
            raise ToolError("no current allocation stored yet: sync first, or pass an allocation")
        by_type = {}
        for name in MACHINE_TYPES:
            spec_, units = inventory[name], alloc[name]
            unit_rev = spec_.unit_revenue(p)
            unit_profit = unit_rev - spec_.power * p.energy_price
            by_type[name] = {"units": units, "power": units * spec_.power, "revenue": units * unit_rev,
                             "cost": units * spec_.power * p.energy_price, "profit": units * unit_profit,
                             "unit_profit": unit_profit, "profit_per_kw": unit_profit / spec_.power * 1000,
                             "break_even_energy_price": unit_rev / spec_.power, "worth_running": unit_profit > 0}
        power = alloc.power(inventory)
        profit = alloc.profit(p, inventory)
        return {"which": "current" if allocation is None else "given", "prices": p.to_dict(),
                "allocation": alloc.to_dict(), "power_used": power, "power_limit": self.power_limit(),
                "revenue": alloc.revenue(p, inventory), "cost": alloc.cost(p, inventory),
                "profit": profit, "profit_per_day": self._per_day(profit),
                "inference_share": sum(by_type[n]["power"] for n in INFERENCE_TYPES) / power if power else 0.0,
                "by_type": by_type, "period_minutes": self.settings.period_minutes}

    @tool
    def propose_deploy(self, allocation: Any = "optimal") -> dict[str, Any]:
        """A deploy proposal for the user to confirm, when it changes something; never sends anything."""
        from ..optimize import Constraints, solve
        from ..optimize.repair import validate

        inventory, limit, caps, prices = self.inventory, self.power_limit(), self.service.caps(), self.latest_prices()
        if allocation is None or (isinstance(allocation, str) and allocation.strip().lower() in ("optimal", "best")):
            if prices is None:
                raise ToolError("no prices stored yet: sync first")
            solution = solve(prices, limit, Constraints(caps=caps), None, inventory)
            if not solution.feasible or solution.allocation is None:
                raise ToolError(f"no feasible optimum to deploy: {solution.message}")
            target, source = solution.allocation, "optimal"
        elif isinstance(allocation, str):
            raise ToolError(f"allocation must be \"optimal\" or counts per machine type (got {allocation!r:.40})")
        else:
            target, source = args.allocation(allocation), "given"
        current = self.current_allocation()
        base = current or Allocation()
        out = {"kind": "deploy_proposal", "source": source, "target": target.to_dict(),
               "current": current.to_dict() if current else None,
               "diff": {n: target[n] - base[n] for n in MACHINE_TYPES}, "units_moved": target.moved(base),
               "power": target.power(inventory), "power_limit": limit}
        if out["units_moved"] == 0:
            out.update(kind="no_change", message="the site already runs this allocation: there is nothing to deploy"
                       if current is not None else "this allocation runs no machines and the site's is unknown: "
                       "there is nothing to deploy")
            return out
        issues = validate(target.to_dict(), limit, caps or None, inventory)
        out.update(valid=not issues, issues=[i.message for i in issues])
        if prices is not None:
            out.update(profit=target.profit(prices, inventory), current_profit=base.profit(prices, inventory),
                       prices=prices.to_dict())
            out["profit_delta_per_day"] = self._per_day(out["profit"] - out["current_profit"])
        return out


def dumps(result: Any) -> str:
    """Compact strict JSON of a tool result, for a chat model."""
    return json.dumps(jsonable(result), separators=(",", ":"), allow_nan=False)
