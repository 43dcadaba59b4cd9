"""The one source of "now" (naive UTC, the API's own form), replaceable in tests.

The simulator, the sync cadence and the autopilot all ask a :class:`Clock`, so a
test can run a simulated day of five-minute intervals in seconds; :class:`FileClock`
lets a test in another process (the browser journeys) move a running `optera sim`.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .errors import ConfigError


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


class FileClock(Clock):
    """Now is the ISO timestamp in a file, read on every call; wall time while the file is absent.

    Another process moves the clock by rewriting the file (atomically, e.g. with
    ``os.replace``). A file that is not a timestamp is a :class:`ConfigError`, never a
    silent fall back to wall time.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def now(self) -> datetime:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return utcnow()
        except OSError as e:
            raise ConfigError(f"cannot read the clock file {self.path}: {e.strerror or e}") from None
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"the clock file {self.path} must hold one ISO timestamp, "
                              f"e.g. 2026-01-05T12:00:00 (found {text[:40]!r})") from None
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc).replace(tzinfo=None)
        return when.replace(microsecond=0)

    def set(self, when: datetime) -> None:
        """Move the clock for every process reading the file (written whole, then renamed into place)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(when.replace(microsecond=0).isoformat(), encoding="utf-8")
        tmp.replace(self.path)

    def advance(self, delta: timedelta) -> datetime:
        when = self.now() + delta
        self.set(when)
        return when
