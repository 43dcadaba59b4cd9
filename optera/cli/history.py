"""`optera` commands over stored history: backtest and pnl."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InputError
from ..models import Allocation
from ..units import number, pct
from ..vocabulary import STRATEGY_LABELS
from .args import POLICY_ONLY, UsageError, pairs_to_counts
from .commands import fresh, service, site_limit
from .output import print_json

MAX_CSV_BYTES = 200 * 1024 * 1024  # a price CSV of 200 MB holds decades of 5-minute points


def read_csv_file(name: str):
    """A user's price CSV, refusing what is not a readable regular file of sane size (never hangs on /dev/zero)."""
    from ..pricefile import read_prices_csv

    path = Path(name)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(f"no such file: {name}") from None
    except OSError as e:
        raise UsageError(f"cannot read {name}: {e.strerror or e}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{name} is a folder, not a CSV file")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{name} is not a regular file (a device or a pipe cannot be read as prices)")
    if info.st_size > MAX_CSV_BYTES:
        raise UsageError(f"{name} is {info.st_size / 1e6:,.0f} MB; price files above "
                         f"{MAX_CSV_BYTES / 1e6:,.0f} MB are refused")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {name}: permission denied")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CSV_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read {name}: {e.strerror or e}") from None
    try:
        return read_prices_csv(data)
    except InputError as e:
        raise UsageError(f"bad prices CSV: {e.message}") from None


def cmd_backtest(args) -> int:
    from ..backtest import run_backtest

    svc = service()
    if args.prices_csv:
        prices = read_csv_file(args.prices_csv)
    else:
        fresh(svc)
        prices = svc.price_window(args.start, args.end)
    if prices.empty:
        raise UsageError("no price data in the chosen window")
    allocation = None
    if args.allocation:
        allocation = Allocation.from_counts(pairs_to_counts(args.allocation, "--allocation"))
    elif args.strategy == "fixed":
        raise UsageError("--strategy fixed needs --allocation TYPE=N")
    elif args.strategy == "hold":
        allocation = svc.current_allocation()
    limit = args.power_limit if args.power_limit is not None else site_limit(svc)
    if args.policy or any(getattr(args, name) is not None for name in POLICY_ONLY):
        return _policy_backtest(args, svc, prices, limit, allocation)
    r = run_backtest(prices, args.strategy, limit, allocation=allocation,
                     caps=pairs_to_counts(args.max, "--max") or None, switching_cost=args.switching_cost,
                     min_hold=args.min_hold, inventory=svc.inventory())
    out = {"strategy": r.strategy, "intervals": r.intervals, "start": prices.index[0].isoformat(),
           "end": prices.index[-1].isoformat(), "revenue": r.revenue, "cost": r.cost, "profit": r.profit,
           "switches": r.switches, "capture": r.capture, "optimum_profit": r.optimum_profit,
           "power_limit": limit, "allocation_final": r.allocation_final.to_dict() if r.allocation_final else None}
    if args.json:
        print_json(out)
        return 0
    money = svc.money
    print(f"{STRATEGY_LABELS[r.strategy]} over {number(r.intervals)} intervals ({out['start']} to {out['end']} UTC)")
    print(f"Revenue {money.total(r.revenue)}, cost {money.total(r.cost)}, profit {money.total(r.profit)} "
          "(sums over the window)")
    print(f"Switches {number(r.switches)}; captured {pct(r.capture)} of the per-interval optimum "
          f"({money.total(r.optimum_profit)})")
    return 0


def _policy_backtest(args, svc, prices, limit: float, start: Allocation | None) -> int:
    """What `optera autopilot` with these flags would have done over the window, against the best schedule."""
    from ..backtest import run_policy
    from .autopilot import policy_from_args

    policy = policy_from_args(args, svc.caps())
    r = run_policy(prices, policy, limit, start, svc.inventory(), money=svc.money)
    deploys = int((r.series["action"] == "deploy").sum())
    out = {"strategy": r.strategy, "intervals": r.intervals, "start": prices.index[0].isoformat(),
           "end": prices.index[-1].isoformat(), "revenue": r.revenue, "cost": r.cost, "profit": r.profit,
           "switches": r.switches, "capture": r.capture, "optimum_profit": r.optimum_profit,
           "power_limit": limit, "allocation_final": r.allocation_final.to_dict(), "deploys": deploys,
           "switching_cost_paid": r.switching_cost_paid, "yardstick_profit": r.yardstick_profit,
           "yardstick_capture": r.yardstick_capture, "policy": policy.describe(svc.money)}
    if args.json:
        print_json(out)
        return 0
    money = svc.money
    print(f"{STRATEGY_LABELS['policy']} over {number(r.intervals)} intervals ({out['start']} to {out['end']} UTC): "
          + ("; ".join(policy.describe(money)) or "no switching cost, no limits"))
    print(f"Profit {money.total(r.profit)} after {money.total(r.switching_cost_paid)} of switching costs "
          f"({number(deploys)} deploys; sums over the window)")
    print(f"{STRATEGY_LABELS['schedule']}: {money.total(r.yardstick_profit)}; the policy captured "
          f"{pct(r.yardstick_capture, 2)} of it")
    return 0


def cmd_pnl(args) -> int:
    svc = service()
    fresh(svc)
    result = svc.ledger(args.start, args.end, by=args.by)
    if args.json:
        print_json(result.to_json())
        return 0
    money = svc.money
    width = {"hour": 16, "day": 10, "week": 10}[args.by]
    print(f"{'start (UTC)':<{width}}  {'intervals':>9}  {'realized':>14}  {'optimal':>14}  {'left on table':>14}")
    for row in result.rows:
        stamp = row.start.strftime("%Y-%m-%d %H:%M" if args.by == "hour" else "%Y-%m-%d")
        print(f"{stamp:<{width}}  {row.intervals:>9,}  {money.total(row.realized_profit):>14}  "
              f"{money.total(row.optimal_profit):>14}  {money.total(row.left_on_table):>14}")
    t = result.total
    print(f"{'total':<{width}}  {t.intervals:>9,}  {money.total(t.realized_profit):>14}  "
          f"{money.total(t.optimal_profit):>14}  {money.total(t.left_on_table):>14}"
          + (f"  (captured {pct(t.capture)})" if t.capture is not None else ""))
    for note in result.assumptions:
        print(f"Note: {note}")
    return 0
