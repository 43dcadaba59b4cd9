"""Forecast: exact on constant and linear series, honest error measurement."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optera.intel.forecast import backtest_error, fit, forecast_prices, predict


def prices_frame(energy, hash_, token, start="2025-06-21 12:00") -> pd.DataFrame:
    index = pd.date_range(start, periods=len(energy), freq="5min", name="timestamp")
    return pd.DataFrame({"energy_price": energy, "hash_price": hash_, "token_price": token}, index=index)


def test_constant_series_forecasts_the_constant_with_no_spread():
    n = 200
    result = forecast_prices(prices_frame([2.0] * n, [3.0] * n, [0.5] * n), horizon=12)
    energy = result.frame["energy_price"]
    assert np.allclose(energy["mean"], 2.0) and np.allclose(energy["lower"], 2.0)
    assert np.allclose(energy["upper"], 2.0)
    assert result.as_whatif == pytest.approx({"energy_price": 2.0, "hash_price": 3.0, "token_price": 0.5})
    assert result.errors.loc["hash_price", "model_mae"] == pytest.approx(0.0)


def test_linear_trend_is_extrapolated_exactly():
    n, slope = 300, 0.01
    energy = [1.0 + slope * i for i in range(n)]
    hash_ = [5.0 - 0.002 * i for i in range(n)]
    result = forecast_prices(prices_frame(energy, hash_, [1.0] * n), horizon=12)
    expected = [1.0 + slope * (n - 1 + h) for h in range(1, 13)]
    assert np.allclose(result.frame["energy_price"]["mean"], expected, atol=1e-9)
    assert result.as_whatif["energy_price"] == pytest.approx(1.0 + slope * (n - 1 + 12))
    assert result.as_whatif["hash_price"] == pytest.approx(5.0 - 0.002 * (n - 1 + 12))
    assert result.params["energy_price"]["model"] == "Holt linear"
    # the trend model is exact; naive misses by slope*h, averaged over h = 1..12
    err = result.errors.loc["energy_price"]
    assert err["model_mae"] == pytest.approx(0.0, abs=1e-9)
    assert err["naive_mae"] == pytest.approx(slope * 13 / 2)
    assert bool(err["beats_naive"]) is True


def test_future_timestamps_follow_the_price_cadence():
    n = 50
    frame = prices_frame([1.0] * n, [1.0] * n, [1.0] * n)
    result = forecast_prices(frame, horizon=12)
    assert len(result.frame) == 12
    assert result.frame.index[0] == frame.index[-1] + pd.Timedelta(minutes=5)
    assert result.frame.index[-1] == frame.index[-1] + pd.Timedelta(minutes=60)
    assert set(result.frame.columns.get_level_values(0)) == {"energy_price", "hash_price", "token_price"}
    assert list(result.frame["token_price"].columns) == ["mean", "lower", "upper"]


def test_fit_minimises_one_step_error_and_intervals_grow_with_sqrt_h():
    rng = np.random.default_rng(7)
    x = 50 + np.cumsum(rng.normal(0, 0.3, 400))
    model = fit(x)
    # independent one-step SSE of the chosen parameters (errors counted from t = 2)
    level, slope = x[0], (x[1] - x[0]) if model.trend else 0.0
    sse = 0.0
    for t in range(1, len(x)):
        fc = level + slope
        err = x[t] - fc
        if t >= 2:
            sse += err * err
        new_level = fc + model.alpha * err
        if model.trend:
            slope = model.beta * (new_level - level) + (1 - model.beta) * slope
        level = new_level
    assert model.sse == pytest.approx(sse)
    naive_sse = float(np.sum(np.diff(x)[1:] ** 2))  # SES with alpha = 1 is in the grid
    assert model.sse <= naive_sse + 1e-9
    mean, lower, upper = predict(model, horizon=9)
    assert np.all(lower <= mean) and np.all(mean <= upper)
    assert upper[3] - mean[3] == pytest.approx((upper[0] - mean[0]) * 2)  # sqrt(4) = 2
    assert mean[8] - lower[8] == pytest.approx((mean[0] - lower[0]) * 3)  # sqrt(9) = 3


def test_backtest_error_shape_and_sanity_on_noise():
    rng = np.random.default_rng(1)
    x = 10 + rng.normal(0, 1, 600)  # white noise around 10: smoothing should beat last-value
    err = backtest_error(x, horizon=12, n_origins=15)
    assert err["origins"] == 15 and err["horizon"] == 12
    for key in ("model_mae", "model_mape", "naive_mae", "naive_mape", "coverage"):
        assert math.isfinite(err[key]) and err[key] >= 0
    assert err["model_mae"] < err["naive_mae"]
    assert 0.5 < err["coverage"] <= 1.0
    assert "beats" in err["message"]


def test_backtest_error_with_too_little_history_says_so():
    err = backtest_error([1.0, 2.0, 3.0, 4.0, 5.0], horizon=12)
    assert err["origins"] == 0 and math.isnan(err["model_mae"])
    assert "Not enough history" in err["message"]
    result = forecast_prices(prices_frame([1.0, 1.1, 1.2, 1.3], [1.0] * 4, [2.0] * 4), horizon=3)
    assert "Too little history" in result.message
    assert len(result.frame) == 3


def test_forecast_never_negative_and_rejects_tiny_input():
    n = 100
    falling = [5.0 - 0.05 * i for i in range(n)]  # ends at 0.05; the trend would go below zero
    result = forecast_prices(prices_frame(falling, [1.0] * n, [1.0] * n))
    assert (result.frame.to_numpy() >= 0).all()
    assert result.frame["energy_price"]["mean"].iloc[-1] == 0.0
    assert result.as_whatif["energy_price"] == 0.0
    with pytest.raises(ValueError, match="at least 3"):
        forecast_prices(prices_frame([1.0, 2.0], [1.0, 1.0], [1.0, 1.0]))
