"""The one source of "now" (naive UTC, the API's own form), replaceable in tests.

The simulator, the sync cadence and the autopilot all ask a :class:`Clock`, so a
test can run a simulated day of five-minute intervals in seconds.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


def utcnow() -> datetime:
    """Now in naive UTC, to the second."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


class Clock:
    """Wall-clock time; ``sleep`` waits on an event so a stop request ends it at once."""

    def now(self) -> datetime:
        return utcnow()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Wait up to ``seconds``; True if ``stop`` was set meanwhile."""
        event = stop or threading.Event()
        return event.wait(max(0.0, seconds))


class ManualClock(Clock):
    """A clock that moves only when told to (``advance``) or when something sleeps on it."""

    def __init__(self, start: datetime):
        self._now = start.replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=float(delta))
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.replace(microsecond=0)

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if stop is not None and stop.is_set():
            return True
        self.advance(seconds)
        return bool(stop is not None and stop.is_set())
