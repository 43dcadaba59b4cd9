"""The autopilot's policy: one decision function, the same in the backtest and live."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from optera.backtest import best_schedule, run_policy
from optera.errors import ValidationError
from optera.models import MACHINE_TYPES, Allocation, Prices
from optera.optimize import Constraints, solve
from optera.policy import DEPLOY, HOLD, Decision, Policy, PolicyState, decide
from optera.sim.prices import PriceModel
from optera.units import Money

LIMIT = 1_000_000
# The default inventory, written out so the tests do not trust the code's own tables.
POWER = np.array([3500, 5000, 10000, 5000, 15000], dtype=float)
HASH = np.array([1000, 5000, 10000, 0, 0], dtype=float)
TOKENS = np.array([0, 0, 0, 1000, 50000], dtype=float)


def unit_profit(p: Prices) -> np.ndarray:
    return p.hash_price * HASH + p.token_price * TOKENS - p.energy_price * POWER


def simulated(days: float, seed: int = 5) -> pd.DataFrame:
    t0 = datetime(2025, 6, 22)
    points = PriceModel(seed=seed).series(t0, t0 + timedelta(days=days) - timedelta(minutes=5))
    frame = pd.DataFrame([p.to_dict() for p in points])
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp")), name="timestamp")
    return frame


def random_case(rng):
    """Prices (some at ties or zeros), a current allocation (some breaking the policy) and a policy."""
    h, t, e = rng.uniform(2, 7), rng.uniform(0.5, 3), rng.uniform(2, 7)
    kind = rng.integers(6)
    if kind == 0:
        h = e  # hydro and immersion miners earn exactly their power cost
    elif kind == 1:
        t = h * 3 / 10  # ASIC inference earns per watt what immersion miners earn
    elif kind == 2:
        e = 0.0
    prices = Prices(datetime(2025, 6, 22, 12), e, h, t)
    caps = {n: int(rng.integers(0, 80)) for n in rng.choice(MACHINE_TYPES, int(rng.integers(0, 3)), replace=False)}
    policy = Policy(switching_cost=float(rng.choice([0, 500, 5000])), payback=int(rng.choice([1, 3, 12])),
                    min_gain=float(rng.choice([0, 1000, 20000])),
                    max_moved=None if rng.random() < 0.5 else int(rng.integers(1, 40)),
                    headroom_w=float(rng.choice([0, 25_000, 100_000])), caps=caps)
    current = Allocation(*(int(v) for v in rng.integers(0, 60, 5) * (rng.random(5) < 0.5)))
    if rng.random() < 0.5:  # near the optimum, where the gain and switching-cost gates decide
        near = np.array(solve(prices, LIMIT - policy.headroom_w, Constraints(caps=caps)).allocation.as_list())
        j = rng.integers(5)
        near[j] = max(0, near[j] - int(rng.integers(0, 3)))
        current = Allocation(*(int(v) for v in near))
    return prices, current, policy


@pytest.mark.parametrize("cases", [30, pytest.param(300, marks=pytest.mark.slow)])
def test_decision_is_the_target_solve_picks_and_the_documented_rule(cases):
    rng = np.random.default_rng(12 + cases)
    seen = {DEPLOY: 0, HOLD: 0}
    for _ in range(cases):
        prices, current, policy = random_case(rng)
        d = decide(policy, prices, current, PolicyState(), LIMIT)
        limit = LIMIT - policy.headroom_w
        s = solve(prices, limit, Constraints(caps=dict(policy.caps), max_moved=policy.max_moved), current)
        cur = np.array(current.as_list())
        breaks = cur @ POWER > limit or any(cur[MACHINE_TYPES.index(n)] > c for n, c in policy.caps.items())
        if s.feasible:
            target = np.array(s.allocation.as_list())
            moved = int(np.abs(target - cur).sum())
            net = (target - cur) @ unit_profit(prices) - policy.switching_cost / policy.payback * moved
            act = moved > 0 and (breaks or (net >= policy.min_gain and net > 1e-6))
        else:
            act = False
        assert d.action == (DEPLOY if act else HOLD), (prices, current, policy, d.reason)
        seen[d.action] += 1
        if act:
            assert d.target == s.allocation
            assert d.moved == moved and d.expected_gain_per_period == pytest.approx(net, rel=1e-9, abs=1e-6)
            assert d.switching_cost == pytest.approx(policy.switching_cost * moved)
        else:
            assert d.target == current and d.expected_gain_per_period == 0.0
    assert min(seen.values()) >= cases // 6


def test_the_backtest_replays_decide_interval_by_interval():
    frame = simulated(1)
    policy = Policy(switching_cost=2_000, payback=4, min_hold=3, min_gain=500, max_moved=25, max_deploys_per_hour=3,
                    headroom_w=40_000, caps={"asic_compute": 40})
    start = Allocation(hydro_miners=60, gpu_compute=20, asic_compute=10)
    money = Money(unit="USD")
    r = run_policy(frame, policy, LIMIT, start, money=money, yardstick=False)
    current, state = start, PolicyState()
    for k, row in enumerate(frame.itertuples()):
        p = Prices(row.Index.to_pydatetime(), row.energy_price, row.hash_price, row.token_price)
        d = decide(policy, p, current, state, LIMIT, money=money)
        state = state.after(d)
        current = d.target
        got = r.series.iloc[k]
        assert (got["action"], got["reason"]) == (d.action, d.reason), k
        assert [int(got[n]) for n in MACHINE_TYPES] == current.as_list()
        assert got["expected_gain_per_period"] == pytest.approx(d.expected_gain_per_period)
    assert (r.series["action"] == DEPLOY).sum() >= 5
    assert r.series["reason"].str.contains("USD").any()


def test_guardrails_hold_over_a_replay():
    frame = simulated(2, seed=9)
    policy = Policy(switching_cost=1_000, min_hold=6, min_gain=500, max_moved=15, max_deploys_per_hour=2,
                    headroom_w=100_000, caps={"immersion_miners": 30, "asic_compute": 25})
    r = run_policy(frame, policy, LIMIT, Allocation(air_miners=10, hydro_miners=20), yardstick=False)
    s = r.series
    counts = s[list(MACHINE_TYPES)].to_numpy()
    deploys = np.nonzero((s["action"] == DEPLOY).to_numpy())[0]
    assert len(deploys) >= 10
    assert (np.diff(deploys) >= 6).all()
    times = s.index[deploys]
    for t in times:
        assert ((times > t - pd.Timedelta(hours=1)) & (times <= t)).sum() <= 2
    prev = np.vstack([[10, 20, 0, 0, 0], counts[:-1]])
    moved = np.abs(counts - prev).sum(axis=1)
    assert (moved[deploys] <= 15).all() and (moved[s["action"] == HOLD] == 0).all()
    assert (counts @ POWER <= LIMIT - 100_000).all()
    assert (counts[:, 2] <= 30).all() and (counts[:, 4] <= 25).all()
    assert (s["expected_gain_per_period"].to_numpy()[deploys] >= 500).all()
    assert r.switching_cost_paid == pytest.approx(1_000 * moved.sum())
    revenue = (frame["hash_price"].to_numpy() * (counts @ HASH) + frame["token_price"].to_numpy() * (counts @ TOKENS))
    cost = frame["energy_price"].to_numpy() * (counts @ POWER)
    assert r.profit == pytest.approx(revenue.sum() - cost.sum() - 1_000 * moved.sum(), rel=1e-12)


def test_an_allocation_that_breaks_the_policy_is_moved_even_at_a_loss():
    prices = Prices(datetime(2025, 6, 22), 3.0, 4.0, 2.0)
    current = Allocation(asic_compute=66)  # 990 kW: over 1 MW less 50 kW of headroom
    d = decide(Policy(headroom_w=50_000, min_gain=1e9, switching_cost=1e6), prices, current, None, LIMIT)
    assert d.action == DEPLOY and d.target.power() <= 950_000
    assert d.expected_gain_per_period < 0 and "over the 950 kW available" in d.reason
    d = decide(Policy(caps={"asic_compute": 60}), prices, current, None, LIMIT)
    assert d.action == DEPLOY and d.target.asic_compute <= 60 and "over the cap of 60" in d.reason
    stuck = decide(Policy(headroom_w=50_000, max_moved=2), prices, current, None, LIMIT)
    assert stuck.action == HOLD and "over the 950 kW available" in stuck.reason


def test_state_counts_intervals_and_deploys_in_the_hour():
    t0 = datetime(2025, 6, 22, 12)
    a, b = Allocation(), Allocation(asic_compute=1)
    deploy = Decision(t0, DEPLOY, b, a, 10.0, "x", 1)
    state = PolicyState().after(deploy)
    assert state.since_deploy == 1 and state.deploys_in_hour(t0 + timedelta(minutes=59)) == 1
    assert state.deploys_in_hour(t0 + timedelta(hours=1)) == 0
    hold = Decision(t0 + timedelta(minutes=5), HOLD, b, b, 0.0, "y")
    assert state.after(hold).since_deploy == 2
    assert PolicyState().after(deploy, carried_out=False) == PolicyState()
    assert PolicyState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_min_hold_and_rate_limit_hold_with_a_reason():
    prices = Prices(datetime(2025, 6, 22, 12), 3.0, 4.0, 2.0)
    d = decide(Policy(min_hold=12), prices, Allocation(), PolicyState(since_deploy=4), LIMIT)
    assert d.action == HOLD and "4 intervals ago" in d.reason and "at least 12 intervals" in d.reason
    recent = (prices.timestamp - timedelta(minutes=50), prices.timestamp - timedelta(minutes=10))
    d = decide(Policy(max_deploys_per_hour=2), prices, Allocation(), PolicyState(9, recent), LIMIT)
    assert d.action == HOLD and "2 deploys in the last hour" in d.reason
    d = decide(Policy(max_deploys_per_hour=2), prices, Allocation(), PolicyState(9, recent[1:]), LIMIT)
    assert d.action == DEPLOY


def test_decision_json_is_the_autopilot_contract():
    prices = Prices(datetime(2025, 6, 22, 12), 3.0, 4.0, 2.0)
    out = json.loads(json.dumps(decide(Policy(), prices, Allocation(hydro_miners=3), None, LIMIT).to_dict()))
    assert set(out) == {"decision", "target", "current", "expected_gain_per_period", "reason"}
    assert out["decision"] in ("deploy", "hold") and set(out["target"]) == set(MACHINE_TYPES)
    assert out["current"] == Allocation(hydro_miners=3).to_dict() and isinstance(out["reason"], str)


@pytest.mark.parametrize("kwargs,field", [
    ({"min_hold": -1}, "Minimum hold"), ({"max_moved": 1.5}, "Most units moved"), ({"payback": 0}, "Payback"),
    ({"switching_cost": float("nan")}, "Switching cost"), ({"caps": {"laser_miners": 3}}, "laser_miners"),
    ({"caps": {"asic_compute": -2}}, "Cap of ASIC inference"), ({"max_deploys_per_hour": True}, "Most deploys"),
])
def test_bad_policy_values_are_named(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        Policy(**kwargs)


def test_headroom_larger_than_the_limit_is_refused():
    with pytest.raises(ValidationError, match="more than the power limit of 1 MW"):
        decide(Policy(headroom_w=2_000_000), Prices(datetime(2025, 6, 22), 1.0, 1.0, 1.0), Allocation(), None, LIMIT)


def test_policy_capture_against_the_yardstick():
    frame = simulated(1, seed=2)
    start = Allocation(hydro_miners=40, asic_compute=30)
    for policy in (Policy(switching_cost=3_000), Policy(switching_cost=3_000, min_hold=12, min_gain=1_000),
                   Policy(switching_cost=3_000, max_moved=10)):
        r = run_policy(frame, policy, LIMIT, start)
        best = best_schedule(frame, LIMIT, 3_000, start)
        assert r.yardstick_profit == pytest.approx(best.profit)
        assert r.yardstick_capture == pytest.approx(r.profit / best.profit)
        assert 0.9 < r.yardstick_capture <= 1.0
