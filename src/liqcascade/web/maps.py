"""The dashboard's liquidation maps: one moment's levels by leverage (CoinGlass's "liquidation map")
and the heatmap over time, from data files in ``OUT/data/`` or a snapshot in ``OUT/snapshots/``.

From files the map is :func:`liqcascade.liqmap.liquidation_map` (the OI-delta model: each rise of
open interest opens positions at its bar's typical price, spread over the leverage mix; levels the
path crossed are consumed), computed once per leverage so that the levels can be shown by leverage
(the model is linear in the mix: the per-leverage maps sum to the whole).  From a snapshot there is
one moment only: its open interest is spread over the leverage mix at its mark price (the
leverage-bucket model), so the page says that it knows nothing of where the positions were opened.

Every answer states the model, its parameters, its inputs and how fresh they are.
"""

from __future__ import annotations

import functools
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import marketdata
from ..errors import InputError
from ..liqmap import DEFAULT_LEVERAGE_MIX, liquidation_map
from ..venues import get_venue

MAX_LEVELS = 2000
MAX_COLUMNS = 400
MAX_BARS = 300_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_levels(lo: float, hi: float, bin_size: float) -> None:
    """A map's range and bin: finite, positive, ``lo < hi <= 10 lo``, at most MAX_LEVELS levels."""
    for name, v in (("lo", lo), ("hi", hi), ("bin", bin_size)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InputError(f"must be a positive number, got {v!r}", field=name)
    if not lo < hi:
        raise InputError(f"the range's low {lo:g} must be below its high {hi:g}", field="lo")
    if hi > 10 * lo:
        raise InputError(f"the range {lo:g}-{hi:g} spans more than a factor of 10", field="hi")
    n = (hi - lo) / bin_size
    if n > MAX_LEVELS:
        raise InputError(
            f"{n:,.0f} levels of {bin_size:g} USD in {lo:g}-{hi:g}; at most {MAX_LEVELS:,}: "
            "widen the bin or narrow the range",
            field="bin",
        )


def _mix(leverage_mix: dict[float, float] | None) -> dict[float, float]:
    mix = dict(DEFAULT_LEVERAGE_MIX if leverage_mix is None else leverage_mix)
    if not mix or len(mix) > 12:
        raise InputError("give 1 to 12 leverage buckets", field="leverage_mix")
    total = sum(mix.values())
    if any(not (math.isfinite(v) and v >= 0) for v in mix.values()) or abs(total - 1) > 1e-6:
        raise InputError(f"shares must be >= 0 and sum to 1, got {total:g}", field="leverage_mix")
    if any(not (math.isfinite(k) and 1 <= k <= 200) for k in mix):
        raise InputError("leverage must lie in 1-200", field="leverage_mix")
    return mix


@functools.lru_cache(maxsize=16)
def _file_inputs(bars_path: str, bars_mtime: float, oi_path: str, oi_mtime: float, coin: str):
    bars = marketdata.read_bars(Path(bars_path))
    if len(bars) > MAX_BARS:
        raise InputError(f"{Path(bars_path).name}: {len(bars):,} bars; at most {MAX_BARS:,}", field="bars")
    oi_ts, oi_usd = marketdata.read_open_interest(Path(oi_path), coin)
    return bars, oi_ts, oi_usd


def file_map(
    bars_path: Path,
    oi_path: Path,
    *,
    venue: str = "binance",
    symbol: str = "BTC/USDT:USDT",
    bin_size: float | None = None,
    lo: float | None = None,
    hi: float | None = None,
    long_share: float = 0.5,
    leverage_mix: dict[float, float] | None = None,
    start_ms: int | None = None,
    at_ms: int | None = None,
    columns: int = 200,
) -> dict[str, Any]:
    """The estimated map from a bars file and an open-interest file (see the module docstring).

    ``start_ms``/``at_ms`` cut the bars to ``[start, at]`` (the map is at ``at``, default the last
    bar); ``columns``: the heatmap's resampled width (<= MAX_COLUMNS).
    """
    if not (1 <= int(columns) <= MAX_COLUMNS):
        raise InputError(f"must be 1-{MAX_COLUMNS}, got {columns}", field="columns")
    mix = _mix(leverage_mix)
    coin = symbol.split("/")[0].upper()
    bars, oi_ts, oi_usd = _file_inputs(
        str(bars_path), bars_path.stat().st_mtime, str(oi_path), oi_path.stat().st_mtime, coin
    )
    ts = bars["timestamp"].to_numpy(np.int64)
    keep = np.ones(len(ts), bool)
    if start_ms is not None:
        keep &= ts >= start_ms
    if at_ms is not None:
        keep &= ts <= at_ms
    if keep.sum() < 2:
        raise InputError("fewer than 2 bars in the chosen window", field="at")
    frame = bars.loc[keep, ["timestamp", "open", "high", "low", "close"]].reset_index(drop=True)
    bar_ts = frame["timestamp"].to_numpy(np.int64)
    oi = marketdata.open_interest_on(bar_ts, oi_ts, oi_usd)
    last_close = float(frame["close"].iloc[-1])
    if bin_size is None:
        bin_size = _nice_bin(last_close)
    if lo is None or hi is None:
        lo, hi = last_close * 0.8, last_close * 1.2
    check_levels(float(lo), float(hi), float(bin_size))
    maps = {}
    for lev in mix:
        maps[lev] = liquidation_map(
            frame,
            open_interest=oi,
            venue=venue,
            symbol=symbol,
            leverage_mix={lev: 1.0},
            long_share=long_share,
            bin_size=bin_size,
            price_range=(lo, hi),
        )
    first = next(iter(maps.values()))
    levels = first.price_levels
    by_lev = {
        f"{lev:g}x": {"long_usd": (m.long_usd[-1] * w).tolist(), "short_usd": (m.short_usd[-1] * w).tolist()}
        for (lev, m), w in zip(maps.items(), mix.values())
    }
    long_now = sum(np.asarray(v["long_usd"]) for v in by_lev.values())
    short_now = sum(np.asarray(v["short_usd"]) for v in by_lev.values())
    every = max(1, math.ceil(len(first.timestamps) / int(columns)))
    total = None
    for (_lev, m), w in zip(maps.items(), mix.values()):
        r = m.resample(every)
        total = r.total_usd * w if total is None else total + r.total_usd * w
    r0 = first.resample(every)
    out = _answer(levels, float(bin_size), last_close, int(bar_ts[-1]), long_now, short_now, by_lev)
    out["heatmap"] = {
        "x": [_iso(int(t)) for t in r0.timestamps],
        "y": (levels + bin_size / 2).tolist(),
        "z_usd": np.round(total.T).tolist(),
        "every_bars": every,
        "candles": None if r0.candles is None else np.round(r0.candles, 2).tolist(),
    }
    liq_long = sum(m.liquidated_long_usd * w for m, w in zip(maps.values(), mix.values()))
    liq_short = sum(m.liquidated_short_usd * w for m, w in zip(maps.values(), mix.values()))
    out["model"] = {
        "label": "estimated",
        "name": "OI delta (liqcascade.liqmap.liquidation_map)",
        "how": "each rise of open interest opens positions at its bar's typical price (high+low+close)/3, split "
        f"{long_share:.0%} long; spread over the leverage mix; liquidation prices from the {venue} rule "
        "book (isolated, tier-exact); levels the price path crossed are consumed; falls of open interest "
        "close the rest pro rata. Open interest held before the first bar is not mapped.",
        "venue": venue,
        "symbol": symbol,
        "long_share": long_share,
        "leverage_mix": {f"{k:g}x": v for k, v in mix.items()},
        "opened_usd": float(sum(m.meta["opened_usd"] * w for m, w in zip(maps.values(), mix.values()))),
        "liquidated_long_usd": float(liq_long.sum()),
        "liquidated_short_usd": float(liq_short.sum()),
    }
    oi_known = oi_ts[oi_ts <= bar_ts[-1]]
    out["inputs"] = [
        {
            "kind": "bars",
            "file": bars_path.name,
            "rows": int(len(frame)),
            "first": _iso(int(bar_ts[0])),
            "last": _iso(int(bar_ts[-1])),
        },
        {
            "kind": "open interest",
            "file": oi_path.name,
            "rows": int(len(oi_ts)),
            "first": _iso(int(oi_ts[0])),
            "last": _iso(int(oi_ts[-1])),
            "latest_known_at_map": None if oi_known.size == 0 else _iso(int(oi_known[-1])),
            "age_at_map_s": None if oi_known.size == 0 else round((bar_ts[-1] - oi_known[-1]) / 1000),
        },
    ]
    return out


def _nice_bin(price: float) -> float:
    """A round bin near 0.1 % of the price: 1, 2 or 5 x 10^k USD."""
    raw = max(price * 0.001, 1e-9)
    k = 10.0 ** math.floor(math.log10(raw))
    return min((m * k for m in (1.0, 2.0, 5.0, 10.0)), key=lambda b: abs(b - raw))


def _answer(levels, bin_size, price, ts, long_now, short_now, by_lev) -> dict[str, Any]:
    mids = levels + bin_size / 2
    below = mids < price
    # cumulative from the price outwards: longs liquidate going down, shorts going up
    cum_long = np.where(below, np.cumsum(np.where(below, long_now, 0.0)[::-1])[::-1], 0.0)
    cum_short = np.where(~below, np.cumsum(np.where(~below, short_now, 0.0)), 0.0)

    def within(pct):
        near_l = below & (mids >= price * (1 - pct / 100))
        near_s = ~below & (mids <= price * (1 + pct / 100))
        return {"long_usd": float(long_now[near_l].sum()), "short_usd": float(short_now[near_s].sum())}

    return {
        "at": _iso(ts),
        "at_ms": ts,
        "price": price,
        "bin_size": bin_size,
        "levels": levels.tolist(),
        "long_usd": long_now.tolist(),
        "short_usd": short_now.tolist(),
        "cumulative_long_usd": cum_long.tolist(),
        "cumulative_short_usd": cum_short.tolist(),
        "by_leverage": by_lev,
        "within_pct": {f"{p:g}": within(p) for p in (1, 2, 5)},
        "unit": "USD (notional at entry)",
    }


def snapshot_map(
    state,
    *,
    venue: str | None = None,
    bin_size: float | None = None,
    lo: float | None = None,
    hi: float | None = None,
    long_share: float = 0.5,
    leverage_mix: dict[float, float] | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """The leverage-bucket map of one :class:`~liqcascade.snapshot.MarketState`: its open interest
    (USD) split ``long_share`` long and over the leverage mix, each bucket entered at the mark."""
    mix = _mix(leverage_mix)
    price = state.mark or state.last or state.mid
    if not price or not state.open_interest_usd:
        raise InputError(f"snapshot {state.exchange} {state.symbol} has no mark or no open interest", field="name")
    venue = venue or (state.exchange if state.exchange in ("binance", "bybit", "okx", "hyperliquid") else "binance")
    rules = get_venue(venue)
    table = rules.tier_table(state.symbol if state.symbol in rules.symbols() else "BTC/USDT:USDT")
    if bin_size is None:
        bin_size = _nice_bin(price)
    if lo is None or hi is None:
        lo, hi = price * 0.8, price * 1.2
    check_levels(float(lo), float(hi), float(bin_size))
    levels = np.arange(lo, hi, bin_size)
    notional = 10_000.0
    by_lev = {}
    long_now = np.zeros(len(levels))
    short_now = np.zeros(len(levels))
    for lev, w in mix.items():
        row = {}
        for side, code, share in (("long", 1, long_share), ("short", -1, 1 - long_share)):
            lp = float(
                np.asarray(
                    rules.liquidation_price(
                        np.array([code], np.int8),
                        np.array([notional / price]),
                        np.array([price]),
                        np.array([notional / lev]),
                        table,
                        mode="isolated",
                    )
                )[0]
            )
            col = np.zeros(len(levels))
            i = int(math.floor((lp - lo) / bin_size))
            if 0 <= i < len(levels):
                col[i] = state.open_interest_usd * share * w
            row[f"{side}_usd"] = col.tolist()
            (long_now if code == 1 else short_now)[:] += col
        by_lev[f"{lev:g}x"] = row
    out = _answer(levels, float(bin_size), float(price), int(state.timestamp), long_now, short_now, by_lev)
    out["heatmap"] = None
    out["model"] = {
        "label": "estimated",
        "name": "leverage buckets at one moment",
        "how": f"the snapshot's open interest, {long_share:.0%} long, spread over the leverage mix, every bucket "
        f"entered at the mark {price:,.2f}; liquidation prices from the {venue} rule book (isolated). "
        "A snapshot does not say where positions were opened: levels are as if all were opened now.",
        "venue": venue,
        "symbol": state.symbol,
        "long_share": long_share,
        "leverage_mix": {f"{k:g}x": v for k, v in mix.items()},
    }
    age = None if now_ms is None else round((now_ms - int(state.timestamp)) / 1000)
    out["inputs"] = [
        {
            "kind": "snapshot",
            "exchange": state.exchange,
            "symbol": state.symbol,
            "taken": state.datetime,
            "age_s": age,
            "open_interest_usd": state.open_interest_usd,
            "notes": list(state.notes),
        }
    ]
    return out
