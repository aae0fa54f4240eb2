"""Open-interest and funding series in Coinalyze's export layout.

Coinalyze names a market ``<venue symbol>.<exchange code>``; ``BTCUSD_PERP.A`` is Binance's
coin-margined BTC perpetual.  Only the Binance code ``A`` is mapped to a ccxt symbol; other
markets keep ``symbol`` as None and their Coinalyze name in ``coinalyze_symbol``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InputError
from ._common import (
    PathLike,
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
    show,
    to_float,
)

__all__ = ["read_coinalyze_funding", "read_coinalyze_open_interest"]

_EXCHANGE_CODES = {"A": "binance"}

#: A funding rate above this many percent per 8 h is taken as a unit error (a fraction read as
#: percent, or a percent scaled again) rather than a market: venues cap funding well below it.
MAX_FUNDING_PERCENT = 5.0


def _market(coinalyze_symbol: str) -> tuple[str | None, str | None]:
    """``'BTCUSD_PERP.A'`` → (``'binance'``, ``'BTC/USD:BTC'``)."""
    from .binance import binance_symbol

    venue_symbol, _, code = coinalyze_symbol.rpartition(".")
    exchange = _EXCHANGE_CODES.get(code)
    if exchange == "binance":
        # Coinalyze writes USDⓈ-M perpetuals as BTCUSDT_PERP; Binance as BTCUSDT
        raw = re.sub(r"(USDT|USDC)_PERP$", r"\1", venue_symbol)
        try:
            return exchange, binance_symbol(raw)[0]
        except InputError:
            return exchange, None
    return exchange, None


def _read(path: PathLike, value_columns: tuple[str, ...]) -> tuple[pd.DataFrame, str, np.ndarray, pd.DataFrame]:
    data, name = read_bytes(path)
    head = [normalise_column_name(h) for h in first_line(data).split(",")]
    time_col = "timestamp" if "timestamp" in head else "date"
    require_columns(name, head, ("symbol", time_col, *value_columns))
    df = parse_csv(data, name, header=True, names=head, types={c: pa.float64() for c in value_columns})
    line0 = 2
    ts, _ = column_to_ms(df, time_col, name, line0)
    symbols = df["symbol"].astype("string").str.strip()
    missing = (symbols.isna() | (symbols == "")).to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise fail(name, "symbol is missing", row=line0 + i, field="symbol")
    symbols = symbols.to_numpy(dtype=object)
    check_time_order(ts, name, line0, column=time_col, groups=symbols)
    markets = {s: _market(s) for s in pd.unique(symbols)}
    out = pd.DataFrame(
        {
            "timestamp": ts,
            "datetime": ms_to_datetime(ts),
            "exchange": [markets[s][0] for s in symbols],
            "symbol": [markets[s][1] for s in symbols],
            "coinalyze_symbol": symbols,
        }
    )
    if "coin_symbol" in head:
        out["coin"] = df["coin_symbol"].astype("string").str.strip().to_numpy(dtype=object)
    out.attrs["source"] = name
    return out, name, ts, df


def read_coinalyze_open_interest(path: PathLike) -> pd.DataFrame:
    """Read a Coinalyze open-interest export (``…,symbol,date,timestamp,oi_open,oi_high,oi_low,
    oi_close``), one bar per row, values in USD.

    Returns
    -------
    DataFrame in file order: ``timestamp`` (int64 ms UTC, bar open), ``datetime``, ``exchange``,
    ``symbol`` (ccxt unified), ``coinalyze_symbol``, ``coin``, ``oi_open_usd``, ``oi_high_usd``,
    ``oi_low_usd``, ``oi_close_usd`` (USD).

    The shared sample covers Binance's coin-margined BTCUSD_PERP and ETHUSD_PERP only (≈ $2.4B),
    a small part of the market: use it for relative changes, not totals.
    """
    cols = ("oi_open", "oi_high", "oi_low", "oi_close")
    out, name, _, df = _read(path, cols)
    for c in cols:
        v = to_float(df, c, name, 2)
        check_positive(v, c, name, 2)
        out[f"{c}_usd"] = v
    return out


def read_coinalyze_funding(path: PathLike) -> pd.DataFrame:
    """Read a Coinalyze funding-rate export and normalise it to a **fraction per 8 hours**.

    Coinalyze's ``funding_rate`` (and ``fr_open``/``fr_high``/``fr_low``) are in **percent** per
    8 h: 0.01 means 0.01 % = 0.0001.  They are divided by 100 here.  The export's
    ``funding_rate_pct`` column is 100x too large (1.0 for a 0.01 % rate) and is ignored.  A value
    beyond ±5 % per 8 h (:data:`MAX_FUNDING_PERCENT`) is rejected as a unit error.

    Returns
    -------
    DataFrame in file order: ``timestamp`` (int64 ms UTC), ``datetime``, ``exchange``,
    ``symbol`` (ccxt unified), ``coinalyze_symbol``, ``coin``, ``funding_rate`` (fraction per
    8 h; 0.0001 = 0.01 %), and ``funding_rate_open``/``_high``/``_low`` (same unit) when present.
    """
    data, _ = read_bytes(path)
    head = [normalise_column_name(h) for h in first_line(data).split(",")]
    extra = tuple(c for c in ("fr_open", "fr_high", "fr_low") if c in head)
    out, name, _, df = _read(path, ("funding_rate", *extra))
    for src, dst in (("funding_rate", "funding_rate"), *((c, "funding_rate_" + c[3:]) for c in extra)):
        percent = to_float(df, src, name, 2)
        bad = ~np.isfinite(percent) | (np.abs(percent) > MAX_FUNDING_PERCENT)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            problem = (
                "is missing or NaN"
                if np.isnan(percent[i])
                else f"must be finite, got {show(percent[i])}"
                if np.isinf(percent[i])
                else (f"{show(percent[i])} % per 8 h is implausible (percent and fraction mixed up?)")
            )
            raise fail(name, f"{src} {problem}", row=2 + i, field=src)
        out[dst] = percent / 100.0
    return out
