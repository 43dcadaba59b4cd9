"""A simple, honest short-term forecast of energy, hash and token prices.

Model: exponential smoothing, hand-written in numpy — simple (level only, "SES") or
Holt's linear (level + trend). The model and its smoothing parameters are chosen on a
grid by minimising the one-step-ahead squared error on the training data (the last
``window`` points, 7 days of 5-minute prices by default).

Prediction intervals come from the empirical distribution of the one-step residuals,
widened by sqrt(h) for h steps ahead (a random-walk-like growth; no normality assumed).
Forecasts and bounds are clipped at 0 because the API never serves negative prices.

``backtest_error`` measures the out-of-sample error at several origins after the
training part against a naive last-value forecast, so the user sees whether smoothing
beats doing nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PRICE_COLUMNS = ["energy_price", "hash_price", "token_price"]
DEFAULT_HORIZON = 12  # 12 x 5 minutes = 1 hour
DEFAULT_WINDOW = 2016  # 7 days of 5-minute points
ALPHAS = np.round(np.linspace(0.05, 1.0, 20), 4)
BETAS = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.3])


@dataclass
class SmoothingFit:
    """Chosen model, its final state and in-sample one-step residuals."""

    alpha: float
    beta: float
    trend: bool
    level: float
    slope: float
    residuals: np.ndarray
    sse: float
    n: int

    @property
    def model(self) -> str:
        return "Holt linear" if self.trend else "simple exponential smoothing"


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (alpha, beta, trend) candidate; SES candidates have beta 0 and no trend."""
    a_ses = ALPHAS
    a_holt, b_holt = np.meshgrid(ALPHAS, BETAS, indexing="ij")
    alpha = np.concatenate([a_ses, a_holt.ravel()])
    beta = np.concatenate([np.zeros_like(a_ses), b_holt.ravel()])
    trend = np.concatenate([np.zeros(len(a_ses), bool), np.ones(b_holt.size, bool)])
    return alpha, beta, trend


def _sse_grid(x: np.ndarray, alpha: np.ndarray, beta: np.ndarray, trend: np.ndarray) -> np.ndarray:
    """One-step SSE of every candidate, vectorised over candidates (errors counted from t=2)."""
    level = np.full(alpha.shape, x[0])
    slope = np.where(trend, x[1] - x[0], 0.0)
    sse = np.zeros(alpha.shape)
    for t in range(1, len(x)):
        fc = level + slope
        err = x[t] - fc
        if t >= 2:
            sse += err * err
        new_level = fc + alpha * err
        slope = np.where(trend, beta * (new_level - level) + (1 - beta) * slope, 0.0)
        level = new_level
    return sse


def _run(x: np.ndarray, alpha: float, beta: float, trend: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level, slope after each observation and the one-step error at each t (NaN for t<2)."""
    n = len(x)
    levels, slopes, errors = np.empty(n), np.empty(n), np.full(n, np.nan)
    level = float(x[0])
    slope = float(x[1] - x[0]) if trend and n > 1 else 0.0
    levels[0], slopes[0] = level, slope
    values = x.tolist()
    for t in range(1, n):
        fc = level + slope
        err = values[t] - fc
        if t >= 2:
            errors[t] = err
        new_level = fc + alpha * err
        if trend:
            slope = beta * (new_level - level) + (1 - beta) * slope
        level = new_level
        levels[t], slopes[t] = level, slope
    return levels, slopes, errors


def fit(series, window: int = DEFAULT_WINDOW) -> SmoothingFit:
    """Choose SES or Holt and its parameters by one-step SSE on the last ``window`` points."""
    x = np.asarray(series, dtype=float)
    x = x[np.isfinite(x)][-window:]
    if len(x) < 3:
        raise ValueError(f"need at least 3 points to fit a forecast (got {len(x)})")
    alpha, beta, trend = _grid()
    sse = _sse_grid(x, alpha, beta, trend)
    best = int(np.argmin(sse))
    a, b, tr = float(alpha[best]), float(beta[best]), bool(trend[best])
    levels, slopes, errors = _run(x, a, b, tr)
    return SmoothingFit(alpha=a, beta=b, trend=tr, level=float(levels[-1]), slope=float(slopes[-1]),
                        residuals=errors[2:], sse=float(sse[best]), n=len(x))


def predict(model: SmoothingFit, horizon: int = DEFAULT_HORIZON, level: float = 0.9
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lower, upper) for steps 1..horizon; the band is the residual quantiles x sqrt(h)."""
    steps = np.arange(1, horizon + 1, dtype=float)
    mean = model.level + steps * model.slope
    resid = model.residuals[np.isfinite(model.residuals)]
    if len(resid):
        q_lo, q_hi = np.quantile(resid, [(1 - level) / 2, 1 - (1 - level) / 2])
    else:
        q_lo = q_hi = 0.0
    grow = np.sqrt(steps)
    lower, upper = mean + min(q_lo, 0.0) * grow, mean + max(q_hi, 0.0) * grow
    return np.maximum(mean, 0.0), np.maximum(lower, 0.0), np.maximum(upper, 0.0)


def backtest_error(series, horizon: int = DEFAULT_HORIZON, n_origins: int = 20, *,
                   train_fraction: float = 0.5, window: int = DEFAULT_WINDOW, level: float = 0.9) -> dict:
    """Out-of-sample error of the forecast vs a naive last-value forecast.

    The model is fitted once on the training part (the first ``train_fraction`` of the
    series); then, with those parameters fixed, forecasts are made from ``n_origins``
    evenly spaced origins in the rest, each using only data up to its origin, and
    compared with what happened over the next ``horizon`` steps. MAE is in price units;
    MAPE is a fraction (0.05 = 5 %) over non-zero actuals; coverage is the share of
    actuals inside the prediction interval.
    """
    x = np.asarray(series, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    out = {"model_mae": math.nan, "model_mape": math.nan, "naive_mae": math.nan, "naive_mape": math.nan,
           "coverage": math.nan, "origins": 0, "horizon": horizon, "message": ""}
    split = max(int(n * train_fraction), 3)
    if n - split < horizon or split < 3:
        out["message"] = (f"Not enough history to measure a {horizon}-step forecast out of sample "
                          f"({n} points).")
        return out
    model = fit(x[:split], window)
    start = max(0, split - window)
    levels, slopes, _ = _run(x[start:], model.alpha, model.beta, model.trend)
    first_origin, last_origin = split - 1, n - 1 - horizon
    origins = np.unique(np.linspace(first_origin, last_origin, max(1, n_origins)).round().astype(int))
    steps = np.arange(1, horizon + 1)
    idx = origins[:, None] + steps[None, :]
    actual = x[idx]
    pred = np.maximum(levels[origins - start][:, None] + steps[None, :] * slopes[origins - start][:, None], 0.0)
    naive = np.repeat(x[origins][:, None], horizon, axis=1)
    resid = model.residuals[np.isfinite(model.residuals)]
    if len(resid):
        q_lo, q_hi = np.quantile(resid, [(1 - level) / 2, 1 - (1 - level) / 2])
    else:
        q_lo = q_hi = 0.0
    grow = np.sqrt(steps)[None, :]
    inside = (actual >= pred + min(q_lo, 0.0) * grow - 1e-12) & (actual <= pred + max(q_hi, 0.0) * grow + 1e-12)
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
    out["message"] = (f"{model.model} {better} the naive last-value forecast over {len(origins)} origins "
                      f"x {horizon} steps (MAE {out['model_mae']:.4g} vs {out['naive_mae']:.4g}).")
    return out


@dataclass
class ForecastResult:
    """frame: future timestamps x (price, mean|lower|upper) columns — ``frame["energy_price"]``
    gives that price's mean/lower/upper. errors: one row per price (model vs naive).
    as_whatif: the forecast means at the horizon, usable as an optimiser what-if preset."""

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


def forecast_prices(prices: pd.DataFrame, horizon: int = DEFAULT_HORIZON, *, window: int = DEFAULT_WINDOW,
                    level: float = 0.9, n_origins: int = 20, train_fraction: float = 0.5) -> ForecastResult:
    """Forecast each price ``horizon`` steps ahead with intervals, plus its measured error vs naive."""
    if horizon < 1:
        raise ValueError("horizon must be at least 1 step")
    missing = [c for c in PRICE_COLUMNS if c not in prices.columns]
    if missing:
        raise ValueError(f"price history lacks column(s): {', '.join(missing)}")
    data = prices[PRICE_COLUMNS].astype(float).dropna()
    if len(data) < 3:
        raise ValueError(f"need at least 3 price points to forecast (got {len(data)})")
    step = _step(data.index)
    last = data.index[-1] if isinstance(data.index, pd.DatetimeIndex) else pd.Timestamp("1970-01-01")
    future = pd.DatetimeIndex([last + step * k for k in range(1, horizon + 1)], name="timestamp")
    columns, errors, params, whatif = {}, [], {}, {}
    for name in PRICE_COLUMNS:
        values = data[name].to_numpy()
        model = fit(values, window)
        mean, lower, upper = predict(model, horizon, level)
        columns[(name, "mean")], columns[(name, "lower")], columns[(name, "upper")] = mean, lower, upper
        whatif[name] = float(mean[-1])
        params[name] = {"model": model.model, "alpha": model.alpha, "beta": model.beta, "points": model.n}
        err = backtest_error(values, horizon, n_origins, train_fraction=train_fraction, window=window, level=level)
        errors.append({"price": name, **{k: err[k] for k in ("model_mae", "model_mape", "naive_mae", "naive_mape",
                                                             "coverage", "origins")},
                       "beats_naive": bool(err["model_mae"] < err["naive_mae"]
                                           and not math.isclose(err["model_mae"], err["naive_mae"], rel_tol=1e-9))
                       if err["origins"] else None})
    frame = pd.DataFrame(columns, index=future)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["price", "stat"])
    error_frame = pd.DataFrame(errors).set_index("price")
    minutes = step.total_seconds() / 60 * horizon
    measured = error_frame["origins"].max()
    message = (f"{horizon}-step ({minutes:g} min) forecast from {len(data)} points, "
               f"{level:.0%} prediction interval from past one-step errors.")
    if measured:
        wins = [n for n in PRICE_COLUMNS if error_frame.loc[n, "beats_naive"]]
        message += (f" Out of sample it beats a naive last-value forecast for "
                    f"{', '.join(wins) if wins else 'none of the prices'}.")
    else:
        message += " Too little history to measure its error out of sample."
    return ForecastResult(frame=frame, errors=error_frame, as_whatif=whatif, params=params, horizon=horizon,
                          level=level, message=message)
