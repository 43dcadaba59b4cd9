"""A short-term forecast of energy, hash and token prices, with its error measured honestly.

Model: statsmodels' ETS (additive errors) fitted by maximum likelihood on the last ``window``
points (7 days of 5-minute prices by default): simple exponential smoothing, Holt (level +
trend) or damped Holt, whichever has the lowest AICc (AIC corrected for small samples) on the
training part of ``backtest_error``, which measures the error out of sample at rolling origins
against a naive last-value forecast: the error shown is the forecasting model's own. Intervals
are the model's, exact for these models: they widen with the horizon as the fitted smoothing
parameters say (by sqrt(1 + alpha²(h-1)) for simple smoothing), not by a fixed sqrt(h).

The fit is on log prices when every price is positive: prices move in proportion to their
level. Both fits cover about as often (``bench/bench_intel.py``: 0.92 either way on simulator
weeks, 0.90 against 0.88 on synthetic ones), but on prices the 1-hour lower bound hits 0 for
3 of 18 simulated weeks; on logs it stays positive. The point forecast is then the median of
the predictive distribution, which minimises the MAE shown. Everything is clipped at 0.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, wraps

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from threadpoolctl import ThreadpoolController

from ..errors import InputError
from ..numbers import check
from ..vocabulary import PRICE_COLUMNS, PRICE_SHORT

DEFAULT_HORIZON = 12  # 12 x 5 minutes = 1 hour
DEFAULT_WINDOW = 2016  # 7 days of 5-minute points
MIN_TREND_POINTS = 10  # with fewer, a trend model (4-5 parameters) fits the points exactly
MODELS = {"simple exponential smoothing": {"trend": None},
          "Holt linear": {"trend": "add"},
          "damped Holt": {"trend": "add", "damped_trend": True}}


@dataclass
class Fit:
    """The chosen model fitted on ``n`` points (on log prices when ``log``)."""

    model: str
    results: object  # statsmodels ETSResults
    log: bool
    n: int

    @property
    def params(self) -> dict:
        r = self.results
        return {"model": self.model, "log": self.log, "points": self.n, "alpha": float(r.smoothing_level),
                "beta": float(r.smoothing_trend) if r.has_trend else 0.0,
                "phi": float(r.damping_trend) if r.damped_trend else 1.0,
                "sigma": math.sqrt(r.mse), "aicc": float(r.aicc)}


_blas = cache(ThreadpoolController)  # made on first use, once numpy and scipy have loaded BLAS


def _one_blas_thread(fn):
    """The fits call BLAS on tiny vectors, where OpenBLAS threads only spin: on the busy 2-core
    machine ``forecast_prices`` on 7 days took 0.14-0.58 s (median; up to 1.2 s) with them,
    0.12-0.13 s (up to 0.19 s) on one."""

    @wraps(fn)
    def run(*args, **kwargs):
        with _blas().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return run


def _clean(series) -> np.ndarray:
    x = np.asarray(series, dtype=float)
    return x[np.isfinite(x)]


@contextmanager
def _expected_warnings():
    """A constant or exactly linear series has no error: the optimiser cannot improve on its
    start and says so, and the likelihood divides by a zero variance; both are expected."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _ets(y: np.ndarray, model: str) -> ETSModel:
    """The initial state is estimated with the rest: the heuristic one (a line through the
    first 10 points) fits twice as fast but picks damped Holt for 7 in 16 random walks."""
    return ETSModel(pd.Series(y), error="add", **MODELS[model])


@_one_blas_thread
def fit(series, window: int = DEFAULT_WINDOW, *, log: bool = True, models=tuple(MODELS)) -> Fit:
    """Fit each of ``models`` on the last ``window`` finite points and keep the lowest AICc."""
    x = _clean(series)[-window:]
    if len(x) < 3:
        raise InputError(f"need at least 3 points to fit a forecast (got {len(x)})")
    log = bool(log and (x > 0).all())
    y = np.log(x) if log else x
    names = [m for m in models if len(y) >= MIN_TREND_POINTS or not MODELS[m]["trend"]]
    with _expected_warnings():
        fits = {name: _ets(y, name).fit(disp=False) for name in names}
    best = min(names, key=lambda name: math.inf if np.isnan(fits[name].aicc) else fits[name].aicc)
    return Fit(model=best, results=fits[best], log=log, n=len(x))


def _back(values, log: bool) -> np.ndarray:
    """From the fitting scale back to prices, clipped at 0."""
    values = np.asarray(values, dtype=float)
    return np.maximum(np.exp(values) if log else values, 0.0)


def _band(results, horizon: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lower, upper) on the fitting scale for steps 1..horizon after the fitted data."""
    n = int(results.nobs)
    frame = results.get_prediction(start=n, end=n + horizon - 1).summary_frame(alpha=1 - level)
    return frame["mean"].to_numpy(), frame["pi_lower"].to_numpy(), frame["pi_upper"].to_numpy()


def predict(model: Fit, horizon: int = DEFAULT_HORIZON, level: float = 0.9
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, lower, upper) prices for steps 1..horizon: the model's prediction interval."""
    mean, lower, upper = _band(model.results, horizon, level)
    return _back(mean, model.log), _back(lower, model.log), _back(upper, model.log)


@_one_blas_thread
def backtest_error(series, horizon: int = DEFAULT_HORIZON, n_origins: int = 20, *,
                   train_fraction: float = 0.5, window: int = DEFAULT_WINDOW, level: float = 0.9,
                   log: bool = True) -> dict:
    """Out-of-sample error of the forecast vs a naive last-value forecast.

    The model is chosen and fitted once on the first ``train_fraction`` of the series; with
    its parameters fixed the rest is only filtered, and from ``n_origins`` evenly spaced
    origins each forecast (using data up to its origin) meets the next ``horizon`` actuals.
    The band is the training fit's: for these models it depends on the parameters and the
    training error variance, not on the state. MAE is in price units, MAPE a fraction (0.05
    = 5 %) over non-zero actuals, coverage the share of actuals inside the interval.
    """
    x = _clean(series)
    n = len(x)
    out = {"model_mae": math.nan, "model_mape": math.nan, "naive_mae": math.nan, "naive_mape": math.nan, "model": None,
           "coverage": math.nan, "origins": 0, "beats_naive": None, "horizon": horizon, "message": ""}
    split = max(int(n * train_fraction), 3)
    if n - split < horizon:
        out["message"] = f"Not enough history to measure a {horizon}-step forecast out of sample ({n} points)."
        return out
    start = max(0, split - window)
    model = fit(x[start:split], window, log=log and bool((x[start:] > 0).all()))
    r = model.results
    rest = np.log(x[start:]) if model.log else x[start:]
    with _expected_warnings():
        states = _ets(rest, model.model).smooth(r.params).states
    mean, lower, upper = _band(r, horizon, level)
    origins = np.unique(np.linspace(split - 1, n - 1 - horizon, max(1, n_origins)).round().astype(int))
    # the ETS forecast from the state at each origin, level + (phi + ... + phi^h) * trend: what
    # ``predict(dynamic=...)`` returns, here for all origins at once instead of O(n) per origin
    at = states.iloc[origins - start]
    trend = at["trend"].to_numpy()[:, None] if r.has_trend else 0.0
    damping = np.cumsum((r.damping_trend if r.damped_trend else 1.0) ** np.arange(1, horizon + 1))
    paths = at["level"].to_numpy()[:, None] + damping[None, :] * trend
    actual = x[origins[:, None] + np.arange(1, horizon + 1)[None, :]]
    pred = _back(paths, model.log)
    inside = ((actual >= _back(paths + (lower - mean), model.log) - 1e-12)
              & (actual <= _back(paths + (upper - mean), model.log) + 1e-12))
    naive = np.repeat(x[origins][:, None], horizon, axis=1)
    nonzero = actual != 0

    def mape(p: np.ndarray) -> float:
        return float(np.mean(np.abs(actual - p)[nonzero] / np.abs(actual[nonzero]))) if nonzero.any() else math.nan

    out.update(model_mae=float(np.mean(np.abs(actual - pred))), naive_mae=float(np.mean(np.abs(actual - naive))),
               model_mape=mape(pred), naive_mape=mape(naive), coverage=float(inside.mean()),
               origins=len(origins))
    if math.isclose(out["model_mae"], out["naive_mae"], rel_tol=1e-9, abs_tol=1e-12):
        better = "matches"
    else:
        better = "beats" if out["model_mae"] < out["naive_mae"] else "does not beat"
    out["beats_naive"], out["model"] = better == "beats", model.model
    out["message"] = (f"{model.model} {better} the naive last-value forecast over {len(origins)} origins "
                      f"x {horizon} steps (MAE {out['model_mae']:.4g} vs {out['naive_mae']:.4g}).")
    return out


@dataclass
class ForecastResult:
    """frame: future timestamps x (price, mean|lower|upper) columns — ``frame["energy_price"]``
    gives that price's point forecast and interval. errors: one row per price (model vs naive).
    as_whatif: the point forecasts at the horizon, usable as an optimiser what-if preset."""

    frame: pd.DataFrame
    errors: pd.DataFrame
    as_whatif: dict[str, float]
    params: dict[str, dict] = field(default_factory=dict)
    horizon: int = DEFAULT_HORIZON
    level: float = 0.9
    message: str = ""


def _step(index: pd.Index) -> pd.Timedelta:
    if isinstance(index, pd.DatetimeIndex) and len(index) >= 2:
        diffs = index.to_series().diff().dropna()
        diffs = diffs[diffs > pd.Timedelta(0)]
        if len(diffs):
            return diffs.median()
    return pd.Timedelta(minutes=5)


@_one_blas_thread
def forecast_prices(prices: pd.DataFrame, horizon: int = DEFAULT_HORIZON, *, window: int = DEFAULT_WINDOW,
                    level: float = 0.9, n_origins: int = 20, train_fraction: float = 0.5,
                    log: bool = True) -> ForecastResult:
    """Forecast each price ``horizon`` steps ahead with intervals, plus its measured error vs naive."""
    horizon = check("horizon", horizon, integer=True, minimum=1, maximum=DEFAULT_WINDOW)
    level = check("interval level", level, minimum=0.0, maximum=0.999, positive=True)
    missing = [c for c in PRICE_COLUMNS if c not in prices.columns]
    if missing:
        raise InputError(f"price history lacks column(s): {', '.join(missing)}")
    data = prices[list(PRICE_COLUMNS)].astype(float).replace([np.inf, -np.inf], np.nan).dropna()
    if len(data) < 3:
        raise InputError(f"need at least 3 price points to forecast (got {len(data)})")
    step = _step(data.index)
    last = data.index[-1] if isinstance(data.index, pd.DatetimeIndex) else pd.Timestamp("1970-01-01")
    future = pd.DatetimeIndex([last + step * k for k in range(1, horizon + 1)], name="timestamp")
    columns, errors, params, whatif = {}, [], {}, {}
    for name in PRICE_COLUMNS:
        values = data[name].to_numpy()
        err = backtest_error(values, horizon, n_origins, train_fraction=train_fraction, window=window,
                             level=level, log=log)
        # the model chosen on the training part forecasts, so the error shown is its own
        model = fit(values, window, log=log, models=(err["model"],) if err["model"] else tuple(MODELS))
        mean, lower, upper = predict(model, horizon, level)
        columns[(name, "mean")], columns[(name, "lower")], columns[(name, "upper")] = mean, lower, upper
        whatif[name] = float(mean[-1])
        params[name] = model.params
        errors.append({"price": name, **{k: err[k] for k in ("model_mae", "model_mape", "naive_mae", "naive_mape",
                                                             "coverage", "origins", "beats_naive")}})
    frame = pd.DataFrame(columns, index=future)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["price", "stat"])
    error_frame = pd.DataFrame(errors).set_index("price")
    minutes = step.total_seconds() / 60 * horizon
    message = (f"{horizon}-step ({minutes:g} min) forecast from {len(data)} points by exponential smoothing, "
               f"with the model's {level:.0%} prediction interval.")
    if error_frame["origins"].max():
        wins = [PRICE_SHORT[n] for n in PRICE_COLUMNS if error_frame.loc[n, "beats_naive"]]
        message += (f" Out of sample it beats a naive last-value forecast for "
                    f"{', '.join(wins) if wins else 'none of the prices'}.")
    else:
        message += " Too little history to measure its error out of sample."
    return ForecastResult(frame=frame, errors=error_frame, as_whatif=whatif, params=params, horizon=horizon,
                          level=level, message=message)
