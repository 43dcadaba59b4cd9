"""Bitcoin market data (BTC-USD) with a cache and an offline fallback.

Live data comes from yfinance through an injectable *fetcher*, so tests and
offline use never touch the network. Bars are cached in SQLite through
:class:`~optera.store.Store` with a time-to-live (daily: 6 h, intraday: 5 min).
When yfinance fails (offline, rate-limited, empty or garbage answer) the cached
bars are used, else the history shipped in ``data/btc_usd_daily.csv``. Every
result says where it came from and how old the data is; no yfinance problem
ever escapes as an exception.

Volatility convention: realised volatility is the sample standard deviation
(ddof=1) of daily log returns over the last N days, annualised by sqrt(365)
because bitcoin trades every day of the year.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..config import PROJECT_ROOT

TICKER = "BTC-USD"
SHIPPED_DAILY = PROJECT_ROOT / "data" / "btc_usd_daily.csv"
DAILY_TTL = timedelta(hours=6)
INTRADAY_TTL = timedelta(minutes=5)
DAILY_PERIOD, DAILY_INTERVAL = "2y", "1d"
# 5 days rather than 1: Yahoo's "1d" range starts at midnight, too short for a real 24 h change.
INTRADAY_PERIOD, INTRADAY_INTERVAL = "5d", "5m"
INTRADAY_KEEP = timedelta(days=5)
OHLCV = ["Open", "High", "Low", "Close", "Volume"]
META_FETCHED = {"daily": "btc_daily_fetched_at", "intraday": "btc_intraday_fetched_at"}
META_FAILED = {"daily": "btc_daily_failed_at", "intraday": "btc_intraday_failed_at"}
RETRY_AFTER = timedelta(minutes=5)  # after a failed fetch, do not retry on every page render
TABLE = {"daily": "btc_daily", "intraday": "btc_intraday"}

Fetcher = Callable[[str, str], Any]
"""fetcher(period, interval) -> DataFrame of OHLCV bars indexed by time."""


def yfinance_fetcher(period: str, interval: str) -> pd.DataFrame:
    """The default fetcher: yfinance with a short timeout, errors raised (and caught by the caller)."""
    import yfinance as yf

    return yf.Ticker(TICKER).history(period=period, interval=interval, timeout=8, raise_errors=True,
                                     actions=False, auto_adjust=True)


@dataclass
class BtcMarket:
    """BTC-USD bars with their provenance.

    source: "live" (fetched now), "cache" (SQLite), "shipped" (data/btc_usd_daily.csv)
    or "none" (nothing at all available; daily is empty).
    as_of: time of the newest bar (UTC, naive). fetched_at: when the data was
    downloaded (None for shipped data).
    """

    daily: pd.DataFrame
    intraday: pd.DataFrame | None
    source: str
    as_of: datetime | None
    message: str
    intraday_source: str | None = None
    fetched_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)


def offline_fetcher(period: str, interval: str) -> Any:
    """The fetcher when live data is turned off (OPTERA_BTC_LIVE=0): cache and shipped history only."""
    raise RuntimeError("live bitcoin data is turned off (OPTERA_BTC_LIVE=0)")


def short_reason(error: BaseException) -> str:
    """A few words on why a fetch failed; the library's own text (curl's, HTTP's) stays out of the page."""
    text = f"{type(error).__name__} {error}".lower()
    if "optera_btc_live=0" in text:
        return "turned off by OPTERA_BTC_LIVE=0"
    for needles, reason in ((("resolve", "name or service", "getaddrinfo", "proxy", "connect", "network",
                              "unreachable", "refused", "curl"), "no network connection"),
                            (("timed out", "timeout"), "timed out"),
                            (("429", "too many", "rate"), "rate-limited"),
                            (("no rows", "empty", "no data", "delisted"), "no data returned")):
        if any(n in text for n in needles):
            return reason
    return type(error).__name__


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def clean_bars(raw: Any, daily: bool) -> pd.DataFrame:
    """Normalise a fetched frame to OHLCV floats on a naive-UTC, sorted, unique index.

    Rows without a positive finite close are dropped; missing open/high/low take the close.
    Raises ValueError when nothing usable is left.
    """
    if not isinstance(raw, pd.DataFrame) or raw.empty:
        raise ValueError("no rows returned")
    frame = raw.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        level = next((i for i in range(frame.columns.nlevels)
                      if "Close" in frame.columns.get_level_values(i)), 0)
        frame.columns = frame.columns.get_level_values(level)
        frame = frame.loc[:, ~frame.columns.duplicated()]
    frame.columns = [str(c).strip().title() for c in frame.columns]
    if "Close" not in frame.columns:
        raise ValueError("no Close column")
    index = pd.to_datetime(frame.index, errors="coerce", utc=True)
    frame.index = index.tz_convert(None)
    frame = frame[~frame.index.isna()]
    out = pd.DataFrame(index=frame.index)
    for col in OHLCV:
        values = frame[col] if col in frame.columns else pd.Series(np.nan, index=frame.index)
        out[col] = pd.to_numeric(values, errors="coerce").astype(float)
    out = out[np.isfinite(out["Close"]) & (out["Close"] > 0)]
    for col in ("Open", "High", "Low"):
        bad = ~np.isfinite(out[col]) | (out[col] <= 0)
        out.loc[bad, col] = out.loc[bad, "Close"]
    out["Volume"] = out["Volume"].where(np.isfinite(out["Volume"]), 0.0)
    if daily:
        out.index = out.index.normalize()
    out = out[~out.index.duplicated(keep="last")].sort_index()
    if out.empty:
        raise ValueError("no usable rows (all prices missing)")
    out.index.name = "Date"
    return out


def read_shipped(path: Path | str = SHIPPED_DAILY) -> pd.DataFrame:
    raw = pd.read_csv(path, index_col=0, parse_dates=True)
    return clean_bars(raw, daily=True)


def _meta_time(store, key: str) -> datetime | None:
    value = store.get_meta(key)
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _cached(store, kind: str) -> pd.DataFrame:
    frame = store.btc_frame(TABLE[kind])
    return frame if not frame.empty else pd.DataFrame()


def _load_one(store, fetcher: Fetcher, kind: str, ttl: timedelta, now: datetime, refresh: bool,
              allow_fetch: bool = True) -> tuple[pd.DataFrame | None, str | None, datetime | None, str | None]:
    """(frame, source, fetched_at, problem) for one kind; never raises."""
    cached, fetched = pd.DataFrame(), None
    if store is not None:
        try:
            cached, fetched = _cached(store, kind), _meta_time(store, META_FETCHED[kind])
            failed = _meta_time(store, META_FAILED[kind])
        except Exception:  # noqa: BLE001 - a broken cache only means "no cache"
            cached, fetched, failed = pd.DataFrame(), None, None
    else:
        failed = None
    if not refresh and not cached.empty and fetched is not None and timedelta(0) <= now - fetched < ttl:
        return cached, "cache", fetched, None
    if not allow_fetch or (not refresh and failed is not None and timedelta(0) <= now - failed < RETRY_AFTER):
        problem = "not retried yet after a recent failure" if allow_fetch else "skipped after the daily fetch failed"
        return (cached, "cache", fetched, problem) if not cached.empty else (None, None, None, problem)
    period, interval = (DAILY_PERIOD, DAILY_INTERVAL) if kind == "daily" else (INTRADAY_PERIOD, INTRADAY_INTERVAL)
    problem = None
    try:
        frame = clean_bars(fetcher(period, interval), daily=kind == "daily")
    except Exception as e:  # noqa: BLE001 - yfinance raises many types; all mean "not live"
        problem = short_reason(e)
        frame = None
        if store is not None:
            try:
                store.set_meta(META_FAILED[kind], now.replace(microsecond=0).isoformat())
            except Exception:  # noqa: BLE001
                pass
    if frame is not None:
        if store is not None:
            try:
                store.upsert_btc(TABLE[kind], frame)
                store.set_meta(META_FETCHED[kind], now.replace(microsecond=0).isoformat())
                merged = _cached(store, kind)
                frame = merged if not merged.empty else frame
            except Exception:  # noqa: BLE001 - caching is best effort
                pass
        return frame, "live", now, None
    if not cached.empty:
        return cached, "cache", fetched, problem
    return None, None, None, problem


def load_market(store=None, fetcher: Fetcher | None = None, now: datetime | None = None, *,
                refresh: bool = False, shipped_path: Path | str = SHIPPED_DAILY) -> BtcMarket:
    """BTC-USD daily (and, when available, recent 5-minute) bars with provenance.

    Order of preference per kind: fresh cache (within TTL) > live fetch > stale cache;
    for daily bars the shipped CSV comes last. ``refresh=True`` skips the fresh-cache step.
    Intraday bars older than a day relative to ``now`` are left out (they would mislead).
    """
    now = now or _utcnow()
    fetcher = fetcher or yfinance_fetcher
    warnings: list[str] = []
    daily, source, fetched, problem = _load_one(store, fetcher, "daily", DAILY_TTL, now, refresh)
    if problem:
        warnings.append(f"live daily data unavailable ({problem})")
    if daily is None:
        fetched = None
        try:
            daily, source = read_shipped(shipped_path), "shipped"
        except Exception as e:  # noqa: BLE001
            warnings.append(f"shipped history unreadable ({type(e).__name__})")
            daily, source = pd.DataFrame(columns=OHLCV, index=pd.DatetimeIndex([], name="Date")), "none"

    daily_failed = problem is not None  # Yahoo is unreachable or was recently: do not try intraday now
    intraday, intra_source, _, intra_problem = _load_one(store, fetcher, "intraday", INTRADAY_TTL, now, refresh,
                                                          allow_fetch=not daily_failed)
    if intra_problem and not intra_problem.startswith("skipped"):
        warnings.append(f"live intraday data unavailable ({intra_problem})")
    if intraday is not None:
        intraday = intraday[intraday.index >= intraday.index.max() - INTRADAY_KEEP]
        if intraday.index.max() < now - timedelta(days=1):
            warnings.append("cached intraday data is more than a day old; not used")
            intraday, intra_source = None, None

    stamps = [daily.index.max()] if not daily.empty else []
    if intraday is not None:
        stamps.append(intraday.index.max())
    as_of = max(stamps).to_pydatetime() if stamps else None
    message = {"live": "live from Yahoo Finance", "cache": "cached Yahoo Finance data",
               "shipped": "shipped history (data/btc_usd_daily.csv)", "none": "no data"}[source]
    if as_of is not None:
        message += f", as of {as_of:%Y-%m-%d %H:%M} UTC" if intraday is not None else f", as of {as_of:%Y-%m-%d}"
    if fetched is not None and source == "cache":
        message += f" (fetched {fetched:%Y-%m-%d %H:%M} UTC)"
    if warnings:
        message += ". " + "; ".join(warnings)
    return BtcMarket(daily=daily, intraday=intraday, source=source, as_of=as_of, message=message,
                     intraday_source=intra_source, fetched_at=fetched, warnings=warnings)


def moving_averages(daily: pd.DataFrame, windows: tuple[int, ...] = (7, 30)) -> dict[int, pd.Series]:
    """Rolling means of daily closes (full windows only), keyed by window length in days."""
    close = daily["Close"]
    return {w: close.rolling(w, min_periods=w).mean() for w in windows}


def realised_volatility(close: pd.Series, days: int) -> float | None:
    """Annualised (sqrt(365)) sample std of the last ``days`` daily log returns; None if too short."""
    returns = np.log(close.to_numpy(dtype=float))
    returns = np.diff(returns)[-days:]
    if len(returns) < days or days < 2:
        return None
    return float(np.std(returns, ddof=1) * math.sqrt(365))


def btc_metrics(market: BtcMarket) -> dict[str, Any]:
    """Headline numbers: price, a real 24 h change, volatility, drawdown, moving averages.

    change_24h is a fraction (0.02 = +2 %); change_24h_basis says how it was measured,
    or why it is None.
    """
    daily = market.daily
    out: dict[str, Any] = {"source": market.source, "as_of": market.as_of, "price": None,
                           "price_time": None, "change_24h": None, "change_24h_abs": None,
                           "change_24h_basis": "no data", "volatility_7d": None, "volatility_30d": None,
                           "drawdown": None, "peak": None, "peak_date": None, "ma_7": None, "ma_30": None}
    if daily is None or daily.empty:
        return out
    close = daily["Close"].astype(float)
    price, price_time = float(close.iloc[-1]), close.index[-1]
    intraday = market.intraday
    if intraday is not None and not intraday.empty and intraday.index[-1] >= price_time:
        price, price_time = float(intraday["Close"].iloc[-1]), intraday.index[-1]
    out["price"], out["price_time"] = price, price_time.to_pydatetime()

    if intraday is not None and not intraday.empty and intraday.index[-1] == price_time:
        target = price_time - pd.Timedelta(hours=24)
        before = intraday["Close"][intraday.index <= target]
        if len(before) and before.index[-1] >= target - pd.Timedelta(minutes=30):
            ref = float(before.iloc[-1])
            out["change_24h"], out["change_24h_abs"] = price / ref - 1, price - ref
            out["change_24h_basis"] = (f"5-minute bars: {price_time:%Y-%m-%d %H:%M} vs "
                                       f"{before.index[-1]:%Y-%m-%d %H:%M} UTC")
        else:
            out["change_24h_basis"] = "intraday bars do not reach 24 h back"
    if out["change_24h"] is None and len(close) >= 2 and price_time == close.index[-1]:
        gap = close.index[-1] - close.index[-2]
        if gap == pd.Timedelta(days=1):
            ref = float(close.iloc[-2])
            out["change_24h"], out["change_24h_abs"] = price / ref - 1, price - ref
            out["change_24h_basis"] = (f"daily closes {close.index[-2]:%Y-%m-%d} -> "
                                       f"{close.index[-1]:%Y-%m-%d} (24 h apart)")
        else:
            out["change_24h_basis"] = f"last two daily closes are {gap} apart, not 24 h; no 24 h change"
    elif out["change_24h"] is None and out["change_24h_basis"] == "no data":
        out["change_24h_basis"] = "not enough data for a 24 h change"

    out["volatility_7d"] = realised_volatility(close, 7)
    out["volatility_30d"] = realised_volatility(close, 30)
    peak_series = close if intraday is None or intraday.empty else pd.concat([close, intraday["Close"]])
    peak_idx = peak_series.idxmax()
    out["peak"], out["peak_date"] = float(peak_series.max()), peak_idx.to_pydatetime()
    out["drawdown"] = price / out["peak"] - 1
    for w in (7, 30):
        out[f"ma_{w}"] = float(close.iloc[-w:].mean()) if len(close) >= w else None
    return out
