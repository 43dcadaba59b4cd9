"""The autopilot: the policy you backtested, live, one decision per price interval.

Each tick syncs, then calls :func:`optera.policy.decide` (the function
:func:`optera.backtest.run_policy` replays), and in live mode sends a deploy through
:meth:`optera.service.Service.deploy` (fresh limit, audit first, read-back). Every
tick is one row in the database, hold or deploy, dry or live, with its reason.

Guardrails: a failing source or stale prices → hold; a deploy the site refused, a
read-back that disagrees, a site over its limit → pause (the flag the app sets too),
with the reason; the flag is read every ``poll`` seconds of the clock and right
before a deploy; one autopilot per database (an OS lock beside it, released by the
kernel when its process ends, so a crashed one never blocks the next); a stop event
ends the loop between ticks, never in the middle of a deploy.

A dry run keeps a paper allocation (the site's at the start, then each decided
target), so its decisions are those the live autopilot would make and those
``run_policy`` replays from the same start. A live autopilot keeps the policy's
state in the database, so a restart keeps the minimum hold and the hourly limit.

What the app reads of it and how it pauses it live in :mod:`optera.autopilot.state`.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..clock import Clock, utcnow
from ..errors import AutopilotError, InputError, StorageError
from ..models import Allocation, Prices, format_timestamp
from ..policy import HOLD, Decision, Policy, PolicyState, decide
from .state import HEARTBEAT, HEARTBEAT_EVERY, LIVE_STATE, PAUSE, POLL_S, pause

if TYPE_CHECKING:
    from ..service import Service

DRY_RUN, LIVE = "dry_run", "live"
SETTLE = timedelta(seconds=10)  # after a price is due, before asking for it
# deploy outcomes that hold (the source failed right before sending, or nothing to send); others pause
HOLDING_OUTCOMES = ("no_limit", "unsafe", "noop")


@dataclass(frozen=True)
class Tick:
    """One recorded decision; ``to_dict`` is the CLI's JSON (the policy's contract plus context)."""

    decision: Decision
    mode: str
    outcome: str  # a key of vocabulary.AUTOPILOT_OUTCOMES: why it held, or what became of the deploy
    at: datetime
    message: str = ""
    paused: str | None = None  # why this tick paused the autopilot
    record_id: int | None = None
    audit_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.decision.to_dict(), "mode": self.mode, "outcome": self.outcome,
                "prices_at": self.decision.timestamp.isoformat(), "decided_at": self.at.isoformat(),
                "message": self.message, "paused": self.paused, "id": self.record_id, "audit_id": self.audit_id}

    def row(self) -> dict[str, Any]:
        d = self.decision
        return {"at": self.at, "price_at": d.timestamp, "mode": self.mode, "action": d.action, "target": d.target,
                "current": d.current, "expected_gain_per_period": d.expected_gain_per_period, "reason": d.reason,
                "outcome": self.outcome, "message": self.message, "audit_id": self.audit_id}


class SiteLock:
    """One autopilot per database: an exclusive ``flock`` on a file beside it."""

    def __init__(self, db_path: Path):
        self.path = Path(db_path).with_name(Path(db_path).name + ".autopilot.lock")
        self._fd: int | None = None

    def acquire(self, mode: str) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise AutopilotError(f"The autopilot cannot create its lock file {self.path} ({e.strerror or e}); "
                                 "check that the database's folder is writable.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AutopilotError(f"Another autopilot is already running for this site ({holder}). Stop it first "
                                 "(Ctrl-C in its terminal) or pause it in the app.") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, {mode.replace('_', ' ')}, started {utcnow():%Y-%m-%d %H:%M} UTC".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays for the next one
            self._fd = None


@dataclass
class Autopilot:
    """The loop. ``run`` (until stopped) and ``once`` take the site lock; ``tick`` is one decision."""

    svc: Service
    policy: Policy
    live: bool = False
    clock: Clock = field(default_factory=Clock)
    interval: timedelta | None = None  # default: the period setting (the price cadence)
    settle: timedelta = SETTLE
    poll: float = POLL_S
    stale_after: timedelta | None = None  # default: two intervals
    on_tick: Callable[[Tick], None] | None = None

    def __post_init__(self):
        self.interval = self.interval or timedelta(minutes=self.svc.settings.period_minutes)
        self.stale_after = self.stale_after or 2 * self.interval
        self.mode = LIVE if self.live else DRY_RUN
        self._state, self._last_price_at, self._paper = PolicyState(), None, None
        self._backlog: list[dict[str, Any]] = []
        self._beat: dict[str, Any] = {}
        self._pause_seen: dict | None = None
        self._unwritten_pause: str | None = None  # a guardrail's pause the locked database did not take yet
        if self.live:
            saved = self.svc.store.get_meta(LIVE_STATE) or {}
            if saved.get("price_at"):
                self._state = PolicyState.from_dict(saved.get("state") or {})
                self._last_price_at = datetime.fromisoformat(saved["price_at"])

    # -- running ----------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, ticks: int | None = None) -> None:
        """Tick on the price cadence until ``stop`` is set (or ``ticks`` decisions are recorded)."""
        stop = stop or threading.Event()
        with self._locked():
            done = 0
            while not stop.is_set():
                tick = self.tick(force=False)
                done += tick is not None
                if ticks is not None and done >= ticks:
                    break
                due = self._next_check(tick)
                self._heartbeat("paused" if self._pause_seen else "running", next_check=due)
                if self._wait_until(due, stop):
                    break

    def once(self) -> Tick:
        """One decision now (recorded, deployed in live mode), under the site lock."""
        with self._locked():
            return self.tick(force=True)

    @contextmanager
    def _locked(self):
        lock = SiteLock(self.svc.store.path)
        lock.acquire(self.mode)
        try:
            self._beat = {"pid": os.getpid(), "mode": self.mode, "started_at": self._iso(),
                          "interval_s": self.interval.total_seconds(), "policy": self.policy.describe(self.svc.money)}
            self._heartbeat("paused" if self._pause() else "running")
            yield
        finally:
            try:
                self._flush(final=True)
                self._heartbeat("stopped")
            finally:
                lock.release()

    # -- one decision ---------------------------------------------------------------------
    def tick(self, force: bool = True) -> Tick | None:  # noqa: C901 - each step (sync, read, decide, deploy, record) has its own failure, reported in its own words
        """Sync, decide, act, record. None when no new price has arrived yet (and ``force`` is off)."""
        now = self.clock.now()
        site = current = latest = None
        try:
            paused = self._pause()
            result = self.svc.refresh()
            site = result.status.allocation if result.ok and result.status is not None else None
            if self._paper is None:
                self._paper = site
            current = (site if self.live else self._paper) or self.svc.current_allocation()
            latest = self.svc.latest_prices()
        except StorageError as e:
            return self._hold(now, latest, current, "storage_failed",
                              f"Holding: the database failed, so nothing is decided ({e.message}).")
        if paused:
            return self._hold(now, latest, current, "paused", f"Holding: the autopilot is paused ({paused}).")
        if not result.ok:
            return self._hold(now, latest, current, "sync_failed",
                              f"Holding: the sync failed, so nothing is decided on old data ({result.message}).")
        if latest is None or now - latest.timestamp > self.stale_after:
            age = "no prices are stored" if latest is None else \
                f"the latest price is from {latest.timestamp:%Y-%m-%d %H:%M} UTC, " \
                f"{(now - latest.timestamp).total_seconds() / 60:,.0f} min ago"
            return self._hold(now, latest, current, "prices_stale", f"Holding: {age}; a decision needs a price "
                              f"from the last {self.stale_after.total_seconds() / 60:g} min.")
        if self._last_price_at is not None and latest.timestamp <= self._last_price_at:
            if not force:
                return None
            return self._hold(now, latest, current, "hold", f"Holding: the price of {latest.timestamp:%H:%M} UTC "
                              "was decided on already; the next one is due "
                              f"{latest.timestamp + self.interval:%H:%M} UTC.")
        limit = self.svc.site_limit() or self.svc.power_limit()
        state = self._state_at(latest.timestamp)
        try:
            d = decide(self.policy, latest, current, state, limit, self.svc.inventory(), money=self.svc.money)
        except InputError as e:  # e.g. the site's limit fell below the headroom: no decision is possible
            why = f"Paused by the autopilot: the policy cannot be applied ({e.message})."
            self._unwritten_pause = why
            self._pause()
            return self._hold(now, latest, current, "paused", f"Holding. {why}", paused=why)
        if d.action == HOLD:
            return self._decided(now, d, state, "hold", carried=False)
        if not self.live:
            self._paper = d.target
            return self._decided(now, d, state, "dry_run", carried=True)
        if self._pause(strict=True):  # the app may have paused us while we synced
            return self._hold(now, latest, current, "paused", "Holding: the autopilot was paused before the deploy.")
        r = self.svc.deploy(d.target, expected_current=current, action="autopilot", source="autopilot",
                            power_limit=self.policy.power_available(limit))
        paused = None if r.ok or r.outcome in HOLDING_OUTCOMES else f"Paused by the autopilot: {r.message}"
        if paused:
            self._unwritten_pause = paused
            self._pause()  # writes the flag, or keeps it in memory until the database takes it
        return self._decided(now, d, state, r.outcome, carried=r.ok, message=r.message, paused=paused,
                             audit_id=r.audit_id)

    def _decided(self, now: datetime, d: Decision, state: PolicyState, outcome: str, *, carried: bool,
                 **extra) -> Tick:
        self._state, self._last_price_at = state.after(d, carried), d.timestamp
        if self.live:
            try:
                self.svc.store.set_meta(LIVE_STATE, {"state": self._state.to_dict(), "price_at": self._iso(
                    d.timestamp)})
            except StorageError:
                pass  # the next tick recounts from the decisions kept in memory
        return self._record(Tick(d, self.mode, outcome, now, **extra))

    def _hold(self, now: datetime, latest: Prices | None, current: Allocation | None, outcome: str,
              reason: str, paused: str | None = None) -> Tick:
        current = current or self._paper or Allocation()
        stamp = latest.timestamp if latest is not None else now
        return self._record(Tick(Decision(stamp, HOLD, current, current, 0.0, reason), self.mode, outcome, now,
                                 paused=paused))

    def _state_at(self, stamp: datetime) -> PolicyState:
        """The policy's state at a new price: intervals skipped since the last decision count as holds."""
        state = self._state
        if self._last_price_at is not None and state.since_deploy is not None:
            skipped = round((stamp - self._last_price_at) / self.interval) - 1
            if skipped > 0:
                state = replace(state, since_deploy=state.since_deploy + skipped)
        return state

    # -- records --------------------------------------------------------------------------
    def _record(self, tick: Tick) -> Tick:
        """Into the database; when it is locked, kept and written at the next tick (nothing is lost)."""
        row = tick.row()
        try:
            self._flush()
            tick = replace(tick, record_id=self.svc.store.add_autopilot_decision(row))
        except StorageError:
            self._backlog.append(row)
        if self.on_tick is not None:
            self.on_tick(tick)
        return tick

    def _flush(self, final: bool = False) -> None:
        while self._backlog:
            try:
                self.svc.store.add_autopilot_decision(self._backlog[0])
            except StorageError:
                if not final:
                    raise
                with open(self.svc.store.path.with_name(self.svc.store.path.stem + "_autopilot.jsonl"), "a",
                          encoding="utf-8") as fh:  # the database stayed locked to the end: keep them beside it
                    fh.writelines(json.dumps(_plain(r)) + "\n" for r in self._backlog)
                self._backlog.clear()
                return
            self._backlog.pop(0)

    # -- the pause flag and the heartbeat ---------------------------------------------------
    def _pause(self, strict: bool = False) -> str | None:
        """The pause reason, or None. ``strict``: an unreadable flag counts as paused."""
        try:
            if self._unwritten_pause:
                pause(self.svc.store, self._unwritten_pause, by="autopilot", now=self.clock.now())
                self._unwritten_pause = None
            flag = self.svc.store.get_meta(PAUSE)
        except StorageError as e:
            if strict:
                return f"the pause flag cannot be read: {e.message}"
            flag = {"reason": self._unwritten_pause} if self._unwritten_pause else self._pause_seen
        self._pause_seen = flag or None
        return (flag.get("reason") or "paused") if flag else None

    def _heartbeat(self, status: str, next_check: datetime | None = None) -> None:
        if status != self._beat.get("status"):
            self._beat["since"] = self._iso()
        self._beat.update(status=status, heartbeat_at=self._iso(), next_check_at=self._iso(next_check)
                          if next_check else None)
        try:
            self.svc.store.set_meta(HEARTBEAT, self._beat)
        except StorageError:
            pass  # a locked database delays the heartbeat; the app shows its age

    def _wait_until(self, due: datetime, stop: threading.Event) -> bool:
        """Sleep on the clock until ``due``; True when stopped. Wakes every ``poll`` s for the pause flag."""
        last_beat, before = self.clock.now(), bool(self._pause_seen)
        while (left := (due - self.clock.now()).total_seconds()) > 0:
            if self.clock.sleep(min(self.poll, left), stop):
                return True
            now, paused = self.clock.now(), self._pause() is not None
            if paused != before or now - last_beat >= HEARTBEAT_EVERY:
                self._heartbeat("paused" if paused else "running", next_check=due)
                last_beat, before = now, paused
        return stop.is_set()

    def _next_check(self, tick: Tick | None) -> datetime:
        """When the next price is due (plus ``settle``) after the one this tick saw; soon if it was late."""
        now = self.clock.now()
        if tick is None:
            return now + min(timedelta(seconds=30), self.interval / 10)
        due = tick.decision.timestamp + self.interval + self.settle
        while due <= now:
            due += self.interval
        return due

    def _iso(self, when: datetime | None = None) -> str:
        return format_timestamp(when or self.clock.now())


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.to_dict() if isinstance(v, Allocation) else v.isoformat() if isinstance(v, datetime) else v
            for k, v in row.items()}
