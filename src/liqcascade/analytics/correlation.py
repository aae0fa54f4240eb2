"""Rolling correlation of BTC with an equity index (Nasdaq-100), aligned on trading days.

BTC trades every day, the index only on exchange trading days.  Both series are reduced to the
index's trading days (BTC's daily close of the same UTC date), then log returns are taken between
consecutive trading days, so a Monday return carries BTC's weekend move.  The correlation is the
Pearson correlation of those returns over a rolling window counted in trading days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from ._series import price_series


def align_trading_days(btc, index, *, btc_column: str = "close", index_column: str = "close") -> pd.DataFrame:
    """BTC and index closes on the index's trading days (UTC dates), inner-joined.

    ``btc``/``index``: Series on DatetimeIndex or frames with ``timestamp`` and the column
    (for the Nasdaq CSV: rename ``Date``→``timestamp``, ``Close``→``close``).  BTC bars finer than a
    day are reduced to the last close of each UTC date.
    """
    b = price_series(btc, btc_column, field="btc")
    x = price_series(index, index_column, field="index")
    b_daily = b.groupby(b.index.normalize()).last()
    x_daily = x.groupby(x.index.normalize()).last()
    out = pd.concat([b_daily.rename("btc"), x_daily.rename("index")], axis=1, join="inner")
    if len(out) < 3:
        raise InputError("BTC and the index share fewer than 3 trading days", field="index")
    return out


def rolling_correlation(
    btc, index, *, window: int = 30, btc_column: str = "close", index_column: str = "close"
) -> pd.Series:
    """Rolling Pearson correlation of daily log returns on shared trading days.

    ``window`` is a number of trading days (default 30).  Returns a Series on the trading days.
    """
    if not (isinstance(window, (int, np.integer)) and window >= 3):
        raise InputError(f"must be an integer number of trading days >= 3, got {window!r}", field="window")
    days = align_trading_days(btc, index, btc_column=btc_column, index_column=index_column)
    r = np.log(days).diff()
    return r["btc"].rolling(window, min_periods=window).corr(r["index"]).rename("correlation")
