"""One frame shape for liquidation prints of every venue.

Columns follow ccxt's liquidation structure — ``info, symbol, timestamp, datetime, price,
baseValue, quoteValue, contracts, contractSize, side`` — plus:

``exchange``
    ccxt exchange id (``binance``, ``bybit``, ``okx``, ``bitmex``, ``hyperliquid``).
``position_side``
    The side of the position that was liquidated, ``'long'`` or ``'short'``.  A liquidation
    *order* that sells closes a long: ``side='sell'`` ⇔ ``position_side='long'``.
``usd``
    USD value recomputed from contracts × contract size × price (see :class:`Contract` for
    inverse and quanto contracts).  USDT and USDC are counted at 1 USD.

``side`` is always the side of the liquidation order (``'buy'``/``'sell'``), whatever the venue
reports: Bybit and Hyperliquid report the position side, and the readers convert.  ``timestamp``
is int64 epoch milliseconds (UTC); ``datetime`` is a tz-aware UTC pandas datetime rather than
ccxt's ISO string.  ``info`` keeps the venue's raw record.
"""

from __future__ import annotations

import calendar
import datetime as _dt
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._common import ms_to_datetime

LIQUIDATION_COLUMNS = (
    "info",
    "exchange",
    "symbol",
    "timestamp",
    "datetime",
    "price",
    "baseValue",
    "quoteValue",
    "contracts",
    "contractSize",
    "side",
    "position_side",
    "usd",
)

USD_QUOTES = frozenset({"USD", "USDT", "USDC", "FDUSD", "BUSD", "USDE"})


@dataclass(frozen=True)
class Contract:
    """How one contract of an instrument converts to base units and USD.

    ``kind``:
      * ``'linear'``: one contract is ``size`` base units; quote value = contracts × size × price.
      * ``'inverse'``: one contract is worth ``size`` units of the quote currency (USD), whatever
        the price: quote value = contracts × size; base value = quote value / price.
      * ``'quanto'`` (BitMEX ``ETHUSD``): one contract pays ``size`` units of the settlement
        currency per 1 USD of price: settlement value = contracts × size × price.

    ``quote_usd`` is the USD price of one unit of the quote currency (1 for USD and stablecoins);
    ``settle_usd`` the USD price of the settlement currency for quanto contracts.  ``None`` means
    unknown, and the USD value is then NaN.
    """

    kind: Literal["linear", "inverse", "quanto"]
    size: float
    quote_usd: float | None = 1.0
    settle_usd: float | None = None


def values(contracts: float, price: float, contract: Contract) -> tuple[float, float, float]:
    """(baseValue, quoteValue, usd) of ``contracts`` at ``price``."""
    nan = float("nan")
    if contract.kind == "linear":
        base = contracts * contract.size
        quote = base * price
        usd = quote * contract.quote_usd if contract.quote_usd is not None else nan
        return base, quote, usd
    if contract.kind == "inverse":
        quote = contracts * contract.size
        usd = quote * contract.quote_usd if contract.quote_usd is not None else nan
        return quote / price, quote, usd
    settle = contracts * contract.size * price
    usd = settle * contract.settle_usd if contract.settle_usd is not None else nan
    return usd / price, usd, usd


def liquidation(
    *,
    info: Any,
    exchange: str,
    symbol: str | None,
    timestamp: int,
    price: float,
    contracts: float,
    contract: Contract | None,
    side: str | None,
    position_side: str | None,
) -> dict[str, Any]:
    """One normalised liquidation record."""
    if contract is None:
        base = quote = usd = float("nan")
        size = float("nan")
    else:
        base, quote, usd = values(contracts, price, contract)
        size = contract.size
    return {
        "info": info,
        "exchange": exchange,
        "symbol": symbol,
        "timestamp": int(timestamp),
        "price": price,
        "baseValue": base,
        "quoteValue": quote,
        "contracts": contracts,
        "contractSize": size,
        "side": side,
        "position_side": position_side,
        "usd": usd,
    }


def frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records → the liquidation frame, in time order (stable for equal timestamps)."""
    if not records:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in LIQUIDATION_COLUMNS})
        df["timestamp"] = df["timestamp"].astype(np.int64)
        df["datetime"] = ms_to_datetime(np.array([], dtype=np.int64))
        for c in ("price", "baseValue", "quoteValue", "contracts", "contractSize", "usd"):
            df[c] = df[c].astype(np.float64)
        return df
    df = pd.DataFrame.from_records(records)
    df = df.sort_values("timestamp", kind="stable").reset_index(drop=True)
    df["timestamp"] = df["timestamp"].astype(np.int64)
    df["datetime"] = ms_to_datetime(df["timestamp"].to_numpy())
    for c in ("price", "baseValue", "quoteValue", "contracts", "contractSize", "usd"):
        df[c] = df[c].astype(np.float64)
    return df[list(LIQUIDATION_COLUMNS)]


def opposite(side: str) -> str:
    return "sell" if side == "buy" else "buy"


def position_closed_by(order_side: str) -> str:
    """A liquidation order that sells closes a long; one that buys closes a short."""
    return "long" if order_side == "sell" else "short"


# ------------------------------------------------------------------------------ expiries

MONTH_CODES = "FGHJKMNQUVXZ"  # futures month codes, January … December
_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}


def last_friday(year: int, month: int) -> _dt.date:
    last = calendar.monthrange(year, month)[1]
    d = _dt.date(year, month, last)
    return d - _dt.timedelta(days=(d.weekday() - 4) % 7)


def expiry_from_month_code(code: str, yy: str) -> str:
    """``'Z', '19'`` → ``'191227'``: the last Friday of the month (BitMEX and Bybit quarterlies)."""
    month = MONTH_CODES.index(code) + 1
    return last_friday(2000 + int(yy), month).strftime("%y%m%d")


def expiry_from_ddmmmyy(dd: str, mmm: str, yy: str) -> str:
    """``'26', 'DEC', '25'`` → ``'251226'``."""
    return f"{yy}{_MONTHS[mmm.title()]:02d}{dd}"
