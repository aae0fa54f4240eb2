"""The population from the market's history: positions opened where and when open interest rose.

:func:`synthesize_from_history` builds the book a scenario starts from out of the 5-minute bars and
open interest before the start (the look-back), and the positions that open and close during the
event out of the same series after it.  It is the estimated liquidation map's method
(:mod:`liqcascade.liqmap`: open-interest rises are cohorts opened at their bar's typical price,
spread over a leverage mixture, liquidation prices from the venue's rule book, crossed positions
removed, falls close positions) carried from USD buckets to individual positions:

1. **Open interest per market.**  Each market's open interest follows its asset's Binance series
   scaled so that it equals the market's ``open_interest_usd`` at ``start_ms`` (an assumption: the
   other venues' open interest moved in proportion to Binance's).  ``oi_usd`` of a bar is
   Binance's snapshot at the bar's open time valued at the open price (checked on the 2026 files:
   ``oi_usd / oi`` is the bar's open to 0.01 % on average), so the bar's change is counted in
   base units, ``ΔOI_i = OI_{i+1}/open_{i+1} − OI_i/open_i`` (scaled), and a price move with
   constant contracts is neither an opening nor a closing.  The last bar's change needs the
   snapshot at ``end_ms``; without a bar there it is taken as zero.
2. **Openings.**  A bar with ``ΔOI_i > 0`` opens ``ΔOI_i`` base units, ``ΔOI_i × typical_i`` USD
   at the bar's typical price ``(high + low + close) / 3`` (as the estimated map: the order of
   prices inside a 5-minute bar is unknown), a fraction ``long_share`` long and the rest short.
   The open interest standing at the look-back's first bar is opened evenly over the bars of its
   first ``initial_spread_days`` days at their typical prices (an assumption: its real entries are
   unknown).  Positions are drawn per segment (look-back, event), side and leverage component of
   ``params.leverage_mix``: the component's share of the segment's opened USD, a count of
   ``USD / mean_notional_usd`` (the real count) times the draw's scale, notionals from the
   heavy-tailed size law (Pareto, ``pareto_alpha``, capped at ``max_notional_share`` of the
   market's open interest) scaled so the group holds its USD exactly, leverage log-uniform in the
   component's range capped by the venue's tier maximum at the position's notional.  Each
   position is given a bar by systematic allocation: in random order, a position takes the bar
   whose share of the segment's opened USD its cumulative notional's midpoint falls in, so every
   bar opens its USD to within one position.
3. **Liquidations** (``low <= LP`` for a long, ``high >= LP`` for a short, ``LP`` from the venue's
   rule book, tier-exact, for the position as drawn: isolated, margin = notional / leverage), from
   the bar after the opening bar (the opening bar is not tested, as in the estimated map).  Cross
   positions are priced the same way (their account's wallet only adds margin), as in
   :func:`~liqcascade.population.synthesize`.
4. **Closings.**  A bar with ``ΔOI_i < 0`` closes, after the liquidations the path makes in that
   bar, the rest of the fall: ``max(0, −ΔOI_i − liquidated_i)`` base units (the fall counts both;
   liquidations first), as a fraction ``f_i`` of the positions live before the bar's openings.
   Whole positions close, each with probability ``f_i`` independently of size and age (a draw per
   position: the bars' survival ``∏(1 − f)`` against a uniform), so every bar closes its fraction
   in expectation and the sizes keep the size law; pro-rata shrinking would instead leave every
   old position ever smaller and the count of the book wrong.  ``f_i`` is computed on the
   expected live amounts (a bar-by-bar pass over all positions), not the sampled ones: in the
   look-back on the positions as drawn, in the event window on the book rescaled to the start
   (step 5) and the event's openings.
5. **The start.**  Positions of the look-back that the path liquidated or that closed before
   ``start_ms`` are gone.  The survivors are rescaled per market and side so that their open
   interest at the start price, ``Σ size × p_start`` (``p_start`` the open of the bar at
   ``start_ms``: open interest as the venues report it, contracts × price, not the notional at
   entry that :func:`~liqcascade.population.synthesize` meets), equals ``open_interest_usd ×
   long_share`` (shorts: ``× (1 − long_share)``) exactly: sizes and margins scale together
   (leverage kept), no position beyond 95 % of the venue's largest tier, leverage capped at the
   tier each final size sits in; a position whose grown size would put its
   liquidation price inside the look-back's range after its entry is de-levered (halved, up to
   six times), then dropped and the rest refitted.
6. **The event window** (``start_ms <= time_ms < end_ms``).  Its openings are positions opened
   during the run: ``pending=True``, ``open_s`` seconds after ``start_ms`` (uniform inside the
   bar), ``entry`` the bar's typical price (the engine re-prices at the fill), ``size = notional /
   entry``.  Its closings (step 4, with the real path's liquidations first) give ``close_s`` to
   standing and event-opened positions: uniform inside the closing bar, always after ``open_s``;
   a position the real path would liquidate first keeps ``close_s = NaN`` (the engine decides its
   fate).

Margin modes and accounts are drawn as :func:`~liqcascade.population.synthesize` draws them.
``params.openers`` (the hand-placed entry orders), ``entry_halflife_days``, ``path_vol`` and
``redraw_rounds`` are not used: the history gives the entries and the survivors.

**Counts.**  ``n_positions=None`` draws the real count (``USD / mean_notional_usd`` per group).
A reduced count draws about ``n_positions`` positions *after* the path has removed its share: a
pilot draw at the naive scale measures each group's surviving fraction, and the draw is made at
the scale that fraction implies.  ``meta["implied_count"]`` is the real count the population
stands for (per group, its real count times its surviving fraction), so
``implied_count / len(population)`` is the full-scale factor the summary applies to counts.

Units: prices USD per base unit, notionals and margins USD, sizes base units, times UTC epoch
ms in bars and ``entry_time``, seconds after ``start_ms`` in ``open_s`` / ``close_s``.  Seeded:
the same inputs and seed give the same population bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import InputError
from .liqmap import _first_at_or_below, _sparse_min_table
from .population import (
    MarketSpec,
    Population,
    PopulationParams,
    _canonical_population,
    _cap_leverage,
    _fit_open_interest,
    _pareto_scale,
)
from .venues import get_venue

BAR_COLUMNS = ("time_ms", "open", "high", "low", "close", "oi_usd")
_MAX_CLOSE_FRACTION = 1.0 - 1e-9  # a bar never closes every position (keeps the survival product > 0)


@dataclass(frozen=True)
class _Bars:
    """One asset's bars from the look-back's first bar to the last before ``end_ms``."""

    time_ms: np.ndarray  # int64, bar open, UTC epoch ms
    high: np.ndarray
    low: np.ndarray
    typical: np.ndarray  # (high + low + close) / 3, USD
    oi_base: np.ndarray  # open interest at each bar's open and, last, at end_ms (n + 1), base units
    oi_usd_start: float  # Binance's open interest at start_ms, USD
    open_start: float  # the open of the bar at start_ms, USD: the start price
    n_lookback: int  # bars before start_ms
    bar_ms: int


def _asset_bars(frame: pd.DataFrame, asset: str, start_ms: int, end_ms: int, lookback_ms: int) -> _Bars:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"bars of {asset} must be a pandas DataFrame", field="bars")
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"bars of {asset} lack column(s) {missing}", field="bars")
    t = pd.to_numeric(frame["time_ms"], errors="coerce").to_numpy(np.float64)
    if not np.all(np.isfinite(t)):
        raise InputError(f"bars of {asset}: time_ms has a missing value", field="time_ms")
    t = t.astype(np.int64)
    if np.any(np.diff(t) <= 0):
        raise InputError(f"bars of {asset}: time_ms must increase strictly", field="time_ms")
    cols = {}
    for c in ("open", "high", "low", "close"):
        v = pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
        if not np.all(np.isfinite(v) & (v > 0)):
            raise InputError(f"bars of {asset}: {c} has a missing or non-positive price", field=c)
        cols[c] = v
    oi = pd.to_numeric(frame["oi_usd"], errors="coerce").to_numpy(np.float64)
    if np.any(cols["low"] > cols["high"]):
        raise InputError(f"bars of {asset}: a low is above its high", field="low")
    first = int(np.searchsorted(t, start_ms - lookback_ms))
    at_start = int(np.searchsorted(t, start_ms))
    stop = int(np.searchsorted(t, end_ms))  # bars before end_ms
    if at_start >= len(t) or t[at_start] != start_ms:
        raise InputError(f"bars of {asset} have no bar opening at start_ms={start_ms}", field="bars")
    if first >= at_start or t[0] > start_ms - lookback_ms:
        raise InputError(
            f"bars of {asset} start at {t[0]} ms, the look-back needs {start_ms - lookback_ms}", field="bars"
        )
    last = min(stop, len(t) - 1)  # the snapshot closing the window (end_ms's bar) when there is one
    sel = slice(first, last + 1)
    if not np.all(np.isfinite(oi[sel]) & (oi[sel] >= 0)):
        raise InputError(f"bars of {asset}: oi_usd has a missing or negative value", field="oi_usd")
    if not oi[at_start] > 0:
        raise InputError(f"bars of {asset}: open interest at start_ms is zero", field="oi_usd")
    base = oi[first : last + 1] / cols["open"][first : last + 1]
    n = stop - first
    if len(base) == n:  # no snapshot at end_ms: the last bar's change is unknown, taken as zero
        base = np.append(base, base[-1])
    bar_ms = int(np.median(np.diff(t[first : stop + 1]))) if stop - first > 1 else 300_000
    w = slice(first, stop)
    return _Bars(
        t[w],
        cols["high"][w],
        cols["low"][w],
        (cols["high"][w] + cols["low"][w] + cols["close"][w]) / 3,
        base,
        float(oi[at_start]),
        float(cols["open"][at_start]),
        at_start - first,
        bar_ms,
    )


def _death_bars(side: np.ndarray, bar: np.ndarray, lp: np.ndarray, bars: _Bars) -> np.ndarray:
    """First bar after each position's opening bar whose low (long) / high (short) crosses its
    liquidation price; ``n`` (the number of bars) when none does."""
    n = len(bars.low)
    death = np.full(len(bar), n, np.int64)
    for s, values, sign in ((1, bars.low, 1.0), (-1, bars.high, -1.0)):
        sel = np.flatnonzero(side == s)
        if sel.size == 0:
            continue
        table = _sparse_min_table(np.ascontiguousarray(sign * values))
        out = np.empty(sel.size, np.int64)
        _first_at_or_below(table, np.ascontiguousarray(bar[sel] + 1), np.ascontiguousarray(sign * lp[sel]), out)
        death[sel] = out
    return death


def _close_fractions(bar: np.ndarray, death: np.ndarray, base: np.ndarray, falls: np.ndarray) -> np.ndarray:
    """Per bar, the fraction ``f`` of the positions live before its openings that it closes
    voluntarily: the fall of open interest (base units) not explained by the liquidations the
    path makes in it, over the live amount after them.  Expected amounts: a position opened at
    bar ``b`` holds ``base × Q_{k-1} / Q_b`` at bar ``k`` (``Q`` the running product of ``1 − f``),
    so one pass over the bars with running sums of ``base / Q_b`` suffices."""
    n = len(falls)
    order = np.argsort(bar, kind="stable")
    bounds = np.searchsorted(bar[order], np.arange(n + 1))
    d_sorted, q_sorted = death[order], base[order]
    dead_sum = np.zeros(n + 1)  # per death bar: sum of base / Q_b of the positions dying there
    live_sum = 0.0  # sum of base / Q_b over positions opened and not yet liquidated
    q_run = 1.0
    f = np.zeros(n)
    for k in range(n):
        liquidated = q_run * dead_sum[k]
        live_sum -= dead_sum[k]
        live = q_run * live_sum
        voluntary = falls[k] - liquidated
        if voluntary > 0 and live > 0:
            # (compared before dividing: a live amount near zero would overflow the quotient)
            f[k] = _MAX_CLOSE_FRACTION if voluntary >= _MAX_CLOSE_FRACTION * live else voluntary / live
            q_run *= 1.0 - f[k]
            if q_run < 1e-150:  # renormalise before it underflows: the sums are held in units of 1/Q
                live_sum *= q_run
                dead_sum[k + 1 :] *= q_run
                q_run = 1.0
        lo, hi = bounds[k], bounds[k + 1]
        if hi > lo:
            w = q_sorted[lo:hi] / q_run
            live_sum += float(w.sum())
            np.add.at(dead_sum, d_sorted[lo:hi], w)
    return f


def _close_bars(bar: np.ndarray, f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per position, the first bar after its opening bar at which it closes (each bar ``k``
    closing it with probability ``f_k``); ``n`` when it is held through every bar."""
    n = len(f)
    with np.errstate(divide="ignore"):
        neg_log_survival = np.cumsum(-np.log1p(-f))  # non-decreasing
        threshold = neg_log_survival[bar] - np.log(rng.random(len(bar)))
    return np.minimum(np.searchsorted(neg_log_survival, threshold, side="right"), n)


#: the fewest positions a reduced draw gives a (segment, side, leverage component) group of a market
MIN_GROUP = 8


def _draw_market(
    m: MarketSpec,
    bars: _Bars,
    params: PopulationParams,
    table,
    rules,
    scale_count: float,
    initial_spread_ms: int,
    rng: np.random.Generator,
) -> dict:
    """Every position the market's history opens, with its fate; see the module docstring."""
    k_market = m.open_interest_usd / bars.oi_usd_start
    oi_base = bars.oi_base * k_market
    delta = np.diff(oi_base)
    n, n_lb = len(delta), bars.n_lookback
    opened_base = np.maximum(delta, 0.0)
    spread = np.flatnonzero(bars.time_ms[:n_lb] < bars.time_ms[0] + max(initial_spread_ms, 1))
    opened_base[spread] += oi_base[0] / len(spread)
    opened_usd = opened_base * bars.typical
    falls = np.maximum(-delta, 0.0)
    comps = params.leverage_mix
    a_ = params.pareto_alpha
    cap_usd = params.max_notional_share * m.open_interest_usd
    parts = {k: [] for k in ("side", "bar", "notional", "leverage", "group")}
    groups = []  # (segment, real count, drawn)
    for seg, seg_bars in ((0, np.arange(0, n_lb)), (1, np.arange(n_lb, n))):
        usd_bar = opened_usd[seg_bars]
        seg_usd = float(usd_bar.sum())
        if seg_usd <= 0:
            continue
        cum = np.cumsum(usd_bar) / seg_usd
        for side, side_share in ((1, m.long_share), (-1, 1.0 - m.long_share)):
            for c in comps:
                usd = seg_usd * side_share * c.notional_share
                if usd <= 0:
                    continue
                real = usd / c.mean_notional_usd
                # a reduced draw keeps at least MIN_GROUP positions per group (some survive the
                # look-back) and enough that the venue's largest tier can hold the group's USD (a
                # twentieth of the largest position each, valued at the highest price)
                top = table.max_position() * (
                    table.contract_size * float(bars.high.max()) if table.basis == "contracts" else 1.0
                )
                k = max(
                    min(MIN_GROUP, int(math.ceil(real))),
                    int(round(real * scale_count)),
                    int(math.ceil(usd / (0.05 * top))),
                )
                xm = _pareto_scale(c.mean_notional_usd / scale_count, params)
                notional = np.minimum(xm * (1 + rng.pareto(a_, k)), max(cap_usd, xm))
                notional *= usd / notional.sum()
                mid = (np.cumsum(notional) - 0.5 * notional) / usd
                bar = seg_bars[np.minimum(np.searchsorted(cum, mid, side="right"), len(seg_bars) - 1)]
                lev = np.exp(rng.uniform(np.log(c.low), np.log(c.high), k))
                gi = len(groups)
                groups.append((seg, real, k))
                for key, val in (
                    ("side", np.full(k, side, np.int8)),
                    ("bar", bar),
                    ("notional", notional),
                    ("leverage", lev),
                    ("group", np.full(k, gi, np.int32)),
                ):
                    parts[key].append(val)
    if not groups:
        raise InputError(f"{m.venue} {m.asset}: the history opens no position", field="bars")
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    entry = bars.typical[cols["bar"]]
    size = cols["notional"] / entry
    lev = _cap_leverage(cols["leverage"], size, entry, table)
    margin = cols["notional"] / lev
    lp = rules.liquidation_price(cols["side"], size, entry, margin, table)
    death = _death_bars(cols["side"], cols["bar"], lp, bars)
    # the look-back's closings (the event's are drawn on the book rescaled to the start)
    f = _close_fractions(cols["bar"], death, size, np.where(np.arange(n) < n_lb, falls, 0.0))
    close = _close_bars(cols["bar"], f, rng)
    return dict(
        side=cols["side"],
        bar=cols["bar"],
        size=size,
        entry=entry,
        leverage=lev,
        death=death,
        close=close,
        group=cols["group"],
        groups=groups,
        close_fraction=f,
        k_market=k_market,
        opened_usd=opened_usd,
        falls=falls,
        n=n,
        n_lb=n_lb,
    )


def _tier_capacity_usd(table, p_start: float, entry: np.ndarray) -> float:
    """USD at ``p_start`` that positions entered at ``entry`` can hold with none beyond 95 % of the
    table's largest tier (the cap :func:`~liqcascade.population._fit_open_interest` applies)."""
    if table.basis == "contracts":
        return len(entry) * 0.95 * table.max_position() * table.contract_size * p_start
    return float(np.sum(0.95 * table.max_position() * p_start / np.maximum(p_start, entry)))


def _fit_standing(size, entry, lev, bar, side, oi, p_start: float, bars: _Bars, table, rules, m: MarketSpec):
    """Scale one side's survivors so their size at the start price holds ``oi`` USD
    (``Σ size × p_start``); keep every liquidation price beyond the look-back's range after its
    entry (de-lever, then drop).  Returns the kept index with the fitted size and leverage."""
    n_lb = bars.n_lookback
    # the look-back's extreme after each bar (a position is tested from the bar after its entry)
    if side > 0:
        after = np.append(np.minimum.accumulate(bars.low[:n_lb][::-1])[::-1], np.inf)[bar + 1]
    else:
        after = np.append(np.maximum.accumulate(bars.high[:n_lb][::-1])[::-1], 0.0)[bar + 1]
    keep = np.arange(len(size))
    for rnd in range(12):
        fsize, flev = _fit_open_interest(
            size[keep], np.full(len(keep), p_start), lev[keep], oi, table, m, cap_entry=entry[keep]
        )
        flev = _cap_leverage(flev, fsize, entry[keep], table)
        lp = rules.liquidation_price(
            np.full(len(keep), side, np.int8), fsize, entry[keep], fsize * entry[keep] / flev, table
        )
        crossed = (after[keep] <= lp) if side > 0 else (after[keep] >= lp)
        if not crossed.any():
            return keep, fsize, flev
        if rnd < 6:
            lev[keep[crossed]] = np.maximum(0.5 * flev[crossed], 1.0)
            continue
        keep = keep[~crossed]
        if len(keep) == 0:
            break
    raise InputError(
        f"{m.venue} {m.asset}: cannot place the open interest on positions the path has not liquidated",
        field="positions",
    )


def synthesize_from_history(
    markets: Sequence[MarketSpec],
    bars: Mapping[str, pd.DataFrame],
    *,
    start_ms: int,
    end_ms: int,
    params: PopulationParams | None = None,
    n_positions: int | None = None,
    seed: int = 0,
    lookback_days: float | None = None,
    initial_spread_days: float = 3.0,
    symbol_of: Mapping[str, str] | None = None,
) -> Population:
    """The positions behind ``markets``' open interest at ``start_ms``, and those that open and
    close until ``end_ms``, from each asset's bars and open interest (module docstring).

    Parameters
    ----------
    markets: open interest (USD at ``start_ms``) and long share per venue and asset.
    bars: per asset, a frame with ``time_ms`` (bar open, UTC epoch ms, strictly increasing, a bar
        opening exactly at ``start_ms``), ``open, high, low, close`` (USD) and ``oi_usd`` (Binance
        open interest at the bar's open, USD), covering the look-back before ``start_ms`` and the
        event window up to ``end_ms`` (and the bar at ``end_ms`` for the last change, if there).
        Other columns are ignored.
    start_ms, end_ms: the scenario's start and end, UTC epoch ms (``end_ms >= start_ms``).
    params: the population parameters (leverage mixture, size law, margin modes).
    n_positions: about how many positions to draw after survivorship; default the real count.
    lookback_days: days of history before ``start_ms`` (default ``params.entry_lookback_days``).
    initial_spread_days: the open interest at the look-back's first bar is opened evenly over
        this many days of its first bars (an assumption).
    symbol_of: asset -> ccxt symbol for the tier tables (default ``ASSET/USDT:USDT``).
    """
    params = params or PopulationParams()
    if not markets:
        raise InputError("no markets to populate", field="markets")
    start_ms, end_ms = int(start_ms), int(end_ms)
    if end_ms < start_ms:
        raise InputError(f"end_ms {end_ms} is before start_ms {start_ms}", field="end_ms")
    if n_positions is not None and n_positions < 2 * len(markets):
        raise InputError("n_positions must allow at least two positions per market", field="positions")
    if not initial_spread_days > 0:
        raise InputError(
            f"initial_spread_days must be positive, got {initial_spread_days}", field="initial_spread_days"
        )
    lookback = params.entry_lookback_days if lookback_days is None else float(lookback_days)
    if not lookback > 0:
        raise InputError(f"lookback_days must be positive, got {lookback_days}", field="lookback_days")
    venues = sorted({m.venue for m in markets})
    assets = sorted({m.asset for m in markets})
    asset_bars = {}
    for a in assets:
        if a not in bars:
            raise InputError(f"no bars for asset {a}", field="bars")
        asset_bars[a] = _asset_bars(bars[a], a, start_ms, end_ms, int(round(lookback * 86_400_000)))
    spread_ms = int(round(initial_spread_days * 86_400_000))

    def draw(scale_count: float, rng: np.random.Generator):
        out = []
        for m in markets:
            rules = get_venue(m.venue)
            table = rules.tier_table((symbol_of or {}).get(m.asset, f"{m.asset}/USDT:USDT"))
            out.append(
                (
                    m,
                    rules,
                    table,
                    _draw_market(m, asset_bars[m.asset], params, table, rules, scale_count, spread_ms, rng),
                )
            )
        return out

    def survivors_count(drawn) -> float:
        """The real count the draw stands for: per group, real count × surviving fraction."""
        total = 0.0
        for _, _, _, d in drawn:
            alive = (d["bar"] >= d["n_lb"]) | ((d["death"] >= d["n_lb"]) & (d["close"] >= d["n_lb"]))
            kept = np.bincount(d["group"], weights=alive, minlength=len(d["groups"]))
            total += sum(real * kept[g] / k for g, (_, real, k) in enumerate(d["groups"]))
        return total

    if n_positions is None:
        scale_count = 1.0
    else:
        # pilot: the naive scale (every opened position counted), then the scale its survivors imply
        real_all = _real_counts(markets, asset_bars, params, spread_ms)
        pilot = draw(n_positions / real_all, np.random.default_rng([seed, 1]))
        scale_count = n_positions / survivors_count(pilot)
    rng = np.random.default_rng(seed)
    drawn = draw(scale_count, rng)
    full_count = survivors_count(drawn)
    count_before = _real_counts(markets, asset_bars, params, spread_ms)

    parts = {
        k: []
        for k in (
            "venue",
            "asset",
            "side",
            "size",
            "entry",
            "margin",
            "leverage",
            "entry_time",
            "pending",
            "open_s",
            "close_s",
        )
    }
    dropped = 0
    book = {}
    for m, rules, table, d in drawn:
        b = asset_bars[m.asset]
        vi, ai = venues.index(m.venue), assets.index(m.asset)
        n, n_lb = d["n"], d["n_lb"]
        bar, death, close = d["bar"], d["death"], d["close"]
        lookback_pos = bar < n_lb
        gone = lookback_pos & ((death < n_lb) | (close < n_lb))
        dropped += int(gone.sum())
        usd = d["size"] * d["entry"]
        liquidated_usd = float(usd[lookback_pos & (death < n_lb) & (death <= close)].sum())
        closed_usd = float(usd[lookback_pos & (close < n_lb) & (close < death)].sum())
        size, lev = d["size"].copy(), d["leverage"].copy()
        keep = ~gone
        for side, side_share in ((1, m.long_share), (-1, 1.0 - m.long_share)):
            sel = np.flatnonzero(lookback_pos & keep & (d["side"] == side))
            oi = m.open_interest_usd * side_share
            if oi <= 0:
                continue
            if len(sel) == 0 or _tier_capacity_usd(table, b.open_start, d["entry"][sel]) < oi:
                # a small draw can lose a whole side to the look-back, or keep too few for the
                # venue's largest tier to hold the side's open interest (a small table such as
                # OKX's): the side's drawn positions stand in (those the path crossed are
                # de-levered below until it no longer does)
                sel = np.flatnonzero(lookback_pos & (d["side"] == side))
                keep[sel] = True
            if len(sel) == 0:
                raise InputError(
                    f"{m.venue} {m.asset}: no {'long' if side > 0 else 'short'} survives the "
                    f"look-back; raise the position count",
                    field="positions",
                )
            k, fsize, flev = _fit_standing(
                size[sel], d["entry"][sel], lev[sel], bar[sel], side, oi, b.open_start, b, table, rules, m
            )
            keep[np.setdiff1d(sel, sel[k])] = False
            dropped += len(sel) - len(k)
            size[sel[k]], lev[sel[k]] = fsize, flev
        # event-opened positions: no larger than 95 % of the venue's largest tier, leverage within it
        ev = ~lookback_pos
        per_unit = table.contract_size if table.basis == "contracts" else 1.0 / d["entry"][ev]
        size[ev] = np.minimum(size[ev], 0.95 * table.max_position() * per_unit)
        lev[ev] = _cap_leverage(lev[ev], size[ev], d["entry"][ev], table)
        idx = np.flatnonzero(keep)
        k = len(idx)
        bar_s = b.bar_ms / 1000.0
        t0 = (b.time_ms - start_ms) / 1000.0  # bar opens, s after the start
        open_s = np.full(k, np.nan)
        pend = bar[idx] >= n_lb
        open_s[pend] = t0[bar[idx][pend]] + bar_s * rng.random(int(pend.sum()))
        close_s = np.full(k, np.nan)
        # the event's closings, on the book as it stands at the start and the event's openings
        f_event = _close_fractions(bar[idx], death[idx], size[idx], np.where(np.arange(n) >= n_lb, d["falls"], 0.0))
        c_idx = _close_bars(bar[idx], f_event, rng)
        closes = (c_idx < n) & (c_idx < death[idx])
        close_s[closes] = t0[c_idx[closes]] + bar_s * rng.random(int(closes.sum()))
        entry_time = b.time_ms[bar[idx]].copy()
        entry_time[pend] = start_ms + np.round(open_s[pend] * 1000.0).astype(np.int64)
        for key, val in (
            ("venue", np.full(k, vi, np.int16)),
            ("asset", np.full(k, ai, np.int16)),
            ("side", d["side"][idx]),
            ("size", size[idx]),
            ("entry", d["entry"][idx]),
            ("margin", size[idx] * d["entry"][idx] / lev[idx]),
            ("leverage", lev[idx]),
            ("entry_time", entry_time),
            ("pending", pend),
            ("open_s", open_s),
            ("close_s", close_s),
        ):
            parts[key].append(val)
        book[f"{m.venue} {m.asset}"] = dict(
            oi_scale=d["k_market"],
            opened_lookback_usd=float(d["opened_usd"][:n_lb].sum()),
            opened_event_usd=float(d["opened_usd"][n_lb:].sum()),
            liquidated_lookback_usd=liquidated_usd,
            closed_lookback_usd=closed_usd,
        )
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    return _canonical_population(
        venues,
        assets,
        cols,
        params,
        rng,
        dropped=dropped,
        redrawn=0,
        meta=dict(
            seed=seed,
            now_ms=start_ms,
            end_ms=end_ms,
            n_requested=n_positions,
            implied_count=full_count,
            count_before_survivorship=count_before,
            method="history",
            lookback_days=lookback,
            initial_spread_days=float(initial_spread_days),
            markets=book,
            oi_basis="size x start price (USD) of the positions standing at the start",
        ),
    )


def _real_counts(markets, asset_bars, params: PopulationParams, spread_ms: int) -> float:
    """The real count of every position the histories open (before survivorship)."""
    means = np.array([c.mean_notional_usd for c in params.leverage_mix])
    shares = np.array([c.notional_share for c in params.leverage_mix])
    total = 0.0
    for m in markets:
        b = asset_bars[m.asset]
        oi_base = b.oi_base * (m.open_interest_usd / b.oi_usd_start)
        opened = np.maximum(np.diff(oi_base), 0.0)
        spread = np.flatnonzero(b.time_ms[: b.n_lookback] < b.time_ms[0] + max(spread_ms, 1))
        opened[spread] += oi_base[0] / len(spread)
        total += float((opened * b.typical).sum()) * float(np.sum(shares / means))
    return total


__all__ = ["synthesize_from_history", "BAR_COLUMNS"]
