"""Spot tick trades in the common ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount``
layout (Tardis-style exports, e.g. the Gemini files of 10 Oct 2025)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa

from ._common import (
    PathLike,
    check_positive,
    check_time_order,
    column_to_ms,
    fail,
    first_line,
    normalise_column_name,
    parse_csv,
    read_bytes,
    require_columns,
    show,
    to_float,
)

__all__ = ["read_trades", "spot_symbol"]

_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "DAI", "USD", "EUR", "GBP", "JPY", "BTC", "ETH")
_SPOT = re.compile(r"^(?P<base>[A-Z0-9]+?)[-_/]?(?P<quote>" + "|".join(_QUOTES) + r")$")


def spot_symbol(raw: str) -> str:
    """A venue's spot pair id → ccxt unified spot symbol: ``BTCUSD``/``btc-usd`` → ``BTC/USD``.

    An id that does not end in a known quote currency is returned upper-cased, unchanged.
    """
    s = str(raw).strip().upper()
    if "/" in s:
        return s
    m = _SPOT.match(s)
    return f"{m['base']}/{m['quote']}" if m else s


def read_trades(path: PathLike) -> pd.DataFrame:
    """Read spot tick trades.

    Parameters
    ----------
    path:
        CSV (optionally ``.gz``/``.zip``) with a header and at least ``timestamp``, ``price`` and
        ``amount``; ``exchange``, ``symbol``, ``local_timestamp``, ``id`` and ``side`` are used
        when present.  Timestamps may be epoch s/ms/µs/ns or ISO-8601 (Tardis exports use µs).

    Returns
    -------
    DataFrame in file order: ``exchange``, ``symbol`` (ccxt unified, ``BTC/USD``), ``timestamp``
    (int64 epoch ms UTC), ``datetime`` (UTC, full microsecond precision), ``id``, ``side``
    (``'buy'``/``'sell'`` = the taker's side, or ``'unknown'``), ``price`` (quote currency),
    ``amount`` (base units), ``cost`` (price × amount, quote currency) and ``local_datetime``
    (receipt time, UTC) when the file has ``local_timestamp``.

    Raises
    ------
    InputError
        Times going backwards (equal times are normal for trades), duplicated trade ids,
        NaN/zero/negative price or amount, an unknown side, a truncated or empty file.
    """
    data, name = read_bytes(path)
    head = [normalise_column_name(h) for h in first_line(data).split(",")]
    require_columns(name, head, ("timestamp", "price", "amount"))
    types = {"price": pa.float64(), "amount": pa.float64()}
    df = parse_csv(data, name, header=True, names=head, types=types)
    line0 = 2
    n = len(df)

    us = _column_to_us(df, "timestamp", name, line0)
    ms = us // 1000
    groups = None
    if "symbol" in head:
        groups = df["symbol"].astype("string").str.strip().fillna("").to_numpy(dtype=object)
    check_time_order(ms, name, line0, strict=False, groups=groups)

    price = to_float(df, "price", name, line0)
    amount = to_float(df, "amount", name, line0)
    check_positive(price, "price", name, line0)
    check_positive(amount, "amount", name, line0)

    out: dict[str, object] = {}
    out["exchange"] = (
        df["exchange"].astype("string").str.strip().str.lower().to_numpy(dtype=object)
        if "exchange" in head
        else np.full(n, None)
    )
    if groups is not None:
        mapping = {s: spot_symbol(s) for s in pd.unique(groups)}
        out["symbol"] = np.array([mapping[s] for s in groups], dtype=object)
    else:
        out["symbol"] = np.full(n, None)
    out["timestamp"] = ms
    out["datetime"] = pd.Series(us.astype("datetime64[us]")).dt.tz_localize("UTC")
    if "id" in head:
        ids = df["id"]
        key = pd.DataFrame({"s": groups if groups is not None else np.zeros(n), "id": ids.astype("string").str.strip()})
        dup = key.duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise fail(name, f"duplicated trade id {key['id'].iloc[i]}", row=line0 + i, field="id")
        out["id"] = ids.to_numpy()
    else:
        out["id"] = np.full(n, None)
    if "side" in head:
        side = df["side"].astype("string").str.strip().str.lower().fillna("unknown")
        side = side.replace({"b": "buy", "s": "sell", "bid": "buy", "ask": "sell", "": "unknown"})
        bad = ~side.isin(["buy", "sell", "unknown"]).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise fail(name, f"side must be buy or sell, got {show(df['side'].iloc[i])}", row=line0 + i, field="side")
        out["side"] = side.to_numpy(dtype=object)
    else:
        out["side"] = np.full(n, "unknown", dtype=object)
    out["price"] = price
    out["amount"] = amount
    out["cost"] = price * amount
    frame = pd.DataFrame(out)
    if "local_timestamp" in head:
        local = _column_to_us(df, "local_timestamp", name, line0)
        frame["local_datetime"] = pd.Series(local.astype("datetime64[us]")).dt.tz_localize("UTC")
    frame.attrs["source"] = name
    return frame


def _column_to_us(df: pd.DataFrame, column: str, name: str, line0: int) -> np.ndarray:
    """Time column → int64 epoch microseconds, keeping sub-millisecond precision when present."""
    ms, unit = column_to_ms(df, column, name, line0)
    if unit in ("us", "ns"):
        raw = pd.to_numeric(df[column]).to_numpy(dtype=np.int64)
        return raw if unit == "us" else raw // 1000
    return ms * 1000
