"""Simulated MARA prices: the real hackathon day, then a seeded stochastic continuation.

The 110 real points of ``data/mara_prices_2025-06-21.csv`` (2025-06-21 12:00 to
21:05 UTC, every 5 minutes) are served as they are. After the last real point
each of the three log prices follows its own mean-reverting AR(1) (a discretised
Ornstein-Uhlenbeck process) with correlated Gaussian shocks::

    y[k] = log p[k] - mu          (per series)
    y[k] = phi * y[k-1] + eps[k], eps[k] ~ N(0, Sigma)

calibrated on the real day (``calibrate()`` recomputes them from the CSV):

* ``mu``: mean of the day's log prices (levels about 1.70 energy, 1.52 hash,
  1.61 token), so the path reverts to the day's typical levels forever;
* ``phi``: least-squares AR(1) coefficient of the demeaned log prices
  (about 0.95 energy, 0.83 hash, 0.94 token; half-lives 70, 18 and 55 minutes),
  clipped to [0.5, 0.995];
* ``Sigma``: covariance of the AR(1) residuals (per-step volatility about 5.7 %,
  12.8 % and 14.1 %; correlations below 0.1 in size).

Prices are exp(mu + y), hence always positive, with a stationary spread of
roughly +-20-40 % around the levels. Determinism: the shocks of continuation day
d (288 steps) come from ``numpy.random.default_rng([seed, d])`` and the recursion
always runs from the last real point, so a timestamp gets the same prices no
matter when or in which order it is asked for, across processes and restarts.
The generated path is cached and extended a day-chunk at a time
(``scipy.signal.lfilter`` carries the state between chunks).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from ..models import Prices

STEP = timedelta(minutes=5)
STEPS_PER_DAY = 288
DATA_FILE = Path(__file__).resolve().parents[2] / "data" / "mara_prices_2025-06-21.csv"
PHI_RANGE = (0.5, 0.995)


def _load_real(path: Path = DATA_FILE) -> tuple[list[datetime], np.ndarray]:
    stamps: list[datetime] = []
    values: list[tuple[float, float, float]] = []
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        cols = [header.index(c) for c in ("timestamp", "energy_price", "hash_price", "token_price")]
        for line in fh:
            parts = line.strip().split(",")
            if len(parts) < len(header):
                continue
            stamps.append(datetime.fromisoformat(parts[cols[0]]))
            values.append(tuple(float(parts[c]) for c in cols[1:]))
    return stamps, np.array(values, dtype=float)


def calibrate(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu, phi, Sigma) of the log-price AR(1), estimated from real points."""
    logs = np.log(values)
    mu = logs.mean(axis=0)
    y = logs - mu
    phi = (y[1:] * y[:-1]).sum(axis=0) / (y[:-1] ** 2).sum(axis=0)
    phi = np.clip(phi, *PHI_RANGE)
    resid = y[1:] - phi * y[:-1]
    sigma = np.cov(resid, rowvar=False)
    return mu, phi, sigma


def _naive_utc(ts: datetime) -> datetime:
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


class PriceModel:
    """Prices on the 5-minute grid; ``point`` and ``series`` are pure functions of (seed, timestamp)."""

    def __init__(self, seed: int = 2025, data_path: Path | None = None):
        self.seed = int(seed)
        stamps, values = _load_real(data_path or DATA_FILE)
        self.real_stamps = stamps
        self.real_values = values
        self.start = stamps[0]
        self.anchor = stamps[-1]
        self.mu, self.phi, self.sigma = calibrate(values)
        self._chol = np.linalg.cholesky(self.sigma)
        self._a = np.log(values[-1]) - self.mu  # state at the anchor
        self._path = np.empty((0, 3))  # continuation log deviations, step 1 onwards
        self._lock = threading.Lock()

    # -- grid ----------------------------------------------------------------
    def index(self, ts: datetime) -> int:
        """Grid index of the last grid point at or before ts (0 = first real point)."""
        delta = _naive_utc(ts) - self.start
        return int(delta // STEP)

    def timestamp(self, k: int) -> datetime:
        return self.start + k * STEP

    # -- generation -----------------------------------------------------------
    def _day_shocks(self, day: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, day])
        return rng.standard_normal((STEPS_PER_DAY, 3)) @ self._chol.T

    def _ensure(self, steps: int) -> np.ndarray:
        """The cached continuation, extended to at least `steps` points past the anchor."""
        with self._lock:
            have = len(self._path)
            if have >= steps:
                return self._path
            first_day = have // STEPS_PER_DAY
            last_day = (steps - 1) // STEPS_PER_DAY
            shocks = np.concatenate([self._day_shocks(d) for d in range(first_day, last_day + 1)])
            prev = self._path[-1] if have else self._a
            out = np.empty_like(shocks)
            for j in range(3):
                out[:, j], _ = lfilter([1.0], [1.0, -self.phi[j]], shocks[:, j], zi=[self.phi[j] * prev[j]])
            self._path = np.concatenate([self._path, out])
            return self._path

    def _values(self, k0: int, k1: int) -> np.ndarray:
        """Price rows for grid indexes k0..k1 inclusive (k0 >= 0)."""
        n_real = len(self.real_values)
        parts = []
        if k0 < n_real:
            parts.append(self.real_values[k0:min(k1, n_real - 1) + 1])
        if k1 >= n_real:
            c0 = max(k0, n_real) - n_real  # continuation step offsets (0 = first step after the anchor)
            c1 = k1 - n_real
            path = self._ensure(c1 + 1)
            parts.append(np.exp(self.mu + path[c0:c1 + 1]))
        return np.concatenate(parts) if parts else np.empty((0, 3))

    # -- public -----------------------------------------------------------------
    def point(self, ts: datetime) -> Prices:
        """Prices of the grid point at or before ts (times before the real day get its first point)."""
        k = max(self.index(ts), 0)
        e, h, t = self._values(k, k)[0]
        return Prices(self.timestamp(k), float(e), float(h), float(t))

    def series(self, start: datetime, end: datetime) -> list[Prices]:
        """Grid points in [start, end], oldest first; nothing before the real day's first point."""
        start, end = _naive_utc(start), _naive_utc(end)
        k1 = self.index(end)
        k0 = max(self.index(start), 0)
        if self.timestamp(k0) < start:
            k0 += 1
        if k1 < k0 or k1 < 0:
            return []
        values = self._values(k0, k1)
        return [Prices(self.start + (k0 + i) * STEP, float(r[0]), float(r[1]), float(r[2]))
                for i, r in enumerate(values)]

    def array(self, start: datetime, end: datetime) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised series: (grid indexes, n x 3 array of energy, hash, token prices)."""
        k1 = self.index(end)
        k0 = max(self.index(start), 0)
        if self.timestamp(k0) < _naive_utc(start):
            k0 += 1
        if k1 < k0:
            return np.empty(0, dtype=int), np.empty((0, 3))
        return np.arange(k0, k1 + 1), self._values(k0, k1)
