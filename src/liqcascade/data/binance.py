"""Binance: public-data archives (klines, ``bookDepth``, ``metrics``) and ``forceOrder`` prints.

The archives are the files of https://data.binance.vision (CSV, or the zip they are served in).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InputError
from . import _liquidations as liq
from ._common import (
    DataCleaningWarning,
    PathLike,
    check_high_low,
    check_positive,
    check_regular_bars,
    check_time_order,
    column_to_ms,
    epoch_ms_value,
    fail,
    first_line,
    get,
    iso_ms,
    load_json_records,
    looks_numeric,
    ms_to_datetime,
    normalise_column_name,
    number,
    parse_csv,
    read_bytes,
    require_columns,
    show,
    to_float,
)

__all__ = [
    "BookDepthCleaning",
    "clean_book_depth",
    "FrozenStretch",
    "binance_symbol",
    "interval_ms",
    "read_binance_bars",
    "read_binance_book_depth",
    "read_binance_force_orders",
    "read_binance_funding",
    "read_binance_klines",
    "read_binance_metrics",
    "read_binance_open_interest",
]

# ------------------------------------------------------------------------------------ klines

KLINE_FIELDS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_KLINE_ALIASES = {
    "number_of_trades": "count",
    "quote_asset_volume": "quote_volume",
    "taker_buy_base_asset_volume": "taker_buy_volume",
    "taker_buy_quote_asset_volume": "taker_buy_quote_volume",
}
_KLINE_TYPES = {c: pa.float64() for c in KLINE_FIELDS if c not in ("open_time", "close_time", "count")}
_KLINE_TYPES.update(open_time=pa.int64(), close_time=pa.int64(), count=pa.int64())
_KLINE_NAME = re.compile(r"^(?P<symbol>[A-Z0-9_]+)-(?P<interval>\d+[smhdwM])-")


def read_binance_klines(path: PathLike) -> pd.DataFrame:
    """Read a Binance kline archive: trade klines or mark-/index-/premium-price klines.

    Parameters
    ----------
    path:
        A ``.csv`` or the ``.zip`` Binance serves it in, with or without the header row.
        ``open_time``/``close_time`` may be in ms or µs (Binance spot files from 2025 use µs).

    Returns
    -------
    DataFrame, one row per bar in time order:
    ``timestamp`` (int64 epoch ms UTC, bar open), ``datetime`` (UTC), ``open``, ``high``,
    ``low``, ``close`` (quote currency per base unit), ``volume`` (base units, or contracts for
    COIN-M), ``quote_volume``, ``trades`` (int), ``taker_buy_volume``, ``taker_buy_quote_volume``,
    ``close_timestamp`` (int64 ms).  Price-index and mark-price klines have zero volumes;
    ``df.attrs['price_kind']`` is ``'trade'`` or ``'mark/index'`` accordingly.  ``df.attrs`` also
    holds ``symbol`` and ``interval`` when the file name follows Binance's pattern.

    Raises
    ------
    InputError
        Empty or truncated file, wrong columns, timestamps unsorted, duplicated or in mixed
        units, prices NaN/zero/negative, high below low, negative volume.
    """
    data, name = read_bytes(path)
    head = first_line(data)
    fields = [f.strip() for f in head.split(",")]
    header = not looks_numeric(fields[0])
    if header:
        got = [_KLINE_ALIASES.get(normalise_column_name(f), normalise_column_name(f)) for f in fields]
        if got != list(KLINE_FIELDS):
            unexpected = [f for f in got if f not in KLINE_FIELDS]
            missing = [f for f in KLINE_FIELDS if f not in got]
            detail = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(unexpected) or 'order'}"
            raise fail(
                name,
                f"not a Binance kline header ({detail}); expected {','.join(KLINE_FIELDS)}",
                row=1,
                field=(missing or unexpected or [None])[0],
            )
    elif len(fields) != len(KLINE_FIELDS):
        raise fail(name, f"expected {len(KLINE_FIELDS)} fields of a Binance kline, found {len(fields)}", row=1)
    df = parse_csv(data, name, header=header, names=KLINE_FIELDS, types=_KLINE_TYPES)
    line0 = 2 if header else 1

    ts, unit = column_to_ms(df, "open_time", name, line0)
    check_time_order(ts, name, line0, column="open_time")
    close_ts, close_unit = column_to_ms(df, "close_time", name, line0)
    if close_unit != unit:
        raise fail(name, f"open_time is in {unit} but close_time in {close_unit}", row=line0, field="close_time")
    cols = {c: to_float(df, c, name, line0) for c in ("open", "high", "low", "close")}
    for c, v in cols.items():
        check_positive(v, c, name, line0)
    check_high_low(cols["high"], cols["low"], name, line0)
    vols = {
        c: to_float(df, c, name, line0)
        for c in ("volume", "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume")
    }
    for c, v in vols.items():
        check_positive(v, c, name, line0, allow_zero=True)

    out = pd.DataFrame(
        {
            "timestamp": ts,
            "datetime": ms_to_datetime(ts),
            **cols,
            "volume": vols["volume"],
            "quote_volume": vols["quote_volume"],
            "trades": vols["count"].astype(np.int64),
            "taker_buy_volume": vols["taker_buy_volume"],
            "taker_buy_quote_volume": vols["taker_buy_quote_volume"],
            "close_timestamp": close_ts,
        }
    )
    out.attrs["source"] = name
    out.attrs["time_unit"] = unit
    out.attrs["price_kind"] = "mark/index" if not vols["volume"].any() else "trade"
    m = _KLINE_NAME.match(Path(name).name)
    if m:
        out.attrs["symbol"] = m["symbol"]
        out.attrs["interval"] = m["interval"]
    return out


# --------------------------------------------------------------------------------- bookDepth

DEFAULT_MIN_FROZEN_RUN = 10
DEFAULT_BOOK_TOLERANCE = 1e-9


@dataclass(frozen=True)
class FrozenStretch:
    """A bucket whose (depth, notional, weighted_avg_price) did not change for ``snapshots``
    consecutive snapshots from ``start`` to ``end`` (epoch ms)."""

    percentage: float
    start: int
    end: int
    snapshots: int


@dataclass(frozen=True)
class BookDepthCleaning:
    """What :func:`read_binance_book_depth` dropped, and why.

    Counts are rows of the file (one row = one bucket of one snapshot).  A row can be both frozen
    and inverted; ``dropped_rows`` counts it once.
    """

    source: str
    rows_in: int
    rows_out: int
    snapshots: int
    min_frozen_run: int
    frozen_rows: int
    inverted_rows: int
    inverted_snapshots: int
    dropped_rows: int
    frozen_stretches: tuple[FrozenStretch, ...]
    inverted_by_percentage: dict[float, int]
    first_inverted: int | None
    last_inverted: int | None

    def summary(self) -> str:
        return (
            f"{self.source}: dropped {self.dropped_rows:,} of {self.rows_in:,} bookDepth rows — "
            f"{self.frozen_rows:,} frozen (a bucket unchanged for >= {self.min_frozen_run} snapshots; "
            f"the first of each run kept), {self.inverted_rows:,} inverted (bids above asks) in "
            f"{self.inverted_snapshots:,} snapshots"
        )


def read_binance_book_depth(
    path: PathLike,
    *,
    min_frozen_run: int = DEFAULT_MIN_FROZEN_RUN,
    tolerance: float = DEFAULT_BOOK_TOLERANCE,
) -> tuple[pd.DataFrame, BookDepthCleaning]:
    """Read and clean a Binance ``bookDepth`` archive (cumulative depth at ±1 … ±5 % of mid).

    Parameters
    ----------
    path:
        ``…-bookDepth-YYYY-MM-DD.csv`` or its ``.zip``: ``timestamp,percentage,depth,notional[,
        weighted_avg_price]``; a snapshot every ~30 s, one row per bucket; negative percentages are
        bids.  The 2026 archives have no ``weighted_avg_price``: then no bucket can be shown
        inverted, only frozen stretches are dropped, and the frame has no such column.  Timestamps may carry stray spaces (they do in the 10 Oct 2025 file).
    min_frozen_run:
        A bucket whose depth, notional and weighted average price are *identical* for at least
        this many consecutive snapshots is frozen: the archive stopped updating it (or it holds a
        stale level).  Cumulative depth is quoted to 0.001 base units, so a live bucket repeating
        exactly is rare; the default of 10 snapshots (~5 minutes at the 30 s cadence) leaves
        brief repeats of a thin book alone.  The first snapshot of a frozen run is kept (it was
        a fresh reading when taken); the repeats are dropped.
    tolerance:
        Relative slack of the inversion test below, for floating-point rounding only (default
        1e-9): a contaminated bucket can sit a mere 0.02 % above the asks.

    Cleaning
    --------
    *Frozen stretches*: see ``min_frozen_run``.

    *Inverted buckets*: a bucket at ``p`` % holds levels between mid and mid × (1 + p/100), so its
    weighted average price ``w`` bounds the mid: a bid bucket says mid ∈ [w, w / (1 + p/100)], an
    ask bucket mid ∈ [w / (1 + p/100), w].  In a sound snapshot all ten intervals overlap (they
    do in every clean snapshot of the 10 Oct 2025 file).  When they do not — a stale bid above
    the asks, asks below the bids — the mid is taken where most buckets agree, and the buckets
    that disagree are dropped as inverted.  If two readings tie, the one that drops the buckets
    the previous snapshot dropped wins (a stale level persists), then the one that drops from the
    side already at fault (depth is cumulative, so a stale level spoils every deeper bucket of its
    side); failing both, every bucket in doubt is dropped.  Buckets with zero depth carry no price
    and are never inverted.  On the 10 Oct 2025 file this drops exactly the bid buckets whose
    weighted average price is above the lowest ask bucket's.

    A :class:`DataCleaningWarning` gives the counts whenever rows are dropped.

    Returns
    -------
    (frame, report)
        ``frame``: the kept rows in file order — ``timestamp`` (int64 ms UTC), ``datetime``,
        ``percentage`` (signed, bids negative), ``depth`` (base units, cumulative), ``notional``
        (quote currency, USDT for BTCUSDT, cumulative), ``weighted_avg_price`` (when the file
        has it).
        ``report``: a :class:`BookDepthCleaning`.
    """
    if min_frozen_run < 2:
        raise fail(str(path), f"min_frozen_run must be at least 2, got {min_frozen_run}", field="min_frozen_run")
    data, name = read_bytes(path)
    required = ("timestamp", "percentage", "depth", "notional")
    head = [normalise_column_name(f) for f in first_line(data).split(",")]
    require_columns(name, head, required)
    priced = "weighted_avg_price" in head  # Binance's 2026 archives dropped the column
    types = {c: pa.float64() for c in required[1:] + (("weighted_avg_price",) if priced else ())}
    df = parse_csv(data, name, header=True, names=head, types=types)
    line0 = 2
    ts, _ = column_to_ms(df, "timestamp", name, line0)
    pct = to_float(df, "percentage", name, line0)
    bad = ~np.isfinite(pct) | (pct == 0) | (np.abs(pct) > 100)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise fail(
            name,
            f"percentage must be a non-zero number of percent, got {show(pct[i])}",
            row=line0 + i,
            field="percentage",
        )
    depth = to_float(df, "depth", name, line0)
    notional = to_float(df, "notional", name, line0)
    wavg = to_float(df, "weighted_avg_price", name, line0) if priced else None
    for c, v in (("depth", depth), ("notional", notional), ("weighted_avg_price", wavg)):
        if v is not None:
            check_positive(v, c, name, line0, allow_zero=True)
    with_price = np.ones(len(depth), dtype=bool) if wavg is None else ~((depth > 0) & (wavg <= 0))
    if not with_price.all():
        i = int(np.flatnonzero(~with_price)[0])
        raise fail(name, "weighted_avg_price is 0 for a bucket with depth", row=line0 + i, field="weighted_avg_price")
    check_time_order(ts, name, line0, strict=False)
    # (timestamp, percentage) must be unique: a repeated bucket within one snapshot
    key = pd.DataFrame({"t": ts, "p": pct})
    dup = key.duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise fail(name, f"bucket {pct[i]:g} % appears twice in one snapshot", row=line0 + i, field="percentage")

    return _cleaned(ts, pct, depth, notional, wavg, name, min_frozen_run, tolerance, stacklevel=3)


def clean_book_depth(
    frame: pd.DataFrame,
    *,
    min_frozen_run: int = DEFAULT_MIN_FROZEN_RUN,
    tolerance: float = DEFAULT_BOOK_TOLERANCE,
) -> tuple[pd.DataFrame, BookDepthCleaning]:
    """The cleaning of :func:`read_binance_book_depth` applied to a bookDepth frame in memory.

    Parameters
    ----------
    frame:
        Columns ``timestamp`` (epoch ms, datetimes or ISO strings, UTC), ``percentage`` (signed,
        bids negative), ``depth`` (base units), ``notional`` (quote currency) and, for the
        inversion test, ``weighted_avg_price`` (without it only frozen stretches are dropped);
        one row per bucket per snapshot, snapshots in time order.
    min_frozen_run, tolerance:
        As in :func:`read_binance_book_depth`, whose docstring gives the rules.

    Returns
    -------
    (frame, report) as :func:`read_binance_book_depth` returns them, with a
    :class:`DataCleaningWarning` when rows are dropped.  Bad frames raise
    :class:`~liqcascade.errors.InputError` naming the column and the (0-based) row.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError("must be a pandas DataFrame", field="book_depth")
    name = str(frame.attrs.get("source", "book_depth"))
    if len(frame) == 0:
        raise InputError("is empty", field="book_depth")
    for col in ("timestamp", "percentage", "depth", "notional"):
        if col not in frame.columns:
            raise InputError(f"missing column; got {list(frame.columns)}", field=col)
    if min_frozen_run < 2:
        raise InputError(f"must be at least 2, got {min_frozen_run}", field="min_frozen_run")
    t = frame["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(t.dtype):
        t = t.dt.tz_localize("UTC") if t.dt.tz is None else t.dt.tz_convert("UTC")
        if t.isna().any():
            raise InputError("missing timestamp", field="timestamp", row=int(np.flatnonzero(t.isna().to_numpy())[0]))
        ts = t.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64)
    else:
        ts, _ = column_to_ms(frame[["timestamp"]].reset_index(drop=True), "timestamp", name, 0)

    def numbers(col: str) -> np.ndarray:
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(v) | (v < 0 if col != "percentage" else v == 0))
        if bad.size:
            raise InputError(
                f"must be a finite number{' other than 0' if col == 'percentage' else ' >= 0'}, got {show(v[bad[0]])}",
                field=col,
                row=int(bad[0]),
            )
        return v

    pct, depth, notional = numbers("percentage"), numbers("depth"), numbers("notional")
    # without prices no bucket can be shown inverted; zeros keep the frozen test exact
    wavg = numbers("weighted_avg_price") if "weighted_avg_price" in frame.columns else None
    back = np.flatnonzero(ts[1:] < ts[:-1])
    if back.size:
        raise InputError("timestamps are not sorted ascending", field="timestamp", row=int(back[0]) + 1)
    dup = pd.DataFrame({"t": ts, "p": pct}).duplicated().to_numpy()
    if dup.any():
        raise InputError(
            f"bucket {pct[np.argmax(dup)]:g} % appears twice in one snapshot",
            field="timestamp",
            row=int(np.argmax(dup)),
        )
    return _cleaned(ts, pct, depth, notional, wavg, name, min_frozen_run, tolerance, stacklevel=3)


def _cleaned(
    ts, pct, depth, notional, wavg, name: str, min_frozen_run: int, tolerance: float, *, stacklevel: int
) -> tuple[pd.DataFrame, BookDepthCleaning]:
    """Drop frozen and inverted rows of validated columns; the kept frame, the report, a warning.

    ``wavg`` None: the file has no weighted prices; only frozen stretches can be found (zeros
    keep the frozen test exact and mark no bucket inverted) and the frame has no such column."""
    priced = wavg is not None
    if not priced:
        wavg = np.zeros(len(ts))
    frozen, inverted, stretches, snaps = _clean_book(ts, pct, depth, notional, wavg, min_frozen_run, tolerance)
    drop = frozen | inverted
    pct_out = pct.astype(np.int64) if np.all(np.mod(pct, 1) == 0) else pct
    keep = ~drop
    out = pd.DataFrame(
        {
            "timestamp": ts[keep],
            "datetime": ms_to_datetime(ts[keep]),
            "percentage": pct_out[keep],
            "depth": depth[keep],
            "notional": notional[keep],
            **({"weighted_avg_price": wavg[keep]} if priced else {}),
        }
    )
    out.attrs["source"] = name
    inv_pcts, inv_counts = np.unique(pct_out[inverted], return_counts=True)
    inv_times = ts[inverted]
    report = BookDepthCleaning(
        source=name,
        rows_in=len(ts),
        rows_out=int(keep.sum()),
        snapshots=snaps,
        min_frozen_run=min_frozen_run,
        frozen_rows=int(frozen.sum()),
        inverted_rows=int(inverted.sum()),
        inverted_snapshots=len(np.unique(inv_times)),
        dropped_rows=int(drop.sum()),
        frozen_stretches=stretches,
        inverted_by_percentage={p.item(): int(n) for p, n in zip(inv_pcts, inv_counts)},
        first_inverted=int(inv_times.min()) if len(inv_times) else None,
        last_inverted=int(inv_times.max()) if len(inv_times) else None,
    )
    if report.dropped_rows:
        warnings.warn(report.summary(), DataCleaningWarning, stacklevel=stacklevel)
    return out, report


def _clean_book(
    ts: np.ndarray,
    pct: np.ndarray,
    depth: np.ndarray,
    notional: np.ndarray,
    wavg: np.ndarray,
    min_run: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, tuple[FrozenStretch, ...], int]:
    """Row masks (frozen, inverted), the frozen stretches and the number of snapshots."""
    snaps, si = np.unique(ts, return_inverse=True)
    levels, li = np.unique(pct, return_inverse=True)
    shape = (len(snaps), len(levels))
    D, N, W = (np.full(shape, np.nan) for _ in range(3))
    D[si, li], N[si, li], W[si, li] = depth, notional, wavg

    # --- frozen: identical bucket in consecutive snapshots, runs of >= min_run snapshots
    same = np.zeros(shape, dtype=bool)
    same[1:] = (D[1:] == D[:-1]) & (N[1:] == N[:-1]) & (W[1:] == W[:-1])
    frozen = np.zeros(shape, dtype=bool)
    stretches: list[FrozenStretch] = []
    for j in range(shape[1]):
        run_id = np.cumsum(~same[:, j])  # a new run starts where the bucket changed
        length = np.bincount(run_id)
        long_run = length[run_id] >= min_run
        frozen[:, j] = long_run & same[:, j]  # keep each run's first snapshot
        for r in np.unique(run_id[long_run]):
            idx = np.flatnonzero(run_id == r)
            stretches.append(FrozenStretch(levels[j].item(), int(snaps[idx[0]]), int(snaps[idx[-1]]), len(idx)))
    stretches.sort(key=lambda s: (s.start, s.percentage))

    # --- inverted: each bucket bounds the mid to [lo, hi]; drop buckets outside the consensus
    frac = levels / 100.0
    is_bid = frac < 0
    valid = (D > 0) & (W > 0)
    with np.errstate(invalid="ignore"):
        lo = np.where(is_bid, W, W / (1 + frac)) * (1 - tol)
        hi = np.where(is_bid, W / (1 + frac), W) * (1 + tol)
    max_lo = np.where(valid, lo, -np.inf).max(axis=1)
    min_hi = np.where(valid, hi, np.inf).min(axis=1)
    inverted = np.zeros(shape, dtype=bool)
    bad = np.flatnonzero(max_lo > min_hi)
    ties: list[tuple[int, np.ndarray]] = []
    weights = 1 << np.arange(shape[1], dtype=np.int64)
    for start in range(0, len(bad), 50_000):  # bounds the (snapshots x buckets^2) scratch memory
        b = bad[start : start + 50_000]
        blo, bhi, bval = lo[b], hi[b], valid[b]
        cand = blo[:, :, None]  # the best-supported mid is at some bucket's lower bound
        agree = (blo[:, None, :] <= cand) & (bhi[:, None, :] >= cand) & bval[:, None, :]
        count = np.where(bval, agree.sum(axis=2), -1)
        top = count == count.max(axis=1)[:, None]
        mask = agree.astype(np.int64) @ weights  # the agreeing buckets as a bit set
        unique = np.where(top, mask, -1).max(axis=1) == np.where(top, mask, np.iinfo(np.int64).max).min(axis=1)
        for k in np.flatnonzero(unique):
            inverted[b[k]] = bval[k] & ~agree[k, int(np.argmax(top[k]))]
        for k in np.flatnonzero(~unique):
            readings = {int(mask[k, c]): agree[k, c] for c in np.flatnonzero(top[k])}
            ties.append((int(b[k]), np.array(list(readings.values()))))
    # Ties, in time order so that the previous snapshot is settled first.  A stale level persists
    # and, depth being cumulative, spoils one side: prefer the reading that drops the buckets the
    # previous snapshot dropped, then the one that drops from the side already at fault; if
    # still undecided, drop every bucket in doubt.
    for i, readings in ties:
        drops = valid[i] & ~readings
        prev = inverted[i - 1] if i > 0 else np.zeros(shape[1], dtype=bool)
        always = np.logical_and.reduce(drops)
        faulty = (is_bid if always[is_bid].any() else False) ^ (~is_bid if always[~is_bid].any() else False)
        score = (drops & prev).sum(axis=1) * (shape[1] + 1) + (drops & faulty).sum(axis=1)
        best = np.flatnonzero(score == score.max())
        inverted[i] = drops[best[0]] if len(best) == 1 else np.logical_or.reduce(drops[best])
    return frozen[si, li], inverted[si, li], tuple(stretches), len(snaps)


# ----------------------------------------------------------------------------------- metrics

METRICS_FIELDS = (
    "create_time",
    "symbol",
    "sum_open_interest",
    "sum_open_interest_value",
    "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio",
    "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
)
_METRICS_OUT = {
    "sum_open_interest": "open_interest",
    "sum_open_interest_value": "open_interest_usd",
    "count_toptrader_long_short_ratio": "toptrader_long_short_account_ratio",
    "sum_toptrader_long_short_ratio": "toptrader_long_short_position_ratio",
    "count_long_short_ratio": "long_short_account_ratio",
    "sum_taker_long_short_vol_ratio": "taker_buy_sell_volume_ratio",
}


def read_binance_metrics(path: PathLike) -> pd.DataFrame:
    """Read a Binance futures ``metrics`` archive (5-minute open interest and long/short ratios).

    Columns of the archive: ``create_time,symbol,sum_open_interest,sum_open_interest_value,
    count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,
    sum_taker_long_short_vol_ratio``.

    Returns
    -------
    DataFrame in file order: ``timestamp`` (int64 ms UTC), ``datetime``, ``symbol`` (ccxt unified,
    ``BTC/USDT:USDT``), ``open_interest`` (base units for USDⓈ-M, contracts for COIN-M),
    ``open_interest_usd`` (USD), ``toptrader_long_short_account_ratio`` (top traders, by
    accounts), ``toptrader_long_short_position_ratio`` (top traders, by position size),
    ``long_short_account_ratio`` (all accounts), ``taker_buy_sell_volume_ratio``.  Ratios are
    plain ratios (longs ÷ shorts), NaN where the archive leaves them empty.
    """
    data, name = read_bytes(path)
    head = [normalise_column_name(f) for f in first_line(data).split(",")]
    require_columns(name, head, METRICS_FIELDS)
    types = {c: pa.float64() for c in METRICS_FIELDS[2:]}
    df = parse_csv(data, name, header=True, names=head, types=types)
    line0 = 2
    ts, _ = column_to_ms(df, "create_time", name, line0)
    raw_symbols = df["symbol"].astype("string").str.strip()
    if raw_symbols.isna().any() or (raw_symbols == "").any():
        i = int(np.flatnonzero((raw_symbols.isna() | (raw_symbols == "")).to_numpy())[0])
        raise fail(name, "symbol is missing", row=line0 + i, field="symbol")
    check_time_order(ts, name, line0, column="create_time", groups=raw_symbols.to_numpy())
    unified = {s: binance_symbol(s, name=name, row=line0 + i)[0] for i, s in enumerate(pd.unique(raw_symbols))}
    out = pd.DataFrame({"timestamp": ts, "datetime": ms_to_datetime(ts), "symbol": raw_symbols.map(unified).to_numpy()})
    for src, dst in _METRICS_OUT.items():
        v = to_float(df, src, name, line0)
        if src.startswith("sum_open_interest"):
            check_positive(v, src, name, line0, allow_zero=True)
        else:
            ok = np.isnan(v) | (v >= 0)
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                raise fail(name, f"{src} must be non-negative, got {show(v[i])}", row=line0 + i, field=src)
        out[dst] = v
    out.attrs["source"] = name
    return out


# ------------------------------------------------------------------------------- forceOrder

_COIN_M = re.compile(r"^(?P<base>[A-Z0-9]+)USD_(?P<expiry>PERP|\d{6})$")
_USDS_M = re.compile(r"^(?P<base>[A-Z0-9]+?)(?P<quote>USDT|USDC|FDUSD|BUSD)(?:_(?P<expiry>\d{6}))?$")


def binance_symbol(raw: str, *, name: str = "<binance>", row: int | None = None) -> tuple[str, liq.Contract]:
    """Binance futures symbol → (ccxt unified symbol, contract).

    ``BTCUSDT`` → ``BTC/USDT:USDT`` (one contract = 1 BTC); ``BTCUSDT_250328`` →
    ``BTC/USDT:USDT-250328``; COIN-M ``BTCUSD_PERP`` → ``BTC/USD:BTC`` (inverse, 100 USD per
    contract for BTC, 10 USD for every other coin); ``ETHUSD_250328`` → ``ETH/USD:ETH-250328``.
    """
    s = str(raw).strip().upper()
    m = _COIN_M.match(s)
    if m:
        base = m["base"]
        sym = f"{base}/USD:{base}" + ("" if m["expiry"] == "PERP" else f"-{m['expiry']}")
        return sym, liq.Contract("inverse", 100.0 if base == "BTC" else 10.0)
    m = _USDS_M.match(s)
    if m:
        sym = f"{m['base']}/{m['quote']}:{m['quote']}" + (f"-{m['expiry']}" if m["expiry"] else "")
        return sym, liq.Contract("linear", 1.0)
    raise fail(name, f"unknown Binance futures symbol {raw!r}", row=row, field="symbol")


def read_binance_force_orders(source: Any) -> pd.DataFrame:
    """Binance ``forceOrder`` websocket events → the liquidation frame.

    Parameters
    ----------
    source:
        A ``.json``/``.jsonl`` file (optionally ``.gz``) of recorded events, or the decoded
        events: ``{"e":"forceOrder","E":…,"o":{"s","S","o","f","q","p","ap","X","l","z","T"}}``,
        bare or wrapped by a combined stream (``{"stream": …, "data": {…}}``).  USDⓈ-M and COIN-M
        (``"ps"`` field) events both work.

    Notes
    -----
    ``S`` is the side of the liquidation order: ``SELL`` closes a long.  ``contracts`` is the
    filled quantity ``z`` (base units for USDⓈ-M, contracts of 100/10 USD for COIN-M), or the
    order quantity ``q`` while nothing is filled; ``price`` is the average fill price ``ap``
    (the order price ``p`` while nothing is filled).  ``timestamp`` is the trade time ``T``.
    Binance sends at most one liquidation per symbol per second, so totals are lower bounds.

    Returns
    -------
    The liquidation frame (see :mod:`liqcascade.data`), sorted by time.
    """
    records, name = load_json_records(source)
    rows = []
    for row, msg in records:
        if isinstance(msg, dict) and "data" in msg and "stream" in msg:
            msg = msg["data"]
        if isinstance(msg, dict) and msg.get("e") not in (None, "forceOrder"):
            raise fail(name, f"not a forceOrder event (e={msg.get('e')!r})", row=row, field="e")
        o = get(msg, "o", "o", name, row)
        symbol, contract = binance_symbol(get(o, "s", "o.s", name, row), name=name, row=row)
        side = str(get(o, "S", "o.S", name, row)).lower()
        if side not in ("buy", "sell"):
            raise fail(name, f"o.S must be BUY or SELL, got {o['S']!r}", row=row, field="o.S")
        filled = number(get(o, "z", "o.z", name, row), "o.z", name, row, allow_zero=True)
        contracts = filled if filled > 0 else number(get(o, "q", "o.q", name, row), "o.q", name, row)
        avg = number(o.get("ap", "0"), "o.ap", name, row, allow_zero=True)
        price = avg if avg > 0 else number(get(o, "p", "o.p", name, row), "o.p", name, row)
        ts = epoch_ms_value(o.get("T", msg.get("E")), "o.T", name, row)
        rows.append(
            liq.liquidation(
                info=msg,
                exchange="binance",
                symbol=symbol,
                timestamp=ts,
                price=price,
                contracts=contracts,
                contract=contract,
                side=side,
                position_side=liq.position_closed_by(side),
            )
        )
    return liq.frame(rows)


# ------------------------------------------------- perpetual series: bars, open interest, funding

_INTERVAL_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_INTERVAL_IN_NAME = re.compile(r"[_-](?P<n>\d+)(?P<u>[mhd])(?=[_.-])")
_BAR_FIELDS = ("open_time_ms", "open", "high", "low", "close")


def interval_ms(interval: str, *, name: str = "interval") -> int:
    """``'1m'``, ``'5m'``, ``'1h'``, ``'8h'``, ``'1d'`` → milliseconds."""
    m = re.fullmatch(r"(\d+)([mhd])", str(interval).strip())
    if not m or int(m[1]) == 0:
        raise InputError(f"{name}: {interval!r} is not a bar interval like 1m, 5m, 1h or 1d", field="interval")
    return int(m[1]) * _INTERVAL_MS[m[2]]


def read_binance_bars(path: PathLike, *, interval: str | None = None) -> pd.DataFrame:
    """Read a Binance perpetual's OHLCV bars on a regular grid, refusing gaps and overlaps.

    Parameters
    ----------
    path:
        Either a CSV with the header ``open_time_ms,open,high,low,close[,volume]`` (the
        freqtrade downloads of ``binance_2026_harthor``: 5-minute and 1-hour trade bars, 1-hour
        mark-price bars without volume), or a Binance kline CSV with or without its header row
        (the 1-minute files of ``binance_1m_feb2026_owlacar``; read by :func:`read_binance_klines`).
    interval:
        The bar length (``'1m'``, ``'5m'``, ``'1h'``); by default taken from the file name
        (``…_5m_…``, ``…-1m-…``) or, failing that, from the most common step between bars.

    Returns
    -------
    DataFrame, one row per bar in time order: ``timestamp`` (int64 epoch ms UTC, bar open),
    ``datetime`` (UTC), ``open``, ``high``, ``low``, ``close`` (USDT per base unit), ``volume``
    (base units; NaN for mark-price files, which have none).  ``df.attrs``: ``source``,
    ``interval`` (e.g. ``'5m'``) and ``interval_ms``.

    Raises
    ------
    InputError
        One line naming the file, the row and the problem: bars unsorted or duplicated, a gap
        (a missing bar), an overlap (a bar opening before the previous one closed), an open time
        off the interval's grid, a price NaN/zero/negative, high below low, a negative volume.
    """
    data, name = read_bytes(path)
    fields = [normalise_column_name(f) for f in first_line(data).split(",")]
    if fields[:5] == list(_BAR_FIELDS) and len(fields) <= 6:
        if len(fields) == 6 and fields[5] != "volume":
            raise fail(name, f"unexpected column {fields[5]!r}; expected volume", row=1, field=fields[5])
        df = parse_csv(
            data,
            name,
            header=True,
            names=fields,
            types={"open_time_ms": pa.int64(), **{c: pa.float64() for c in fields[1:]}},
        )
        line0 = 2
        ts, unit = column_to_ms(df, "open_time_ms", name, line0)
        if unit != "ms":
            raise fail(name, f"open_time_ms is in {unit}, not milliseconds", row=line0, field="open_time_ms")
        check_time_order(ts, name, line0, column="open_time_ms")
        prices = {c: to_float(df, c, name, line0) for c in ("open", "high", "low", "close")}
        for c, v in prices.items():
            check_positive(v, c, name, line0)
        check_high_low(prices["high"], prices["low"], name, line0)
        if "volume" in fields:
            volume = to_float(df, "volume", name, line0)
            check_positive(volume, "volume", name, line0, allow_zero=True)
        else:
            volume = np.full(len(ts), np.nan)
        out = pd.DataFrame({"timestamp": ts, "datetime": ms_to_datetime(ts), **prices, "volume": volume})
        column = "open_time_ms"
    elif not looks_numeric(fields[0]) and fields[0] not in ("open_time", "open_time_ms"):
        raise fail(
            name,
            f"not a Binance bar file: the header starts {','.join(fields[:6])}; expected "
            f"{','.join(_BAR_FIELDS)},volume or a Binance kline header",
            row=1,
            field=fields[0],
        )
    else:
        k = read_binance_klines(path)
        out = k[["timestamp", "datetime", "open", "high", "low", "close", "volume"]].copy()
        ts, line0, column = out["timestamp"].to_numpy(), (1 if looks_numeric(fields[0]) else 2), "open_time"
    if interval is None:
        m = _INTERVAL_IN_NAME.search(Path(name).name)
        if m:
            interval = f"{m['n']}{m['u']}"
        elif len(ts) > 1:
            step = int(pd.Series(np.diff(ts)).mode().iloc[0])
            interval = next(
                (f"{step // u}{k}" for k, u in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)) if step % u == 0),
                None,
            )
        if interval is None:
            raise fail(name, "cannot tell the bar interval (pass interval=)", field="interval")
    step_ms = interval_ms(interval, name=name)
    check_regular_bars(ts, step_ms, name, line0, column=column)
    out.attrs["source"] = name
    out.attrs["interval"] = interval
    out.attrs["interval_ms"] = step_ms
    return out


#: a stamp at most this far after a 5-minute boundary is snapped to it (the hlreaper files carry
#: a few stamps 1-2 s late: the archive's write time, not a different observation)
OI_SNAP_TOLERANCE_MS = 60_000
_OI_STEP_MS = 300_000


def read_binance_open_interest(path: PathLike) -> pd.DataFrame:
    """Read Binance USDⓈ-M open interest every 5 minutes (``t,oi,oi_usd``, the
    ``binance_oi_2026_hlreaper`` files, taken from Binance's daily ``metrics`` archives).

    Time stamps are snapped down to the 5-minute grid when they lie at most
    :data:`OI_SNAP_TOLERANCE_MS` (60 s) after a boundary: the BTC file has six stamps 1-2 s late
    (``…:35:02``).  ``df.attrs['snapped']`` counts them, ``df.attrs['snapped_max_s']`` gives the
    largest offset (s); a stamp farther off the grid is an error.

    Returns
    -------
    DataFrame in time order: ``timestamp`` (int64 epoch ms UTC, on the 5-minute grid),
    ``datetime``, ``open_interest`` (base units, e.g. BTC), ``open_interest_usd`` (USD, as
    Binance values it: contracts × mark price).

    Raises
    ------
    InputError
        Wrong header, times unsorted, duplicated (after snapping), off the grid or with a gap,
        open interest NaN, zero or negative.
    """
    data, name = read_bytes(path)
    head = [normalise_column_name(f) for f in first_line(data).split(",")]
    if head != ["t", "oi", "oi_usd"]:
        raise fail(
            name,
            f"not an open-interest file: the header is {','.join(head)}; expected t,oi,oi_usd",
            row=1,
            field=head[0] if head else None,
        )
    df = parse_csv(
        data, name, header=True, names=head, types={"t": pa.int64(), "oi": pa.float64(), "oi_usd": pa.float64()}
    )
    line0 = 2
    raw, unit = column_to_ms(df, "t", name, line0)
    if unit != "ms":
        raise fail(name, f"t is in {unit}, not milliseconds", row=line0, field="t")
    late = raw % _OI_STEP_MS
    far = np.flatnonzero(late > OI_SNAP_TOLERANCE_MS)
    if far.size:
        i = int(far[0])
        raise fail(
            name,
            f"t {iso_ms(raw[i])} is {late[i] / 1000:g} s after the 5-minute grid "
            f"(at most {OI_SNAP_TOLERANCE_MS // 1000} s is snapped)",
            row=line0 + i,
            field="t",
        )
    ts = raw - late
    check_time_order(ts, name, line0, column="t")
    check_regular_bars(ts, _OI_STEP_MS, name, line0, column="t")
    oi = to_float(df, "oi", name, line0)
    oi_usd = to_float(df, "oi_usd", name, line0)
    check_positive(oi, "oi", name, line0)
    check_positive(oi_usd, "oi_usd", name, line0)
    out = pd.DataFrame(
        {"timestamp": ts, "datetime": ms_to_datetime(ts), "open_interest": oi, "open_interest_usd": oi_usd}
    )
    out.attrs["source"] = name
    out.attrs["snapped"] = int(np.count_nonzero(late))
    out.attrs["snapped_max_s"] = float(late.max()) / 1000 if len(late) else 0.0
    return out


#: funding-file conventions by header: (time column, rate column, hours the rate is quoted per —
#: None: per settlement interval —, meaning)
FUNDING_CONVENTIONS = {
    ("funding_time_ms", "funding_rate"): (
        "funding_time_ms",
        "funding_rate",
        None,
        "Binance's rate per settlement (fraction; 8-hourly for most symbols)",
    ),
    ("ts", "rate"): ("ts", "rate", 1.0, "Binance's 8-hour rate divided by 8 (fraction per hour; hl-reaper)"),
}


def read_binance_funding(path: PathLike) -> pd.DataFrame:
    """Read Binance perpetual funding settlements in either convention, as a rate per 8 hours.

    Conventions, told apart by the header:

    * ``funding_time_ms,funding_rate`` — the raw settled rate per settlement, a fraction
      (``binance_2026_harthor``): taken as is for 8-hourly settlements and scaled by
      8 / interval for the others (HYPEUSDT settles every 4 hours), the interval being the
      spacing of the settlements (the smaller of the gaps before and after each one).
    * ``ts,rate`` — the 8-hour rate divided by 8, a per-hour convention (``binance_oi_2026_hlreaper``;
      the data README checked it on 242 settlements): multiplied by 8.
    * ``calc_time,funding_interval_hours,last_funding_rate`` — Binance's ``fundingRate``
      archive: the rate per settlement interval, scaled by 8 / interval hours.

    Returns
    -------
    DataFrame in time order: ``timestamp`` (int64 epoch ms UTC, settlement time as stamped),
    ``datetime``, ``rate_8h`` (fraction per 8 hours; positive: longs pay shorts),
    ``interval_hours`` (hours between settlements: from the archive's column, else from the
    spacing of the settlements, whole hours).
    ``df.attrs['convention']`` says which convention the file was in.

    Raises
    ------
    InputError
        A header in no known convention, times unsorted or duplicated, a rate missing or not a
        number.
    """
    data, name = read_bytes(path)
    head = [normalise_column_name(f) for f in first_line(data).split(",")]
    archive = head == ["calc_time", "funding_interval_hours", "last_funding_rate"]
    if tuple(head) not in FUNDING_CONVENTIONS and not archive:
        known = "; ".join(",".join(k) for k in FUNDING_CONVENTIONS)
        raise fail(
            name,
            f"unknown funding convention: header {','.join(head)} (known: {known}; "
            "calc_time,funding_interval_hours,last_funding_rate)",
            row=1,
            field=head[0] if head else None,
        )
    df = parse_csv(data, name, header=True, names=head, types={c: pa.float64() for c in head[1:]})
    line0 = 2
    if archive:
        time_col, rate_col, convention = "calc_time", "last_funding_rate", "Binance fundingRate archive"
        hours = to_float(df, "funding_interval_hours", name, line0)
        check_positive(hours, "funding_interval_hours", name, line0)
        factor = 8.0 / hours
    else:
        time_col, rate_col, hours_per_rate, convention = FUNDING_CONVENTIONS[tuple(head)]
    ts, _ = column_to_ms(df, time_col, name, line0)
    check_time_order(ts, name, line0, column=time_col)
    if not archive:
        gaps = np.diff(ts) / 3_600_000.0
        if len(ts) > 1:
            hours = np.round(np.fmin(np.r_[np.inf, gaps], np.r_[gaps, np.inf]))
        else:
            hours = np.array([8.0])
        # a per-settlement rate covers its interval; a per-hour rate is x 8 whatever the interval
        factor = 8.0 / hours if hours_per_rate is None else 8.0 / hours_per_rate
    rate = to_float(df, rate_col, name, line0)
    bad = np.flatnonzero(~np.isfinite(rate))
    if bad.size:
        raise fail(name, f"{rate_col} is missing", row=line0 + int(bad[0]), field=rate_col)
    out = pd.DataFrame(
        {
            "timestamp": ts,
            "datetime": ms_to_datetime(ts),
            "rate_8h": rate * factor,
            "interval_hours": np.broadcast_to(hours, ts.shape).astype(np.float64),
        }
    )
    out.attrs["source"] = name
    out.attrs["convention"] = convention
    return out
