"""`optera autopilot`: the backtested policy, live, in the foreground; and the policy from flags.

A dry run (the default) records each decision and deploys nothing; ``--live`` deploys
through the safe deploy path. Ctrl-C (or SIGTERM) ends the loop after the decision in
progress, so a deploy is never cut in half; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import TYPE_CHECKING, Mapping

from ..vocabulary import AUTOPILOT_MODES, AUTOPILOT_OUTCOMES
from .args import pairs_to_counts
from .commands import service
from .output import print_json

if TYPE_CHECKING:
    from ..autopilot.loop import Tick
    from ..policy import Policy


def policy_from_args(args, saved_caps: Mapping[str, int]) -> Policy:
    """The policy the flags describe; without --max, the caps saved in the app."""
    from ..policy import Policy

    given = {"payback": args.payback, "min_gain": args.min_gain, "headroom_w": args.headroom}
    return Policy(switching_cost=args.switching_cost, min_hold=args.min_hold, max_moved=args.max_step,
                  max_deploys_per_hour=args.max_deploys_per_hour, caps=pairs_to_counts(args.max, "--max")
                  or dict(saved_caps), **{k: v for k, v in given.items() if v is not None})


def line(tick: Tick) -> str:
    """One decision as one line of text."""
    d = tick.decision
    text = f"{d.timestamp:%Y-%m-%d %H:%M} UTC  {AUTOPILOT_OUTCOMES.get(tick.outcome, tick.outcome)}: {d.reason}"
    if tick.message and tick.message not in d.reason:
        text += f" {tick.message}"
    if tick.paused:
        text += " The autopilot is paused: resume it in the app, or run again with --resume."
    return text


def cmd_autopilot(args) -> int:
    from ..autopilot.loop import Autopilot

    svc = service()
    policy = policy_from_args(args, svc.caps())
    if args.resume:
        svc.resume_autopilot()

    def show(tick: Tick) -> None:
        if args.json:
            print_json(tick.to_dict())
        else:
            print(line(tick), flush=True)

    pilot = Autopilot(svc, policy, live=args.live, on_tick=None if args.once else show)
    if args.once:
        tick = pilot.once()
        show(tick)
        return 1 if tick.paused else 0
    rules = "; ".join(policy.describe(svc.money)) or "no switching cost, no limits"
    mode = ("live: decisions are deployed through the safe deploy path" if args.live else
            "dry run: decisions are recorded, nothing is deployed (pass --live to deploy)")
    print(f"Autopilot on {svc.settings.source_label}, {mode}. Policy: {rules}. One decision per "
          f"{pilot.interval.total_seconds() / 60:g} min; Ctrl-C stops.", file=sys.stderr if args.json else sys.stdout,
          flush=True)
    stop = threading.Event()
    handlers = {}

    def on_signal(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is threading.main_thread():
        handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        pilot.run(stop)
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    print(f"Autopilot stopped ({AUTOPILOT_MODES[pilot.mode].lower()}).", file=sys.stderr if args.json else sys.stdout)
    return 0
