"""Order-book depth within ±x % of mid and its collapse during an event.

Input: a Binance ``bookDepth`` frame — columns ``timestamp, percentage, depth, notional`` and
optionally ``weighted_avg_price`` — one row per bucket per snapshot; ``percentage`` −5…−1 are
bids, 1…5 asks, ``depth`` (base units) and ``notional`` (USD) cumulative from mid to that
distance.

Cleaning is the readers' one (:func:`liqcascade.data.clean_book_depth`, the same rules as
:func:`liqcascade.data.read_binance_book_depth`, re-exported here): a bucket unchanged for at
least ten snapshots is frozen (the first of the run kept), and buckets whose weighted average
price disagrees with the mid that most buckets of the snapshot agree on are inverted (a stale
bid above the asks).  A frame read with ``read_binance_book_depth`` is already clean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.binance import clean_book_depth
from ..errors import InputError
from ._series import to_utc_index

DEPTH_COLUMNS = ("timestamp", "percentage", "depth", "notional")

__all__ = ["clean_book_depth", "depth_within", "depth_collapse", "DepthCollapse"]


@dataclass(frozen=True)
class DepthCollapse:
    """Depth before, at the bottom of and after an event (USD unless named otherwise).

    ``ratio`` = pre-event level / trough (≥ 1; 100 means the book was 100× thinner).
    ``time_to_recover``: from the trough to the first snapshot back at ``recovery_fraction`` of
    the pre-event level; ``None`` when the data end first.
    """

    pre_event_level: float
    trough: float
    trough_time: pd.Timestamp
    ratio: float
    recovered_at: pd.Timestamp | None
    time_to_recover: pd.Timedelta | None
    recovery_fraction: float


def _check_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError("must be a pandas DataFrame", field="book_depth")
    if len(frame) == 0:
        raise InputError("is empty", field="book_depth")
    for col in DEPTH_COLUMNS:
        if col not in frame.columns:
            raise InputError(f"missing column; got {list(frame.columns)}", field=col)
    out = frame.copy()
    out["timestamp"] = to_utc_index(frame["timestamp"].to_numpy())
    for col in ("percentage", "depth", "notional") + (("weighted_avg_price",) if "weighted_avg_price" in out else ()):
        v = pd.to_numeric(out[col], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(v.to_numpy(np.float64)))
        if bad.size:
            raise InputError("not a finite number", field=col, row=int(bad[0]))
        out[col] = v.astype(np.float64)
    ts = out["timestamp"].to_numpy()
    if np.any(ts[1:] < ts[:-1]):
        row = int(np.flatnonzero(ts[1:] < ts[:-1])[0]) + 1
        raise InputError("timestamps are not sorted ascending", field="timestamp", row=row)
    if out.duplicated(["timestamp", "percentage"]).any():
        row = int(np.flatnonzero(out.duplicated(["timestamp", "percentage"]).to_numpy())[0])
        raise InputError("duplicated (timestamp, percentage) bucket", field="timestamp", row=row)
    return out


def depth_within(frame: pd.DataFrame, pct: float = 1.0) -> pd.DataFrame:
    """Cumulative depth within ±``pct`` % of mid per snapshot, USD notional.

    ``pct`` must be one of the frame's bucket distances (1…5 in Binance's archive).  Returns a
    frame indexed by UTC timestamp with ``bid_usd``, ``ask_usd`` and ``total_usd``; a side whose
    bucket was dropped in cleaning is NaN (and so is the total).  Clean the frame first.
    """
    f = _check_frame(frame)
    try:
        pct = float(pct)
    except (TypeError, ValueError):
        raise InputError(f"must be a number of percent, got {pct!r}", field="pct") from None
    have = np.unique(np.abs(f["percentage"].to_numpy()))
    if pct not in have:
        raise InputError(f"no bucket at ±{pct:g} %; the frame has {sorted(have.tolist())}", field="pct")
    idx = pd.DatetimeIndex(f["timestamp"].unique())
    bid = f[f["percentage"] == -pct].set_index("timestamp")["notional"].reindex(idx)
    ask = f[f["percentage"] == pct].set_index("timestamp")["notional"].reindex(idx)
    out = pd.DataFrame({"bid_usd": bid, "ask_usd": ask})
    out["total_usd"] = out["bid_usd"] + out["ask_usd"]
    out.index.name = "timestamp"
    return out


def depth_collapse(
    depth: pd.Series, event_start, event_end=None, *, pre_window="1h", recovery_fraction: float = 0.9
) -> DepthCollapse:
    """Measure a depth collapse around an event.

    Parameters
    ----------
    depth: depth series (USD) on a DatetimeIndex, e.g. ``depth_within(f, 1)["total_usd"]``;
        NaN snapshots are ignored.
    event_start, event_end: the event window (UTC); the trough is the lowest depth inside it
        (to the end of the data when ``event_end`` is None).
    pre_window: span before ``event_start`` whose **median** depth is the pre-event level.
    recovery_fraction: recovered when depth is back at this fraction of the pre-event level.
    """
    if not isinstance(depth, pd.Series) or not isinstance(depth.index, pd.DatetimeIndex):
        raise InputError("must be a Series on a DatetimeIndex", field="depth")
    s = depth.dropna()
    if len(s) == 0:
        raise InputError("is empty", field="depth")
    tz = s.index.tz
    start = pd.Timestamp(event_start)
    start = start.tz_localize(tz) if start.tzinfo is None and tz is not None else start
    end = s.index[-1] if event_end is None else pd.Timestamp(event_end)
    end = end.tz_localize(tz) if end.tzinfo is None and tz is not None else end
    if not 0 < recovery_fraction <= 1:
        raise InputError(f"must be in (0, 1], got {recovery_fraction!r}", field="recovery_fraction")
    pre = s[(s.index >= start - pd.Timedelta(pre_window)) & (s.index < start)]
    if len(pre) == 0:
        raise InputError(f"no depth in the {pre_window} before {start}", field="event_start")
    during = s[(s.index >= start) & (s.index <= end)]
    if len(during) == 0:
        raise InputError(f"no depth between {start} and {end}", field="event_end")
    level = float(pre.median())
    trough_time = during.idxmin()
    trough = float(during.min())
    after = s[s.index > trough_time]
    back = after[after >= recovery_fraction * level]
    recovered_at = back.index[0] if len(back) else None
    return DepthCollapse(
        level,
        trough,
        trough_time,
        level / trough if trough > 0 else float("inf"),
        recovered_at,
        (recovered_at - trough_time) if recovered_at is not None else None,
        recovery_fraction,
    )
