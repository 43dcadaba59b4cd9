"""Forecast: exact where the answer is known, calibrated intervals, honest error against naive."""

from __future__ import annotations

import math
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from optera.errors import InputError, ValidationError
from optera.intel.forecast import backtest_error, fit, forecast_prices, predict

Z90 = NormalDist().inv_cdf(0.95)  # two-sided 90 % interval


def prices_frame(energy, hash_, token, start="2025-06-21 12:00") -> pd.DataFrame:
    index = pd.date_range(start, periods=len(energy), freq="5min", name="timestamp")
    return pd.DataFrame({"energy_price": energy, "hash_price": hash_, "token_price": token}, index=index)


def log_random_walk(seed: int, n: int = 2016, step: float = 0.01, start: float = 3.0) -> np.ndarray:
    return start * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, step, n)))


def local_level(seed: int, n: int = 2016) -> np.ndarray:
    """A slowly moving level under large measurement noise: smoothing's alpha is small (~0.06)."""
    rng = np.random.default_rng(seed)
    return 10 * np.exp(np.cumsum(rng.normal(0, 0.002, n)) + rng.normal(0, 0.03, n))


def ses_by_hand(y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """Final level and one-step errors of simple exponential smoothing (start: first point)."""
    level, errors = y[0], []
    for value in y[1:]:
        errors.append(value - level)
        level += alpha * (value - level)
    return level, np.array(errors)


def test_constant_series_forecasts_the_constant_with_no_spread():
    n = 200
    result = forecast_prices(prices_frame([2.0] * n, [3.0] * n, [0.5] * n), horizon=12)
    energy = result.frame["energy_price"]
    for stat in ("mean", "lower", "upper"):
        assert np.allclose(energy[stat], 2.0, rtol=1e-9)
    assert result.as_whatif == pytest.approx({"energy_price": 2.0, "hash_price": 3.0, "token_price": 0.5})
    assert result.errors.loc["hash_price", "model_mae"] == pytest.approx(0.0, abs=1e-12)
    assert result.errors.loc["hash_price", "naive_mae"] == 0.0


def test_steady_growth_is_extrapolated_exactly_and_beats_naive():
    n, rate = 300, 1.002  # constant growth: a straight line in log prices
    energy = 2.0 * rate ** np.arange(n)
    result = forecast_prices(prices_frame(energy, [5.0] * n, [1.0] * n), horizon=12)
    expected = 2.0 * rate ** (n - 1 + np.arange(1, 13))
    assert np.allclose(result.frame["energy_price"]["mean"], expected, rtol=1e-6)
    assert result.params["energy_price"]["model"] == "Holt linear"
    err = result.errors.loc["energy_price"]
    assert err["model_mae"] == pytest.approx(0.0, abs=1e-6)
    assert bool(err["beats_naive"]) is True


def test_linear_trend_on_the_price_scale_and_the_naive_error_it_leaves():
    n, slope, h = 300, 0.01, 12
    energy = 1.0 + slope * np.arange(n)
    result = forecast_prices(prices_frame(energy, 5.0 - 0.002 * np.arange(n), [1.0] * n), horizon=h, log=False)
    assert np.allclose(result.frame["energy_price"]["mean"], 1.0 + slope * (n - 1 + np.arange(1, h + 1)), atol=1e-6)
    assert result.as_whatif["hash_price"] == pytest.approx(5.0 - 0.002 * (n - 1 + h), abs=1e-6)
    err = result.errors.loc["energy_price"]
    assert err["model_mae"] == pytest.approx(0.0, abs=1e-6)
    assert err["naive_mae"] == pytest.approx(slope * (h + 1) / 2)  # naive misses by slope*k, k = 1..h


def test_future_timestamps_follow_the_price_cadence():
    n = 50
    frame = prices_frame([1.0] * n, [1.0] * n, [1.0] * n)
    result = forecast_prices(frame, horizon=12)
    assert len(result.frame) == 12
    assert result.frame.index[0] == frame.index[-1] + pd.Timedelta(minutes=5)
    assert result.frame.index[-1] == frame.index[-1] + pd.Timedelta(minutes=60)
    assert set(result.frame.columns.get_level_values(0)) == {"energy_price", "hash_price", "token_price"}
    assert list(result.frame["token_price"].columns) == ["mean", "lower", "upper"]


def test_forecast_and_band_are_the_smoothing_model_s_own():
    x = local_level(0)
    model = fit(x)
    assert model.params["model"] == "simple exponential smoothing" and model.log
    alpha, h = model.params["alpha"], np.arange(1, 25)
    level, errors = ses_by_hand(np.log(x), alpha)
    sigma = math.sqrt(np.mean(errors ** 2))
    half = Z90 * sigma * np.sqrt(1 + alpha ** 2 * (h - 1))  # variance of the h-step error, ETS(A,N,N)
    mean, lower, upper = predict(model, horizon=24)
    assert np.allclose(mean, math.exp(level), rtol=1e-4)
    assert np.allclose(np.log(upper) - np.log(mean), half, rtol=2e-3)
    assert np.allclose(np.log(mean) - np.log(lower), half, rtol=2e-3)


def test_at_small_alpha_the_band_is_far_narrower_than_a_sqrt_h_band_and_still_covers():
    x = local_level(1)
    model = fit(x)
    assert model.params["alpha"] < 0.2
    _, errors = ses_by_hand(np.log(x), model.params["alpha"])
    q_lo, q_hi = np.quantile(errors, [0.05, 0.95])
    sqrt_h_width = (q_hi - q_lo) * math.sqrt(12)  # the residual band widened by sqrt(h)
    mean, lower, upper = predict(model, horizon=12)
    assert np.log(upper[-1]) - np.log(lower[-1]) < 0.4 * sqrt_h_width
    coverage = np.mean([backtest_error(local_level(seed), 12, 100)["coverage"] for seed in range(3)])
    assert 0.85 <= coverage <= 0.95


def test_random_walk_intervals_cover_about_90_percent_out_of_sample():
    coverage = [backtest_error(log_random_walk(seed, 3000), 12, 100)["coverage"] for seed in range(5)]
    assert 0.86 <= np.mean(coverage) <= 0.94


def test_intervals_widen_with_the_horizon():
    model = fit(log_random_walk(3))
    mean, lower, upper = predict(model, horizon=24)
    width = upper - lower
    assert np.all(np.diff(width) > 0)
    assert np.all(lower < mean) and np.all(mean < upper)
    # near alpha = 1 the log band grows like sqrt(h): 4x the horizon, about twice the width
    ratio = (np.log(upper[15]) - np.log(lower[15])) / (np.log(upper[3]) - np.log(lower[3]))
    alpha2 = model.params["alpha"] ** 2
    assert ratio == pytest.approx(math.sqrt((1 + 15 * alpha2) / (1 + 3 * alpha2)), rel=0.05)


def test_naive_comparison_counts_every_origin_once():
    x = log_random_walk(4, n=40)
    h = 12  # training: the first 20 points; origins 19..27 are all there are
    err = backtest_error(x, h, n_origins=50)
    origins = range(19, 40 - h)
    assert err["origins"] == len(origins) == 9
    gaps = [abs(x[o + k] - x[o]) for o in origins for k in range(1, h + 1)]
    assert err["naive_mae"] == pytest.approx(np.mean(gaps))
    assert err["naive_mape"] == pytest.approx(np.mean([abs(x[o + k] - x[o]) / x[o + k]
                                                       for o in origins for k in range(1, h + 1)]))
    assert backtest_error(x, h, n_origins=3)["origins"] == 3


def test_backtest_error_on_noise_beats_naive():
    rng = np.random.default_rng(1)
    err = backtest_error(10 + rng.normal(0, 1, 600), horizon=12, n_origins=15)
    assert err["origins"] == 15 and err["horizon"] == 12
    assert err["model_mae"] < err["naive_mae"] and err["beats_naive"] is True
    assert "beats" in err["message"]


def test_too_little_history_says_so():
    err = backtest_error([1.0, 2.0, 3.0, 4.0, 5.0], horizon=12)
    assert err["origins"] == 0 and math.isnan(err["model_mae"]) and err["beats_naive"] is None
    assert "Not enough history" in err["message"]
    result = forecast_prices(prices_frame([1.0, 1.1, 1.2, 1.3], [1.0] * 4, [2.0] * 4), horizon=3)
    assert "Too little history" in result.message
    assert len(result.frame) == 3


def test_forecast_never_negative():
    n = 100
    falling = [5.0 - 0.05 * i for i in range(n)]  # ends at 0.05; the trend would go below zero
    on_prices = forecast_prices(prices_frame(falling, [1.0] * n, [1.0] * n), log=False)
    assert (on_prices.frame.to_numpy() >= 0).all()
    assert on_prices.as_whatif["energy_price"] == 0.0
    on_logs = forecast_prices(prices_frame(falling, [1.0] * n, [1.0] * n))
    assert (on_logs.frame["energy_price"].to_numpy() > 0).all()  # a log fit cannot cross zero


def test_a_zero_price_falls_back_to_the_price_scale():
    x = log_random_walk(5, n=300)
    x[100] = 0.0
    result = forecast_prices(prices_frame(x, x, x))
    assert result.params["energy_price"]["log"] is False
    assert np.isfinite(result.frame.to_numpy()).all()
    assert result.errors.loc["energy_price", "origins"] == 20


def test_bad_input_is_refused_with_the_error_tree():
    with pytest.raises(InputError, match="at least 3"):
        forecast_prices(prices_frame([1.0, 2.0], [1.0, 1.0], [1.0, 1.0]))
    with pytest.raises(ValidationError, match="horizon"):
        forecast_prices(prices_frame([1.0] * 10, [1.0] * 10, [1.0] * 10), horizon=0)
    with pytest.raises(InputError, match="token_price"):
        forecast_prices(prices_frame([1.0] * 10, [1.0] * 10, [1.0] * 10).drop(columns="token_price"))


def test_expected_fit_warnings_are_silenced_only_inside_the_forecast():
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forecast_prices(prices_frame([2.0] * 60, 1.0 + 0.01 * np.arange(60), [1.0] * 60))  # zero-error fits
        inner = list(warnings.filters)
        warnings.warn("still heard", RuntimeWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["still heard"]
    assert warnings.filters == before and inner[0][0] == "always"
