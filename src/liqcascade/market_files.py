"""Market files as the command line reads them, reachable from a notebook: which reader a file
needs (sniffed from its header), open interest placed on bars, and the whole ``analyze`` and
``liqmap`` jobs from file paths.

- :func:`read_bars`: a Binance kline archive (with or without header) or any OHLCV CSV;
- :func:`read_open_interest`: a Binance ``metrics`` archive or a Coinalyze open-interest export,
  as (timestamps ms, USD);
- :func:`read_funding`: a Coinalyze funding export;
- :func:`open_interest_on_bars`: open interest interpolated onto bar times (warning about bars
  outside the file's span);
- :func:`analyze_files`, :func:`liquidation_map_from_files`, :func:`write_map` and
  :func:`map_summary`: what ``liqcascade analyze`` and ``liqcascade liqmap`` run.

Errors are :class:`~liqcascade.errors.InputError` with one line naming the file and the flag
(``flag``: the label the message uses for the file, the CLI's option by default).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from ._io import atomic_path
from .errors import InputError

#: Columns (times) of a written map when ``every`` is not given: the figure's resolution.  The
#: 5-minute bars of Oct-Dec 2025 at every bar made a 443 MB CSV; at 600 columns it is a few MB.
MAP_COLUMNS = 600
#: the suffixes :func:`write_map` knows (the suffix picks the format)
MAP_FORMATS = (".parquet", ".csv", ".json", ".html", ".png")


# ---------------------------------------------------------------------------------- reading
@contextlib.contextmanager
def reading(path: Path | str | None, flag: str) -> Iterator[None]:
    """The boundary of a file read: what the readers do not turn into InputError themselves (a
    file that is not UTF-8 text, not CSV, a broken archive, an OS error) is one line naming the
    file and the flag."""
    import csv
    import gzip
    import zipfile

    try:
        yield
    except InputError:
        raise
    except (
        UnicodeDecodeError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        csv.Error,
        zipfile.BadZipFile,
        gzip.BadGzipFile,
        EOFError,
        OSError,
        ValueError,
    ) as exc:
        text = str(exc).strip().splitlines()
        raise InputError(
            f"{flag} {path}: cannot read: {text[0] if text else type(exc).__name__}",
            field=flag.lstrip("-").replace("-", "_"),
        ) from None


def peek_header(path: Path) -> list[str]:
    """The first line's fields of a plain, .gz or single-file .zip CSV, lower-cased
    (:func:`liqcascade.marketdata.peek_header`)."""
    from .marketdata import peek_header as peek

    return peek(path)


def read_bars(path: Path) -> pd.DataFrame:
    """Binance kline archives (with or without header) or any OHLCV CSV with a header."""
    from .data import read_binance_klines, read_ohlcv

    head = peek_header(path)
    if not head or not head[0] or head[0].replace(".", "", 1).isdigit() or "open_time" in head:
        return read_binance_klines(path)
    return read_ohlcv(path)


def one_market(frame: pd.DataFrame, want: str | None, path: Path, flag: str) -> pd.DataFrame:
    """The rows of one market in a file that may hold several (Coinalyze exports hold BTC and ETH)."""
    key = "coinalyze_symbol" if "coinalyze_symbol" in frame.columns else "symbol"
    if key not in frame.columns or frame[key].nunique(dropna=False) <= 1:
        return frame
    markets = sorted(map(str, frame[key].unique()))
    if want is not None:
        base = want.split("/")[0].upper()
        for column, value in ((key, want), ("symbol", want), ("coin", want.upper()), ("coin", base)):
            if column in frame.columns:
                rows = frame[frame[column].astype(str) == value]
                if len(rows) and rows[key].nunique() == 1:
                    return rows.reset_index(drop=True)
    raise InputError(
        f"{path}: holds {len(markets)} markets ({', '.join(markets)}); choose one with {flag}", field=flag.lstrip("-")
    )


def read_open_interest(path: Path, want: str | None, flag: str = "--symbol") -> tuple[np.ndarray, np.ndarray]:
    """(timestamps ms, open interest USD at those times) from a Binance ``metrics`` archive or a
    Coinalyze open-interest export (whose daily close is placed at the end of its bar)."""
    from .data import read_binance_metrics, read_coinalyze_open_interest

    head = peek_header(path)
    if "create_time" in head:
        f = one_market(read_binance_metrics(path), want, path, flag)
        return f["timestamp"].to_numpy(np.int64), f["open_interest_usd"].to_numpy(np.float64)
    if "oi_close" in head:
        f = one_market(read_coinalyze_open_interest(path), want, path, flag)
        ts = f["timestamp"].to_numpy(np.int64)
        step = int(np.median(np.diff(ts))) if len(ts) > 1 else 0
        return ts + step, f["oi_close_usd"].to_numpy(np.float64)
    raise InputError(
        f"{path}: not an open-interest file (expected a Binance metrics archive or a Coinalyze open-interest export)",
        field="open_interest",
    )


def read_funding(path: Path, want: str | None) -> pd.DataFrame:
    """``timestamp, funding_rate`` of one market of a Coinalyze funding export."""
    from .data import read_coinalyze_funding

    head = peek_header(path)
    if "funding_rate" not in head:
        raise InputError(f"{path}: not a funding file (expected a Coinalyze funding export)", field="funding")
    f = one_market(read_coinalyze_funding(path), want, path, "--symbol")
    return f[["timestamp", "funding_rate"]]


def open_interest_on_bars(
    bar_ts: np.ndarray, oi_ts: np.ndarray, oi_usd: np.ndarray, *, source: Any = "the open-interest file"
) -> np.ndarray:
    """Open interest (USD) at each bar time, linearly interpolated between the file's points; a
    bar outside the file's span holds its first/last value (one warning says how many)."""
    bar_ts = np.asarray(bar_ts, np.int64)
    outside = int(((bar_ts < oi_ts[0]) | (bar_ts > oi_ts[-1])).sum())
    if outside:
        warnings.warn(
            f"{outside:,} of {len(bar_ts):,} bars lie outside the open-interest file's span "
            f"({source}); they hold its first/last value",
            stacklevel=2,
        )
    return np.interp(bar_ts, oi_ts, oi_usd)


# ---------------------------------------------------------------------------------- periods
def span(times: Any) -> tuple[Any, Any]:
    """(first, last) of epoch-ms or datetime values as UTC timestamps."""
    t = pd.Series(times)
    t = pd.to_datetime(t, unit="ms", utc=True) if pd.api.types.is_numeric_dtype(t) else pd.to_datetime(t, utc=True)
    return t.min(), t.max()


def same_period(a: tuple[str, tuple], b: tuple[str, tuple], *, compare_ends: bool = True) -> None:
    """Two inputs read side by side must cover the same period: no overlap is refused, naming
    both spans; with ``compare_ends``, ends more than two days apart (the latest figures would be
    from different times; a daily file stamped at its bar's end is a day off) are a warning naming
    both spans."""
    (name_a, (a0, a1)), (name_b, (b0, b1)) = a, b

    def text(t0: Any, t1: Any) -> str:
        return f"{t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} UTC"

    spans = f"{name_a} covers {text(a0, a1)}, {name_b} covers {text(b0, b1)}"
    if a1 < b0 or b1 < a0:
        raise InputError(f"{spans}: no common period", field=name_b.split()[0].lstrip("-").replace("-", "_"))
    if compare_ends and abs(a1 - b1) > _dt.timedelta(days=2):
        warnings.warn(f"{spans}: their latest figures are {abs(a1 - b1).days:,} days apart", stacklevel=2)


def event_window(event: Sequence[str] | None, book_depth: Path | None = None) -> tuple[Any, Any] | None:
    """An event window (start, end; UTC text) checked: both dates, start before end, and a
    ``book_depth`` file to measure the depth collapse in."""
    if event is None:
        return None
    if book_depth is None:
        raise InputError("--event measures the depth collapse: give --book-depth too", field="event")
    for label, value in zip(("start", "end"), event):
        if pd.isna(pd.to_datetime(value, utc=True, errors="coerce")):
            raise InputError(f"{label} {value!r} is not a date/time", field="event")
    t0, t1 = (pd.to_datetime(v, utc=True) for v in event)
    if t0 >= t1:
        raise InputError(
            f"--event: the window is reversed or empty: start {t0:%Y-%m-%d %H:%M:%S} is not "
            f"before end {t1:%Y-%m-%d %H:%M:%S} UTC",
            field="event",
        )
    return t0, t1


# ---------------------------------------------------------------------------------- analyze
def analyze_files(
    bars: Path,
    *,
    index: Path | None = None,
    book_depth: Path | None = None,
    event: Sequence[str] | None = None,
    depth_pct: float = 1.0,
    open_interest: Path | None = None,
    funding: Path | None = None,
    symbol: str | None = None,
    volatility_window: str = "30D",
    correlation_window: int = 30,
) -> dict[str, Any]:
    """:func:`liqcascade.analytics.analyze` of market files (the ``analyze`` command): ``bars``
    (kline archive or OHLCV CSV), ``index`` (OHLCV CSV), ``book_depth`` (Binance bookDepth
    archive) with an ``event`` window (UTC start, end), ``open_interest`` and ``funding`` files
    (``symbol`` picks the market of a multi-market file).  Inputs read side by side must cover
    the same period.  The result carries the inputs' paths (``inputs``)."""
    from .analytics import analyze
    from .data import read_binance_book_depth, read_ohlcv

    event_window(event, book_depth)
    with reading(bars, "--bars"):
        frame = read_bars(bars)
    bars_span = span(frame["timestamp"])
    kw: dict[str, Any] = dict(
        volatility_window=volatility_window, correlation_window=correlation_window, depth_pct=depth_pct
    )
    if index is not None:
        with reading(index, "--index"):
            kw["index"] = read_ohlcv(index)
    if book_depth is not None:
        with reading(book_depth, "--book-depth"):
            kw["book_depth"] = read_binance_book_depth(book_depth)
        kw["event"] = event
        if event is not None:
            depth = kw["book_depth"][0] if isinstance(kw["book_depth"], tuple) else kw["book_depth"]
            same_period(
                ("--event window", span(pd.to_datetime(list(event), utc=True))),
                (f"--book-depth {book_depth.name}", span(depth["timestamp"])),
                compare_ends=False,
            )
    if open_interest is not None:
        with reading(open_interest, "--open-interest"):
            ts, usd = read_open_interest(open_interest, symbol)
        same_period((f"--bars {bars.name}", bars_span), (f"--open-interest {open_interest.name}", span(ts)))
        kw["open_interest"] = pd.DataFrame({"timestamp": ts, "open_interest": usd})
    if funding is not None:
        with reading(funding, "--funding"):
            kw["funding"] = read_funding(funding, symbol)
        same_period((f"--bars {bars.name}", bars_span), (f"--funding {funding.name}", span(kw["funding"]["timestamp"])))
    result = analyze(frame, **kw)
    result["inputs"] = {
        k: str(v)
        for k, v in (
            ("bars", bars),
            ("index", index),
            ("book_depth", book_depth),
            ("open_interest", open_interest),
            ("funding", funding),
        )
        if v is not None
    }
    return result


# ---------------------------------------------------------------------------------- liqmap
def parse_leverage_mix(text: str) -> dict[float, float]:
    """``"5:0.3,10:0.7"`` as ``{5.0: 0.3, 10.0: 0.7}`` (leverage: share)."""
    mix: dict[float, float] = {}
    for part in text.split(","):
        lev, sep, share = part.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            mix[float(lev)] = float(share)
        except ValueError:
            raise InputError(
                f"expected LEVERAGE:SHARE pairs such as 5:0.3,10:0.7, got {part.strip()!r}", field="leverage_mix"
            ) from None
    return mix


def liquidation_map_from_files(
    *,
    bars: Path | None = None,
    open_interest: Path | None = None,
    observed: Path | None = None,
    venue: str = "binance",
    symbol: str | None = None,
    bin_size: float = 100.0,
    price_range: tuple[float, float] | None = None,
    leverage_mix: str | dict[float, float] = "5:0.3,10:0.3,25:0.2,50:0.12,100:0.08",
    long_share: float = 0.5,
) -> Any:
    """The ``liqmap`` command's map: observed from a Hyperliquid clearinghouseState file
    (``observed``), or estimated from ``bars`` and an ``open_interest`` file (interpolated onto
    the bars: :func:`open_interest_on_bars`) through ``venue``'s rule book.  Returns a
    :class:`~liqcascade.liqmap.LiquidationMap`."""
    from .liqmap import liquidation_map, observed_liquidation_map

    if observed is not None:
        given = [f for f, v in (("--bars", bars), ("--open-interest", open_interest)) if v is not None]
        if given:
            raise InputError(
                f"{', '.join(given)} cannot be combined with --observed: the positions are the input",
                field=given[0].lstrip("-"),
            )
        from .data import read_hyperliquid_positions

        with reading(observed, "--observed"):
            pos = read_hyperliquid_positions(observed)
        if len(pos) == 0:
            raise InputError(f"{observed}: no open position", field="observed")
        pos = pos.rename(columns={"entry_price": "entry", "margin_usd": "margin"})
        ts = int(pos["timestamp"].max()) or None
        return observed_liquidation_map(pos, symbol=symbol, bin_size=bin_size, price_range=price_range, timestamp=ts)
    missing = [f for f, v in (("--bars", bars), ("--open-interest", open_interest)) if v is None]
    if bars is None or open_interest is None:
        raise InputError(
            f"an estimated map needs {' and '.join(missing)} (or --observed positions.json)",
            field=missing[0].lstrip("-"),
        )
    with reading(bars, "--bars"):
        frame = read_bars(bars)
    sym = symbol or "BTC/USDT:USDT"
    with reading(open_interest, "--open-interest"):
        oi_ts, oi_usd = read_open_interest(open_interest, sym)
    oi = open_interest_on_bars(frame["timestamp"].to_numpy(np.int64), oi_ts, oi_usd, source=open_interest)
    mix = parse_leverage_mix(leverage_mix) if isinstance(leverage_mix, str) else leverage_mix
    return liquidation_map(
        frame,
        open_interest=oi,
        venue=venue,
        symbol=sym,
        leverage_mix=mix,
        long_share=long_share,
        bin_size=bin_size,
        price_range=price_range,
    )


def map_columns_every(n_bars: int, every: int | None = None) -> int:
    """Bars per column of a written map: ``every``, or enough that it has at most
    :data:`MAP_COLUMNS` columns."""
    return every if every is not None else max(1, math.ceil(n_bars / MAP_COLUMNS))


def write_map(m: Any, out: Path | str, *, every: int | None = None) -> Path:
    """Write a map to ``out`` atomically, the suffix picking the format (:data:`MAP_FORMATS`):
    Parquet, CSV, CoinGlass-shaped JSON, Plotly HTML or a PNG; ``every`` bars per column
    (default :func:`map_columns_every`).  Returns the path written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in MAP_FORMATS:
        raise InputError(f"{out}: the suffix picks the format: .parquet, .csv, .json, .html or .png", field="out")
    every = map_columns_every(len(m.timestamps), every)
    writers: dict[str, Callable[[Path], Any]] = {
        ".parquet": lambda p: m.to_parquet(p, every=every),
        ".csv": lambda p: m.to_csv(p, every=every),
        ".json": lambda p: m.to_coinglass_json(p, every=every),
        ".html": lambda p: m.plot(p, every=every),
        ".png": lambda p: m.plot(p, every=every),
    }
    with atomic_path(out, keep_suffix=True, fsync=False) as tmp:
        writers[suffix](tmp)
    return out


def _utc_text(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def map_summary(m: Any) -> dict[str, Any]:
    """A map's headline figures at its last bar: range, longs and shorts on the map, what lies
    outside it, and the five largest levels per side (USD)."""
    last_close = None if m.candles is None else float(m.candles[-1, 3])
    prof = m.profile(-1)
    out: dict[str, Any] = {
        "label": m.label,
        "venue": m.venue,
        "symbol": m.symbol,
        "bars": int(len(m.timestamps)),
        "levels": int(len(m.price_levels)),
        "bin_size": float(m.bin_size),
        "price_range": [float(m.price_levels[0]), float(m.price_levels[-1] + m.bin_size)],
        "at": _utc_text(int(m.timestamps[-1])),
        "last_close": last_close,
        "long_usd": float(prof["long_usd"].sum()),
        "short_usd": float(prof["short_usd"].sum()),
        "out_of_range_usd": None if m.out_of_range_usd is None else float(m.out_of_range_usd[-1]),
    }
    if "opened_usd" in m.meta:
        out["opened_usd"] = float(m.meta["opened_usd"])
    if m.liquidated_long_usd is not None:
        out["liquidated_long_usd"] = float(np.sum(m.liquidated_long_usd))
        out["liquidated_short_usd"] = float(np.sum(m.liquidated_short_usd))
    for side in ("long", "short"):
        col = f"{side}_usd"
        top = prof[prof[col] >= 0.01].nlargest(5, col)  # a cent and up: not the float dust of closed buckets
        out[f"largest_{side}_levels"] = [[float(p), float(v)] for p, v in zip(top["price_level"], top[col])]
    return out
