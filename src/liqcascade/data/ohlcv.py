"""Generic OHLCV bars from any vendor's CSV (exchange exports, TradingView, Yahoo-style files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ._common import (
    PathLike,
    check_high_low,
    check_positive,
    check_time_order,
    column_to_ms,
    fail,
    first_line,
    ms_to_datetime,
    normalise_column_name,
    parse_csv,
    read_bytes,
    require_columns,
    to_float,
)

__all__ = ["read_ohlcv", "TIME_COLUMNS"]

#: Names recognised as the time column, in order of preference (compared after lower-casing).
TIME_COLUMNS = ("timestamp", "time", "datetime", "date", "open_time", "timestamp_utc", "ts", "t")
_PRICE = ("open", "high", "low", "close")


def read_ohlcv(path: PathLike, *, time_column: str | None = None) -> pd.DataFrame:
    """Read OHLCV bars from a CSV with a header row.

    The time column is found by name (``timestamp``, ``time``, ``datetime``, ``date``, … — see
    :data:`TIME_COLUMNS`, or pass ``time_column``) and its unit by content: epoch seconds,
    milliseconds, microseconds or nanoseconds (by magnitude), or ISO-8601 dates/date-times
    (a time without an offset is UTC).  Column names are matched case-insensitively
    (``Open``/``Adj Close`` → ``open``/``adj_close``).  A ``symbol`` column, if present, holds
    several series in one file; times must increase within each symbol.

    Returns
    -------
    DataFrame in file order: ``timestamp`` (int64 ms UTC), ``datetime`` (UTC), [``symbol``],
    ``open``, ``high``, ``low``, ``close`` (float, quote currency), ``volume`` (float, NaN when
    the file has none), then the file's other columns under normalised names.
    ``df.attrs['time_unit']`` is ``'s'``, ``'ms'``, ``'us'``, ``'ns'`` or ``'iso'``.

    Raises
    ------
    InputError
        No time column, a missing price column, a truncated or empty file, times unsorted,
        duplicated or in mixed units, prices NaN/zero/negative, high below low, negative volume.
    """
    data, name = read_bytes(path)
    raw_head = first_line(data).split(",")
    head = [normalise_column_name(h) for h in raw_head]
    if len(set(head)) != len(head):
        dup = next(h for h in head if head.count(h) > 1)
        raise fail(name, f"column {dup!r} appears twice in the header", row=1, field=dup)
    if time_column is None:
        time_col = next((c for c in TIME_COLUMNS if c in head), None)
        if time_col is None:
            raise fail(name, f"no time column (looked for {', '.join(TIME_COLUMNS)})", row=1, field="timestamp")
    else:
        time_col = normalise_column_name(time_column)
        require_columns(name, head, [time_col])
    require_columns(name, head, _PRICE)
    numeric = [c for c in (*_PRICE, "volume") if c in head]
    df = parse_csv(data, name, header=True, names=head, types={c: pa.float64() for c in numeric})
    line0 = 2

    ts, unit = column_to_ms(df, time_col, name, line0)
    symbols = None
    if "symbol" in head:
        symbols = df["symbol"].astype("string").str.strip()
        missing = (symbols.isna() | (symbols == "")).to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise fail(name, "symbol is missing", row=line0 + i, field="symbol")
        symbols = symbols.to_numpy(dtype=object)
    check_time_order(ts, name, line0, column=time_col, groups=symbols)

    out = {"timestamp": ts, "datetime": ms_to_datetime(ts)}
    if symbols is not None:
        out["symbol"] = symbols
    prices = {c: to_float(df, c, name, line0) for c in _PRICE}
    for c, v in prices.items():
        check_positive(v, c, name, line0)
    check_high_low(prices["high"], prices["low"], name, line0)
    out.update(prices)
    if "volume" in head:
        vol = to_float(df, "volume", name, line0)
        check_positive(vol, "volume", name, line0, allow_zero=True)
        out["volume"] = vol
    else:
        out["volume"] = np.full(len(ts), np.nan)
    frame = pd.DataFrame(out)
    for c in head:
        if c not in frame.columns and c != time_col:
            col = df[c]
            if not pd.api.types.is_numeric_dtype(col.dtype):
                as_num = pd.to_numeric(col, errors="coerce")
                col = as_num if as_num.notna().sum() == col.notna().sum() else col
            frame[c] = col.to_numpy()
    frame.attrs["source"] = name
    frame.attrs["time_unit"] = unit
    return frame
