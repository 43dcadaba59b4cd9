"""What the app reads of the autopilot and how it stops it: the heartbeat, the pause flag
and the last decision, all in the database, so the app never talks to the loop directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..clock import utcnow
from ..models import format_timestamp

HEARTBEAT, PAUSE, LIVE_STATE = "autopilot", "autopilot.pause", "autopilot.live_state"  # meta keys
HEARTBEAT_EVERY = timedelta(seconds=60)
POLL_S = 5.0  # how often a waiting loop looks at the pause flag


@dataclass(frozen=True)
class AutopilotState:
    """What the app shows: is an autopilot running, paused or not running, and what did it last decide."""

    status: str  # "running" | "pausing" (flagged, not yet seen by the loop) | "paused" | "not running"
    mode: str | None  # DRY_RUN | LIVE, of the running (or last) autopilot
    heartbeat_at: datetime | None
    since: datetime | None  # when the loop last changed between running and paused
    next_check_at: datetime | None
    started_at: datetime | None
    pause: dict[str, Any] | None  # the flag: reason, by ("app" | "autopilot" | "cli"), at
    last_decision: dict[str, Any] | None
    policy: list[str]
    pid: int | None = None

    @property
    def running(self) -> bool:
        return self.status != "not running"


def read_state(store, now: datetime | None = None) -> AutopilotState:
    """The heartbeat, the pause flag and the last decision; a heartbeat older than three minutes is not running
    (the process ended without saying so: killed, or the machine slept)."""
    beat = store.get_meta(HEARTBEAT) or {}
    flag = store.get_meta(PAUSE) or None
    last = store.autopilot_decisions(1)

    def when(key: str) -> datetime | None:
        return datetime.fromisoformat(beat[key]) if beat.get(key) else None

    heartbeat = when("heartbeat_at")
    alive = (beat.get("status") in ("running", "paused") and heartbeat is not None
             and (now or utcnow()) - heartbeat <= 3 * HEARTBEAT_EVERY)
    status = "not running" if not alive else "running" if not flag else \
        "paused" if beat.get("status") == "paused" else "pausing"
    return AutopilotState(status, beat.get("mode"), heartbeat, when("since"), when("next_check_at") if alive else None,
                          when("started_at"), flag, last[0] if last else None, list(beat.get("policy") or []),
                          beat.get("pid"))


def pause(store, reason: str, by: str = "app", now: datetime | None = None) -> None:
    """Set the pause flag: a running autopilot holds from its next look at it (within ``POLL_S`` seconds)."""
    store.set_meta(PAUSE, {"reason": reason, "by": by, "at": format_timestamp(now or utcnow())})


def resume(store) -> None:
    """Clear the pause flag; a running autopilot decides again at its next check."""
    store.delete_meta(PAUSE)
