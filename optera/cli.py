"""The `optera` command. Its flags and JSON output are a contract that scripts rely on.

Every failure ends in one line on stderr and a non-zero exit: 2 for bad flags
and impossible constraints, 1 when the data source or the database fails.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone
from typing import Sequence

from .config import load_settings
from .models import MACHINE_TYPES, Allocation, Prices, ValidationError, parse_timestamp
from .errors import InputError, SourceError
from .store import StoreError


class UsageError(InputError):
    """Bad flags or impossible constraints (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise UsageError(message)


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _non_negative(text: str) -> float:
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _share(text: str) -> float:
    value = _finite(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return value


def _pair(text: str) -> tuple[str, int]:
    name, sep, number = text.partition("=")
    name = name.strip()
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not TYPE=N")
    if name not in MACHINE_TYPES:
        raise argparse.ArgumentTypeError(f"unknown machine type {name!r}; use one of {', '.join(MACHINE_TYPES)}")
    return name, _count(number.strip())


def _timestamp(text: str) -> datetime:
    try:
        return parse_timestamp(text, "timestamp")
    except ValidationError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_price_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--energy-price", type=_non_negative, help="energy price (default: latest stored)")
    p.add_argument("--hash-price", type=_non_negative, help="hash price (default: latest stored)")
    p.add_argument("--token-price", type=_non_negative, help="token price (default: latest stored)")
    p.add_argument("--power-limit", type=_non_negative, help="site power limit in W (default: the site's)")


def _add_constraint_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max", type=_pair, action="append", default=[], metavar="TYPE=N",
                   help="at most N units of TYPE (the machines you own); repeatable")
    p.add_argument("--lock", type=_pair, action="append", default=[], metavar="TYPE=N",
                   help="exactly N units of TYPE; repeatable")
    p.add_argument("--min-inference-share", type=_share, metavar="F")
    p.add_argument("--max-inference-share", type=_share, metavar="F")
    p.add_argument("--min-tokens", type=_non_negative, metavar="N")
    p.add_argument("--min-hashrate", type=_non_negative, metavar="N")
    p.add_argument("--max-moved", type=_count, metavar="N", help="at most N units moved from the current allocation")
    p.add_argument("--switching-cost", type=_non_negative, default=0.0, metavar="C",
                   help="cost per unit moved from the current allocation")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="optera", description="Power allocation for mining-and-compute sites.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("sim", help="serve the MARA-compatible simulator on 127.0.0.1")
    p.add_argument("--port", type=_port, default=8787)
    p.add_argument("--state", help="file where the simulator keeps its sites (default: beside the DB)")

    sub.add_parser("sync", help="fetch prices, inventory and the site's status into the local DB")

    p = sub.add_parser("status", help="the site's current allocation, power and profit")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("optimize", help="the exact best allocation under the power limit and constraints")
    _add_price_flags(p)
    _add_constraint_flags(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("deploy", help="send an allocation (the optimum, or TYPE=N pairs) to the site")
    p.add_argument("pairs", nargs="*", type=_pair, metavar="TYPE=N")
    _add_price_flags(p)
    _add_constraint_flags(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("backtest", help="replay a strategy over stored history or a CSV")
    p.add_argument("--strategy", choices=["optimal", "hold", "fixed", "hindsight"], default="optimal")
    p.add_argument("--allocation", type=_pair, action="append", default=[], metavar="TYPE=N")
    p.add_argument("--prices-csv", metavar="FILE")
    p.add_argument("--start", type=_timestamp)
    p.add_argument("--end", type=_timestamp)
    p.add_argument("--power-limit", type=_non_negative)
    p.add_argument("--max", type=_pair, action="append", default=[], metavar="TYPE=N")
    p.add_argument("--switching-cost", type=_non_negative, default=0.0)
    p.add_argument("--min-hold", type=_count, default=0, metavar="N")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("db", help="database maintenance")
    p.add_argument("action", choices=["recover", "check"])
    return parser


# -- commands ------------------------------------------------------------------

def _service():
    from .service import Service

    try:
        return Service(load_settings())
    except StoreError as e:
        raise SourceError(str(e)) from None


def _fresh(svc) -> None:
    """Sync if the stored data is older than one price interval; warn (not fail) if that fails."""
    result = svc.ensure_fresh()
    if result is not None and not result.ok:
        latest = svc.latest_prices()
        if latest is not None:
            print(f"optera: warning: {result.message}; using stored prices from {latest.timestamp:%Y-%m-%d %H:%M} UTC",
                  file=sys.stderr)


def _latest_prices(svc, args) -> Prices:
    given = (args.energy_price, args.hash_price, args.token_price)
    if None in given:
        _fresh(svc)
    latest = svc.latest_prices()
    if latest is None and None in given:
        message = svc.last_result.message if svc.last_result else "no data"
        raise SourceError(f"no stored prices and the sync failed: {message}")
    stamp = latest.timestamp if latest else datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    return Prices(
        stamp,
        args.energy_price if args.energy_price is not None else latest.energy_price,
        args.hash_price if args.hash_price is not None else latest.hash_price,
        args.token_price if args.token_price is not None else latest.token_price,
    )


def _site_limit(svc) -> float:
    """The site's stored power limit; warns when none was ever read and the default is used."""
    if svc.store.site() is None:
        print(f"optera: warning: the site's power limit is unknown (no successful sync); using "
              f"{svc.power_limit():,.0f} W. Pass --power-limit to set it.", file=sys.stderr)
    return svc.power_limit()


def _constraints(args):
    from .optimize import Constraints

    return Constraints(
        caps=dict(args.max), locks=dict(args.lock),
        min_inference_share=args.min_inference_share, max_inference_share=args.max_inference_share,
        min_tokens=args.min_tokens, min_hashrate=args.min_hashrate,
        max_moved=args.max_moved, switching_cost=args.switching_cost,
    )


def _solve(svc, args):
    from .optimize import solve

    prices = _latest_prices(svc, args)
    limit = args.power_limit if args.power_limit is not None else _site_limit(svc)
    constraints = _constraints(args)
    try:
        solution = solve(prices, limit, constraints, svc.current_allocation(), svc.inventory())
    except ValidationError as e:
        raise UsageError(str(e)) from None
    if not solution.feasible:
        raise UsageError(f"infeasible: {solution.message}")
    return prices, limit, solution


def cmd_optimize(args) -> int:
    svc = _service()
    prices, limit, s = _solve(svc, args)
    out = {
        "allocation": s.allocation.to_dict(), "power_used": s.power_used, "power_limit": limit,
        "revenue": s.revenue, "cost": s.cost, "profit": s.profit, "switching_cost": s.switching_cost,
        "binding": s.binding, "prices": prices.to_dict(),
        "profit_per_day": s.profit * svc.settings.periods_per_day,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"Prices: energy {prices.energy_price:.4f}, hash {prices.hash_price:.4f}, token {prices.token_price:.4f}"
          f" ({prices.timestamp:%Y-%m-%d %H:%M} UTC)")
    for name in MACHINE_TYPES:
        print(f"  {name:<18} {s.allocation[name]:>6}")
    print(f"Power {s.power_used:,.0f} W of {limit:,.0f} W")
    print(f"Revenue {s.revenue:,.2f}  cost {s.cost:,.2f}  profit {s.profit:,.2f} per period "
          f"({out['profit_per_day']:,.0f} per day)")
    if s.binding:
        print("Binding: " + "; ".join(s.binding))
    return 0


def cmd_deploy(args) -> int:
    from .deploy import deploy, diff

    svc = _service()
    if args.pairs:
        target = Allocation.from_counts(dict(args.pairs))
    else:
        _, _, solution = _solve(svc, args)
        target = solution.allocation
    limit = svc.power_limit()
    try:
        current = svc.live_status().allocation
    except Exception as e:  # noqa: BLE001 - any source failure stops the deploy before it is sent
        raise SourceError(f"cannot read the site before deploying: {getattr(e, 'message', e)}") from None
    rows = diff(current, target, svc.inventory())
    if not args.json or not args.yes:
        print(f"Deploy to {svc.settings.source_label}:")
        for r in rows:
            mark = "" if r["change"] == 0 else f"  ({r['change']:+d})"
            print(f"  {r['type']:<18} {r['current']:>6} -> {r['target']:>6}{mark}")
        print(f"Power after deploy: {target.power(svc.inventory()):,.0f} W of {limit:,.0f} W")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("confirmation needed: run again with --yes, or from a terminal")
        answer = input("Deploy? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Cancelled; nothing was sent.")
            return 1
    result = deploy(svc.client, svc.store, target, power_limit=limit, caps=dict(args.max) or None,
                    source="cli", inventory=svc.inventory(), expected_current=current)
    if args.json:
        print(json.dumps({"ok": result.ok, "message": result.message, "requested": result.requested.to_dict(),
                          "readback": result.readback.to_dict() if result.readback else None,
                          "audit_id": result.audit_id}))
    else:
        print(result.message)
    if not result.ok:
        if not args.json:
            print(f"optera: {result.message}", file=sys.stderr)
        return 2 if result.readback is None and "Not sent" in result.message else 1
    return 0


def cmd_status(args) -> int:
    svc = _service()
    result = svc.ensure_fresh()
    snap = svc.status()
    if snap is None:
        msg = result.message if result else "no status stored yet"
        raise SourceError(f"no site status: {msg}")
    status, fetched = snap
    latest = svc.latest_prices()
    fresh = svc.freshness()
    out = {
        "source": svc.settings.source_label, "fetched_at": fetched.isoformat(),
        "allocation": status.allocation.to_dict(), "power_used": status.total_power_used,
        "power_limit": svc.power_limit(), "revenue": status.total_revenue, "cost": status.total_power_cost,
        "profit": status.profit, "prices": latest.to_dict() if latest else None,
        "last_sync_ok": fresh.last_sync_ok, "last_error": fresh.last_error,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"Source: {out['source']}  (status read {fetched:%Y-%m-%d %H:%M:%S} UTC)")
    if fresh.last_sync_ok is False:
        print(f"Warning: last sync failed: {fresh.last_error}; showing stored data.")
    if latest:
        print(f"Prices at {latest.timestamp:%H:%M}: energy {latest.energy_price:.4f}, hash {latest.hash_price:.4f},"
              f" token {latest.token_price:.4f}")
    for name in MACHINE_TYPES:
        print(f"  {name:<18} {status.allocation[name]:>6}  {status.power[name]:>12,.0f} W")
    print(f"Power {status.total_power_used:,.0f} W of {out['power_limit']:,.0f} W")
    print(f"Revenue {status.total_revenue:,.2f}  cost {status.total_power_cost:,.2f}  profit {status.profit:,.2f}"
          " per period")
    return 0


def cmd_sync(args) -> int:
    svc = _service()
    result = svc.refresh()
    if result.ok:
        print(f"Synced from {svc.settings.source_label}: {result.new_prices} new price points, "
              f"{svc.store.price_count()} stored.")
        return 0
    print(f"optera: sync failed: {result.message}", file=sys.stderr)
    return 1


def cmd_backtest(args) -> int:
    from .backtest import run_backtest
    from .pricefile import read_prices_csv

    svc = _service()
    if args.prices_csv:
        try:
            prices = read_prices_csv(args.prices_csv)
        except FileNotFoundError:
            raise UsageError(f"no such file: {args.prices_csv}") from None
        except (ValueError, ValidationError) as e:
            raise UsageError(f"bad prices CSV: {e}") from None
    else:
        _fresh(svc)
        prices = svc.store.price_history(args.start, args.end)
    if prices.empty:
        raise UsageError("no price data in the chosen window")
    allocation = None
    if args.allocation:
        allocation = Allocation.from_counts(dict(args.allocation))
    elif args.strategy == "fixed":
        raise UsageError("--strategy fixed needs --allocation TYPE=N")
    elif args.strategy == "hold":
        allocation = svc.current_allocation()
    limit = args.power_limit if args.power_limit is not None else _site_limit(svc)
    try:
        r = run_backtest(prices, args.strategy, limit, allocation=allocation, caps=dict(args.max) or None,
                         switching_cost=args.switching_cost, min_hold=args.min_hold, inventory=svc.inventory())
    except (ValueError, ValidationError) as e:
        raise UsageError(str(e)) from None
    out = {"strategy": r.strategy, "intervals": r.intervals, "start": prices.index[0].isoformat(),
           "end": prices.index[-1].isoformat(), "revenue": r.revenue, "cost": r.cost, "profit": r.profit,
           "switches": r.switches, "capture": r.capture, "optimum_profit": r.optimum_profit,
           "power_limit": limit, "allocation_final": r.allocation_final.to_dict() if r.allocation_final else None}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{r.strategy} over {r.intervals} intervals ({out['start']} .. {out['end']}), power limit {limit:,.0f} W")
    print(f"Revenue {r.revenue:,.2f}  cost {r.cost:,.2f}  profit {r.profit:,.2f}")
    capture = "n/a" if r.capture is None or (isinstance(r.capture, float) and math.isnan(r.capture)) \
        else f"{r.capture:.1%}"
    print(f"Switches {r.switches}; capture {capture} of the per-interval optimum ({r.optimum_profit:,.2f})")
    return 0


def cmd_sim(args) -> int:
    from pathlib import Path

    from .sim.api import Simulator
    from .sim.server import serve

    settings = load_settings()
    state = Path(args.state) if args.state else settings.sim_state
    sim = Simulator(state_path=state)
    print(f"MARA-compatible simulator on http://127.0.0.1:{args.port} (state: {state}). "
          "Ctrl+C to stop.", flush=True)
    try:
        serve(sim, host="127.0.0.1", port=args.port)
    except OSError as e:
        raise SourceError(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}") from None
    return 0


def cmd_db(args) -> int:
    from .store import Store, recover

    settings = load_settings()
    if args.action == "check":
        try:
            store = Store(settings.db_path)
        except StoreError as e:
            raise SourceError(str(e)) from None
        print(f"{settings.db_path}: OK, {store.price_count()} price points, "
              f"{len(store.deployments(10_000))} deployments")
        return 0
    store, moved = recover(settings.db_path)
    where = f"moved the old file to {moved}" if moved else "no old file"
    print(f"Recovered {settings.db_path}: {where}; {len(store.deployments(10_000))} audit rows kept. "
          "Run `optera sync` to refill prices.")
    return 0


COMMANDS = {"optimize": cmd_optimize, "deploy": cmd_deploy, "status": cmd_status, "sync": cmd_sync,
            "backtest": cmd_backtest, "sim": cmd_sim, "db": cmd_db}


def _fail(message: str, code: int) -> int:
    try:
        secrets = load_settings().secret_values()
    except Exception:  # noqa: BLE001 - settings that cannot load hold no secret to hide
        secrets = []
    for secret in secrets:
        message = message.replace(secret, "********")
    print(f"optera: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import OpteraError, exit_code

    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ValidationError) as e:
        return _fail(str(e), 2)
    except OpteraError as e:
        return _fail(e.message, exit_code(e))
    except (SourceError, SourceError, StoreError) as e:
        return _fail(str(getattr(e, "message", None) or e), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as e:  # noqa: BLE001 - the contract: never a traceback
        return _fail(f"internal error: {type(e).__name__}: {e}", 1)


if __name__ == "__main__":
    sys.exit(main())
