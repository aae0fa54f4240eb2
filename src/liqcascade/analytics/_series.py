"""Input checks shared by the analytics: one price series with a UTC DatetimeIndex."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError


def to_utc_index(values, field: str = "timestamp") -> pd.DatetimeIndex:
    """A UTC DatetimeIndex from epoch ms (numbers), datetimes or ISO strings."""
    s = pd.Series(values)
    if pd.api.types.is_numeric_dtype(s):
        if s.isna().any():
            raise InputError("missing timestamp", field=field, row=int(np.flatnonzero(s.isna().to_numpy())[0]))
        idx = pd.to_datetime(s.astype("int64"), unit="ms", utc=True)
    else:
        if not pd.api.types.is_datetime64_any_dtype(s):
            s = s.astype(str).str.strip()  # the bookDepth archive has a timestamp with a leading space
        idx = pd.to_datetime(s, utc=True, errors="coerce")
        if idx.isna().any():
            raise InputError("not a timestamp", field=field, row=int(np.flatnonzero(idx.isna().to_numpy())[0]))
    return pd.DatetimeIndex(idx)


def check_index(idx: pd.DatetimeIndex, field: str = "timestamp") -> None:
    """Sorted ascending and unique, or InputError naming the field and the row."""
    v = idx.asi8
    d = np.diff(v)
    if np.any(d < 0):
        raise InputError("timestamps are not sorted ascending", field=field, row=int(np.flatnonzero(d < 0)[0]) + 1)
    if np.any(d == 0):
        raise InputError("duplicated timestamp", field=field, row=int(np.flatnonzero(d == 0)[0]) + 1)


def price_series(data, column: str = "close", *, field: str | None = None, allow_zero: bool = False) -> pd.Series:
    """A float Series of positive prices on a sorted, unique UTC DatetimeIndex.

    ``data`` is a Series with a DatetimeIndex, or a DataFrame with a ``timestamp`` column (epoch ms
    or datetimes) or a DatetimeIndex, and the ``column`` to use.
    """
    name = field or column
    if isinstance(data, pd.DataFrame):
        if len(data) == 0:
            raise InputError("is empty", field=name)
        if column not in data.columns:
            raise InputError(f"missing column; got {list(data.columns)}", field=column)
        if "timestamp" in data.columns:
            idx = to_utc_index(data["timestamp"].to_numpy())
        elif isinstance(data.index, pd.DatetimeIndex):
            idx = data.index if data.index.tz is not None else data.index.tz_localize("UTC")
        else:
            raise InputError("needs a timestamp column or a DatetimeIndex", field="timestamp")
        values = data[column].to_numpy()
    elif isinstance(data, pd.Series):
        if len(data) == 0:
            raise InputError("is empty", field=name)
        if not isinstance(data.index, pd.DatetimeIndex):
            raise InputError("a price Series needs a DatetimeIndex", field="timestamp")
        idx = data.index if data.index.tz is not None else data.index.tz_localize("UTC")
        values = data.to_numpy()
    else:
        raise InputError("must be a pandas Series or DataFrame", field=name)
    arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(arr) & ((arr >= 0) if allow_zero else (arr > 0))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise InputError(f"must be a positive finite number, got {float(arr[i])!r}", field=name, row=i)
    idx = pd.DatetimeIndex(idx)
    check_index(idx)
    return pd.Series(arr, index=idx, name=name)


def bar_seconds(idx: pd.DatetimeIndex) -> float:
    """The bar size in seconds: the median spacing of the timestamps."""
    if len(idx) < 2:
        raise InputError("needs at least two bars", field="timestamp")
    return float(np.median(np.diff(idx.as_unit("ns").asi8)) / 1e9)
