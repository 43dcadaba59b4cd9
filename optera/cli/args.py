"""The `optera` command's flags: argparse types that validate through the library's own checks.

A bad flag is one line on stderr and exit 2 (`_Parser.error` raises an InputError
instead of printing argparse's usage dump).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from ..errors import InputError, ValidationError
from ..numbers import check
from ..vocabulary import MACHINE_TYPES, STRATEGIES

BY = ("hour", "day", "week")


class UsageError(InputError):
    """Bad flags or impossible constraints (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise UsageError(message)


def _typed(name: str, **options):
    """An argparse type built on optera.numbers.check."""

    def convert(text: str):
        if text.strip().lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        try:
            return check(name, text, text=True, **options)
        except ValidationError as e:
            if e.reason == "expected a number" or e.reason == "missing value":
                raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
            if options.get("integer") and e.reason.startswith("expected a whole number"):
                raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
            raise argparse.ArgumentTypeError(f"{text[:40]!r} {e.reason}") from None

    convert.__name__ = name
    return convert


non_negative = _typed("value")
share = _typed("share", maximum=1.0)
count = _typed("count", integer=True)
port = _typed("port", integer=True, minimum=1, maximum=65535)


def share_type(text: str) -> float:
    try:
        return share(text)
    except argparse.ArgumentTypeError as e:
        if "at most" in str(e) or "negative" in str(e):
            raise argparse.ArgumentTypeError(f"{text[:40]!r} must be between 0 and 1") from None
        raise


def pair(text: str) -> tuple[str, int]:
    """TYPE=N, with TYPE one of the five API field names."""
    name, sep, number = text.partition("=")
    name = name.strip()
    if not sep:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not TYPE=N")
    if name not in MACHINE_TYPES:
        raise argparse.ArgumentTypeError(f"unknown machine type {name[:40]!r}; use one of {', '.join(MACHINE_TYPES)}")
    return name, count(number.strip())


def timestamp(text: str) -> datetime:
    from ..models import parse_timestamp

    try:
        return parse_timestamp(text, "timestamp")
    except (ValidationError, OverflowError, ValueError) as e:
        reason = e.message if isinstance(e, ValidationError) else "is outside the range of dates"
        raise argparse.ArgumentTypeError(f"{text[:60]!r}: {reason}") from None


def pairs_to_counts(pairs: list[tuple[str, int]], flag: str) -> dict[str, int]:
    """TYPE=N pairs as a mapping; naming a type twice is an error, not "last one wins"."""
    out: dict[str, int] = {}
    for name, value in pairs:
        if name in out:
            raise UsageError(f"{flag}: {name} is given twice ({out[name]:,} and {value:,}); give each type once")
        out[name] = value
    return out


def add_price_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--energy-price", type=non_negative, help="energy price per W per period (default: latest)")
    p.add_argument("--hash-price", type=non_negative, help="hash price per unit hashrate per period (default: latest)")
    p.add_argument("--token-price", type=non_negative, help="token price per token per period (default: latest)")
    p.add_argument("--power-limit", type=non_negative, metavar="W",
                   help="power limit in W (default: the site's, as last read)")


def add_constraint_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max", type=pair, action="append", default=[], metavar="TYPE=N",
                   help="at most N units of TYPE (the machines you own); repeatable")
    p.add_argument("--lock", type=pair, action="append", default=[], metavar="TYPE=N",
                   help="exactly N units of TYPE; repeatable")
    p.add_argument("--min-inference-share", type=share_type, metavar="F", help="inference at least F (0-1) of power")
    p.add_argument("--max-inference-share", type=share_type, metavar="F", help="inference at most F (0-1) of power")
    p.add_argument("--min-tokens", type=non_negative, metavar="N", help="at least N tokens of throughput")
    p.add_argument("--min-hashrate", type=non_negative, metavar="N", help="at least N hashrate")
    p.add_argument("--max-moved", type=count, metavar="N", help="at most N units moved from the current allocation")
    p.add_argument("--switching-cost", type=non_negative, default=0.0, metavar="C",
                   help="cost per unit moved from the current allocation")


# flags only a policy has (None when not given: the policy's own default applies)
POLICY_ONLY = ("min_gain", "max_step", "max_deploys_per_hour", "headroom", "payback")


def add_policy_flags(p: argparse.ArgumentParser, caps_default: str) -> None:
    """The policy's flags (optera.policy.Policy), the same for `backtest` and `autopilot`."""
    p.add_argument("--switching-cost", type=non_negative, default=0.0, metavar="C", help="cost per unit moved")
    p.add_argument("--payback", type=_typed("payback", integer=True, minimum=1), metavar="N",
                   help="a move must pay back its switching cost within N intervals (default 1)")
    p.add_argument("--min-hold", type=count, default=0, metavar="N", help="keep a new allocation at least N intervals")
    p.add_argument("--min-gain", type=non_negative, metavar="G",
                   help="act only on gains of at least G per period")
    p.add_argument("--max-step", type=count, metavar="N", help="at most N units moved per deploy")
    p.add_argument("--max-deploys-per-hour", type=count, metavar="N", help="at most N deploys per hour")
    p.add_argument("--headroom", type=non_negative, metavar="W",
                   help="power to keep unused below the site's limit, in W")
    p.add_argument("--max", type=pair, action="append", default=[], metavar="TYPE=N",
                   help=f"at most N units of TYPE; repeatable (default: {caps_default})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="optera", description="Power allocation for mining-and-compute sites.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("sim", help="serve the MARA-compatible simulator on 127.0.0.1")
    p.add_argument("--port", type=port, default=8787)
    p.add_argument("--state", help="file where the simulator keeps its sites (default: beside the DB)")
    p.add_argument("--clock-file", metavar="PATH",
                   help="read now from the ISO timestamp in this file on every request (wall time while it "
                        "is absent), so a test can move the simulator's clock")

    sub.add_parser("sync", help="fetch prices, inventory and the site's status into the local DB")

    p = sub.add_parser("status", help="the site's current allocation, power and profit")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("optimize", help="the exact best allocation under the power limit and constraints")
    add_price_flags(p)
    add_constraint_flags(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("deploy", help="send an allocation (the optimum, or TYPE=N pairs) to the site")
    p.add_argument("pairs", nargs="*", type=pair, metavar="TYPE=N")
    add_price_flags(p)
    add_constraint_flags(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("backtest", help="replay a strategy over stored history or a CSV")
    p.add_argument("--strategy", choices=list(STRATEGIES), default="optimal")
    p.add_argument("--allocation", type=pair, action="append", default=[], metavar="TYPE=N")
    p.add_argument("--prices-csv", metavar="FILE")
    p.add_argument("--start", type=timestamp, metavar="ISO")
    p.add_argument("--end", type=timestamp, metavar="ISO")
    p.add_argument("--power-limit", type=non_negative, metavar="W")
    p.add_argument("--policy", action="store_true",
                   help="replay the autopilot's policy and measure it against the best schedule in hindsight "
                        "(implied by any policy-only flag)")
    add_policy_flags(p, "none; with --policy, the saved caps")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("autopilot", help="the policy, live: one decision per price interval (a dry run until --live)")
    p.add_argument("--once", action="store_true", help="one decision, then exit")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="record decisions, deploy nothing (the default)")
    mode.add_argument("--live", action="store_true", help="deploy the decisions through the safe deploy path")
    p.add_argument("--resume", action="store_true", help="clear a pause (set in the app or by a guardrail) first")
    add_policy_flags(p, "the saved caps")
    p.add_argument("--json", action="store_true", help="one JSON object per decision")

    p = sub.add_parser("pnl", help="realized profit against the optimum, from stored history")
    p.add_argument("--start", type=timestamp, metavar="ISO", help="inclusive (default: all stored history)")
    p.add_argument("--end", type=timestamp, metavar="ISO", help="exclusive (default: now)")
    p.add_argument("--by", choices=BY, default="day")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("db", help="database maintenance")
    p.add_argument("action", choices=["recover", "check"])
    return parser

