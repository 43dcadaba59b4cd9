"""The hindsight yardstick: the most profitable schedule with switching costs, by dynamic programming.

Over a price history, choose the allocation of every interval to maximise the total
profit less ``switching_cost`` per unit moved (from the start allocation, then
between intervals). Viterbi over a small exact state set:

* the per-interval candidates of :mod:`optera.optimize.frontier` (every interval's
  optimum is one of them, and so is the best allocation held over any stretch,
  since a stretch's total profit is linear in its summed prices);
* their equal compositions nearest to the start and to each other (2 hydro miners
  for 1 immersion miner): a schedule that keeps what runs moves fewer units;
* the start allocation, when it fits the power limit and caps.

State j at interval t is worth ``V[t, j] = profit[t, j] + max_i(V[t-1, i] - cost * moved(i, j))``.
With C states that is C^2 work per interval, numpy-vectorised: C is about 10 to 16
candidates at 1 MW (with or without caps) and a few dozen states with the equal
compositions, so a year of 5-minute data takes about a second.

It is exact among schedules over this state set. A schedule parking on some other
allocation (a partial move) could in principle beat it by a fill-level margin; with
switching cost 0 it equals the per-interval optimum, and with a prohibitive one the
best single allocation (or holding the start).
Money is per period as the API gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .optimize.frontier import Candidates, _nearest
from .optimize.milp import tie_tolerance

_ROWS = 8192  # intervals per block of the profit matrix
_MAX_STATES = 256
_ROUNDS = 3  # closure rounds of nearest equal compositions


@dataclass
class Path:
    """The best schedule: which state runs in each interval, and the states' counts."""

    states: np.ndarray  # (S, 5) counts of every state
    index: np.ndarray  # (n,) state running in each interval
    value: float  # total profit less switching costs, per the DP

    @property
    def counts(self) -> np.ndarray:
        return self.states[self.index]


def state_set(cand: Candidates, start: np.ndarray | None, start_ok: bool, upper: np.ndarray,
              directions: tuple | None) -> np.ndarray:
    """Candidates, their equal compositions nearest to the start and to each other, and the start."""
    rows = [tuple(int(v) for v in c) for c in cand.counts]
    seen = set(rows)
    fresh = list(rows) + ([tuple(int(v) for v in start)] if start is not None else [])
    if start is not None and start_ok and fresh[-1] not in seen:
        rows.append(fresh[-1])
        seen.add(fresh[-1])
    if directions is not None and any(d is not None for _, d in directions):
        for _ in range(_ROUNDS):
            added = []
            for y in fresh:
                for c in cand.counts:
                    z = tuple(int(v) for v in _nearest(c, y, upper, directions))
                    if z not in seen and len(rows) < _MAX_STATES:
                        seen.add(z)
                        rows.append(z)
                        added.append(z)
            if not added:
                break
            fresh = added
    return np.array(rows, dtype=np.int64)


def best_path(x: np.ndarray, states: np.ndarray, unit: np.ndarray, switching_cost: float,
              start: np.ndarray | None) -> Path:
    """Viterbi over `states` for price rows x = [hash, token, energy].

    unit is (3, 5): [hashrate, tokens, -power] per unit of each type. Without a start
    the first interval's allocation is free. Among equal schedules it keeps the current
    state, then takes the earlier state in the set's order.
    """
    n, s_count = len(x), len(states)
    profits = unit @ states.T  # (3, S)
    cost = switching_cost * np.abs(states[:, None, :] - states[None, :, :]).sum(axis=2).astype(float)
    back = np.empty((n, s_count), dtype=np.int16 if s_count < 2**15 else np.int32)
    own = np.arange(s_count)
    w = np.empty((s_count, s_count))
    v = None
    for b in range(0, n, _ROWS):
        q = x[b:b + _ROWS] @ profits
        for r in range(len(q)):
            if v is None:
                first = (switching_cost * np.abs(states - start).sum(axis=1)) if start is not None else 0.0
                v = q[r] - first
                back[0] = own
                continue
            np.subtract(v[:, None], cost, out=w)  # w[i, j]: arrive in j from i
            frm = w.argmax(axis=0)
            val = w.max(axis=0)
            better = val > v + float(tie_tolerance(float(v[0])))  # staying wins ties
            np.copyto(v, val, where=better)
            back[b + r] = np.where(better, frm, own)
            v += q[r]
    top = v.max()
    j = int(np.argmax(v >= top - tie_tolerance(top)))
    index = np.empty(n, dtype=np.int64)
    for t in range(n - 1, -1, -1):
        index[t] = j
        j = int(back[t, j])
    return Path(states, index, float(v[index[-1]]))
