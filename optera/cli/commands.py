"""`optera` commands about the site now: sim, sync, status, optimize, deploy, db."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..errors import DeployNotSent, SourceError, StorageError
from ..models import Allocation, Prices
from ..units import machines, number, pct, power, price
from .args import UsageError, pairs_to_counts
from .output import allocation_table, diff_table, print_json, warn

if TYPE_CHECKING:
    from ..optimize import Constraints, Solution
    from ..service import Service


def service() -> Service:
    from ..config import load_settings
    from ..service import Service

    return Service(load_settings())


def fresh(svc: Service) -> None:
    """Sync if the stored data is older than one price interval; warn (not fail) if that fails."""
    result = svc.ensure_fresh()
    if result is not None and not result.ok:
        latest = svc.latest_prices()
        if latest is not None:
            warn(f"{result.message}; using stored prices from {latest.timestamp:%Y-%m-%d %H:%M} UTC")


def latest_prices(svc: Service, args) -> Prices:
    given = (args.energy_price, args.hash_price, args.token_price)
    latest = None
    if None in given:
        fresh(svc)
        latest = svc.latest_prices()
        if latest is None:
            message = svc.last_result.message if svc.last_result else "no data"
            raise SourceError(f"no stored prices and the sync failed: {message}")
    from ..clock import utcnow

    return Prices(
        latest.timestamp if latest else utcnow(),
        args.energy_price if args.energy_price is not None else latest.energy_price,
        args.hash_price if args.hash_price is not None else latest.hash_price,
        args.token_price if args.token_price is not None else latest.token_price,
    )


def site_limit(svc: Service) -> float:
    """The site's limit as last read; warns when it never was and 1 MW is assumed for planning."""
    if svc.site_limit() is None:
        warn(f"the site's power limit is unknown (no successful sync); planning with {power(svc.power_limit())}. "
             "Pass --power-limit to set it.")
    return svc.power_limit()


def constraints(args) -> Constraints:
    from ..optimize import Constraints

    return Constraints(
        caps=pairs_to_counts(args.max, "--max"), locks=pairs_to_counts(args.lock, "--lock"),
        min_inference_share=args.min_inference_share, max_inference_share=args.max_inference_share,
        min_tokens=args.min_tokens, min_hashrate=args.min_hashrate,
        max_moved=args.max_moved, switching_cost=args.switching_cost,
    )


def needs_current(c: Constraints) -> bool:
    return c.max_moved is not None or bool(c.switching_cost)


def solve(svc: Service | None, args, prices: Prices, limit: float) -> tuple[Constraints, Solution]:
    from ..optimize import solve as solve_milp

    c = constraints(args)
    current = svc.current_allocation() if svc is not None and needs_current(c) else None
    inventory = svc.inventory() if svc is not None else _stored_inventory()
    solution = solve_milp(prices, limit, c, current, inventory)
    if not solution.feasible:
        raise UsageError(f"infeasible: {solution.message}")
    return c, solution


def cmd_optimize(args) -> int:
    explicit = None not in (args.energy_price, args.hash_price, args.token_price, args.power_limit)
    # with every price and the limit given, only the stored machine specs are read: no store opened, no sync
    svc = None if explicit and not needs_current(constraints(args)) else service()
    prices = latest_prices(svc, args) if svc is not None else latest_prices_given(args)
    limit = args.power_limit if args.power_limit is not None else site_limit(svc)
    _, s = solve(svc, args, prices, limit)
    money = svc.money if svc is not None else _money()
    out = {
        "allocation": s.allocation.to_dict(), "power_used": s.power_used, "power_limit": limit,
        "revenue": s.revenue, "cost": s.cost, "profit": s.profit, "switching_cost": s.switching_cost,
        "binding": s.binding, "prices": prices.to_dict(), "profit_per_day": money.per_day(s.profit),
    }
    if args.json:
        print_json(out)
        return 0
    print(f"Prices per period: energy {price(prices.energy_price)}, hash {price(prices.hash_price)}, "
          f"token {price(prices.token_price)} ({prices.timestamp:%Y-%m-%d %H:%M} UTC)")
    print("\n".join(allocation_table(s.allocation.to_dict())))
    print(f"Power {power(s.power_used)} of {power(limit)}")
    print(f"Revenue {money.period(s.revenue)}, cost {money.period(s.cost)}, profit {money.period(s.profit)} "
          f"({money.day(s.profit)}; {money.period_note})")
    if s.binding:
        print("Binding: " + "; ".join(s.binding))
    return 0


def _stored_inventory():
    """The site's machine specs if a database holds them (they may differ from the default)."""
    from ..config import load_settings
    from ..models import DEFAULT_INVENTORY
    from ..store import stored_inventory

    return stored_inventory(load_settings().db_path) or DEFAULT_INVENTORY


def _money():
    from ..config import load_settings

    return load_settings().money


def latest_prices_given(args) -> Prices:
    from ..clock import utcnow

    return Prices(utcnow(), args.energy_price, args.hash_price, args.token_price)


def cmd_deploy(args) -> int:
    from ..economics import diff

    svc = service()
    c = constraints(args)
    if args.pairs:
        target = Allocation.from_counts(pairs_to_counts(args.pairs, "TYPE=N"))
        current = _read_site(svc)
        broken = c.broken_by(target, args.power_limit, current, svc.inventory())
        if broken:
            raise UsageError("the allocation breaks " + "; ".join(broken) + ". Nothing was sent.")
    else:
        prices = latest_prices(svc, args)
        limit = args.power_limit if args.power_limit is not None else site_limit(svc)
        target = solve(svc, args, prices, limit)[1].allocation
        current = _read_site(svc)
    if target == current:
        print(f"The site already runs this allocation ({machines(target)}); nothing to send.")
        return 0
    inventory = svc.inventory()
    if not args.json or not args.yes:
        print(f"Deploy to {svc.settings.source_label}:")
        print("\n".join(diff_table(diff(current, target, inventory))))
        print(f"Power after deploy: {power(target.power(inventory))} (the site's limit is read again before sending)")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("confirmation needed: run again with --yes, or from a terminal")
        answer = input("Deploy? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Cancelled; nothing was sent.")
            return 1
    result = svc.deploy(target, expected_current=current, source="cli", power_limit=args.power_limit)
    if args.json:
        print_json({"ok": result.ok, "outcome": result.outcome, "message": result.message,
                    "requested": result.requested.to_dict() if result.requested else None,
                    "readback": result.readback.to_dict() if result.readback else None,
                    "audit_id": result.audit_id})
    else:
        print(result.message)
    if not args.json:
        result.raise_for_outcome()
    elif not result.ok:
        return 2 if not result.sent else 1
    return 0


def _read_site(svc: Service) -> Allocation:
    try:
        return svc.live_status().allocation
    except SourceError as e:
        raise DeployNotSent(f"cannot read the site before deploying: {e.message}") from None


def cmd_status(args) -> int:
    svc = service()
    result = svc.ensure_fresh()
    snap = svc.status()
    if snap is None:
        raise SourceError(f"no site status: {result.message if result else 'no status stored yet'}")
    status, fetched = snap
    latest = svc.latest_prices()
    fresh_ = svc.freshness()
    limit = svc.power_limit()
    money = svc.money
    out = {
        "source": svc.settings.source_label, "fetched_at": fetched.isoformat(),
        "allocation": status.allocation.to_dict(), "power_used": status.total_power_used,
        "power_limit": limit, "revenue": status.total_revenue, "cost": status.total_power_cost,
        "profit": status.profit, "prices": latest.to_dict() if latest else None,
        "last_sync_ok": fresh_.last_sync_ok, "last_error": fresh_.last_error,
    }
    if args.json:
        print_json(out)
        return 0
    print(f"Source: {out['source']} (status read {fetched:%Y-%m-%d %H:%M:%S} UTC)")
    if fresh_.last_sync_ok is False:
        print(f"Warning: the last sync failed: {fresh_.last_error}; showing stored data.")
    if latest:
        print(f"Prices per period at {latest.timestamp:%H:%M} UTC: energy {price(latest.energy_price)}, "
              f"hash {price(latest.hash_price)}, token {price(latest.token_price)}")
    print("\n".join(allocation_table(status.allocation.to_dict(), status.power)))
    print(f"Power {power(status.total_power_used)} of {power(limit)} ({pct(status.total_power_used / limit)})")
    print(f"Revenue {money.period(status.total_revenue)}, cost {money.period(status.total_power_cost)}, "
          f"profit {money.period(status.profit)} ({money.day(status.profit)}; {money.period_note})")
    return 0


def cmd_sync(args) -> int:
    svc = service()
    result = svc.refresh()
    if result.ok:
        print(f"Synced from {svc.settings.source_label}: {number(result.new_prices)} new price points, "
              f"{number(svc.price_count())} stored.")
        return 0
    raise SourceError(f"sync failed: {result.message}")


def cmd_sim(args) -> int:
    from pathlib import Path

    from ..clock import Clock, FileClock
    from ..config import load_settings
    from ..sim.api import Simulator
    from ..sim.server import serve

    settings = load_settings()
    state = Path(args.state) if args.state else settings.sim_state
    clock = FileClock(args.clock_file) if args.clock_file else Clock()
    clock.now()  # a malformed clock file is a message now, not a 500 on every request
    sim = Simulator(state_path=state, history_days=settings.history_days, now=clock.now)
    where = f"; clock: {args.clock_file}" if args.clock_file else ""
    print(f"MARA-compatible simulator on http://127.0.0.1:{args.port} (state: {state}{where}). Ctrl+C to stop.",
          flush=True)
    try:
        serve(sim, host="127.0.0.1", port=args.port)
    except OSError as e:
        raise SourceError(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}") from None
    return 0


def cmd_db(args) -> int:
    from ..config import load_settings
    from ..service import recover_database
    from ..store import Store

    settings = load_settings()
    if args.action == "check":
        store = Store(settings.db_path)  # opening runs PRAGMA quick_check and names any damage
        problems = store.check()
        if problems:
            raise StorageError(f"{settings.db_path} is damaged ({'; '.join(problems[:3])}); "
                               "run `optera db recover`")
        print(f"{settings.db_path}: OK, {number(store.price_count())} price points, "
              f"{number(len(store.deployments(1_000_000)))} deploy attempts in the audit trail")
        return 0
    kept, moved = recover_database(settings)
    where = f"moved the old file to {moved}" if moved else "there was no old file"
    print(f"Recovered {settings.db_path}: {where}; {number(kept)} audit rows kept. "
          "Run `optera sync` to refill prices.")
    return 0
