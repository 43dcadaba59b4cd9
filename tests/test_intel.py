"""Profitability intelligence against hand calculations on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optera.intel import metrics as intel

# The published inventory, typed in here independently of optera.models:
# (hashrate, tokens, power W) per unit.
SPECS = {
    "air_miners": (1000, 0, 3500),
    "hydro_miners": (5000, 0, 5000),
    "immersion_miners": (10000, 0, 10000),
    "gpu_compute": (0, 1000, 5000),
    "asic_compute": (0, 50000, 15000),
}
ROWS = [  # energy, hash, token
    (1.0, 1.5, 0.5),
    (10.0, 0.1, 0.1),  # nothing pays
    (0.5, 1.0, 0.1),
    (2.0, 3.0, 0.2),
    (0.8, 0.7, 0.4),
    (1.2, 2.0, 0.05),
]


def frame(rows=ROWS, start="2025-06-21 12:00", freq="5min") -> pd.DataFrame:
    index = pd.date_range(start, periods=len(rows), freq=freq, name="timestamp")
    return pd.DataFrame(rows, columns=["energy_price", "hash_price", "token_price"], index=index)


def hand_profit(e, h, t, name):
    hashrate, tokens, power = SPECS[name]
    return hashrate * h + tokens * t - power * e


def test_unit_profit_first_row_by_hand():
    first = intel.unit_profit(frame()).iloc[0]
    assert first["air_miners"] == pytest.approx(1500 - 3500)
    assert first["hydro_miners"] == pytest.approx(7500 - 5000)
    assert first["immersion_miners"] == pytest.approx(15000 - 10000)
    assert first["gpu_compute"] == pytest.approx(500 - 5000)
    assert first["asic_compute"] == pytest.approx(25000 - 15000)


def test_unit_profit_and_per_kw_every_cell():
    profit = intel.unit_profit(frame())
    per_kw = intel.profit_per_kw(frame())
    for i, (e, h, t) in enumerate(ROWS):
        for name in SPECS:
            expected = hand_profit(e, h, t, name)
            assert profit.iloc[i][name] == pytest.approx(expected)
            assert per_kw.iloc[i][name] == pytest.approx(expected / (SPECS[name][2] / 1000))


def test_best_type_timeline_ranks_by_profit_per_kw_and_says_none():
    best = intel.best_type_timeline(frame())
    expected = []
    for e, h, t in ROWS:
        scores = {n: hand_profit(e, h, t, n) / SPECS[n][2] for n in SPECS}
        name = max(scores, key=scores.get)
        expected.append(name if scores[name] > 0 else "none")
    assert list(best) == expected
    assert best.iloc[0] == "asic_compute"  # 666.7/kW beats hydro's and immersion's 500/kW
    assert best.iloc[1] == "none"


def test_break_even_energy_price():
    be = intel.break_even_energy(frame())
    e, h, t = ROWS[3]
    assert be.iloc[3]["air_miners"] == pytest.approx(1000 * h / 3500)
    assert be.iloc[3]["asic_compute"] == pytest.approx(50000 * t / 15000)
    # at the break-even energy price a unit makes exactly zero
    for name in SPECS:
        hashrate, tokens, power = SPECS[name]
        assert hashrate * h + tokens * t - power * be.iloc[3][name] == pytest.approx(0, abs=1e-9)


def test_share_worth_running():
    share = intel.share_worth_running(frame())
    for name in SPECS:
        positives = sum(1 for e, h, t in ROWS if hand_profit(e, h, t, name) > 0)
        assert share[name] == pytest.approx(positives / len(ROWS))


def test_summary_stats():
    stats = intel.summary_stats(frame())
    energy = [r[0] for r in ROWS]
    n = len(energy)
    mean = sum(energy) / n
    std = (sum((x - mean) ** 2 for x in energy) / (n - 1)) ** 0.5
    row = stats.loc["energy_price"]
    assert row["mean"] == pytest.approx(mean)
    assert row["std"] == pytest.approx(std)
    assert row["min"] == 0.5 and row["max"] == 10.0
    assert row["last"] == 1.2 and row["first"] == 1.0
    assert row["change"] == pytest.approx(0.2)
    assert row["change_pct"] == pytest.approx(0.2)


def test_correlations_on_daily_resample():
    # 6 rows, one per 12 hours -> 3 days, 2 rows each; BTC has 4 daily closes (one outside).
    prices = frame(freq="12h", start="2025-06-01")
    btc = pd.DataFrame({"Close": [100.0, 130.0, 90.0, 500.0]},
                       index=pd.date_range("2025-06-01", periods=4, freq="D"))
    result = intel.correlations(prices, btc, rule="1D")
    assert result.points == 3
    energy_daily = [(ROWS[0][0] + ROWS[1][0]) / 2, (ROWS[2][0] + ROWS[3][0]) / 2, (ROWS[4][0] + ROWS[5][0]) / 2]
    expected = np.corrcoef(energy_daily, [100.0, 130.0, 90.0])[0, 1]
    assert result.matrix.loc["energy_price", "btc_close"] == pytest.approx(expected)
    assert result.matrix.loc["btc_close", "btc_close"] == pytest.approx(1.0)
    matrix, message = result[0], result[1]  # also unpacks like a (matrix, message) pair
    assert matrix is result.matrix and "3 aligned" in message


def test_correlations_with_too_few_points_say_so():
    prices = frame()  # all within one hour -> one daily point
    btc = pd.DataFrame({"Close": [100.0, 101.0]}, index=pd.date_range("2025-06-21", periods=2, freq="D"))
    result = intel.correlations(prices, btc)
    assert result.matrix.empty and result.points == 1
    assert "at least 3" in result.message
    assert intel.correlations(prices, None).matrix.empty


def test_missing_column_is_a_clear_error():
    with pytest.raises(ValueError, match="token_price"):
        intel.unit_profit(frame().drop(columns="token_price"))


def test_hourly_profile_is_the_mean_per_hour_by_hand():
    from optera.intel.metrics import hourly_profile

    idx = pd.to_datetime(["2025-01-01T01:00", "2025-01-01T01:30", "2025-01-02T01:10", "2025-01-01T02:00"])
    frame = pd.DataFrame({"energy_price": [1.0, 2.0, 3.0, 0.0], "hash_price": [2.0, 2.0, 2.0, 1.0],
                          "token_price": [0.0, 0.0, 0.0, 0.0]}, index=idx)
    prof = hourly_profile(frame)
    # hydro: per kW = 1000 * (hash - energy) (5000 hashrate per 5000 W)
    assert prof.loc[1, "hydro_miners"] == pytest.approx(1000 * ((2 - 1) + (2 - 2) + (2 - 3)) / 3)
    assert prof.loc[2, "hydro_miners"] == pytest.approx(1000 * 1.0)
    # gpu earns nothing at token 0 and pays 1000 * energy per kW
    assert prof.loc[1, "gpu_compute"] == pytest.approx(-1000 * 2.0)
