"""Profit and loss ledger: every number against an independent calculation written here.

The store gets prices, status reads and deploys at known times; the expected ledger is
computed below with plain loops (the allocation in force, split by time inside an
interval; profit = hashrate x hash price + tokens x token price - power x energy
price) and a brute-force optimum over every allocation that fits a 20 kW site.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from test_backtest import HASH, POWER, TOKENS, enumerate_allocations

from optera import ledger
from optera.errors import InputError
from optera.models import Allocation, Prices, SiteStatus
from optera.store import Store
from optera.vocabulary import MACHINE_TYPES

LIMIT = 20_000
FIVE = timedelta(minutes=5)
START = datetime(2026, 11, 21, 20, 0)  # a Saturday; Monday 2026-11-23 starts an ISO week
N = 672  # 56 hours: to 2026-11-24 04:00
CENT = 0.005

A = {"hydro_miners": 2, "gpu_compute": 1}
B = {"immersion_miners": 1, "gpu_compute": 2}
C = {"asic_compute": 1}
D = {"air_miners": 2, "hydro_miners": 1}
E = {"asic_compute": 1}
F = {"hydro_miners": 3}

FIRST_READ = datetime(2026, 11, 21, 22, 7, 30)
DEPLOY_OK = datetime(2026, 11, 22, 13, 2, 30)  # mid-interval: 13:00-13:05 is half A, half B
DEPLOY_REFUSED = datetime(2026, 11, 22, 15, 0)
DEPLOY_UNVERIFIED = datetime(2026, 11, 23, 9, 0)
DEPLOY_MISMATCH = datetime(2026, 11, 23, 18, 0)
GAP = (datetime(2026, 11, 22, 2, 0), datetime(2026, 11, 22, 6, 0))  # no status read in between
LAST_READ = datetime(2026, 11, 23, 20, 0)


def profit(alloc: dict, energy: float, hash_: float, token: float) -> float:
    return sum(k * (HASH[n] * hash_ + TOKENS[n] * token - POWER[n] * energy) for n, k in alloc.items())


def revenue(alloc: dict, hash_: float, token: float) -> float:
    return sum(k * (HASH[n] * hash_ + TOKENS[n] * token) for n, k in alloc.items())


def make_prices(seed: int = 1) -> list[tuple[datetime, float, float, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(N):
        e, h, t = (float(v) for v in rng.uniform(0, 4, 3))
        if i % 17 == 0:
            e = 0.0
        if i % 23 == 0:
            t = 0.0
        out.append((START + i * FIVE, e, h, t))
    return out


def status(alloc: dict) -> SiteStatus:
    zero = {n: 0.0 for n in MACHINE_TYPES}
    return SiteStatus(Allocation.from_counts(alloc), zero, zero, 0.0, 0.0, 0.0)


def observations() -> tuple[list[tuple[datetime, dict]], list[dict]]:
    """Status reads (time, allocation) and deploy records, as the site would have produced them."""
    reads: list[tuple[datetime, dict]] = []
    t, current = FIRST_READ, A
    while t < LAST_READ:
        if GAP[0] < t < GAP[1]:
            t += timedelta(minutes=15)
            continue
        if t >= DEPLOY_MISMATCH:
            current = F
        elif t > DEPLOY_UNVERIFIED:
            current = D
        elif t >= DEPLOY_OK:
            current = B
        reads.append((t, current))
        t += timedelta(minutes=15)
    reads += [(DEPLOY_OK, B), (DEPLOY_MISMATCH, F)]  # deploy.py stores the read-back as a snapshot
    deploys = [
        dict(at=DEPLOY_OK, requested=B, previous=A, readback=B, result="ok"),
        dict(at=DEPLOY_REFUSED, requested=C, previous=B, readback=None, result="refused"),
        dict(at=DEPLOY_UNVERIFIED, requested=D, previous=B, readback=None, result="unverified"),
        dict(at=DEPLOY_MISMATCH, requested=E, previous=D, readback=F, result="mismatch"),
    ]
    return sorted(reads, key=lambda r: r[0]), deploys


def fill(store, prices=None, reads=None, deploys=None, site=True):
    store.upsert_prices(Prices(*p) for p in (make_prices() if prices is None else prices))
    if site:
        store.set_site("test", LIMIT)
    for at, alloc in reads or []:
        store.add_snapshot(status(alloc), fetched_at=at)
    for d in deploys or []:
        store.record_deployment(action="deploy", requested=Allocation.from_counts(d["requested"]),
                                previous=Allocation.from_counts(d["previous"]) if d["previous"] else None,
                                result=d["result"], message="",
                                readback=Allocation.from_counts(d["readback"]) if d["readback"] else None,
                                at=d["at"])
    return store


@pytest.fixture
def full(store):
    reads, deploys = observations()
    return fill(store, reads=reads, deploys=deploys)


# ---------------------------------------------------------------- the independent ledger

def timeline(reads, deploys) -> list[tuple[datetime, dict]]:
    """What the site ran from each moment: reads, plus deploys the site accepted (read-back, else request)."""
    applied = [(d["at"], d["readback"] or d["requested"]) for d in deploys
               if d["result"] in ("ok", "mismatch", "unverified")]
    return sorted(reads + applied, key=lambda r: r[0])  # stable: a read before a deploy at the same moment


def brute_optimum(energy, hash_, token, caps=None) -> float:
    _, h, t, p = enumerate_allocations(LIMIT, POWER, HASH, TOKENS, caps)
    return float(max(hash_ * h + token * t - energy * p))


def expected_intervals(prices, events, caps=None):
    """Per interval: (start, counted?, revenue, cost, realized, optimal)."""
    out = []
    for ts, e, h, tok in prices:
        before = [a for at, a in events if at <= ts]
        if not before:
            out.append((ts, False, 0.0, 0.0, 0.0, 0.0))
            continue
        pieces, current, mark = [], before[-1], ts
        for at, a in events:
            if ts < at < ts + FIVE:
                pieces.append(((at - mark) / FIVE, current))
                current, mark = a, at
        pieces.append(((ts + FIVE - mark) / FIVE, current))
        rev = sum(w * revenue(a, h, tok) for w, a in pieces)
        cost = sum(w * sum(k * POWER[n] for n, k in a.items()) * e for w, a in pieces)
        out.append((ts, True, rev, cost, rev - cost, brute_optimum(e, h, tok, caps)))
    return out


def bucket(ts: datetime, by: str) -> tuple[datetime, datetime]:
    hour = ts.replace(minute=0, second=0)
    day = hour.replace(hour=0)
    if by == "hour":
        return hour, hour + timedelta(hours=1)
    if by == "day":
        return day, day + timedelta(days=1)
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=7)


def expected_rows(intervals, by, start, end):
    rows: dict[datetime, dict] = {}
    for ts, counted, rev, cost, real, opt in intervals:
        if not (start <= ts < end):
            continue
        lo, hi = bucket(ts, by)
        row = rows.setdefault(lo, {"start": max(lo, start), "end": min(hi, end), "intervals": 0, "revenue": [],
                                   "cost": [], "realized": [], "optimal": []})
        if counted:
            row["intervals"] += 1
            for key, value in (("revenue", rev), ("cost", cost), ("realized", real), ("optimal", opt)):
                row[key].append(value)
    return [{**r, **{k: math.fsum(r[k]) for k in ("revenue", "cost", "realized", "optimal")}}
            for _, r in sorted(rows.items()) if r["intervals"]]


def assert_row(row, want):
    assert (row.start, row.end, row.intervals) == (want["start"], want["end"], want["intervals"])
    assert row.realized_profit == pytest.approx(want["realized"], abs=CENT)
    assert row.optimal_profit == pytest.approx(want["optimal"], abs=CENT)
    assert row.left_on_table == pytest.approx(want["optimal"] - want["realized"], abs=CENT)
    assert row.revenue == pytest.approx(want["revenue"], abs=CENT)
    assert row.cost == pytest.approx(want["cost"], abs=CENT)


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("by", ["hour", "day", "week"])
def test_whole_history_matches_the_independent_ledger(full, by):
    reads, deploys = observations()
    intervals = expected_intervals(make_prices(), timeline(reads, deploys))
    end = START + N * FIVE
    led = ledger.build(full, by=by)
    want = expected_rows(intervals, by, START, end)
    assert len(led.rows) == len(want)
    for row, w in zip(led.rows, want):
        assert_row(row, w)
    total = expected_rows(intervals, "week", START, end)  # one week row per ISO week; sum them
    assert led.total.intervals == sum(w["intervals"] for w in total)
    assert led.total.realized_profit == pytest.approx(math.fsum(i[4] for i in intervals), abs=CENT)
    assert led.total.optimal_profit == pytest.approx(math.fsum(i[5] for i in intervals), abs=CENT)
    assert (led.total.start, led.total.end) == (START, end)


@pytest.mark.parametrize("by,start,end", [
    ("hour", datetime(2026, 11, 22, 13, 30), datetime(2026, 11, 23, 9, 40)),
    ("day", datetime(2026, 11, 22, 6, 10), datetime(2026, 11, 23, 18, 25)),
    ("week", datetime(2026, 11, 22, 22, 0), datetime(2026, 11, 23, 3, 0)),
])
def test_ranges_that_cut_an_hour_day_or_week(full, by, start, end):
    reads, deploys = observations()
    intervals = expected_intervals(make_prices(), timeline(reads, deploys))
    led = ledger.build(full, start.isoformat() + "Z", end, by=by)
    want = expected_rows(intervals, by, start, end)
    assert led.rows[0].start == start and led.rows[-1].end == end
    assert len(led.rows) == len(want)
    for row, w in zip(led.rows, want):
        assert_row(row, w)
    if by == "week":  # split at Monday 00:00 UTC
        assert [r.end for r in led.rows] == [datetime(2026, 11, 23), end]


def test_a_deploy_mid_interval_is_weighted_by_time(full):
    led = ledger.build(full)
    prices = {p[0]: p[1:] for p in make_prices()}
    e, h, t = prices[datetime(2026, 11, 22, 13, 0)]
    got = led.intervals.loc[datetime(2026, 11, 22, 13, 0), "realized_profit"]
    assert got == pytest.approx(0.5 * profit(A, e, h, t) + 0.5 * profit(B, e, h, t), abs=1e-6)
    e, h, t = prices[datetime(2026, 11, 22, 13, 5)]
    assert led.intervals.loc[datetime(2026, 11, 22, 13, 5), "realized_profit"] == pytest.approx(
        profit(B, e, h, t), abs=1e-6)
    assert [d.at for d in led.deploys] == [DEPLOY_OK, DEPLOY_UNVERIFIED, DEPLOY_MISMATCH]


def test_a_refused_deploy_does_not_count(full, tmp_path):
    reads, deploys = observations()
    other = fill(Store(tmp_path / "without.db"), reads=reads, deploys=[d for d in deploys if d["result"] != "refused"])
    with_refused = ledger.build(full, by="hour")
    without = ledger.build(other, by="hour")
    assert [r.realized_profit for r in with_refused.rows] == [r.realized_profit for r in without.rows]
    prices = {p[0]: p[1:] for p in make_prices()}
    hour = with_refused.between(DEPLOY_REFUSED, DEPLOY_REFUSED + timedelta(hours=1))
    assert hour.realized_profit == pytest.approx(
        math.fsum(profit(B, *prices[DEPLOY_REFUSED + i * FIVE]) for i in range(12)), abs=CENT)
    assert any("1 deploy attempt in the range (refused) never reached the site" in a
               for a in with_refused.assumptions)
    other.close()


def test_the_gap_before_the_first_read_is_left_out_and_stated(full):
    led = ledger.build(full, by="day")
    left_out = sum(1 for p in make_prices() if p[0] < FIRST_READ)
    assert left_out == 26  # 20:00 .. 22:05; the 22:05 interval starts before the read at 22:07:30
    assert led.total.left_out == left_out
    assert led.total.intervals == N - left_out
    assert led.assumptions[0] == ("Before the first status read at 2026-11-21 22:07 UTC the allocation is unknown: "
                                  "26 intervals are left out of realized and optimal profit.")
    first_day = led.rows[0]
    assert (first_day.intervals, first_day.left_out) == (22, 26)


def test_a_range_after_the_first_read_has_no_unknown_intervals(full):
    led = ledger.build(full, datetime(2026, 11, 22, 12), datetime(2026, 11, 22, 14))
    assert led.total.left_out == 0 and led.total.intervals == 24
    assert not any("unknown" in a for a in led.assumptions)


def test_a_long_gap_is_carried_forward_and_stated(full):
    led = ledger.build(full)
    last_before = datetime(2026, 11, 22, 1, 52, 30)  # the last 15-minute read before the gap
    first_after = datetime(2026, 11, 22, 6, 7, 30)
    n = sum(1 for p in make_prices() if last_before <= p[0] < first_after)
    assert (f"No status read or deploy from 2026-11-22 01:52 UTC to 2026-11-22 06:07 UTC (4.2 h): the allocation "
            f"seen before (2 hydro miners, 1 GPU inference) is assumed to have run for those {n} intervals."
            ) in led.assumptions
    tail = sum(1 for p in make_prices() if p[0] >= datetime(2026, 11, 23, 19, 52, 30))
    assert any(a.startswith("No status read or deploy since 2026-11-23 19:52 UTC") and f"{tail} intervals" in a
               for a in led.assumptions)


def test_unverified_counts_the_request_and_mismatch_the_read_back(full):
    led = ledger.build(full)
    prices = {p[0]: p[1:] for p in make_prices()}
    assert led.intervals.loc[DEPLOY_UNVERIFIED, "realized_profit"] == pytest.approx(
        profit(D, *prices[DEPLOY_UNVERIFIED]), abs=1e-6)
    assert led.intervals.loc[DEPLOY_MISMATCH, "realized_profit"] == pytest.approx(
        profit(F, *prices[DEPLOY_MISMATCH]), abs=1e-6)
    assert any(a.startswith("The deploy at 2026-11-23 09:00 UTC was accepted but not read back: the requested "
                            "allocation (2 air miners, 1 hydro miners)") for a in led.assumptions)
    assert any(a.startswith("The deploy at 2026-11-23 18:00 UTC asked for 1 ASIC inference but the site reported "
                            "3 hydro miners") for a in led.assumptions)


def test_empty_ranges(full, tmp_path):
    for start, end in ((datetime(2027, 1, 1), datetime(2027, 1, 2)), (START + FIVE, START + FIVE)):
        led = ledger.build(full, start, end)
        assert led.rows == [] and led.total.intervals == 0 and led.total.realized_profit == 0.0
        assert led.assumptions[0] == (f"No prices are stored between {start:%Y-%m-%d %H:%M} UTC and "
                                      f"{end:%Y-%m-%d %H:%M} UTC: there is nothing to count.")
        assert ledger.best_and_worst_day(led) is None
        assert led.to_json()["total"] == {"start": ledger.iso(start), "end": ledger.iso(end), "intervals": 0,
                                          "realized_profit": 0.0, "optimal_profit": 0.0, "left_on_table": 0.0}
    with pytest.raises(InputError, match="after the end"):
        ledger.build(full, START + FIVE, START)
    with pytest.raises(InputError, match="cannot group by 'month'"):
        ledger.build(full, by="month")
    with pytest.raises(InputError, match="start"):
        ledger.build(full, "yesterday-ish")
    empty = Store(tmp_path / "empty.db")
    empty.set_site("empty", LIMIT)
    out = ledger.pnl_json(empty)
    empty.close()
    assert out == {"rows": [], "total": {"start": None, "end": None, "intervals": 0, "realized_profit": 0.0,
                                         "optimal_profit": 0.0, "left_on_table": 0.0},
                   "assumptions": ["No prices are stored yet: there is nothing to count."]}


def test_no_observation_at_all_leaves_everything_out(store):
    fill(store)
    led = ledger.build(store)
    assert led.total.intervals == 0 and led.total.left_out == N and led.rows == []
    assert led.assumptions[0] == ("No status read or deploy is stored before 2026-11-24 04:00 UTC: the allocation "
                                  f"is unknown, so all {N} intervals are left out of realized and optimal profit.")


def test_caps_bound_the_optimum_and_a_capped_allocation_is_flagged(full):
    caps = {"immersion_miners": 0, "gpu_compute": 1}
    reads, deploys = observations()
    intervals = expected_intervals(make_prices(), timeline(reads, deploys), caps)
    led = ledger.build(full, by="day", caps=caps)
    for row, w in zip(led.rows, expected_rows(intervals, "day", START, START + N * FIVE), strict=True):
        assert_row(row, w)
    assert any(a.startswith("The optimum uses the site's power limit of 20 kW and no immersion miners, at most 1 "
                            "GPU inference") for a in led.assumptions)
    n_b = sum(1 for p in make_prices() if DEPLOY_OK <= p[0] < DEPLOY_UNVERIFIED)
    assert any(a.startswith(f"From 2026-11-22 13:05 UTC the site ran 1 immersion miners, 2 GPU inference for {n_b} "
                            "intervals, outside the limits") for a in led.assumptions)


def test_caps_stored_by_the_app_are_used_by_default(full):
    full.set_meta("caps", {"asic_compute": 0})
    assert ledger.build(full).caps == {"asic_compute": 0}
    assert ledger.build(full, caps={}).caps == {}


def test_an_allocation_over_the_limit_can_leave_a_negative_amount(store):
    prices = [(START + i * FIVE, 0.0, 1.0, 0.0) for i in range(12)]  # free power: more machines earn more
    fill(store, prices=prices, reads=[(START, {"immersion_miners": 3})])
    led = ledger.build(store, power_limit=20_000)
    assert led.total.realized_profit == pytest.approx(12 * 30_000.0)
    assert led.total.optimal_profit == pytest.approx(12 * 20_000.0)
    assert led.total.left_on_table == pytest.approx(-12 * 10_000.0)
    assert any("power 30 kW exceeds the limit of 20 kW" in a for a in led.assumptions)


def test_capture_is_none_when_nothing_could_be_earned(store):
    prices = [(START + i * FIVE, 5.0, 0.0, 0.0) for i in range(6)]  # every machine loses money
    fill(store, prices=prices, reads=[(START, {})])
    total = ledger.build(store).total
    assert (total.optimal_profit, total.realized_profit, total.capture) == (0.0, 0.0, None)


def test_pnl_json_is_the_cli_contract(full):
    reads, deploys = observations()
    intervals = expected_intervals(make_prices(), timeline(reads, deploys))
    out = ledger.pnl_json(full, by="day")
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert set(out) == {"rows", "total", "assumptions"}
    fields = {"start", "end", "intervals", "realized_profit", "optimal_profit", "left_on_table"}
    assert all(set(r) == fields for r in out["rows"]) and set(out["total"]) == fields
    assert [r["start"] for r in out["rows"]] == ["2026-11-21T20:00:00Z", "2026-11-22T00:00:00Z",
                                                 "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z"]
    assert out["total"]["end"] == "2026-11-24T04:00:00Z"
    for row, w in zip(out["rows"], expected_rows(intervals, "day", START, START + N * FIVE), strict=True):
        assert row["intervals"] == w["intervals"]
        assert row["realized_profit"] == pytest.approx(w["realized"], abs=CENT + 1e-9)
        assert row["left_on_table"] == pytest.approx(w["optimal"] - w["realized"], abs=CENT + 1e-9)
    assert all(isinstance(a, str) and a for a in out["assumptions"])


def test_best_and_worst_day_among_whole_days(full):
    reads, deploys = observations()
    days = expected_rows(expected_intervals(make_prices(), timeline(reads, deploys)), "day", START, START + N * FIVE)
    whole = [d for d in days if d["intervals"] == 288]
    assert len(whole) == 2
    got = ledger.best_and_worst_day(ledger.build(full, by="hour"))
    best = max(whole, key=lambda d: d["realized"])
    worst = min(whole, key=lambda d: d["realized"])
    assert (got.best.start, got.worst.start, got.days, got.skipped) == (best["start"], worst["start"], 2, 2)
    assert got.best.realized_profit == pytest.approx(best["realized"], abs=CENT)


def test_last_deploy_and_what_it_changed(full, tmp_path):
    change = ledger.last_deploy(full)
    prices = {p[0]: p[1:] for p in make_prices()}
    assert (change.at, change.result, change.running, change.requested) == (
        DEPLOY_MISMATCH, "mismatch", Allocation.from_counts(F), Allocation.from_counts(E))
    assert change.moved == 2 + 2  # D (2 air, 1 hydro) -> F (3 hydro)
    assert change.prices.timestamp == DEPLOY_MISMATCH
    assert change.profit_change == pytest.approx(profit(F, *prices[DEPLOY_MISMATCH]) - profit(D, *prices[
        DEPLOY_MISMATCH]), abs=1e-6)
    other = fill(Store(tmp_path / "other.db"),
                 deploys=[dict(at=START, requested=A, previous=None, readback=None, result="invalid")])
    assert ledger.last_deploy(other) is None
    other.close()


def test_a_deploy_that_found_an_unrecorded_change_says_so(store):
    fill(store, reads=[(START, A)], deploys=[dict(at=START + 6 * FIVE, requested=B, previous=F, readback=B,
                                                  result="ok")])
    led = ledger.build(store)
    assert ("The deploy at 2026-11-21 20:30 UTC found the site running 3 hydro miners, not 2 hydro miners, "
            "1 GPU inference as recorded at 2026-11-21 20:00 UTC: it changed at an unknown time in between, and "
            "the ledger counts the recorded one until the deploy.") in led.assumptions


def test_missing_prices_are_stated(store):
    prices = [p for i, p in enumerate(make_prices()[:48]) if not 10 <= i < 13]
    fill(store, prices=prices, reads=[(START, A)])
    led = ledger.build(store)
    assert led.total.intervals == 45
    assert "Prices are missing for 3 intervals in the range; those intervals are not in the ledger." in \
        led.assumptions


def test_recent_windows_for_the_overview(full):
    reads, deploys = observations()
    intervals = expected_intervals(make_prices(), timeline(reads, deploys))
    now = datetime(2026, 11, 24, 3, 0)
    got = ledger.recent(full, now=now)
    yesterday = expected_rows(intervals, "day", datetime(2026, 11, 23), datetime(2026, 11, 24))[0]
    assert_row(got.yesterday, yesterday)
    week = [i for i in intervals if now - timedelta(days=7) <= i[0] < now and i[1]]
    assert got.last_7_days.intervals == len(week)
    assert got.last_7_days.realized_profit == pytest.approx(math.fsum(i[4] for i in week), abs=CENT)
    assert got.last_30_days.optimal_profit == pytest.approx(math.fsum(i[5] for i in week), abs=CENT)
    assert [d.at for d in got.ledger.deploys] == [DEPLOY_OK, DEPLOY_UNVERIFIED, DEPLOY_MISMATCH]


def test_the_power_limit_comes_from_the_site_or_must_be_given(store):
    fill(store, reads=[(START, A)], site=False)
    with pytest.raises(InputError, match="power limit is not known"):
        ledger.build(store)
    assert ledger.build(store, power_limit=LIMIT).power_limit == LIMIT
    store.set_site("s", 30_000)
    assert ledger.build(store).power_limit == 30_000
