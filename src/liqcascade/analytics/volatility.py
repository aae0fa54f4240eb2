"""Realised volatility and drawdown from price bars of any size.

Annualisation: crypto trades around the clock, so a year is **365 days of 24 hours**; bars per
year = ``365 * 86400 / bar_seconds`` where the bar size is the median spacing of the timestamps
(5-minute bars: 105,120 per year; daily bars: 365).  Volatility is the sample standard deviation
of log returns (ddof = 1) × ``sqrt(bars per year)``, a fraction per year (0.6 = 60 %).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import InputError
from ._series import bar_seconds, price_series

SECONDS_PER_YEAR = 365 * 86_400


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per 365-day year for the median bar size of ``index``."""
    return SECONDS_PER_YEAR / bar_seconds(index)


def realized_volatility(
    prices, *, window: str | pd.Timedelta = "30D", column: str = "close", min_fraction: float = 0.5
) -> pd.Series:
    """Annualised rolling realised volatility (fraction per year) over a time window.

    Parameters
    ----------
    prices: Series of prices on a DatetimeIndex, or a DataFrame with ``timestamp`` and ``column``.
    window: the rolling window as a time span (default 30 days), whatever the bar size.
    min_fraction: a value needs at least this fraction of the window's bars (default half).

    Returns
    -------
    Series ``realized_volatility`` aligned with the bars (NaN until enough bars).
    """
    p = price_series(prices, column)
    try:
        span = pd.Timedelta(window)
    except (TypeError, ValueError):
        raise InputError(f"must be a time span such as '30D', got {window!r}", field="window") from None
    if span <= pd.Timedelta(0):
        raise InputError(f"must be positive, got {window!r}", field="window")
    ppy = periods_per_year(p.index)
    bars_in_window = span.total_seconds() / bar_seconds(p.index)
    r = np.log(p).diff()
    vol = r.rolling(span, min_periods=max(2, int(math.ceil(min_fraction * bars_in_window)))).std() * math.sqrt(ppy)
    return vol.rename("realized_volatility")


def volatility(prices, *, column: str = "close") -> float:
    """Annualised realised volatility of the whole series (fraction per year)."""
    p = price_series(prices, column)
    r = np.diff(np.log(p.to_numpy()))
    if r.size < 2:
        raise InputError("needs at least three bars", field=column)
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year(p.index)))


def drawdown(prices, *, column: str = "close") -> pd.Series:
    """Drawdown from the running all-time high of the series: ``price / max(price so far) - 1``,
    a fraction ≤ 0 (−0.2 = 20 % below the high)."""
    p = price_series(prices, column)
    return (p / p.cummax() - 1.0).rename("drawdown")


def max_drawdown(prices, *, column: str = "close") -> float:
    """The deepest drawdown of the series (fraction ≤ 0)."""
    return float(drawdown(prices, column=column).min())
