"""BTC market data: metrics by hand, and every yfinance failure path offline."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from optera.intel.btc import BtcMarket, btc_metrics, load_market, moving_averages
from optera.store import Store

# 40 days of made-up closes: a rise to a peak on day 25, then a fall.
CLOSES = [100 + 3 * i for i in range(26)] + [175 - 4 * i for i in range(1, 15)]
DAYS = pd.date_range("2025-01-01", periods=len(CLOSES), freq="D", name="Date")


def bars(closes, index) -> pd.DataFrame:
    closes = [float(c) for c in closes]
    return pd.DataFrame({"Open": closes, "High": closes, "Low": closes, "Close": closes,
                         "Volume": [1.0] * len(closes)}, index=index)


def market(daily, intraday=None) -> BtcMarket:
    return BtcMarket(daily=daily, intraday=intraday, source="cache", as_of=None, message="")


def hand_vol(closes, days):
    rets = [math.log(closes[i] / closes[i - 1]) for i in range(len(closes) - days, len(closes))]
    mean = sum(rets) / days
    var = sum((r - mean) ** 2 for r in rets) / (days - 1)
    return math.sqrt(var) * math.sqrt(365)


def test_metrics_match_hand_calculation():
    m = btc_metrics(market(bars(CLOSES, DAYS)))
    last, prev = CLOSES[-1], CLOSES[-2]
    assert m["price"] == last
    assert m["change_24h"] == pytest.approx(last / prev - 1)
    assert m["change_24h_abs"] == pytest.approx(last - prev)
    assert "daily closes" in m["change_24h_basis"]
    assert m["volatility_7d"] == pytest.approx(hand_vol(CLOSES, 7))
    assert m["volatility_30d"] == pytest.approx(hand_vol(CLOSES, 30))
    assert m["peak"] == 175.0 and m["peak_date"] == datetime(2025, 1, 26)
    assert m["drawdown"] == pytest.approx(last / 175.0 - 1)
    assert m["ma_7"] == pytest.approx(sum(CLOSES[-7:]) / 7)
    assert m["ma_30"] == pytest.approx(sum(CLOSES[-30:]) / 30)


def test_moving_average_series_use_full_windows_only():
    ma = moving_averages(bars(CLOSES, DAYS))
    assert ma[7].iloc[:6].isna().all()
    assert ma[7].iloc[6] == pytest.approx(sum(CLOSES[:7]) / 7)
    assert ma[30].iloc[-1] == pytest.approx(sum(CLOSES[-30:]) / 30)


def test_no_24h_change_when_last_two_closes_are_not_a_day_apart():
    index = DAYS[:-1].append(pd.DatetimeIndex([DAYS[-1] + pd.Timedelta(days=2)]))
    m = btc_metrics(market(bars(CLOSES, index)))
    assert m["change_24h"] is None
    assert "not 24 h" in m["change_24h_basis"]
    assert m["price"] == CLOSES[-1]


def test_24h_change_from_intraday_bars():
    index = pd.date_range("2025-02-09 00:00", "2025-02-10 06:00", freq="5min")
    closes = [200 + 0.1 * i for i in range(len(index))]
    m = btc_metrics(market(bars(CLOSES, DAYS), bars(closes, index)))
    last_time = index[-1]
    ref = closes[list(index).index(last_time - pd.Timedelta(hours=24))]
    assert m["price"] == pytest.approx(closes[-1])
    assert m["change_24h"] == pytest.approx(closes[-1] / ref - 1)
    assert "5-minute" in m["change_24h_basis"]
    # the intraday high is above the daily peak, so it is the new peak
    assert m["peak"] == pytest.approx(max(closes))


def test_intraday_shorter_than_24h_gives_no_change():
    index = pd.date_range("2025-02-10 00:00", "2025-02-10 06:00", freq="5min")
    m = btc_metrics(market(bars(CLOSES, DAYS), bars([150.0] * len(index), index)))
    assert m["change_24h"] is None and "24 h" in m["change_24h_basis"]


def test_empty_market_gives_empty_metrics():
    empty = pd.DataFrame(columns=["Open", "High", "Low", "Close", "Volume"], index=pd.DatetimeIndex([]))
    m = btc_metrics(market(empty))
    assert m["price"] is None and m["change_24h"] is None


# -- loading: live, cache, shipped -------------------------------------------

NOW = datetime(2025, 2, 9, 12, 0)


class FakeYahoo:
    """Stands in for yfinance: counts calls, returns tz-aware frames like yfinance does."""

    def __init__(self, daily=None, intraday=None, error: Exception | None = None):
        self.daily, self.intraday, self.error, self.calls = daily, intraday, error, []

    def __call__(self, period, interval):
        self.calls.append((period, interval))
        if self.error:
            raise self.error
        return self.daily if interval == "1d" else self.intraday


def live_daily():
    frame = bars(CLOSES, DAYS.tz_localize("UTC"))
    return frame


def live_intraday():
    index = pd.date_range("2025-02-08 10:00", "2025-02-09 11:55", freq="5min", tz="UTC")
    return bars([300 + 0.5 * i for i in range(len(index))], index)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def test_shipped_history_when_fetch_raises_and_no_cache(store):
    fake = FakeYahoo(error=ConnectionError("Could not resolve host"))
    m = load_market(store, fake, now=NOW)
    assert m.source == "shipped"
    assert m.as_of == datetime(2025, 11, 29)  # last row of data/btc_usd_daily.csv
    assert "shipped" in m.message and "2025-11-29" in m.message and "unavailable" in m.message
    assert len(m.daily) > 4000 and m.intraday is None
    assert btc_metrics(m)["price"] == pytest.approx(90958.015625)


def test_no_store_and_failing_fetch_still_returns_shipped():
    m = load_market(None, FakeYahoo(error=RuntimeError("boom")), now=NOW)
    assert m.source == "shipped"


@pytest.mark.parametrize("answer", [pd.DataFrame(), None, "garbage",
                                    bars([float("nan")] * 3, pd.date_range("2025-02-01", periods=3, tz="UTC"))])
def test_empty_none_or_nan_answers_fall_back(store, answer):
    m = load_market(store, FakeYahoo(daily=answer, intraday=answer), now=NOW)
    assert m.source == "shipped"
    assert store.btc_frame("btc_daily").empty


def test_nan_rows_are_dropped_from_live_data(store):
    frame = live_daily()
    frame.iloc[3, frame.columns.get_loc("Close")] = np.nan
    frame.iloc[5, frame.columns.get_loc("High")] = np.nan
    m = load_market(store, FakeYahoo(daily=frame, intraday=live_intraday()), now=NOW)
    assert m.source == "live"
    assert len(m.daily) == len(CLOSES) - 1
    assert m.daily["Close"].notna().all() and m.daily["High"].notna().all()


def test_live_then_cache_within_ttl_then_stale_cache_on_failure(store):
    fake = FakeYahoo(daily=live_daily(), intraday=live_intraday())
    m = load_market(store, fake, now=NOW)
    assert m.source == "live" and m.intraday_source == "live"
    assert m.as_of == datetime(2025, 2, 9, 11, 55)  # newest intraday bar, naive UTC
    assert list(m.daily["Close"]) == [float(c) for c in CLOSES]
    assert len(fake.calls) == 2

    broken = FakeYahoo(error=AssertionError("must not be called within the TTL"))
    cached = load_market(store, broken, now=NOW + timedelta(minutes=3))
    assert cached.source == "cache" and broken.calls == []
    assert list(cached.daily["Close"]) == [float(c) for c in CLOSES]
    assert cached.intraday is not None

    later = NOW + timedelta(hours=7)
    stale = load_market(store, FakeYahoo(error=TimeoutError("timed out")), now=later)
    assert stale.source == "cache"
    assert stale.fetched_at == NOW
    assert "fetched 2025-02-09 12:00" in stale.message and "unavailable" in stale.message
    # intraday bars more than a day old are not passed off as current
    assert load_market(store, FakeYahoo(error=TimeoutError()), now=NOW + timedelta(days=2)).intraday is None


def test_failed_fetch_is_not_retried_on_every_call(store):
    fake = FakeYahoo(error=ConnectionError("offline"))
    load_market(store, fake, now=NOW)
    assert len(fake.calls) == 1  # the intraday fetch is skipped once the daily one failed
    load_market(store, fake, now=NOW + timedelta(minutes=1))
    assert len(fake.calls) == 1
    load_market(store, fake, now=NOW + timedelta(minutes=10))
    assert len(fake.calls) == 2


def test_multiindex_columns_from_yf_download_are_understood(store):
    frame = live_daily()
    frame.columns = pd.MultiIndex.from_product([frame.columns, ["BTC-USD"]], names=["Price", "Ticker"])
    m = load_market(store, FakeYahoo(daily=frame, intraday=None), now=NOW)
    assert m.source == "live"
    assert m.daily["Close"].iloc[-1] == CLOSES[-1]
    assert m.as_of == datetime(2025, 2, 9)
