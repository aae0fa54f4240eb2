"""Event scenarios derived from market files: :func:`build_event_scenario`.

From a data folder laid out like ``../shared/data`` (see its README) the builder derives an event
scenario's state and writes it as a scenario TOML plus its series sidecar
(``<name>.series.csv.gz``, read back by :meth:`liqcascade.scenario.Scenario.series`):

* **start prices** — each asset's Binance USDⓈ-M perpetual open at the event start (USDT);
* **look-back path** — the 5-minute bars from the look-back start to the event end, in the sidecar;
  the TOML's ``path`` holds the 00:00 UTC price of each day before the start (the synthetic
  positions' entries are drawn from it);
* **open interest** — Binance's USDⓈ-M open interest (USD) at the event start × a stated share per
  venue and asset (:data:`VENUE_SHARES`, each with its source or marked as an assumption);
* **depth** — Binance BTCUSDT depth within ±1 % of mid and the book exponent κ
  (Cum(u) = B·u^κ) fitted to a ``bookDepth`` archive (:func:`fit_book_depth`); the other
  markets as stated ratios of it (:data:`DEPTH_RATIOS`, :data:`KAPPAS`);
* **funding** — the last Binance funding rate settled before each bar (fraction per 8 hours).

The free-mode sections the data cannot give (exogenous flows, holder cohorts, large positions,
insurance funds, spot books) are copied from a template scenario.

Files used (found under the data folder by name; the origin of each is written beside it):

* ``binance_*harthor/binance_usdm_{SYM}USDT_5m_*.csv`` — 5-minute perpetual bars (``open_time_ms,…``);
* ``binance_*harthor/binance_usdm_{SYM}USDT_funding_8h_*.csv`` — funding per settlement;
* ``binance_oi_*/binance_usdm_{SYM}USDT_oi_5m_*.csv`` — open interest every 5 minutes;
* ``binance_1m_*/binance_usdm_{SYM}USDT_1m_*.csv`` — 1-minute klines (``minute_assets`` only);
* ``binance_bookdepth_*/BTCUSDT-bookDepth-YYYY-MM-DD.zip`` — the bookDepth archive of the depth fit.

A file is chosen when the dates in its name cover the window it serves.  Every file goes through
the :mod:`liqcascade.data` readers, so a bad file stops the build with one line naming file, row
and problem.
"""

from __future__ import annotations

import gzip
import re
import textwrap
import tomllib
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .data import (
    DataCleaningWarning,
    read_binance_bars,
    read_binance_book_depth,
    read_binance_funding,
    read_binance_open_interest,
    read_ohlcv,
)
from .errors import InputError
from .scenario import BUNDLED, SERIES_COLUMNS, bundled_text

__all__ = [
    "BookFit",
    "BuiltScenario",
    "DATA_ORIGINS",
    "DEPTH_RATIOS",
    "KAPPAS",
    "LONG_SHARES",
    "VENUE_SHARES",
    "build_event_scenario",
    "event_series",
    "fit_book_depth",
]

VENUES = ("binance", "bybit", "okx", "hyperliquid")
ASSETS = ("BTC", "ETH", "SOL", "DOGE")

#: origin (public repository @ commit) of each data folder, as ../shared/data/README.md gives it
DATA_ORIGINS = {
    "binance_2026_harthor": "Harthor/marketlab @ 6135a75 (freqtrade downloads, feather converted to CSV)",
    "binance_oi_2026_hlreaper": "theyachtsman/hl-reaper @ 236d805 (open interest), @ c682ce4 (funding)",
    "binance_1m_feb2026_owlacar": "owlacar-dotcom/isda @ d5d0708",
    "binance_bookdepth_2026-01-31": "MrNtex/Detecting_Manipulations__In_Financial_Markets @ 9c1b37e",
    "theglory_oct10_2025": "aaronwu2017/TheGlory @ 929fd9c",
    "scofieldchen_daily": "scofieldchen/quant-research @ bf5d31d, 2a7905d, 1fbfc48",
}

#: the file-name token of each bar length (s) in the Binance downloads (``…_5m_…``, ``…_1h_…``)
_INTERVALS = {60: "1m", 300: "5m", 900: "15m", 3600: "1h", 14400: "4h"}


@dataclass(frozen=True)
class Stated:
    """A stated figure and where it comes from (a public source, or "assumption: why")."""

    value: float
    source: str


# Sources of the open-interest shares (venue OI ÷ Binance OI, both in USD).  The aggregators count
# every contract of a venue (USDT-, USDC- and coin-margined), while the Binance series they scale
# is the USDⓈ-M perpetual alone: the shares are approximations of the venue's book beside Binance's.
_MTC = (
    "mytokencap.com/derivatives/open-interest (BTC OI by exchange; undated snapshot at BTC = "
    "$60.2k, i.e. Feb 2026): Binance $8.29B, Bybit $3.96B, OKX $2.52B, Hyperliquid $2.04B"
)
_SOLARIA = (
    "data.solariaworld.com/openinterest/SOLUSDT (undated snapshot at SOL = $85.26, i.e. Feb "
    "2026): Binance $805.9M, Bybit $600.9M, OKX $231.7M; Hyperliquid not listed"
)
_COINGAPE = (
    "coingape.com, 'Dogecoin open interest surges 5.24% to $1.3 billion' (Coinalyze data, "
    "2025): Binance $581M, Bybit $410M, OKX $244M"
)

#: open interest of each venue as a fraction of Binance's USDⓈ-M open interest, per asset
VENUE_SHARES: dict[str, dict[str, Stated]] = {
    "binance": {a: Stated(1.0, "Binance USDⓈ-M open interest (data)") for a in ASSETS},
    "bybit": {
        "BTC": Stated(0.48, _MTC),
        "ETH": Stated(0.48, "assumption: BTC's share (no per-venue ETH figure for Feb 2026 found)"),
        "SOL": Stated(0.75, _SOLARIA),
        "DOGE": Stated(0.71, _COINGAPE),
    },
    "okx": {
        "BTC": Stated(0.30, _MTC),
        "ETH": Stated(0.30, "assumption: BTC's share (no per-venue ETH figure for Feb 2026 found)"),
        "SOL": Stated(0.29, _SOLARIA),
        "DOGE": Stated(0.42, _COINGAPE),
    },
    "hyperliquid": {
        "BTC": Stated(0.25, _MTC),
        "ETH": Stated(
            0.25,
            "assumption: BTC's share; reports name Hyperliquid ETH longs as the weekend's "
            "largest liquidations (../events/feb-2026.md)",
        ),
        "SOL": Stated(0.15, "assumption (no Hyperliquid SOL figure found; smaller than its BTC share)"),
        "DOGE": Stated(0.10, "assumption (no Hyperliquid DOGE figure found; smaller than its BTC share)"),
    },
}

#: depth within ±1 % of mid of each market as a fraction of the fitted Binance BTCUSDT depth
DEPTH_RATIOS: dict[str, dict[str, Stated]] = {}
_VENUE_DEPTH = {
    "binance": Stated(1.0, "Binance BTCUSDT: fitted to the bookDepth archive"),
    "bybit": Stated(0.417, "assumption kept from the previous scenario ($100M against Binance's $240M)"),
    "okx": Stated(0.30, "assumption: between Bybit's and Hyperliquid's ratios"),
    "hyperliquid": Stated(0.208, "assumption kept from the previous scenario ($50M against Binance's $240M)"),
}
_ASSET_DEPTH = {
    "BTC": Stated(1.0, ""),
    "ETH": Stated(0.6, "ETH books 0.6 of BTC's on each venue (assumption kept from the previous scenario)"),
    "SOL": Stated(
        0.125,
        "alts' 1 % depth $2.5M against BTC's $20M across venues, early Oct 2025 (../reference/market-and-cascades.md)",
    ),
    "DOGE": Stated(0.125, "as SOL (../reference/market-and-cascades.md: 'alts ±1 % $2.5M')"),
}
for _v, _dv in _VENUE_DEPTH.items():
    DEPTH_RATIOS[_v] = {
        a: Stated(_dv.value * _da.value, "; ".join(s for s in (_dv.source, _da.source) if s))
        for a, _da in _ASSET_DEPTH.items()
    }

#: book exponents κ (Cum(u) = B·u^κ) other than Binance BTC's, which is fitted
KAPPAS: dict[str, Stated] = {
    "BTC": Stated(1.13, "Bybit books, ../reference/market-and-cascades.md"),
    "ETH": Stated(1.35, "Bybit books, ../reference/market-and-cascades.md"),
    "SOL": Stated(1.10, "Bybit books, ../reference/market-and-cascades.md"),
    "DOGE": Stated(1.41, "Bybit books, ../reference/market-and-cascades.md"),
}

#: long share of open interest (fraction) per venue and asset: no data; assumptions kept from the
#: previous scenarios (BTC 0.60, ETH 0.62 on the centralised venues; Hyperliquid more long)
LONG_SHARES: dict[str, dict[str, float]] = {
    "binance": {"BTC": 0.60, "ETH": 0.62, "SOL": 0.62, "DOGE": 0.62},
    "bybit": {"BTC": 0.60, "ETH": 0.62, "SOL": 0.62, "DOGE": 0.62},
    "okx": {"BTC": 0.60, "ETH": 0.62, "SOL": 0.62, "DOGE": 0.62},
    "hyperliquid": {"BTC": 0.62, "ETH": 0.65, "SOL": 0.65, "DOGE": 0.65},
}

_DAY_MS = 86_400_000
_BAR_MS = 300_000
_DATES = re.compile(r"(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})")


# ------------------------------------------------------------------------------------ files
@dataclass(frozen=True)
class Source:
    """A data file used: its path under the data folder, its origin, what was taken from it."""

    file: str
    origin: str
    what: str


def _ms(dt: datetime | str | pd.Timestamp, field: str = "time") -> int:
    """A UTC time (a datetime, or ISO-8601 text; no offset means UTC) → epoch ms."""
    try:
        t = pd.Timestamp(dt)
    except (ValueError, TypeError):
        raise InputError(f"{dt!r} is not an ISO-8601 date/time (e.g. 2026-02-05T00:00Z)", field=field) from None
    if t is pd.NaT:
        raise InputError(f"{dt!r} is not an ISO-8601 date/time (e.g. 2026-02-05T00:00Z)", field=field)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return int(t.value // 1_000_000)


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _find(data_dir: Path, pattern: str, what: str, first_ms: int, last_ms: int) -> Path:
    """The file matching ``pattern`` whose name's dates cover [first_ms, last_ms]."""
    found = sorted(data_dir.glob(pattern))
    for p in found:
        m = _DATES.search(p.name)
        if m is None:  # a one-day archive: …-YYYY-MM-DD.zip
            d = re.search(r"(\d{4}-\d{2}-\d{2})", p.name)
            if d and _ms(d[1]) <= first_ms and last_ms <= _ms(d[1]) + _DAY_MS:
                return p
            continue
        if _ms(m[1]) <= first_ms and last_ms < _ms(m[2]) + _DAY_MS:
            return p
    names = ", ".join(p.name for p in found) or "none"
    raise InputError(
        f"{data_dir}: no {what} file ({pattern}) covers {_iso(first_ms)} to {_iso(last_ms)} (found: {names})",
        field="data_dir",
    )


def _source(data_dir: Path, path: Path, what: str) -> Source:
    rel = path.relative_to(data_dir).as_posix()
    return Source(rel, DATA_ORIGINS.get(rel.split("/")[0], "origin not listed in the data README"), what)


def _covering(frame: pd.DataFrame, first_ms: int, last_ms: int, what: str) -> pd.DataFrame:
    """Rows with timestamp in [first_ms, last_ms]; the file must hold every bar of the range."""
    t = frame["timestamp"].to_numpy()
    if len(t) == 0 or t[0] > first_ms or t[-1] < last_ms:
        raise InputError(
            f"{frame.attrs.get('source', what)}: {what} runs {_iso(t[0])} to {_iso(t[-1])}, "
            f"not the {_iso(first_ms)} to {_iso(last_ms)} the scenario needs",
            field="data_dir",
        )
    return frame[(t >= first_ms) & (t <= last_ms)].reset_index(drop=True)


# ----------------------------------------------------------------------------------- series
def event_series(
    data_dir: str | Path,
    *,
    assets: Sequence[str] = ASSETS,
    lookback_start: datetime | str,
    event_start: datetime | str,
    event_end: datetime | str,
    minute_assets: Sequence[str] = ("BTC",),
    bar_s: Mapping[str, int] | None = None,
    event_bar_s: Mapping[str, int] | None = None,
    bar_files: Mapping[str, Mapping[int, str]] | None = None,
    open_interest_usd: Mapping[str, Stated] | None = None,
    funding_rate_8h: Mapping[str, Stated] | None = None,
) -> tuple[pd.DataFrame, list[Source]]:
    """The series sidecar of an event, derived from the market files under ``data_dir``.

    Returns the frame of :meth:`liqcascade.scenario.Scenario.series` (columns
    :data:`~liqcascade.scenario.SERIES_COLUMNS`) and the files it came from.  Per asset: the
    Binance USDⓈ-M 5-minute bars opening from ``lookback_start`` to ``event_end`` − 5 min; the
    open interest stamped at each bar's close (USD); the last funding settlement at or before each
    bar's open (fraction per 8 h).  Per minute asset: the 1-minute klines over the event window,
    with the open interest where a minute bar closes on a 5-minute stamp (NaN elsewhere).

    Events the 2026 files do not cover:

    * ``bar_s`` — an asset's base bars (from ``lookback_start``) of another length than 300 s
      (3600: hourly; 14400: 4-hourly); ``event_bar_s`` — finer bars over the event window (e.g.
      300-s bars over hourly base bars).  Files are found as
      ``binance_*harthor/binance_usdm_{SYM}USDT_{1h|5m|…}_*.csv`` unless ``bar_files`` names them
      (asset → {bar length: path under ``data_dir``}; a file with a ``timestamp`` column is read
      by :func:`~liqcascade.data.read_ohlcv` and must be on its grid without gaps).
    * ``open_interest_usd`` — an asset's open interest at ``event_start`` given as a number (USD,
      with its source) where no 5-minute open-interest file covers the window: the series then
      holds the contracts constant, ``oi_usd = OI / open(start bar) x open(bar)`` (the population
      reads a bar's open interest at its open price: no openings or closings are implied).
    * ``funding_rate_8h`` — a constant funding rate (fraction per 8 h, with its source) where no
      funding file covers the window.
    """
    data_dir = Path(data_dir)
    t0, e0, e1 = _ms(lookback_start, "lookback_start"), _ms(event_start, "event_start"), _ms(event_end, "event_end")
    if not (t0 <= e0 < e1) or any(x % _BAR_MS for x in (t0, e0, e1)):
        raise InputError(
            "lookback_start <= event_start < event_end, all on the 5-minute grid, is required", field="event_start"
        )
    bar_s, event_bar_s, bar_files = dict(bar_s or {}), dict(event_bar_s or {}), dict(bar_files or {})
    open_interest_usd, funding_rate_8h = dict(open_interest_usd or {}), dict(funding_rate_8h or {})
    for what, table in (("bar_s", bar_s), ("event_bar_s", event_bar_s)):
        for a, length in table.items():
            if length not in _INTERVALS or length == 60:
                raise InputError(
                    f"{what}: {a} {length!r} s is not one of {', '.join(str(k) for k in _INTERVALS if k != 60)}",
                    field=what,
                )
    parts, sources = [], []
    for a in assets:
        sym = f"{a}USDT"
        base_s = int(bar_s.get(a, 300))
        if e0 % (base_s * 1000) or e1 % (base_s * 1000) or t0 % (base_s * 1000):
            raise InputError(
                f"lookback_start, event_start and event_end must be on {a}'s {base_s}-second bar grid", field="bar_s"
            )
        bars_path, bars = _bars(data_dir, a, base_s, bar_files, t0, e1)
        if a in open_interest_usd:
            oi, oi_source = _constant_contracts(a, bars, e0, open_interest_usd[a]), None
        else:
            oi_path = _find(data_dir, f"binance_oi_*/binance_usdm_{sym}_oi_5m_*.csv", f"{a} open interest", t0, e1)
            oi_frame = read_binance_open_interest(oi_path)
            oi = oi_frame.set_index("timestamp")["open_interest_usd"]
            snapped = oi_frame.attrs["snapped"]
            late = (
                f"; {snapped} stamps up to {oi_frame.attrs['snapped_max_s']:g} s late, snapped to the 5-minute grid"
                if snapped
                else ""
            )
            oi_source = _source(data_dir, oi_path, f"{a} open interest (oi_usd{late})")
        if a in funding_rate_8h:
            funding, fund_source = _constant_funding(funding_rate_8h[a], t0), None
        else:
            fund_path = _find(data_dir, f"binance_*harthor/binance_usdm_{sym}_funding_8h_*.csv", f"{a} funding", t0, e1)
            funding = read_binance_funding(fund_path)
            fund_source = _source(data_dir, fund_path, f"{a} funding (funding_rate_8h)")
        parts.append(_series_rows(a, base_s, bars, oi, funding, oi_at_open=a in open_interest_usd))
        sources.append(_source(data_dir, bars_path, f"{a} {_span(base_s)} bars (open, high, low, close, volume)"))
        sources += [x for x in (oi_source, fund_source) if x is not None]
        if a in event_bar_s:
            fine_s = int(event_bar_s[a])
            if fine_s >= base_s:
                raise InputError(f"event_bar_s: {a} {fine_s} s is not finer than its base bars", field="event_bar_s")
            f_path, fine = _bars(data_dir, a, fine_s, bar_files, e0, e1)
            if a in open_interest_usd:
                f_oi = _constant_contracts(a, fine, e0, open_interest_usd[a])
            else:
                f_oi = oi
            parts.append(_series_rows(a, fine_s, fine, f_oi, funding, oi_at_open=a in open_interest_usd))
            sources.append(_source(data_dir, f_path, f"{a} {_span(fine_s)} bars over the event window"))
        if a in minute_assets:
            m_path = _find(data_dir, f"binance_1m_*/binance_usdm_{sym}_1m_*.csv", f"{a} 1-minute bars", e0, e1)
            minute = _covering(read_binance_bars(m_path, interval="1m"), e0, e1 - 60_000, "1-minute bars")
            parts.append(_series_rows(a, 60, minute, oi, funding))
            sources.append(_source(data_dir, m_path, f"{a} 1-minute bars over the event window"))
    for a in minute_assets:
        if a not in assets:
            raise InputError(
                f"minute asset {a!r} is not one of the assets ({', '.join(assets)})", field="minute_assets"
            )
    out = pd.concat(parts, ignore_index=True)
    return out, sources


def _span(bar_s: int) -> str:
    return f"{bar_s // 3600}-hour" if bar_s >= 3600 else f"{bar_s // 60}-minute"


def _bars(
    data_dir: Path, asset: str, bar_s: int, bar_files: Mapping[str, Mapping[int, str]], first_ms: int, end_ms: int
) -> tuple[Path, pd.DataFrame]:
    """(file, bars opening in [first_ms, end_ms)) of an asset's ``bar_s``-second bars."""
    named = bar_files.get(asset, {}).get(bar_s)
    if named is not None:
        path = data_dir / named
        if not path.is_file():
            raise InputError(f"{path}: no such file ({asset} {bar_s}-s bars)", field="bar_files")
    else:
        iv = _INTERVALS[bar_s]
        path = _find(
            data_dir,
            f"binance_*harthor/binance_usdm_{asset}USDT_{iv}_*.csv",
            f"{asset} {_span(bar_s)} bars",
            first_ms,
            end_ms,
        )
    with path.open("r", encoding="utf-8") as fh:
        head = fh.readline().lower()
    if not head.startswith("timestamp"):
        frame = read_binance_bars(path, interval=_INTERVALS[bar_s])
        return path, _covering(frame, first_ms, end_ms - bar_s * 1000, f"{_span(bar_s)} bars")
    # a vendor CSV (e.g. scofieldchen's, time as text): on its grid without gaps over the window
    from .data._common import check_regular_bars

    frame = read_ohlcv(path)
    line0 = 2 + int(np.searchsorted(frame["timestamp"].to_numpy(np.int64), first_ms))
    frame = _covering(frame, first_ms, end_ms - bar_s * 1000, f"{_span(bar_s)} bars")
    check_regular_bars(frame["timestamp"].to_numpy(np.int64), bar_s * 1000, str(path), line0)
    return path, frame


def _constant_contracts(asset: str, bars: pd.DataFrame, start_ms: int, oi: Stated) -> pd.Series:
    """Open interest (USD) at each bar's open, contracts held at those of ``oi`` at ``start_ms``."""
    t = bars["timestamp"].to_numpy(np.int64)
    at = np.flatnonzero(t == start_ms)
    if not at.size or not oi.value > 0:
        raise InputError(f"{asset}: no bar opening at the event start, or open interest not positive", field="oi")
    px = bars["open"].to_numpy(np.float64)
    return pd.Series(oi.value / px[at[0]] * px, index=t)


def _constant_funding(rate: Stated, first_ms: int) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": [first_ms], "rate_8h": [float(rate.value)]}).assign(
        **{"timestamp": lambda f: f["timestamp"].astype(np.int64)}
    )


def _series_rows(
    asset: str, bar_s: int, bars: pd.DataFrame, oi: pd.Series, funding: pd.DataFrame, *, oi_at_open: bool = False
) -> pd.DataFrame:
    t = bars["timestamp"].to_numpy(np.int64)
    oi_at_close = oi.reindex(t if oi_at_open else t + bar_s * 1000).to_numpy(np.float64)
    ft = funding["timestamp"].to_numpy(np.int64)
    k = np.searchsorted(ft, t, side="right") - 1  # the last settlement at or before the bar's open
    if (k < 0).any():
        raise InputError(
            f"{funding.attrs.get('source', 'funding')}: no funding settled before {_iso(int(t[k < 0][0]))}",
            field="data_dir",
        )
    return pd.DataFrame(
        {
            "asset": asset,
            "bar_s": bar_s,
            "time_ms": t,
            **{c: bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")},
            "oi_usd": oi_at_close,
            "funding_rate_8h": funding["rate_8h"].to_numpy(np.float64)[k],
        }
    )[list(SERIES_COLUMNS)]


def write_series(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a series sidecar: CSV (``.gz``: gzip without a time stamp, so equal frames give equal
    bytes); floats as Python writes them (shortest round-trip), NaN as an empty field."""
    path = Path(path)
    text = frame[list(SERIES_COLUMNS)].to_csv(index=False, lineterminator="\n").encode()
    path.write_bytes(gzip.compress(text, compresslevel=9, mtime=0) if path.suffix == ".gz" else text)
    return path


# --------------------------------------------------------------------------------- the book
@dataclass(frozen=True)
class BookFit:
    """Depth within ±1 % of mid and κ fitted to a ``bookDepth`` archive over a window.

    Per snapshot and side, κ is the slope of the least-squares line through
    (log u, log notional(u)) over the archive's bands (u = 0.2, 1, 2, 3, 4, 5 % as fractions), the
    power law Cum(u) = B·u^κ in logs; the scenario's figures are medians over the snapshots.
    """

    depth_1pct_usd: float  #: median over snapshots of the mean of the ±1 % bid and ask notional, USD per side
    kappa: float  #: median over snapshots of the mean of the two sides' fitted exponents
    bid_depth_1pct_usd: float  #: median −1 % bid notional, USD
    ask_depth_1pct_usd: float  #: median +1 % ask notional, USD
    bid_kappa: float
    ask_kappa: float
    snapshots: int
    start_ms: int
    end_ms: int
    source: str
    bands: tuple[float, ...] = field(default=())


def fit_book_depth(
    path: str | Path, *, start: datetime | str | None = None, end: datetime | str | None = None
) -> BookFit:
    """Fit depth within ±1 % and κ to a Binance ``bookDepth`` archive over [start, end).

    Parameters
    ----------
    path:
        A ``…-bookDepth-YYYY-MM-DD.csv`` or ``.zip`` (read by
        :func:`~liqcascade.data.read_binance_book_depth`: frozen stretches dropped).
    start, end:
        UTC window of the snapshots used (default: the whole file).

    Returns
    -------
    :class:`BookFit` (USD per side; κ dimensionless).  Every band must have positive notional in
    a snapshot used; a window with no snapshots is an :class:`~liqcascade.errors.InputError`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataCleaningWarning)  # the report says what was dropped
        book, _ = read_binance_book_depth(path)
    t = book["timestamp"].to_numpy()
    lo = _ms(start, "start") if start is not None else int(t.min())
    hi = _ms(end, "end") if end is not None else int(t.max()) + 1
    book = book[(t >= lo) & (t < hi)]
    if book.empty:
        raise InputError(f"{path}: no bookDepth snapshot between {_iso(lo)} and {_iso(hi)}", field="book_depth")
    wide = book.pivot_table(index="timestamp", columns="percentage", values="notional", aggfunc="first")
    wide = wide[(wide > 0).all(axis=1)].dropna()
    bands = np.array(sorted(abs(float(c)) for c in wide.columns if float(c) > 0))
    if len(wide) == 0 or 1.0 not in bands or len(bands) < 2:
        raise InputError(f"{path}: needs complete snapshots with the ±1 % band and one more band", field="book_depth")
    x = np.log(bands / 100.0)

    def side(sign: float) -> tuple[np.ndarray, np.ndarray]:
        cols = [c for c in wide.columns if np.sign(float(c)) == sign]
        cols.sort(key=lambda c: abs(float(c)))
        y = np.log(wide[cols].to_numpy())
        xc = x - x.mean()
        slope = ((y - y.mean(axis=1, keepdims=True)) @ xc) / (xc @ xc)  # least squares, per snapshot
        one = wide[[c for c in cols if abs(float(c)) == 1.0][0]].to_numpy()
        return one, slope

    bid, kb = side(-1.0)
    ask, ka = side(1.0)
    return BookFit(
        depth_1pct_usd=float(np.median((bid + ask) / 2)),
        kappa=float(np.median((kb + ka) / 2)),
        bid_depth_1pct_usd=float(np.median(bid)),
        ask_depth_1pct_usd=float(np.median(ask)),
        bid_kappa=float(np.median(kb)),
        ask_kappa=float(np.median(ka)),
        snapshots=len(wide),
        start_ms=lo,
        end_ms=hi,
        source=str(path),
        bands=tuple(float(b) for b in bands),
    )


# ------------------------------------------------------------------------------------- TOML
def _q(text: str) -> str:
    """A TOML basic string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def series_table(
    file: str,
    *,
    lookback_start_ms: int,
    event_start_ms: int,
    event_end_ms: int,
    minute_assets: Sequence[str],
    sources: Iterable[Source],
    bar_s: Mapping[str, int] | None = None,
    event_bar_s: Mapping[str, int] | None = None,
) -> str:
    """The ``[series]`` table of a scenario TOML (see :class:`liqcascade.scenario.SeriesSpec`)."""
    lines = [
        "# The derived market series this scenario embeds (Scenario.series()): per asset the Binance",
        "# USDⓈ-M perpetual's 5-minute bars (bar_s = 300) from lookback_start to event_end, with the open",
        "# interest at each bar's close (oi_usd, USD) and the last settled funding rate (funding_rate_8h,",
        "# fraction per 8 h); 1-minute bars (bar_s = 60) of minute_assets over the event window.  Derived",
        "# from the files below (paths under ../shared/data, origin = public repository @ commit).",
    ]
    if bar_s or event_bar_s:  # not the 2026 layout: say which bars this series holds
        lines += [
            "# Here: each asset's base bars are bar_s seconds long (3600 hourly, 14400 four-hourly; 300 where",
            "# not listed), with event_bar_s bars over the event window; where the open interest was given",
            "# as a number, oi_usd holds the contracts constant and is valued at each bar's open (the notes at",
            "# the top say which, and which bars are spot rather than perpetual).",
        ]
    lines += [
        "[series]",
        f"file = {_q(file)}",
        f"lookback_start = {_iso(lookback_start_ms)}",
        f"event_start = {_iso(event_start_ms)}",
        f"event_end = {_iso(event_end_ms)}",
        f"minute_assets = [{', '.join(_q(a) for a in minute_assets)}]",
    ]
    for key, table in (("bar_s", bar_s), ("event_bar_s", event_bar_s)):
        if table:
            lines.append(f"{key} = {{ {', '.join(f'{a} = {int(v)}' for a, v in table.items())} }}")
    for s in sources:
        lines += ["", "[[series.sources]]", f"file = {_q(s.file)}", f"origin = {_q(s.origin)}", f"what = {_q(s.what)}"]
    return "\n".join(lines) + "\n"


#: a template scenario's free-mode sections start at this line (copied verbatim, comments and all);
#: a template without it has its sections re-written without comments
FREE_MODE_MARKER = "# === Free mode"
_FREE_SECTIONS = ("insurance_fund_usd", "large_positions", "flows", "overrides")


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, datetime):
        return _iso(_ms(v))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    return _q(v)


def _free_mode_text(template: str | Path | None) -> tuple[str, dict]:
    """(the free-mode TOML text to append, the template's parsed document) of a template scenario."""
    if template is None:
        return "", {}
    key = str(template)
    if key in BUNDLED:
        text, where = bundled_text(key), f"{key}.toml"
    else:
        p = Path(key)
        if not p.is_file():
            raise InputError(
                f"no bundled scenario {key!r} and no such file (bundled: {', '.join(BUNDLED)})", field="template"
            )
        text, where = p.read_text("utf-8"), str(p)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{where}: not valid TOML: {e}", field="template") from None
    lines = text.splitlines()
    at = next((i for i, ln in enumerate(lines) if ln.startswith(FREE_MODE_MARKER)), None)
    if at is not None:
        tail = lines[at:]
        end = next(
            (
                i
                for i, ln in enumerate(tail)
                if ln.startswith("[series]") or (ln.startswith("# The derived market series"))
            ),
            len(tail),
        )
        return "\n".join(tail[:end]).rstrip() + "\n", doc
    out = [f"{FREE_MODE_MARKER} (copied from {where}): exogenous flows, cohorts, large positions, insurance funds"]
    for section in _FREE_SECTIONS:
        value = doc.get(section)
        if not value:
            continue
        if isinstance(value, list):
            for item in value:
                out += ["", f"[[{section}]]"] + [f"{k} = {_value(v)}" for k, v in item.items()]
        else:
            out += ["", f"[{section}]"] + [f"{k} = {_value(v)}" for k, v in value.items()]
    return "\n".join(out) + "\n", doc


@dataclass(frozen=True)
class BuiltScenario:
    """What :func:`build_event_scenario` wrote and derived."""

    toml_path: Path
    series_path: Path
    series: pd.DataFrame
    book: BookFit
    start_prices: dict[str, float]  #: USDT per base unit at the event start
    binance_oi_usd: dict[str, float]  #: Binance USDⓈ-M open interest at the event start, USD
    markets: list[dict]  #: venue, asset, open_interest_usd, depth_1pct_usd, kappa, …
    sources: list[Source]


def _find_book(data_dir: Path, asset: str, event_start_ms: int) -> Path:
    """The latest ``bookDepth`` archive of ``asset`` dated on or before the event start's day."""
    found = []
    for p in data_dir.glob(f"binance_bookdepth_*/{asset}USDT-bookDepth-*.zip"):
        d = re.search(r"(\d{4}-\d{2}-\d{2})", p.name)
        if d and _ms(d[1]) <= event_start_ms:
            found.append((_ms(d[1]), p))
    if not found:
        raise InputError(
            f"{data_dir}: no {asset}USDT bookDepth archive (binance_bookdepth_*/"
            f"{asset}USDT-bookDepth-YYYY-MM-DD.zip) dated on or before {_iso(event_start_ms)}",
            field="data_dir",
        )
    return max(found)[1]


def build_event_scenario(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    name: str,
    event_start: datetime | str,
    event_end: datetime | str,
    title: str = "",
    lookback_start: datetime | str = "2026-01-01T00:00:00Z",
    assets: Sequence[str] = ASSETS,
    venues: Sequence[str] = VENUES,
    minute_assets: Sequence[str] = ("BTC",),
    template: str | Path | None = None,
    step_seconds: float = 1.0,
    notes: str = "",
    bar_s: Mapping[str, int] | None = None,
    event_bar_s: Mapping[str, int] | None = None,
    bar_files: Mapping[str, Mapping[int, str]] | None = None,
    open_interest_usd: Mapping[str, Stated] | None = None,
    funding_rate_8h: Mapping[str, Stated] | None = None,
    venue_shares: Mapping[str, Mapping[str, Stated]] | None = None,
    book_file: str | Path | None = None,
    book_window: tuple[str, str] | None = None,
) -> BuiltScenario:
    """Derive an event scenario from the market files under ``data_dir`` and write it to
    ``out_dir/<name>.toml`` and ``out_dir/<name>.series.csv.gz``.

    Parameters
    ----------
    data_dir:
        A folder laid out like ``../shared/data`` (file patterns in this module's docstring).
    out_dir:
        Where the two files are written (created if needed; existing files are replaced).
    name, title:
        The scenario's name (also the files' stem) and title.
    event_start, event_end:
        The event window (UTC, on the 5-minute grid); the scenario starts at ``event_start`` and
        runs ``event_end − event_start`` hours.
    lookback_start:
        First bar of the look-back (UTC; default 2026-01-01 00:00, where the data starts).
    assets, venues:
        The markets: every asset on every venue (venues among binance, bybit, okx, hyperliquid;
        :data:`VENUE_SHARES` must hold a share for each pair).
    minute_assets:
        Assets whose 1-minute bars over the event window go into the series.
    template:
        A scenario (bundled name or TOML path) whose free-mode sections — exogenous flows, holder
        cohorts, large positions, insurance funds (from the line starting ``# === Free mode``, or
        re-written without comments when it has none) — and per-asset spot books are copied.
        None: a scenario with no exogenous flows.
    step_seconds:
        The engine's time step, s.
    notes:
        Comment lines put at the top of the TOML.
    bar_s, event_bar_s, bar_files, open_interest_usd, funding_rate_8h:
        For events the 2026 files do not cover (see :func:`event_series`): base bars of another
        length, finer bars over the event, named bar files, open interest at the start given as
        a number (the Binance USDⓈ-M figure the venue shares multiply; its source is written
        beside each market), a constant funding rate.
    venue_shares:
        Venue → asset → :class:`Stated` share of Binance's open interest, replacing
        :data:`VENUE_SHARES` for the venues and assets it names (a share of another date).
    book_file, book_window:
        The ``bookDepth`` archive (path under ``data_dir``, ``.csv`` or ``.zip``) and the UTC window
        [start, end) of the depth fit, instead of the latest ``binance_bookdepth_*`` archive
        before the event (e.g. a later archive standing in for an event without one: say so in
        ``notes``).

    Returns
    -------
    :class:`BuiltScenario`; the TOML loads with :func:`liqcascade.scenario.load_scenario`.

    Derivation
    ----------
    Start price: the open (USDT) of each asset's Binance USDⓈ-M 5-minute bar at ``event_start``.
    Open interest of a market: Binance's USDⓈ-M open interest (USD) stamped at ``event_start`` ×
    the venue's share (:data:`VENUE_SHARES`).  Binance BTCUSDT depth within ±1 % and κ: fitted
    by :func:`fit_book_depth` to the latest BTCUSDT ``bookDepth`` archive dated on or before the
    event start — over its snapshots before ``event_start`` (all of them if the archive ends
    before), or its first hour when the archive starts at the event; the other markets' depth is
    that × :data:`DEPTH_RATIOS`, their κ :data:`KAPPAS`.  Long shares: :data:`LONG_SHARES`
    (assumptions).  The TOML's ``path``: the 00:00 UTC price (the open of that bar) of each day from
    ``lookback_start`` to the day before ``event_start``.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: no such data folder", field="data_dir")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise InputError(f"{name!r} is not a scenario name (letters, digits, '.', '_', '-')", field="name")
    bad = [v for v in venues if v not in VENUES]
    if bad:
        raise InputError(f"unknown venue {bad[0]!r} (known: {', '.join(VENUES)})", field="venues")
    shares = {v: dict(VENUE_SHARES[v]) for v in VENUES}
    for a in open_interest_usd or {}:  # Binance's figure is given, not read from the data
        shares["binance"][a] = Stated(1.0, "Binance USDⓈ-M open interest (given: see its source)")
    for v, table in (venue_shares or {}).items():
        if v not in shares:
            raise InputError(f"venue_shares: unknown venue {v!r} (known: {', '.join(VENUES)})", field="venue_shares")
        shares[v].update(table)
    for v in venues:
        for a in assets:
            if a not in shares[v] or a not in DEPTH_RATIOS[v] or a not in KAPPAS:
                raise InputError(f"no stated open-interest share, depth ratio or kappa for {a} on {v}", field="assets")
    t0, e0, e1 = _ms(lookback_start, "lookback_start"), _ms(event_start, "event_start"), _ms(event_end, "event_end")
    if t0 >= e0:
        raise InputError("lookback_start must be before event_start", field="lookback_start")
    series, sources = event_series(
        data_dir,
        assets=assets,
        lookback_start=lookback_start,
        event_start=event_start,
        event_end=event_end,
        minute_assets=minute_assets,
        bar_s=bar_s,
        event_bar_s=event_bar_s,
        bar_files=bar_files,
        open_interest_usd=open_interest_usd,
        funding_rate_8h=funding_rate_8h,
    )
    free_text, template_doc = _free_mode_text(template)

    if book_file is not None:
        book_path = data_dir / book_file
        if not book_path.is_file():
            raise InputError(f"{book_path}: no such bookDepth file", field="book_file")
    else:
        book_path = _find_book(data_dir, "BTC", e0)
    if book_window is not None:
        window = (_ms(book_window[0], "book_window"), _ms(book_window[1], "book_window"))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataCleaningWarning)
            span = read_binance_book_depth(book_path)[0]["timestamp"]
        first, last = int(span.min()), int(span.max())
        window = (first, min(e0, last + 1)) if first < e0 else (first, first + 3_600_000)
    book = fit_book_depth(book_path, start=_iso(window[0]), end=pd.Timestamp(window[1], unit="ms", tz="UTC"))
    sources.append(_source(data_dir, book_path, "BTCUSDT bookDepth bands (Binance BTC depth within ±1 % and kappa)"))

    bar_s, open_interest_usd = dict(bar_s or {}), dict(open_interest_usd or {})
    start_prices, binance_oi, paths = {}, {}, {}
    for a in assets:
        base_s = int(bar_s.get(a, 300))
        s = series[(series["asset"] == a) & (series["bar_s"] == base_s)].set_index("time_ms")
        start_prices[a] = float(s.at[e0, "open"])
        if a in open_interest_usd:
            binance_oi[a] = float(open_interest_usd[a].value)
        else:
            binance_oi[a] = float(s.at[e0 - base_s * 1000, "oi_usd"])  # stamped at e0: the close of the bar before
        days = np.arange(t0 - t0 % _DAY_MS + (_DAY_MS if t0 % _DAY_MS else 0), e0, _DAY_MS)
        paths[a] = [
            (pd.Timestamp(d, unit="ms", tz="UTC").strftime("%Y-%m-%d"), float(s.at[d, "open"])) for d in days if d < e0
        ]
        if len(paths[a]) < 2:
            raise InputError("the look-back must span at least two days before the event start", field="lookback_start")

    markets = []
    for a in assets:
        for v in venues:
            fitted = (v, a) == ("binance", "BTC")
            given = f" (given: {open_interest_usd[a].source})" if a in open_interest_usd else ""
            markets.append(
                {
                    "venue": v,
                    "asset": a,
                    "open_interest_usd": binance_oi[a] * shares[v][a].value,
                    "long_share": LONG_SHARES[v][a],
                    "depth_1pct_usd": book.depth_1pct_usd * DEPTH_RATIOS[v][a].value,
                    "kappa": book.kappa if fitted else KAPPAS[a].value,
                    "oi_note": f"Binance USDⓈ-M OI at the start ${binance_oi[a] / 1e9:.3f}B{given} x "
                    f"{shares[v][a].value:g}: {shares[v][a].source}",
                    "depth_note": (
                        "fitted (see the note above)"
                        if fitted
                        else f"{DEPTH_RATIOS[v][a].value:.4g} x Binance BTC: {DEPTH_RATIOS[v][a].source}"
                    ),
                    "kappa_note": "fitted" if fitted else KAPPAS[a].source,
                }
            )

    out_dir.mkdir(parents=True, exist_ok=True)
    series_path = write_series(series, out_dir / f"{name}.series.csv.gz")
    text = _scenario_text(
        name=name,
        title=title,
        notes=notes,
        e0=e0,
        e1=e1,
        step_seconds=step_seconds,
        assets=assets,
        start_prices=start_prices,
        paths=paths,
        markets=markets,
        book=book,
        book_source=sources[-1],
        template_doc=template_doc,
        free_text=free_text,
        series_sources=sources,
        series=series_table(
            series_path.name,
            lookback_start_ms=t0,
            event_start_ms=e0,
            event_end_ms=e1,
            minute_assets=minute_assets,
            sources=sources,
            bar_s=bar_s,
            event_bar_s=dict(event_bar_s or {}),
        ),
    )
    toml_path = out_dir / f"{name}.toml"
    toml_path.write_text(text, "utf-8")
    return BuiltScenario(toml_path, series_path, series, book, start_prices, binance_oi, markets, sources)


def _scenario_text(
    *,
    name,
    title,
    notes,
    e0,
    e1,
    step_seconds,
    assets,
    start_prices,
    paths,
    markets,
    book,
    book_source,
    template_doc,
    free_text,
    series,
    series_sources=(),
) -> str:
    out = [f"# {ln}".rstrip() for ln in notes.strip().splitlines()] if notes.strip() else []
    out += [
        "# Written by liqcascade.scenario_build.build_event_scenario (`liqcascade scenario build`): the",
        "# state above the free-mode marker is derived from the market files named in [series].",
        f"name = {_q(name)}",
        f"title = {_q(title)}",
        f"start = {_iso(e0)}",
        f"horizon_hours = {(e1 - e0) / 3_600_000!r}",
        f"step_seconds = {step_seconds!r}",
        "",
        "# Start price: the Binance USDⓈ-M perpetual's open at the start (USDT per base unit).  path: the",
        "# 00:00 UTC price of each day of the look-back (entries of the synthetic positions are drawn there).",
    ]
    if any("_spot_" in s.file or "scofieldchen" in s.file for s in series_sources):
        out[-2] = "# Start price: the open at the start of the bars named in [series] (USDT per base unit; spot"
        out[-1] = "# where the file is spot).  path: the 00:00 UTC price of each day of the look-back."
    t_assets = template_doc.get("assets", {})
    for a in assets:
        out += ["", f"[assets.{a}]"]
        # the template's spot book, with its source where the template states one (``spot_source``)
        spot_src = t_assets.get(a, {}).get("spot_source")
        if spot_src and "spot_depth_1pct_usd" in t_assets[a]:
            out += textwrap.wrap(
                f"spot book (USD per side within 1 %, kappa): {spot_src}",
                98,
                initial_indent="# ",
                subsequent_indent="# ",
            )
        for k in ("spot_depth_1pct_usd", "spot_kappa"):
            if k in t_assets.get(a, {}):
                out.append(
                    f"{k} = {t_assets[a][k]:.6g}"
                    + ("" if spot_src else "    # from the template scenario (assumption)")
                )
        out.append(f"start_price = {start_prices[a]!r}")
        pts = [f'["{d}", {p!r}]' for d, p in paths[a]]
        out.append("path = [")
        out += ["  " + ", ".join(pts[i : i + 4]) + "," for i in range(0, len(pts), 4)]
        out.append("]")
    bid_ask = (
        f"bids ${book.bid_depth_1pct_usd / 1e6:.1f}M kappa {book.bid_kappa:.3f}, "
        f"asks ${book.ask_depth_1pct_usd / 1e6:.1f}M kappa {book.ask_kappa:.3f}"
    )
    out += [
        "",
        "# Markets: open interest (USD) = Binance's USDⓈ-M open interest at the start x the venue's share of it",
        "# (the share's source beside each); long_share (fraction) an assumption; depth within +-1 % of mid",
        "# (USD per side) and kappa (Cum(u) = B*u^kappa, u a fraction of mid).",
        f"# Binance BTC depth and kappa are fitted to {book_source.file} ({book_source.origin}):",
        "# per snapshot and side, kappa = the least-squares slope of log(notional) on log(u) over the bands",
        f"# u = {', '.join(f'{b:g}' for b in book.bands)} %; depth = the 1 % band's notional; each figure = the median over",
        f"# the {book.snapshots:,} snapshots from {_iso(book.start_ms)} to {_iso(book.end_ms)} of the mean of the",
        f"# two sides ({bid_ask}).  The other markets are stated ratios of it.",
    ]
    for m in markets:
        out += [
            "",
            "[[markets]]",
            f"venue = {_q(m['venue'])}",
            f"asset = {_q(m['asset'])}",
            f"open_interest_usd = {m['open_interest_usd']:.6g}    # {m['oi_note']}",
            f"long_share = {m['long_share']!r}    # assumption",
            f"depth_1pct_usd = {m['depth_1pct_usd']:.6g}    # {m['depth_note']}",
            f"kappa = {m['kappa']:.4g}    # {m['kappa_note']}",
        ]
    text = "\n".join(out) + "\n"
    if free_text:
        text += "\n" + free_text
    return text + "\n" + series


_SCHEDULE_BLOCK = re.compile(r'\[\[flows\]\]\nkind = "flow_schedule"\n(?:(?![\[#\n])[^\n]*\n)*\n?')


def replace_flow_schedule(text: str, schedule: dict[str, list[float]], window_hours: float, source: str) -> str:
    """The scenario TOML ``text`` with its ``flow_schedule`` flows replaced by ``schedule`` (per
    asset, USD per window of ``window_hours``, + bought; :func:`liqcascade.replay.measured_flow_schedule`),
    written where the first of them stood (at the end if there was none).  Other flows are kept."""
    m = _SCHEDULE_BLOCK.search(text)
    at = m.start() if m else len(text)
    rest = _SCHEDULE_BLOCK.sub("", text)
    blocks = []
    for a in sorted(schedule):
        usd = ", ".join(f"{x:.6e}" for x in schedule[a])
        blocks.append(
            f'[[flows]]\nkind = "flow_schedule"\nasset = {_q(a)}\nwindow_hours = {window_hours!r}\n'
            f"usd = [{usd}]\nsource = {_q(source)}\n\n"
        )
    return rest[:at] + "".join(blocks) + rest[at:]
