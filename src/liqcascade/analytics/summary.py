"""One call for ``liqcascade analyze``: every measure the inputs allow, as a JSON-ready dict."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data.binance import BookDepthCleaning
from ..errors import InputError
from ._series import price_series
from .correlation import rolling_correlation
from .depth import clean_book_depth, depth_collapse, depth_within
from .derivatives import funding_changes, open_interest_changes
from .fear_greed import classify, fear_greed_index
from .volatility import drawdown, realized_volatility


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _last(s: pd.Series) -> dict[str, Any] | None:
    s = s.dropna()
    if len(s) == 0:
        return None
    return {"timestamp": s.index[-1].isoformat(), "value": float(s.iloc[-1])}


def analyze(
    bars: pd.DataFrame,
    *,
    index: pd.DataFrame | pd.Series | None = None,
    book_depth: pd.DataFrame | None = None,
    event: tuple[Any, Any] | None = None,
    depth_pct: float = 1.0,
    open_interest=None,
    funding=None,
    volatility_window: str = "30D",
    correlation_window: int = 30,
) -> dict[str, Any]:
    """Summarise a market from whatever is given.

    Parameters
    ----------
    bars: ``timestamp, close`` (+ ``volume``) bars of any size (required).
    index: Nasdaq-100 (or any index) closes for the trading-day correlation.
    book_depth, event, depth_pct: a raw bookDepth frame (cleaned here by
        :func:`~liqcascade.data.clean_book_depth`) or the ``(frame, report)`` pair that
        :func:`~liqcascade.data.read_binance_book_depth` returns (taken as clean), an event window
        ``(start, end)`` and the distance (percent) for depth within ±x % and its collapse (per
        side and total).
    open_interest, funding: frames/Series for :func:`open_interest_changes` and
        :func:`funding_changes` (rates as fractions per 8 h).

    Returns
    -------
    dict
        ``volatility`` (latest annualised realised volatility, fraction), ``drawdown`` (latest and
        deepest, fraction), ``fear_greed`` (latest value and band, daily bars ≥ 91 days),
        ``correlation`` (latest rolling value), ``depth`` (cleaning counts and collapse per side),
        ``open_interest`` and ``funding`` (latest rows).  Absent inputs give absent keys.
    """
    close = price_series(bars, "close")
    out: dict[str, Any] = {
        "bars": int(len(close)),
        "start": close.index[0].isoformat(),
        "end": close.index[-1].isoformat(),
        "last_close": float(close.iloc[-1]),
    }
    out["volatility"] = {
        "window": str(volatility_window),
        "annualisation": "365 days x 24 h",
        "latest": _last(realized_volatility(close, window=volatility_window)),
    }
    dd = drawdown(close)
    out["drawdown"] = {"latest": float(dd.iloc[-1]), "deepest": float(dd.min()), "deepest_at": dd.idxmin().isoformat()}
    days = close.index.normalize().nunique()
    if days >= 91:
        fg = fear_greed_index(bars)
        latest = _last(fg)
        if latest is not None:
            latest["band"] = classify(latest["value"])
        out["fear_greed"] = latest
    if index is not None:
        out["correlation"] = {
            "window_trading_days": correlation_window,
            "latest": _last(rolling_correlation(close, index, window=correlation_window)),
        }
    if book_depth is not None:
        if isinstance(book_depth, tuple):
            if len(book_depth) != 2 or not isinstance(book_depth[1], BookDepthCleaning):
                raise InputError(
                    "must be a frame or the (frame, report) pair of read_binance_book_depth", field="book_depth"
                )
            clean, rep = book_depth
        else:
            clean, rep = clean_book_depth(book_depth)
        # a row can be both frozen and inverted: rows_dropped counts it once
        depth: dict[str, Any] = {
            "rows_in": rep.rows_in,
            "rows_dropped": rep.dropped_rows,
            "frozen_rows_dropped": rep.frozen_rows,
            "inverted_rows_dropped": rep.inverted_rows,
            "pct": depth_pct,
        }
        d = depth_within(clean, depth_pct)
        depth["median_usd"] = {k: _num(d[k].median()) for k in d.columns}
        if event is not None:
            for col in d.columns:
                try:
                    c = depth_collapse(d[col], event[0], event[1] if len(event) > 1 else None)
                except ValueError as err:  # InputError: not enough clean snapshots on this side
                    depth[col] = {"error": str(err)}
                    continue
                depth[col] = {
                    "pre_event_level": c.pre_event_level,
                    "trough": c.trough,
                    "trough_time": c.trough_time.isoformat(),
                    "ratio": _num(c.ratio),
                    "time_to_recover_s": None if c.time_to_recover is None else c.time_to_recover.total_seconds(),
                }
        out["depth"] = depth
    if open_interest is not None:
        oi = open_interest_changes(open_interest)
        out["open_interest"] = {k: _num(v) for k, v in oi.iloc[-1].items()}
    if funding is not None:
        f = funding_changes(funding)
        out["funding"] = {k: _num(v) for k, v in f.iloc[-1].items()}
    return out


__all__ = ["analyze"]
