"""Read a user's price CSV (timestamp,energy_price,hash_price,token_price), with row-precise errors."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from .errors import BacktestInputError
from .numbers import MAX_VALUE
from .vocabulary import PRICE_COLUMNS

NO_DATA = "no price data in the chosen window"


def _csv_error(row: int, column: str, reason: str, value) -> BacktestInputError:
    return BacktestInputError(f"row {row} (line {row + 1}), column {column}: {reason} (got {value!r})")


def read_prices_csv(path_or_buffer: str | Path | IO) -> pd.DataFrame:  # noqa: C901 - one check per way a user's file can be wrong, each naming its rows
    """Load and validate a user's price CSV (timestamp,energy_price,hash_price,token_price).

    Rows are numbered from 1 after the header. Returns a frame indexed by naive UTC
    timestamps, sorted, with duplicate timestamps dropped (the last one wins).
    """
    if isinstance(path_or_buffer, bytes):
        path_or_buffer = io.BytesIO(path_or_buffer)
    try:
        raw = pd.read_csv(path_or_buffer, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise BacktestInputError("the CSV file is empty; expected a header "
                         "timestamp,energy_price,hash_price,token_price") from None
    except pd.errors.ParserError as e:
        raise BacktestInputError(f"the CSV file could not be parsed: {str(e).strip()}") from None
    except UnicodeDecodeError:
        raise BacktestInputError("the CSV file is not UTF-8 text") from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    for col in ("timestamp",) + PRICE_COLUMNS:
        if col not in raw.columns:
            raise BacktestInputError(f"the CSV lacks the column {col}; expected a header "
                             "timestamp,energy_price,hash_price,token_price")
    if raw.empty:
        raise BacktestInputError(NO_DATA)
    text = raw["timestamp"].str.strip()
    ts = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    retry = ts.isna() & (text != "")
    if retry.any():
        ts[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce", utc=True)
    bad = ts.isna().to_numpy()
    if bad.any():
        r = int(np.argmax(bad))
        value = text.iloc[r]
        raise _csv_error(r + 1, "timestamp", "missing timestamp" if value == "" else "not a timestamp", value)
    data = {}
    for col in PRICE_COLUMNS:
        s = raw[col].str.strip()
        num = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
        bad = ~np.isfinite(num) | (num < 0) | (num > MAX_VALUE)
        if bad.any():
            r = int(np.argmax(bad))
            value = s.iloc[r]
            if value == "":
                reason = "missing value"
            elif math.isnan(num[r]):
                reason = "not a number"
            elif not math.isfinite(num[r]):
                reason = "not a finite number"
            elif num[r] > MAX_VALUE:
                reason = f"is too large (at most {MAX_VALUE:,.0f})"
            else:
                reason = "must not be negative"
            raise _csv_error(r + 1, col, reason, value)
        data[col] = num
    index = pd.DatetimeIndex(ts.dt.tz_convert("UTC").dt.tz_localize(None), name="timestamp")
    frame = pd.DataFrame(data, index=index)
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame


