"""Market-data files as the dashboard and the monitor read them: price bars, open interest and
order-book depth, each recognised by its header.

- **bars**: a Binance kline archive (``.csv``/``.zip``, with or without header) or any OHLCV CSV
  with ``timestamp,open,high,low,close`` (epoch ms or s, or dates);
- **open interest** (USD): a Binance ``metrics`` archive (``create_time,…``), a Coinalyze export
  (``oi_close``; the daily close is placed at the *end* of its bar: it is not known before), or a
  plain ``t,oi,oi_usd`` series (epoch ms, coins, USD);
- **book depth**: a Binance ``bookDepth`` archive, cleaned by
  :func:`liqcascade.data.read_binance_book_depth`.

:func:`depth_profile` turns one bookDepth snapshot into USD of resting bids (asks) within ±x % of
a given price, robust to a stale level: see its docstring.

Units: timestamps UTC epoch ms, prices USD per base unit, amounts USD.
"""

from __future__ import annotations

import gzip
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError


def peek_header(path: Path) -> list[str]:
    """The first line's fields of a plain, ``.gz`` or single-file ``.zip`` CSV, lower-cased."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path.name}: no such file", field="path")
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                raw = zf.open(names[0]).readline() if names else b""
        elif path.suffix.lower() == ".gz":
            with gzip.open(path) as fh:
                raw = fh.readline()
        else:
            with open(path, "rb") as fh:
                raw = fh.readline()
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path.name}: cannot read: {exc}", field="path") from None
    return [f.strip().strip('"').lower() for f in raw.decode("utf-8-sig", "replace").split(",")]


def read_bars(path: Path) -> pd.DataFrame:
    """Bars with ``timestamp`` (ms), ``open``, ``high``, ``low``, ``close`` (USD)."""
    from .data import read_binance_klines, read_ohlcv

    head = peek_header(path)
    if not head or not head[0] or head[0].replace(".", "", 1).isdigit() or "open_time" in head:
        return read_binance_klines(path)
    if head[:1] == ["open_time_ms"]:  # the harthor exports: epoch ms under another name
        frame = pd.read_csv(path)
        frame = frame.rename(columns={"open_time_ms": "timestamp"})
        return frame[["timestamp", "open", "high", "low", "close"]].astype({"timestamp": "int64"})
    return read_ohlcv(path)


def read_open_interest(path: Path, coin: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(timestamps ms, open interest USD)``, ascending, of one market (``coin``: ``BTC`` picks
    it from a multi-market Coinalyze export)."""
    from .data import read_binance_metrics, read_coinalyze_open_interest

    head = peek_header(path)
    if "create_time" in head:
        f = read_binance_metrics(path)
        if coin is not None and f["symbol"].nunique() > 1:
            f = f[f["symbol"].str.startswith(coin.upper() + "/")]
        return f["timestamp"].to_numpy(np.int64), f["open_interest_usd"].to_numpy(np.float64)
    if "oi_close" in head:
        f = read_coinalyze_open_interest(path)
        if f["coin"].nunique() > 1:
            if coin is None:
                raise InputError(
                    f"{Path(path).name}: holds several coins ({', '.join(sorted(f['coin'].unique()))}); choose one",
                    field="coin",
                )
            f = f[f["coin"] == coin.upper()]
            if f.empty:
                raise InputError(f"{Path(path).name}: no {coin} rows", field="coin")
        ts = f["timestamp"].to_numpy(np.int64)
        step = int(np.median(np.diff(ts))) if len(ts) > 1 else 0
        return ts + step, f["oi_close_usd"].to_numpy(np.float64)
    if head[:3] == ["t", "oi", "oi_usd"]:
        f = pd.read_csv(path)
        ts = f["t"].to_numpy(np.int64)
        usd = f["oi_usd"].to_numpy(np.float64)
        if len(ts) == 0 or np.any(np.diff(ts) <= 0) or not np.all(np.isfinite(usd)) or np.any(usd < 0):
            raise InputError(
                f"{Path(path).name}: timestamps must increase and oi_usd be finite and >= 0", field="open_interest"
            )
        return ts, usd
    raise InputError(
        f"{Path(path).name}: not an open-interest file (a Binance metrics archive, a Coinalyze export or t,oi,oi_usd)",
        field="open_interest",
    )


def open_interest_on(bar_ts: np.ndarray, oi_ts: np.ndarray, oi_usd: np.ndarray) -> np.ndarray:
    """Open interest as known at each bar's open: the latest reading at or before it (a step
    function, no look-ahead); bars before the first reading get the first reading."""
    idx = np.searchsorted(oi_ts, bar_ts, side="right") - 1
    return oi_usd[np.clip(idx, 0, len(oi_usd) - 1)]


def read_book_depth(path: Path) -> pd.DataFrame:
    """A cleaned Binance bookDepth archive, with or without the ``weighted_avg_price`` column (the
    cleaning's warning is silenced; its summary is kept in ``attrs["cleaning"]``)."""
    from .data import clean_book_depth, read_binance_book_depth

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "weighted_avg_price" in peek_header(Path(path)):
            frame, report = read_binance_book_depth(path)
        else:  # the 2026 archives have no weighted price: only frozen stretches can be found
            raw = pd.read_csv(path)
            raw.columns = [c.strip().lower() for c in raw.columns]
            raw["timestamp"] = pd.to_datetime(raw["timestamp"].astype(str).str.strip(), utc=True)
            raw.attrs["source"] = Path(path).name
            frame, report = clean_book_depth(raw)
    frame.attrs["cleaning"] = report.summary()
    return frame


def depth_profile(
    snapshot: pd.DataFrame, price: float, pcts=(1.0, 2.0, 5.0), buckets: tuple[float, ...] | None = None
) -> dict[str, dict[float, float]]:
    """USD resting within ``pct`` % of ``price`` on each side of one bookDepth snapshot.

    The archive's buckets are cumulative USD within ±p % of the venue's reference price.  A side
    whose buckets are all there (``buckets``: the labels the archive uses; default those of the
    snapshot's other side and its own) and whose volume-weighted prices all lie on their side of
    ``price`` is read by its labels: the cumulative USD at ``|p|``, linear in between, from 0 at
    0 %.  When cleaning dropped a bucket or a weighted price lies beyond ``price``, the reference
    is corrupted (10 Oct 2025 from ~15:30: a stale bid at 121,363 above the asks) and the labels no
    longer mean "within p % of the price"; then each step between consecutive buckets
    (``Δnotional`` at its weighted price ``Δnotional / Δdepth``) is placed at that price, steps on
    the wrong side of ``price`` are dropped, and the cumulative USD is read at ``price × (1 ∓
    pct/100)``, linear between the steps.  Beyond the deepest bucket the value is the deepest
    cumulative (a lower bound).

    Returns ``{"bid": {pct: USD}, "ask": {pct: USD}}``.
    """
    out: dict[str, dict[float, float]] = {"bid": {}, "ask": {}}
    labels = (
        set(np.abs(snapshot["percentage"].to_numpy(np.float64)).round(6))
        if buckets is None
        else {round(abs(b), 6) for b in buckets}
    )
    for side, sign in (("bid", -1), ("ask", 1)):
        rows = snapshot[np.sign(snapshot["percentage"]) == sign].sort_values("percentage", key=np.abs)
        pct = np.abs(rows["percentage"].to_numpy(np.float64))
        notional = rows["notional"].to_numpy(np.float64)
        depth = rows["depth"].to_numpy(np.float64)
        dn = np.diff(np.concatenate([[0.0], notional]))
        dq = np.diff(np.concatenate([[0.0], depth]))
        ok = (dq > 0) & (dn > 0)
        at = np.where(ok, dn / np.where(dq > 0, dq, 1.0), np.nan)
        wrong_side = ok & ((at > price) if sign < 0 else (at < price))
        complete = set(pct.round(6)) >= labels
        if complete and not wrong_side.any():
            xs = np.concatenate([[0.0], pct])
            ys = np.concatenate([[0.0], notional])
        else:
            keep = ok & ~wrong_side
            px, usd = at[keep], dn[keep]
            order = np.argsort(-px) if sign < 0 else np.argsort(px)
            px, cum = px[order], np.cumsum(usd[order])
            xs = np.concatenate([[0.0], np.abs(px / price - 1.0) * 100.0])
            ys = np.concatenate([[0.0], cum])
        for p in pcts:
            out[side][float(p)] = float(np.interp(p, xs, ys)) if len(xs) > 1 else 0.0
    return out
