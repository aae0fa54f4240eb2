"""A live cascade-risk monitor: poll a feed, keep the estimated liquidation map up to date, and raise
alerts when a fall of the price would release more forced selling than the book can absorb.

**Feeds** (:class:`Feed`): :class:`CcxtFeed` polls venues through ccxt's unified calls
(``fetchTicker``, ``fetchOpenInterest``, ``fetchFundingRate``, ``fetchOrderBook``), at most one
call per ``exchange.rateLimit`` milliseconds per venue (ccxt's own figure of the venue's limit);
:class:`ReplayFeed` replays recorded files (bars, open interest, Binance bookDepth) as if live:
at each bar's close it shows only what was known then (the last depth snapshot at or before the
close, the last open-interest reading at or before it).

**Per symbol, at every observation** (:class:`Monitor`):

- the estimated liquidation map (:func:`liqcascade.liqmap.liquidation_map`, the OI-delta model)
  over the look-back window (7 days of 5-minute bars by default); as in that model, the open
  interest already held at the window's start is not mapped (where it was opened is unknown), so
  the map is a lower bound;
- ``liq_long_usd[x]`` / ``liq_short_usd[x]``: USD of long (short) liquidation levels within −x %
  (+x %) of the price, x = 1, 2, 5;
- ``bid_usd[x]`` / ``ask_usd[x]``: USD resting in the book within −x % (+x %);
- the **branching ratio** ``n_down = liq_long_usd[2] / bid_usd[2]`` (``n_up`` for shorts): the
  forced selling a 2 % fall sets off, per dollar of bids that absorb a 2 % fall;
- the **smallest shock** that sets off a cascade, from a short book-walk run on the current state
  (:func:`cascade_run`): selling ``s`` USD moves the price to where the bids within the move add up
  to ``s`` plus the liquidations crossed on the way, band by band, until the price stops.  The
  smallest ``s`` whose run carries the price through the whole measured book (−5 %) is
  ``max over x ≤ 5 % of (bid_usd[x] − liq_long_usd[x])``, at least 0.  This is the monitor's own
  one-market model, not the multi-venue engine.

**Alerts.**  ``cascade_down`` fires when ``n_down ≥ 1`` (``cascade_up`` when ``n_up ≥ 1``) and
clears when the ratio falls below 1 again.  The threshold is the critical point of a branching
process, not a fitted number: above 1, the liquidations that a 2 % fall triggers exceed the bids
that stop a 2 % fall, so the forced selling alone carries the price further — each dollar of
liquidation sets off more than a dollar of the next.  A threshold crossing is written to stdout,
appended to ``OUT/monitor/alerts.jsonl`` and, optionally, POSTed as JSON to a webhook; the state
of every symbol is rewritten to ``OUT/monitor/state.json`` (the dashboard reads both).

**A stated open-interest level** (``oi_level_usd`` of :func:`replay_from_files`,
``--oi-level-usd`` of ``liqcascade monitor``): a replay whose recorded open interest is another
market's (for 10 Oct 2025 only Binance's coin-margined BTCUSD_PERP is recorded, daily, while the
book is USDT-margined BTCUSDT's) can be given the level of the market whose book it reads: the
series is multiplied so that the reading in force at the replay's start equals the level, i.e. the
file gives only the relative changes.  The level is an assumption; state its source with it.

Units: USD, prices USD per base unit, timestamps UTC epoch ms.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import numpy as np
import pandas as pd

from . import marketdata
from ._io import write_atomic
from .errors import InputError
from .liqmap import DEFAULT_LEVERAGE_MIX, liquidation_map

PCTS = (1.0, 2.0, 5.0)
_GRID = np.round(np.arange(0.1, 5.0001, 0.1), 4)  # percent: the book walk's resolution
BRANCHING_THRESHOLD = 1.0
BRANCHING_PCT = 2.0
#: the largest stated open-interest level a replay accepts (USD): ten times all futures open interest
#: of every coin and venue before 10 Oct 2025 (~$148B, ../shared/events/held-out-inputs.md)
OI_LEVEL_MAX_USD = 1.5e12


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ============================================================================ observations and feeds
@dataclass(frozen=True)
class Observation:
    """One poll of one symbol.

    ``price``: mark (else last) price; ``high``/``low``: the extremes since the previous poll (a
    bar's, in a replay; the ticker's last price twice, live); ``open_interest_usd``; ``funding_rate``
    (fraction per interval) or None; ``bid_usd``/``ask_usd``: {pct: USD within ∓pct %} on the
    monitor's grid; ``depth_timestamp``: when the book was read (ms); ``source``: the feed.
    """

    symbol: str
    timestamp: int
    price: float
    high: float
    low: float
    open_interest_usd: float | None
    funding_rate: float | None
    bid_usd: dict[float, float]
    ask_usd: dict[float, float]
    depth_timestamp: int | None
    source: str


class Feed(Protocol):
    """Something that can be polled: a list of observations (one per symbol), empty when over."""

    def poll(self) -> list[Observation]: ...

    @property
    def interval_s(self) -> float: ...


class ReplayFeed:
    """Recorded files replayed as if live, one bar per poll (``interval_s`` = 0: as fast as it goes).

    ``bars``: timestamp (ms, bar open), open, high, low, close; ``bar_ms``: the bars' length;
    ``oi_ts``/``oi_usd``: open-interest readings (ms, USD; a reading is used from its timestamp on);
    ``depth``: a cleaned Binance bookDepth frame (:func:`liqcascade.marketdata.read_book_depth`), or
    ``None`` for no book.  Observations are stamped at each bar's close.
    """

    interval_s = 0.0

    def __init__(
        self,
        symbol: str,
        bars: pd.DataFrame,
        oi_ts: np.ndarray,
        oi_usd: np.ndarray,
        depth: pd.DataFrame | None,
        *,
        bar_ms: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        source: str = "replay",
    ):
        ts = bars["timestamp"].to_numpy(np.int64)
        if len(ts) < 2:
            raise InputError("needs at least 2 bars", field="bars")
        self.bar_ms = int(bar_ms or np.median(np.diff(ts)))
        self.symbol, self.source = symbol, source
        self.bars = bars.reset_index(drop=True)
        self.oi_ts, self.oi_usd = np.asarray(oi_ts, np.int64), np.asarray(oi_usd, np.float64)
        self.depth = depth
        if depth is not None:
            self._snap_ts = np.unique(depth["timestamp"].to_numpy(np.int64))
            self._groups = {int(t): g for t, g in depth.groupby("timestamp", sort=True)}
            self._labels = tuple(sorted(set(np.abs(depth["percentage"].to_numpy(np.float64)).round(6))))
        close_ts = ts + self.bar_ms
        sel = np.ones(len(ts), bool)
        if start_ms is not None:
            sel &= close_ts > start_ms
        if end_ms is not None:
            sel &= close_ts <= end_ms
        self._rows = np.flatnonzero(sel)
        self._i = 0

    def poll(self) -> list[Observation]:
        if self._i >= len(self._rows):
            return []
        r = int(self._rows[self._i])
        self._i += 1
        bar = self.bars.iloc[r]
        now = int(bar["timestamp"]) + self.bar_ms
        price = float(bar["close"])
        k = np.searchsorted(self.oi_ts, now, side="right") - 1
        oi = float(self.oi_usd[k]) if k >= 0 else None
        bid, ask, dts = {}, {}, None
        if self.depth is not None:
            j = np.searchsorted(self._snap_ts, now, side="right") - 1
            if j >= 0:
                dts = int(self._snap_ts[j])
                prof = marketdata.depth_profile(self._groups[dts], price, _GRID, buckets=self._labels)
                bid, ask = prof["bid"], prof["ask"]
        return [
            Observation(
                self.symbol, now, price, float(bar["high"]), float(bar["low"]), oi, None, bid, ask, dts, self.source
            )
        ]


class CcxtFeed:
    """Live polling through ccxt (one exchange, several symbols).

    Each poll makes, per symbol, ``fetchTicker``, ``fetchOpenInterest``, ``fetchFundingRate`` and
    ``fetchOrderBook`` (``book_limit`` levels; default the venue's maximum, as in
    :mod:`liqcascade.snapshot`), spacing the calls by the exchange's ``rateLimit``
    (ms; ccxt's figure of the venue's limit), so ``interval_s`` is at least 4 × rateLimit × symbols.
    Contract amounts (order book, open interest) are converted to base units and USD with the
    market's contract size as :mod:`liqcascade.snapshot` does (linear: contracts × contract size ×
    price; inverse: contracts × contract size USD).  The price is the mark (the ticker's, else the
    funding answer's), else the last trade.  A call that fails leaves
    its piece None for this poll; the error is kept in :attr:`errors`.
    """

    def __init__(
        self,
        exchange: Any,
        symbols: Iterable[str],
        *,
        book_limit: int | None = None,
        interval_s: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.exchange = exchange
        self.symbols = tuple(symbols)
        if not self.symbols:
            raise InputError("give at least one symbol", field="symbols")
        if book_limit is None:  # each venue's maximum of its default endpoint, as the snapshot asks
            from .snapshot import BOOK_LIMITS

            book_limit = BOOK_LIMITS.get(getattr(exchange, "id", ""), 100)
        self.book_limit = book_limit
        rate_s = float(getattr(exchange, "rateLimit", 100) or 100) / 1000.0
        self.interval_s = max(float(interval_s), 4 * rate_s * len(self.symbols))
        self._rate_s = rate_s
        self._sleep = sleep
        self._clock = clock
        self._last_call = -math.inf
        self._last_price: dict[str, float] = {}
        self.errors: list[str] = []
        self.calls = 0

    def _call(self, name: str, *args, **kwargs):
        wait = self._rate_s - (self._clock() - self._last_call)
        if wait > 0:
            self._sleep(wait)
        self._last_call = self._clock()
        self.calls += 1
        try:
            return getattr(self.exchange, name)(*args, **kwargs)
        except Exception as exc:  # a venue's refusal or a network error: this piece is missing this time
            self.errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:160]}")
            return None

    def _contract(self, sym: str) -> tuple[bool, float]:
        """(linear, contract size) of ``sym`` from the exchange's markets (linear, 1 when unknown)."""
        try:
            m = self.exchange.market(sym)
        except Exception:  # markets not loaded or not listed: amounts taken as base units
            return True, 1.0
        linear = m.get("linear")
        return (True if linear is None else bool(linear)), float(m.get("contractSize") or 1.0)

    def poll(self) -> list[Observation]:
        from .snapshot import _base_levels, _open_interest

        out = []
        for sym in self.symbols:
            ticker = self._call("fetch_ticker", sym) or {}
            oi = self._call("fetch_open_interest", sym) or {}
            funding = self._call("fetch_funding_rate", sym) or {}
            book = self._call("fetch_order_book", sym, self.book_limit) or {}
            price = _num(ticker.get("markPrice")) or _num(funding.get("markPrice")) or _num(ticker.get("last"))
            if not price:
                continue
            ts = int(ticker.get("timestamp") or time.time() * 1000)
            linear, cs = self._contract(sym)
            # as the snapshot does: contracts x contract size x price; else ccxt's value (USD)
            oi_usd = _open_interest(oi, linear, cs, price)[2] if oi else None
            if oi_usd is None:
                oi_usd = _num(oi.get("openInterestValue"))
            bids = _base_levels(book.get("bids") or [], linear, cs)
            asks = _base_levels(book.get("asks") or [], linear, cs)
            bid = {float(p): float(np.sum(np.prod(bids[bids[:, 0] >= price * (1 - p / 100)], axis=1))) for p in _GRID}
            ask = {float(p): float(np.sum(np.prod(asks[asks[:, 0] <= price * (1 + p / 100)], axis=1))) for p in _GRID}
            prev = self._last_price.get(sym, price)
            self._last_price[sym] = price
            out.append(
                Observation(
                    sym,
                    ts,
                    price,
                    max(price, prev),
                    min(price, prev),
                    oi_usd,
                    _rate(funding.get("fundingRate")),
                    bid,
                    ask,
                    int(book["timestamp"]) if book.get("timestamp") else ts,
                    f"ccxt:{getattr(self.exchange, 'id', '?')}",
                )
            )
        return out


def _rate(x) -> float | None:
    """A finite number of any sign (a funding rate), else None."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


# ============================================================================ the risk figures
def cascade_run(shock_usd: float, bid_usd: np.ndarray, liq_usd: np.ndarray, grid: np.ndarray = _GRID) -> dict[str, Any]:
    """A short book-walk cascade: sell ``shock_usd`` into the bids ``bid_usd[i]`` (cumulative USD within
    ``grid[i]`` %), adding the long liquidations ``liq_usd[i]`` (cumulative USD within ``grid[i]`` %)
    that the price crosses.  Both are linear between grid points (from 0 at 0 %), so the walk goes
    band by band: the price passes a band when the shock plus the liquidations crossed by its far
    edge still exceed the bids down to that edge, and otherwise stops inside it where the two are
    equal (solved exactly, no iteration to converge).  Returns the final fall (percent; ``inf``
    when the selling exhausts the measured book), the liquidations set off (USD) and the bands
    walked."""
    xs = np.concatenate([[0.0], np.asarray(grid, np.float64)])
    ds = np.concatenate([[0.0], np.asarray(bid_usd, np.float64)])
    ls = np.concatenate([[0.0], np.asarray(liq_usd, np.float64)])
    for i in range(1, len(xs)):
        if shock_usd + ls[i] >= ds[i]:
            continue  # the selling carries the price through this band
        # stops inside: shock + L(x) = D(x), both linear on [x_{i-1}, x_i]
        slope_d = (ds[i] - ds[i - 1]) / (xs[i] - xs[i - 1])
        slope_l = (ls[i] - ls[i - 1]) / (xs[i] - xs[i - 1])
        x = xs[i - 1] + (shock_usd + ls[i - 1] - ds[i - 1]) / (slope_d - slope_l)
        return {"fall_pct": float(x), "liquidated_usd": float(ls[i - 1] + slope_l * (x - xs[i - 1])), "bands": i}
    return {"fall_pct": math.inf, "liquidated_usd": float(ls[-1]), "bands": len(xs) - 1}


def smallest_cascade_shock(bid_usd: np.ndarray, liq_usd: np.ndarray) -> float:
    """The smallest sell (USD) whose :func:`cascade_run` exhausts the measured book:
    ``max(0, max_x (bid_usd[x] − liq_usd[x]))`` over the grid points (bids minus liquidations is
    linear between them, so its maximum is at one of them)."""
    return float(max(0.0, np.max(np.asarray(bid_usd) - np.asarray(liq_usd))))


@dataclass
class Alert:
    kind: str  # cascade_down, cascade_up
    state: str  # fired, cleared
    symbol: str
    timestamp: int
    datetime: str
    branching_ratio: float
    threshold: float
    price: float
    liquidations_usd_within_2pct: float
    depth_usd_within_2pct: float
    message: str


@dataclass
class Monitor:
    """The monitor's state and its step (see the module docstring).

    ``lookback_bars``: bars of ``bar_ms`` (5 minutes) of history in the map; ``venue``/``symbol_table``: the rule book that
    prices the levels; ``leverage_mix``, ``long_share``: the map's population.
    """

    lookback_bars: int = 12 * 24 * 7
    bar_ms: int = 300_000
    venue: str = "binance"
    symbol_table: str = "BTC/USDT:USDT"
    leverage_mix: dict[float, float] = field(default_factory=lambda: dict(DEFAULT_LEVERAGE_MIX))
    long_share: float = 0.5
    history: dict[str, list[tuple[int, float, float, float, float]]] = field(default_factory=dict)
    active: dict[tuple[str, str], bool] = field(default_factory=dict)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)

    def seed_history(
        self, symbol: str, bars: pd.DataFrame, oi_ts: np.ndarray, oi_usd: np.ndarray, before_ms: int
    ) -> None:
        """Preload bars closed at or before ``before_ms`` (the map's look-back) with the open
        interest known at each close."""
        ts = bars["timestamp"].to_numpy(np.int64)
        bar_ms = int(np.median(np.diff(ts)))
        sel = np.flatnonzero(ts + bar_ms <= before_ms)[-self.lookback_bars :]
        oi = marketdata.open_interest_on(ts[sel] + bar_ms, oi_ts, oi_usd)
        h = self.history.setdefault(symbol, [])
        for i, o in zip(sel, oi):
            b = bars.iloc[int(i)]
            h.append((int(b["timestamp"]) + bar_ms, float(b["high"]), float(b["low"]), float(b["close"]), float(o)))

    def update(self, obs: Observation) -> tuple[dict[str, Any], list[Alert]]:
        """Add an observation to its bar (``bar_ms`` long, stamped at its close: polls within one bar
        merge into it) and recompute the figures; returns them and the alerts raised."""
        h = self.history.setdefault(obs.symbol, [])
        end = -(-int(obs.timestamp) // self.bar_ms) * self.bar_ms
        oi = math.nan if obs.open_interest_usd is None else float(obs.open_interest_usd)
        if h and h[-1][0] == end:
            _, hi, lo, _, old_oi = h[-1]
            h[-1] = (end, max(hi, obs.high), min(lo, obs.low), obs.price, old_oi if math.isnan(oi) else oi)
        else:
            h.append((end, obs.high, obs.low, obs.price, oi))
        del h[: -self.lookback_bars]
        figures = self.figures(obs)
        self.state[obs.symbol] = figures
        return figures, self._alerts(obs, figures)

    def figures(self, obs: Observation) -> dict[str, Any]:
        h = np.asarray(self.history[obs.symbol], np.float64)
        frame = pd.DataFrame({"timestamp": h[:, 0].astype(np.int64), "high": h[:, 1], "low": h[:, 2], "close": h[:, 3]})
        # as liqmap does: the open interest held before the window is not mapped; a bar without a
        # reading holds the previous one (the first reading before any)
        oi = pd.Series(h[:, 4]).ffill().bfill().fillna(0.0).to_numpy()
        p = obs.price
        liq_long = np.zeros(len(_GRID))
        liq_short = np.zeros(len(_GRID))
        if len(frame) >= 2 and oi.max() > 0:
            m = liquidation_map(
                frame,
                open_interest=oi,
                venue=self.venue,
                symbol=self.symbol_table,
                leverage_mix=self.leverage_mix,
                long_share=self.long_share,
                bin_size=max(p * 1e-4, 1e-6),
                price_range=(p * 0.94, p * 1.06),
            )
            mids = m.price_levels + m.bin_size / 2
            dist = (mids / p - 1.0) * 100.0
            lo_side, hi_side = m.long_usd[-1], m.short_usd[-1]
            for i, x in enumerate(_GRID):
                liq_long[i] = lo_side[(dist < 0) & (dist >= -x)].sum()
                liq_short[i] = hi_side[(dist > 0) & (dist <= x)].sum()
        bid = np.array([obs.bid_usd.get(float(x), np.nan) for x in _GRID])
        ask = np.array([obs.ask_usd.get(float(x), np.nan) for x in _GRID])
        k2 = int(np.flatnonzero(np.isclose(_GRID, BRANCHING_PCT))[0])

        def ratio(liq, depth):
            if not np.isfinite(depth):
                return None
            return math.inf if depth <= 0 and liq > 0 else (0.0 if depth <= 0 else float(liq / depth))

        have_book = bool(np.all(np.isfinite(bid)))
        out = {
            "symbol": obs.symbol,
            "timestamp": obs.timestamp,
            "datetime": _iso(obs.timestamp),
            "price": p,
            "open_interest_usd": obs.open_interest_usd,
            "funding_rate": obs.funding_rate,
            "source": obs.source,
            "depth_timestamp": obs.depth_timestamp,
            "depth_age_s": None if obs.depth_timestamp is None else round((obs.timestamp - obs.depth_timestamp) / 1000),
            "liq_long_usd": {f"{x:g}": float(liq_long[np.isclose(_GRID, x)][0]) for x in PCTS},
            "liq_short_usd": {f"{x:g}": float(liq_short[np.isclose(_GRID, x)][0]) for x in PCTS},
            "bid_usd": {f"{x:g}": (float(bid[np.isclose(_GRID, x)][0]) if have_book else None) for x in PCTS},
            "ask_usd": {f"{x:g}": (float(ask[np.isclose(_GRID, x)][0]) if have_book else None) for x in PCTS},
            "branching_down": ratio(liq_long[k2], bid[k2]) if have_book else None,
            "branching_up": ratio(liq_short[k2], ask[k2]) if have_book else None,
            "smallest_cascade_shock_usd": smallest_cascade_shock(bid, liq_long) if have_book else None,
            "threshold": BRANCHING_THRESHOLD,
        }
        return out

    def _alerts(self, obs: Observation, f: dict[str, Any]) -> list[Alert]:
        alerts = []
        for kind, key, liq, depth in (
            ("cascade_down", "branching_down", f["liq_long_usd"]["2"], f["bid_usd"]["2"]),
            ("cascade_up", "branching_up", f["liq_short_usd"]["2"], f["ask_usd"]["2"]),
        ):
            n = f[key]
            if n is None:
                continue
            on = n >= BRANCHING_THRESHOLD
            was = self.active.get((obs.symbol, kind), False)
            if on != was:
                self.active[(obs.symbol, kind)] = on
                side = "fall" if kind == "cascade_down" else "rise"
                liq_side = "long" if kind == "cascade_down" else "short"
                msg = (
                    f"{obs.symbol} {kind} {'FIRED' if on else 'cleared'} at {_iso(obs.timestamp)}: a 2 % {side} "
                    f"would liquidate ${liq / 1e6:,.1f}M of {liq_side}s against ${depth / 1e6:,.1f}M of book "
                    f"within 2 % (branching ratio {n:.2f}, threshold {BRANCHING_THRESHOLD:g})"
                )
                alerts.append(
                    Alert(
                        kind,
                        "fired" if on else "cleared",
                        obs.symbol,
                        obs.timestamp,
                        _iso(obs.timestamp),
                        n,
                        BRANCHING_THRESHOLD,
                        obs.price,
                        liq,
                        depth,
                        msg,
                    )
                )
        return alerts


def seed_from_ccxt(monitor: Monitor, exchange: Any, symbol: str, *, now_ms: int | None = None) -> list[str]:
    """Back-fill ``monitor``'s map history from the venue: the last closed 5-minute bars
    (``fetchOHLCV``, up to 1,000 in one call) and the open interest of the same bars
    (``fetchOpenInterestHistory``, up to 500); bars older than the first reading hold it (no rise is
    mapped there).  Returns notes on what could not be had (the monitor then starts emptier)."""
    from .snapshot import _open_interest

    notes: list[str] = []
    now = int(now_ms if now_ms is not None else time.time() * 1000)
    bar = monitor.bar_ms
    n = min(monitor.lookback_bars, 1000)
    try:
        rows = exchange.fetch_ohlcv(symbol, "5m", since=now - n * bar, limit=n)
    except Exception as exc:  # not offered or refused: the map fills as the monitor runs
        return [f"fetchOHLCV: {type(exc).__name__}: {str(exc)[:160]}"]
    bars = pd.DataFrame([r[:6] for r in rows or []], columns=["timestamp", "open", "high", "low", "close", "volume"])
    bars = bars[bars["timestamp"] + bar <= now].reset_index(drop=True)
    if len(bars) < 2:
        return notes + ["fetchOHLCV: fewer than 2 closed bars"]
    try:
        m = exchange.market(symbol)
        linear, cs = (m.get("linear") is not False), float(m.get("contractSize") or 1.0)
    except Exception:
        linear, cs = True, 1.0
    oi_ts, oi_usd = [], []
    try:
        hist = exchange.fetch_open_interest_history(symbol, "5m", since=now - n * bar, limit=min(n, 500))
    except Exception as exc:
        hist = []
        notes.append(f"fetchOpenInterestHistory: {type(exc).__name__}: {str(exc)[:160]}")
    closes = bars.set_index("timestamp")["close"]
    for r in hist or []:
        t = int(r.get("timestamp") or 0)
        usd = _num(r.get("openInterestValue"))
        if usd is None:
            k = closes.index.searchsorted(t, side="right") - 1
            usd = _open_interest(r, linear, cs, float(closes.iloc[max(k, 0)]))[2]
        if t and usd:
            oi_ts.append(t)
            oi_usd.append(usd)
    if not oi_ts:
        notes.append("no open-interest history: the map starts empty")
        return notes
    order = np.argsort(oi_ts)
    monitor.seed_history(symbol, bars, np.asarray(oi_ts, np.int64)[order], np.asarray(oi_usd)[order], now)
    return notes


# ============================================================================ the loop
class AlertSink:
    """Where alerts go: stdout (``print``), ``OUT/monitor/alerts.jsonl`` and an optional webhook
    (JSON POST, 5 s timeout; a failure is printed, not raised)."""

    def __init__(self, out_dir: Path | None, *, webhook: str | None = None, echo: Callable[[str], None] | None = print):
        self.dir = None if out_dir is None else Path(out_dir) / "monitor"
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
        self.webhook = webhook
        self.echo = echo

    def alert(self, a: Alert) -> None:
        rec = asdict(a)
        if self.echo:
            self.echo(a.message)
        if self.dir is not None:
            with open(self.dir / "alerts.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(_finite(rec), allow_nan=False) + "\n")
        if self.webhook:
            import urllib.request

            req = urllib.request.Request(
                self.webhook,
                data=json.dumps(_finite(rec)).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                urllib.request.urlopen(req, timeout=5).close()
            except Exception as exc:  # the monitor goes on
                if self.echo:
                    self.echo(f"webhook failed: {type(exc).__name__}: {exc}")

    def state(self, state: dict[str, Any]) -> None:
        if self.dir is not None:
            write_atomic(self.dir / "state.json", (json.dumps(_finite(state), allow_nan=False) + "\n").encode())


def _finite(obj):
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def run_monitor(
    feed: Feed,
    monitor: Monitor,
    sink: AlertSink,
    *,
    max_polls: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Alert]:
    """Poll ``feed`` until it is exhausted (a replay) or ``max_polls`` polls; every alert goes to
    ``sink``; returns them all."""
    alerts: list[Alert] = []
    polls = 0
    while max_polls is None or polls < max_polls:
        started = time.monotonic()
        batch = feed.poll()
        polls += 1
        if not batch:
            break
        for obs in batch:
            _, new = monitor.update(obs)
            for a in new:
                sink.alert(a)
            alerts.extend(new)
        sink.state(monitor.state)
        wait = feed.interval_s - (time.monotonic() - started)
        if wait > 0:
            sleep(wait)
    return alerts


def replay_from_files(
    bars_path: Path,
    oi_path: Path,
    depth_path: Path | None,
    *,
    symbol: str = "BTC/USDT:USDT",
    start: str | None = None,
    end: str | None = None,
    monitor: Monitor | None = None,
    oi_level_usd: float | None = None,
) -> tuple[ReplayFeed, Monitor]:
    """A replay feed over recorded files and a monitor whose map history is preloaded up to
    ``start`` (ISO UTC; default the first depth snapshot, else the first bar).

    ``oi_level_usd``: a stated open-interest level (USD) of the market replayed; the file's series
    is then used for its relative changes only (:func:`scale_open_interest`, at ``start``)."""
    if oi_level_usd is not None:
        _check_oi_level(oi_level_usd)
    bars = marketdata.read_bars(Path(bars_path))
    oi_ts, oi_usd = marketdata.read_open_interest(Path(oi_path), symbol.split("/")[0])
    depth = marketdata.read_book_depth(Path(depth_path)) if depth_path is not None else None
    start_ms = _parse_ms(start, "start")
    end_ms = _parse_ms(end, "end")
    if start_ms is None:
        start_ms = int(depth["timestamp"].min()) if depth is not None else int(bars["timestamp"].iloc[0])
    if oi_level_usd is not None:
        oi_usd = scale_open_interest(oi_ts, oi_usd, oi_level_usd, start_ms)
    if end_ms is None and depth is not None:
        end_ms = int(depth["timestamp"].max()) + 60_000
    monitor = monitor or Monitor()
    monitor.seed_history(symbol, bars, oi_ts, oi_usd, start_ms)
    feed = ReplayFeed(
        symbol, bars, oi_ts, oi_usd, depth, start_ms=start_ms, end_ms=end_ms, source=f"replay:{Path(bars_path).name}"
    )
    return feed, monitor


def _check_oi_level(level: float) -> None:
    try:
        v = float(level)
    except (TypeError, ValueError):
        raise InputError(f"must be a number of USD, got {level!r}", field="oi_level_usd") from None
    if not (math.isfinite(v) and 0 < v <= OI_LEVEL_MAX_USD):
        raise InputError(f"must be > 0 and <= {OI_LEVEL_MAX_USD:.3g} USD, got {level!r}", field="oi_level_usd")


def scale_open_interest(oi_ts: np.ndarray, oi_usd: np.ndarray, level_usd: float, at_ms: int) -> np.ndarray:
    """``oi_usd`` multiplied so that the reading in force at ``at_ms`` (the last at or before it;
    the first reading when none is) equals ``level_usd``: the series keeps only its relative
    changes, the level is the stated one."""
    _check_oi_level(level_usd)
    oi_usd = np.asarray(oi_usd, np.float64)
    if len(oi_usd) == 0:
        raise InputError("no open-interest readings to scale", field="oi_level_usd")
    k = max(int(np.searchsorted(np.asarray(oi_ts, np.int64), at_ms, side="right")) - 1, 0)
    ref = float(oi_usd[k])
    if not (math.isfinite(ref) and ref > 0):
        raise InputError(
            f"the open-interest reading at the start is {ref!r}: it cannot be scaled", field="oi_level_usd"
        )
    return oi_usd * (float(level_usd) / ref)


def _parse_ms(text: str | None, field: str) -> int | None:
    if text is None:
        return None
    t = pd.to_datetime(text, utc=True, errors="coerce")
    if pd.isna(t):
        raise InputError(f"{text!r} is not a date/time", field=field)
    return int(t.value // 1_000_000)


def live_monitor(
    *,
    exchange: str | None,
    symbol: str,
    replay: tuple,
    start: str | None,
    end: str | None,
    interval_s: float,
    max_polls: int | None,
    out_dir: Path,
    webhook: str | None,
    oi_level_usd: float | None = None,
) -> list[Alert]:
    """The ``liqcascade monitor`` command: a ccxt feed (``exchange``) or a replay of files
    (``replay`` = bars, open interest, bookDepth; ``oi_level_usd``: a stated open-interest level),
    alerts to stdout, ``OUT/monitor/`` and ``webhook``."""
    bars, oi, depth = replay
    if exchange is not None and any(x is not None for x in replay):
        raise InputError("give --exchange (live) or --replay-* files, not both", field="exchange")
    if oi_level_usd is not None and exchange is not None:
        raise InputError(
            "--oi-level-usd applies to a replay only (live polling reads the venue's)", field="oi_level_usd"
        )
    if exchange is None:
        if bars is None or oi is None:
            raise InputError(
                "a replay needs --replay-bars and --replay-open-interest (and --replay-depth for the "
                "book); live polling needs --exchange",
                field="replay_bars",
            )
        feed, monitor = replay_from_files(
            bars, oi, depth, symbol=symbol, start=start, end=end, oi_level_usd=oi_level_usd
        )
    else:
        from .snapshot import SUPPORTED_EXCHANGES, _ccxt, _new_exchange

        if exchange not in SUPPORTED_EXCHANGES:
            raise InputError(
                f"unknown exchange {exchange!r} (one of {', '.join(SUPPORTED_EXCHANGES)})", field="exchange"
            )
        if interval_s <= 0:
            raise InputError(f"must be > 0 seconds, got {interval_s}", field="interval")
        ex = _new_exchange(_ccxt(), exchange)
        feed = CcxtFeed(ex, [symbol], interval_s=interval_s)
        monitor = Monitor()
        for note in seed_from_ccxt(monitor, ex, symbol):
            sys.stdout.write(f"note: {note}\n")
    if max_polls is not None and max_polls < 1:
        raise InputError(f"must be >= 1, got {max_polls}", field="polls")
    sink = AlertSink(Path(out_dir), webhook=webhook, echo=lambda m: (sys.stdout.write(m + "\n"), sys.stdout.flush()))
    return run_monitor(feed, monitor, sink, max_polls=max_polls)
