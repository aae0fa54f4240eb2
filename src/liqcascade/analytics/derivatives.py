"""Funding and open-interest changes.

Units: open interest in USD; funding rates as *fractions per funding interval* (0.0001 = 0.01 %
per 8 h).  Coinalyze's ``funding_rate`` column is in percent per 8 h: divide by 100 first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from ._series import price_series


def open_interest_changes(
    open_interest, *, column: str = "open_interest", periods: tuple[int, ...] = (1, 7, 30)
) -> pd.DataFrame:
    """Open interest (USD) with its change over ``periods`` bars, in USD and as a fraction.

    Columns: ``open_interest``, ``change_{k}`` (USD), ``pct_change_{k}`` (fraction) per k.
    """
    oi = price_series(open_interest, column, allow_zero=True)
    out = {"open_interest": oi}
    for k in periods:
        if not (isinstance(k, (int, np.integer)) and k >= 1):
            raise InputError(f"must be positive integers, got {periods!r}", field="periods")
        out[f"change_{k}"] = oi.diff(k)
        out[f"pct_change_{k}"] = oi.pct_change(k)
    return pd.DataFrame(out)


def funding_changes(
    funding, *, column: str = "funding_rate", interval_hours: float = 8.0, periods: tuple[int, ...] = (1, 7)
) -> pd.DataFrame:
    """Funding rate (fraction per interval) with its annualised value, cumulative sum and change.

    Columns: ``funding_rate``, ``annualized`` (fraction per 365-day year: rate × 24/interval ×
    365), ``cumulative`` (sum of the rates, fraction), ``change_{k}`` (fraction per interval).
    Rows are whatever the input holds (one per interval, or one daily average per day: the
    annualised value is right either way as long as the rate is per ``interval_hours``).
    """
    if not (np.isfinite(interval_hours) and interval_hours > 0):
        raise InputError(f"must be positive, got {interval_hours!r}", field="interval_hours")
    if isinstance(funding, pd.DataFrame):
        if column not in funding.columns:
            raise InputError(f"missing column; got {list(funding.columns)}", field=column)
        # funding can be negative: shift to validate with the positive-price checker, then undo
        rates = pd.to_numeric(funding[column], errors="coerce")
        frame = funding.assign(**{column: rates.abs() + 1.0})
        base = price_series(frame, column)
        f = pd.Series(rates.to_numpy(np.float64), index=base.index, name="funding_rate")
    else:
        if not isinstance(funding, pd.Series) or not isinstance(funding.index, pd.DatetimeIndex):
            raise InputError("must be a Series on a DatetimeIndex or a frame with timestamp", field=column)
        base = price_series(funding.abs() + 1.0, column)
        f = pd.Series(funding.to_numpy(np.float64), index=base.index, name="funding_rate")
    out = {"funding_rate": f, "annualized": f * (24.0 / interval_hours) * 365.0, "cumulative": f.cumsum()}
    for k in periods:
        out[f"change_{k}"] = f.diff(k)
    return pd.DataFrame(out)
