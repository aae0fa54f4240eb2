"""The liquidations' price impact and its resilience, measured: how much of a forced move stays.

The engine (:mod:`liqcascade.engine.prices`) keeps a *fair* price that takes ``permanent_impact``
(``p``) of each step's forced log move of the index; at the end of every step the index closes
``1 - 0.5**(dt/resilience_half_life_s)`` of its gap to the fair price.  After one forced move
``M`` and nothing else, the index sits at ``M * remaining(t)`` with::

    remaining(t) = p + (1 - p) * 0.5**(t / h)          (h = resilience_half_life_s)

This module measures ``remaining(k)`` after real liquidation episodes and fits that law to it.

**Data** (``../shared/data``, see its README): Binance USDⓈ-M open interest every 5 minutes
(``binance_oi_2026_hlreaper``), the 5-minute perpetual bars of BTC, ETH, SOL and DOGE
(``binance_2026_harthor``, 1 Jan – 19 Feb 2026, the common span with the OI files) and BTCUSDT
1-minute klines with the taker-buy volume (``binance_1m_feb2026_owlacar``, 29 Jan – 7 Feb 2026).
No liquidation prints exist for that window, so forced closes are proxied by falls in open interest.

**Episodes** (:func:`find_episodes`).  A 5-minute bar opened at ``t`` is *flagged* when

- its OI change ``log(OI(t+5m)/OI(t))`` is below the 1st percentile of all bars' changes (a fall
  beyond the 99th percentile of falls), and
- its *excursion* — the larger in size of ``log(low/open)`` and ``log(high/open)``, signed — is
  beyond the 95th percentile of ``|excursion|``; both quantiles per asset over the whole window.

The excursion rather than the close-to-close return: on 31 Jan 2026 the 18:40 bar fell to 75,500
and closed where it opened (a 2.6 % wick, OI −2.2 %).  Flagged bars whose opens are at most
:data:`MERGE_GAP` (15 min) apart form one episode; its direction ``d`` is the sign of its largest excursion;
``P0`` is the open of its first bar; its *extreme* is the lowest low (``d < 0``) or highest high of
its bars — at 1-minute resolution (BTC) the lowest 1-minute low within the same span.  The move is
``M = log(P_ext/P0)``.  Episodes with fewer than 60 minutes of data after the extreme are dropped.

**Profile** (:func:`reversion_profile`).  ``remaining(k) = log(C_k/P0) / M`` where ``C_k`` is the
close of the bar ``k`` minutes after the extreme's bar (k = 1, 2, 5, 10, 15, 30, 60 at 1 minute;
5, 10, 15, 30, 60 at 5 minutes): the elapsed time since the extreme is between ``k`` and ``k`` plus
one bar.  1 means nothing reverted, 0 that all of it did, above 1 that the price went on.  The mean
over episodes and its 95 % confidence interval come from :func:`scipy.stats.bootstrap`
(percentile, resampling episodes).

**Fit** (:func:`fit_law`).  :func:`scipy.optimize.curve_fit` of the engine's law (``remaining(0) =
1``) to the mean profile, weighted by the bootstrap standard errors, ``k`` in minutes; and of the law
with a free amplitude ``p + A * 0.5**(k/h)``, which does not force the (unobserved) start: ``1 - p
- A`` well above 0 says part of the move reverted faster than one bar, below the data's resolution.
The confidence intervals of ``p`` and ``h`` are bootstrap percentiles of the refit on resampled
episodes.  ``h`` is searched between 0.06 s and the longest horizon (a slower transient is not
identified: it looks permanent); it is reported as *resolved* only when its interval lies within
``[one bar, longest horizon)``; when the fit puts it below one bar the data give an upper bound only.

**Variants** (:func:`measure`).  Besides the main measurement (wicks, OI falling): the extreme at the
bars' *closes* instead of their wicks (``*_close``: a minute's low compared with later closes shows
some "reversion" even in a random walk, the closes do not), and a *control* — bars with the same
large excursion but OI at or above its median change (``control_*``): large moves without forced
closes.

**What the data say** (the values of ``scenarios/measured/impact.toml``).  BTC at 1 minute (43
episodes, 29 Jan – 7 Feb 2026): about a third of the move to the wick is gone one minute after the
extreme (0.68 of it remains, 95 % CI 0.60–0.75), and no significant further reversion follows up to
60 minutes (0.74, CI 0.38–1.11).  The engine's law fits ``p`` = 0.72 (0.60–0.83) with a half-life
below the 1-minute resolution (bootstrap 97.5 % bound about 18 s): the data bound ``h`` from above,
they do not measure it.  Four assets at 5 minutes (307 episodes, 1 Jan – 19 Feb): 0.63 remains at
5 minutes, 0.54 at 60; ``p`` = 0.59 (0.51–0.66), ``h`` not resolved (below one 5-minute bar).  With
closes instead of wicks less reverts within the first minute (0.85 remains).  Large moves without
OI falls revert more (pooled 5-minute control: 0.44 remains at 5 minutes, 0.27 at 60; ``p`` = 0.33):
moves with forced closes stay more.
Over all BTC minutes, a minute's move keeps 0.96 (0.92–1.00) of itself one minute on and 0.91
(0.75–1.07) an hour on; the signed flow's impact keeps 0.88 after one minute, about 1 after 10–30.

**Check** (:func:`flow_regression`).  Over every BTC minute, :class:`statsmodels` OLS (HAC standard
errors) of the cumulative log return from the minute's open to the close ``k`` minutes later on the
minute's own return (the slope is the fraction of a minute's move still there after ``k``
minutes), and on the minute's signed taker flow ``2*taker_buy_volume - volume`` (the ratio of the
slope at ``k`` to that at 0 is the fraction of the flow's impact that stays: a propagator read).

**Limitations.**  An OI fall includes voluntary closes and both sides of a closed contract; a
price move with falling OI is not all forced.  In a crash the price drifts on after an episode
(more forced sellers, informed selling), which the profile counts as permanent impact (values above
1 are that drift); no drift is removed.  Taking the extreme over the episode (a minimum, a wick)
biases the next bars' closes toward reversion: part of the first minute's reversion is that
measurement, not the book springing back (compare the ``*_close`` variant).  The control's moves are
smaller (median 0.6 % against 0.8 % for BTC), so its ratios are noisier.
Episodes overlap in time across assets (one market-wide event shows in all four), so the pooled
5-minute profile has fewer independent events than episodes.  The 1-minute bars cannot resolve a
half-life well below a minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..errors import InputError
from ._measured import read_rows, row, shared_data_dir, with_interval, write_rows

__all__ = [
    "ASSETS",
    "HORIZONS_1M",
    "HORIZONS_5M",
    "OI_QUANTILE",
    "MOVE_QUANTILE",
    "MERGE_GAP",
    "Profile",
    "LawFit",
    "engine_remaining",
    "load_oi",
    "load_bars",
    "find_episodes",
    "reversion_profile",
    "summarize",
    "fit_law",
    "flow_regression",
    "measure",
    "write_measured",
    "load_measured",
    "plot_profile",
]

#: Assets with both open interest and 5-minute bars.
ASSETS: tuple[str, ...] = ("BTC", "ETH", "SOL", "DOGE")
#: Horizons (minutes after the extreme) of the 1-minute and of the 5-minute profile.
HORIZONS_1M: tuple[int, ...] = (1, 2, 5, 10, 15, 30, 60)
HORIZONS_5M: tuple[int, ...] = (5, 10, 15, 30, 60)
#: A bar is flagged when its OI log change is below this quantile ...
OI_QUANTILE = 0.01
#: ... and its |excursion| above this one.
MOVE_QUANTILE = 0.95
#: Flagged bars whose opens are at most this far apart belong to one episode.
MERGE_GAP = pd.Timedelta(minutes=15)
#: The window [start, end) of the 5-minute search: the span common to the OI and bar files.
WINDOW: tuple[str, str] = ("2026-01-01 00:00", "2026-02-19 00:00")

OI_FILE = "binance_oi_2026_hlreaper/binance_usdm_{asset}USDT_oi_5m_2026-01-01_2026-02-28.csv"
BARS_FILE = "binance_2026_harthor/binance_usdm_{asset}USDT_5m_2026-01-01_2026-02-19.csv"
ONE_MIN_FILE = "binance_1m_feb2026_owlacar/binance_usdm_BTCUSDT_1m_2026-01-29_2026-02-07.csv"

#: Where the measured values live (package data; readable without ``../shared``).
MEASURED_PATH = Path(__file__).resolve().parents[1] / "scenarios" / "measured" / "impact.toml"


def engine_remaining(k: Any, p: float, h: float) -> np.ndarray:
    """The engine's law: fraction of a forced move left ``k`` time units later (``h`` same unit)."""
    return p + (1.0 - p) * 0.5 ** (np.asarray(k, np.float64) / h)


def _free_remaining(k: Any, p: float, a: float, h: float) -> np.ndarray:
    return p + a * 0.5 ** (np.asarray(k, np.float64) / h)


# ----------------------------------------------------------------------------------------- data


def load_oi(path: str | Path) -> pd.Series:
    """Open interest (base units, e.g. BTC) on the 5-minute UTC stamps: the project's reader of the
    ``binance_oi_2026_hlreaper`` files (:func:`liqcascade.data.read_binance_open_interest`, which
    snaps the archive's few late stamps to the grid) as a Series indexed by time."""
    from ..data import read_binance_open_interest

    f = read_binance_open_interest(path)
    return pd.Series(f["open_interest"].to_numpy(np.float64), index=pd.DatetimeIndex(f["datetime"]), name="oi")


def load_bars(path: str | Path) -> pd.DataFrame:
    """OHLC(V) bars (USDT per base unit; volumes in base units) indexed by their UTC open time:
    :func:`liqcascade.analytics.baseline.load_bars` (Binance kline CSVs with ``open_time`` or the
    5-minute files with ``open_time_ms``); ``taker_buy_volume`` is kept when present."""
    from .baseline import load_bars as read_bars

    f = read_bars(path)
    cols = [c for c in ("open", "high", "low", "close", "volume", "taker_buy_volume") if c in f.columns]
    out = f[cols].astype(np.float64)
    out.index = pd.DatetimeIndex(f["datetime"], name="open_time")
    return out


# ------------------------------------------------------------------------------------- episodes


def _bar(bars: pd.DataFrame) -> pd.Timedelta:
    if len(bars) < 3:
        raise InputError("need at least 3 bars", field="bars")
    return pd.Timedelta(pd.Series(bars.index).diff().median())


def find_episodes(
    bars_5m: pd.DataFrame,
    oi: pd.Series,
    *,
    oi_quantile: float = OI_QUANTILE,
    move_quantile: float = MOVE_QUANTILE,
    merge_gap: pd.Timedelta = MERGE_GAP,
    window: tuple[str, str] | None = WINDOW,
    extreme: str = "wick",
    control: bool = False,
    oi_threshold: float | None = None,
    move_threshold: float | None = None,
) -> pd.DataFrame:
    """Liquidation episodes: 5-minute bars with an OI fall and a large excursion, merged.

    Parameters
    ----------
    bars_5m:
        5-minute bars (:func:`load_bars`), index = open time (UTC).
    oi:
        Open interest on the 5-minute stamps (:func:`load_oi`); OI at ``t`` is the snapshot at ``t``.
    oi_quantile, move_quantile:
        A bar is flagged when ``log(OI(t+5m)/OI(t))`` is below the ``oi_quantile`` quantile and
        ``|excursion|`` above the ``move_quantile`` quantile (both over the window's bars).
    merge_gap:
        Flagged bars whose opens are at most this apart form one episode.
    window:
        ``(start, end)`` UTC of the search; ``None``: all bars.
    extreme:
        ``"wick"``: the extreme is the lowest low (highest high) of the episode's bars;
        ``"close"``: the lowest (highest) close — the sensitivity without the bars' wicks.
    control:
        ``True``: flag the *control* bars instead — the same large excursion with OI not falling
        (log change at or above its median): large moves without forced closes.
    oi_threshold:
        A fixed log OI change to fall below instead of the ``oi_quantile`` quantile (``None``: the
        quantile).
    move_threshold:
        A fixed ``|excursion|`` to exceed instead of the ``move_quantile`` quantile (``None``: the
        quantile): a simulated series measured with the real series' thresholds.

    Returns
    -------
    DataFrame, one row per episode: ``start`` (open of its first bar), ``end`` (close of its last
    bar), ``direction`` (+1 up, -1 down), ``n_flagged``, ``oi_change`` (log, summed over flagged
    bars), ``p0`` (open of the first bar), ``extreme`` (lowest low / highest high of its bars),
    ``extreme_time`` (open of that bar), ``move`` (``log(extreme/p0)``); ``attrs`` hold the
    thresholds.
    """
    if not isinstance(bars_5m, pd.DataFrame) or not isinstance(oi, pd.Series):
        raise InputError("bars_5m must be a DataFrame and oi a Series", field="bars_5m")
    if extreme not in ("wick", "close"):
        raise InputError(f"must be 'wick' or 'close', got {extreme!r}", field="extreme")
    if not 0 < oi_quantile < 1 or not 0 < move_quantile < 1:
        raise InputError("quantiles must be in (0, 1)", field="oi_quantile")
    bar = _bar(bars_5m)
    b = bars_5m
    if window is not None:
        lo, hi = pd.Timestamp(window[0], tz="UTC"), pd.Timestamp(window[1], tz="UTC")
        b = b[(b.index >= lo) & (b.index < hi)]
    o = oi.reindex(b.index).to_numpy()
    o_next = oi.reindex(b.index + bar).to_numpy()
    doi = np.log(o_next / o)
    down = np.log(b["low"].to_numpy() / b["open"].to_numpy())
    up = np.log(b["high"].to_numpy() / b["open"].to_numpy())
    exc = np.where(-down > up, down, up)
    ok = np.isfinite(doi) & np.isfinite(exc)
    if ok.sum() < (100 if oi_threshold is None or move_threshold is None else 1):
        raise InputError(f"only {int(ok.sum())} bars have both OI and prices", field="oi")
    q_oi = float(np.quantile(doi[ok], oi_quantile)) if oi_threshold is None else float(oi_threshold)
    q_mv = float(np.quantile(np.abs(exc[ok]), move_quantile)) if move_threshold is None else float(move_threshold)
    oi_ok = doi >= float(np.median(doi[ok])) if control else doi < q_oi
    flag = ok & oi_ok & (np.abs(exc) > q_mv)
    idx = np.flatnonzero(flag)
    rows = []
    groups: list[list[int]] = []
    for i in idx:
        if groups and b.index[i] - b.index[groups[-1][-1]] <= merge_gap:
            groups[-1].append(i)
        else:
            groups.append([i])
    lows, highs = (b["low"], b["high"]) if extreme == "wick" else (b["close"], b["close"])
    lows, highs, opens = lows.to_numpy(), highs.to_numpy(), b["open"].to_numpy()
    for g in groups:
        span = np.arange(g[0], g[-1] + 1)
        big = g[int(np.argmax(np.abs(exc[g])))]
        d = 1 if exc[big] > 0 else -1
        j = span[int(np.argmin(lows[span]) if d < 0 else np.argmax(highs[span]))]
        ext = lows[j] if d < 0 else highs[j]
        rows.append(
            {
                "start": b.index[g[0]],
                "end": b.index[g[-1]] + bar,
                "direction": d,
                "n_flagged": len(g),
                "oi_change": float(doi[g].sum()),
                "p0": float(opens[g[0]]),
                "extreme": float(ext),
                "extreme_time": b.index[j],
                "move": math.log(ext / opens[g[0]]),
            }
        )
    out = pd.DataFrame(
        rows,
        columns=["start", "end", "direction", "n_flagged", "oi_change", "p0", "extreme", "extreme_time", "move"],
    )
    out.attrs.update(
        oi_threshold=q_oi,
        move_threshold=q_mv,
        n_flagged=int(flag.sum()),
        n_bars=int(ok.sum()),
        bar=str(bar),
        extreme=extreme,
        control=control,
    )
    return out


def refine(episodes: pd.DataFrame, bars_1m: pd.DataFrame) -> pd.DataFrame:
    """Episodes re-measured on 1-minute bars: the extreme is the lowest 1-minute low (highest
    high; lowest/highest close when the episodes were found with ``extreme="close"``) within the
    episode's span, ``p0`` the open of its first minute.  Episodes not covered by ``bars_1m`` are
    dropped."""
    wick = episodes.attrs.get("extreme", "wick") == "wick"
    rows = []
    for _, e in episodes.iterrows():
        m = bars_1m[(bars_1m.index >= e["start"]) & (bars_1m.index < e["end"])]
        if len(m) == 0 or m.index[0] != e["start"] or m.index[-1] + pd.Timedelta(minutes=1) != e["end"]:
            continue
        d = int(e["direction"])
        lo_col, hi_col = ("low", "high") if wick else ("close", "close")
        t = m[lo_col].idxmin() if d < 0 else m[hi_col].idxmax()
        ext = float(m.at[t, lo_col if d < 0 else hi_col])
        p0 = float(m["open"].iloc[0])
        rows.append({**e.to_dict(), "p0": p0, "extreme": ext, "extreme_time": t, "move": math.log(ext / p0)})
    out = pd.DataFrame(rows, columns=episodes.columns)
    out.attrs.update(episodes.attrs, bar="0 days 00:01:00")
    return out


# -------------------------------------------------------------------------------------- profile


def reversion_profile(bars: pd.DataFrame, episodes: pd.DataFrame, horizons: tuple[int, ...]) -> pd.DataFrame:
    """Per episode, ``remaining(k) = log(C_k/p0) / move`` with ``C_k`` the close of the bar ``k``
    minutes after the extreme's bar (elapsed time between ``k`` minutes and ``k`` plus one bar).

    Returns a DataFrame indexed by the episodes' ``extreme_time`` with one column per horizon
    (named by ``k`` in minutes) and ``move``; episodes lacking a bar at the longest horizon are
    dropped.
    """
    if len(horizons) == 0 or any(k <= 0 for k in horizons):
        raise InputError("horizons must be positive minutes", field="horizons")
    bar = _bar(bars)
    for k in horizons:
        if pd.Timedelta(minutes=k) % bar != pd.Timedelta(0):
            raise InputError(f"horizon {k} min is not a multiple of the bar {bar}", field="horizons")
    close = bars["close"]
    rows, index = [], []
    for _, e in episodes.iterrows():
        t = e["extreme_time"]
        cs = close.reindex([t + pd.Timedelta(minutes=k) for k in horizons]).to_numpy()
        if not np.isfinite(cs).all() or e["move"] == 0:
            continue
        rows.append(list(np.log(cs / e["p0"]) / e["move"]) + [e["move"]])
        index.append(t)
    return pd.DataFrame(rows, index=pd.DatetimeIndex(index, name="extreme_time"), columns=[*horizons, "move"])


@dataclass(frozen=True)
class Profile:
    """Mean fraction of the move remaining per horizon (minutes), with 95 % bootstrap bounds."""

    horizons_min: tuple[int, ...]
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    se: np.ndarray
    n: int


def summarize(per_episode: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> Profile:
    """Mean over episodes and percentile-bootstrap 95 % intervals (:func:`scipy.stats.bootstrap`)."""
    ks = tuple(int(c) for c in per_episode.columns if c != "move")
    x = per_episode[list(ks)].to_numpy(np.float64)
    if len(x) < 3:
        raise InputError(f"need at least 3 episodes, got {len(x)}", field="episodes")
    res = stats.bootstrap(
        (x,), np.mean, axis=0, n_resamples=n_boot, method="percentile", rng=np.random.default_rng(seed)
    )
    return Profile(
        ks,
        x.mean(axis=0),
        np.asarray(res.confidence_interval.low),
        np.asarray(res.confidence_interval.high),
        np.asarray(res.standard_error),
        len(x),
    )


# ------------------------------------------------------------------------------------------ fit


@dataclass(frozen=True)
class LawFit:
    """The engine's law fitted to a profile; times in minutes.

    ``p``/``h_min`` (engine law, ``remaining(0) = 1``) with 95 % bootstrap intervals; ``free_*``
    the law with a free amplitude ``A`` (``1 - p - A`` = the share gone within the first bar);
    ``resolved`` whether the ``h`` interval lies within ``[bar, longest horizon)`` (``h`` is searched
    in ``[0.001, longest horizon]`` minutes); ``reverts``
    whether the profile's upper bound is below 1 at some horizon.
    """

    p: float
    p_ci: tuple[float, float]
    h_min: float
    h_ci: tuple[float, float]
    free_p: float
    free_p_ci: tuple[float, float]
    free_a: float
    free_a_ci: tuple[float, float]
    free_h_min: float
    free_h_ci: tuple[float, float]
    resolved: bool
    reverts: bool
    bar_min: float
    n: int


#: The half-life's search range in minutes: from 0.06 s to the longest horizon.  A transient slower
#: than the longest horizon is not identified (``p`` and ``h`` trade off along a flat profile), so the
#: fit reads it as permanent; a fit at the upper bound is reported as not resolved.
_H_MIN = 1e-3


def _fit_engine(k: np.ndarray, y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    start = (float(np.clip(y[-1], -1.9, 2.9)), float(k[len(k) // 2]))
    (p, h), _ = optimize.curve_fit(
        engine_remaining, k, y, p0=start, sigma=s, bounds=([-2.0, _H_MIN], [3.0, float(k[-1])])
    )
    return float(p), float(h)


def _fit_free(k: np.ndarray, y: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
    start = (float(np.clip(y[-1], -1.9, 2.9)), float(np.clip(y[0] - y[-1], -2.9, 2.9)), float(k[len(k) // 2]))
    (p, a, h), _ = optimize.curve_fit(
        _free_remaining,
        k,
        y,
        p0=start,
        sigma=s,
        bounds=([-2.0, -3.0, _H_MIN], [3.0, 3.0, float(k[-1])]),
    )
    return float(p), float(a), float(h)


def fit_law(per_episode: pd.DataFrame, *, bar_min: float, n_boot: int = 500, seed: int = 0) -> LawFit:
    """Fit ``remaining(k) = p + (1-p)*0.5**(k/h)`` (and the free-amplitude law) to the mean
    profile with :func:`scipy.optimize.curve_fit`, weights the bootstrap standard errors; the
    intervals are percentiles of the refit over episodes resampled with replacement
    (:func:`scipy.stats.bootstrap`)."""
    prof = summarize(per_episode, n_boot=max(n_boot, 200), seed=seed)
    ks = np.array(prof.horizons_min, np.float64)
    x = per_episode[list(prof.horizons_min)].to_numpy(np.float64)
    s = np.maximum(prof.se, 1e-6)

    def both(idx: np.ndarray) -> np.ndarray:
        y = x[np.asarray(idx, int)].mean(axis=0)
        try:
            p, h = _fit_engine(ks, y, s)
            fp, fa, fh = _fit_free(ks, y, s)
        except (RuntimeError, ValueError):
            return np.full(5, np.nan)
        return np.array([p, h, fp, fa, fh])

    point = both(np.arange(len(x)))
    if not np.isfinite(point).all():
        raise InputError("the law could not be fitted to the profile", field="profile")
    res = stats.bootstrap(
        (np.arange(len(x)),), both, vectorized=False, n_resamples=n_boot, method="percentile",
        rng=np.random.default_rng(seed + 1),
    )  # fmt: skip
    lo, hi = np.asarray(res.confidence_interval.low), np.asarray(res.confidence_interval.high)
    ci = [(float(a), float(b)) for a, b in zip(lo, hi)]
    resolved = bool(ci[1][0] >= bar_min and ci[1][1] < 0.99 * ks[-1])
    return LawFit(
        p=float(point[0]),
        p_ci=ci[0],
        h_min=float(point[1]),
        h_ci=ci[1],
        free_p=float(point[2]),
        free_p_ci=ci[2],
        free_a=float(point[3]),
        free_a_ci=ci[3],
        free_h_min=float(point[4]),
        free_h_ci=ci[4],
        resolved=resolved,
        reverts=bool((prof.hi < 1.0).any()),
        bar_min=float(bar_min),
        n=prof.n,
    )


# ---------------------------------------------------------------------------- regression check


def flow_regression(bars_1m: pd.DataFrame, horizons: tuple[int, ...] = HORIZONS_1M) -> pd.DataFrame:
    """OLS (statsmodels, HAC standard errors with ``k + 1`` lags) over every minute ``t`` of
    ``y_k = log(C_{t+k}/O_t)`` on the minute's own log return ``log(C_t/O_t)`` (slope = fraction
    of a minute's move left ``k`` minutes later) and on its signed taker flow ``2*taker_buy_volume
    - volume`` in units of its standard deviation (slope ``G(k)``, log return per s.d.; ``G(k)/G(0)``
    the fraction of the flow's impact left).  Rows: horizons 0 and ``horizons``."""
    import statsmodels.api as sm

    if "taker_buy_volume" not in bars_1m.columns or "volume" not in bars_1m.columns:
        raise InputError("needs volume and taker_buy_volume", field="taker_buy_volume")
    o = np.log(bars_1m["open"].to_numpy())
    c = np.log(bars_1m["close"].to_numpy())
    flow = 2.0 * bars_1m["taker_buy_volume"].to_numpy() - bars_1m["volume"].to_numpy()
    flow = flow / np.nanstd(flow)
    r0 = c - o
    kmax = max(horizons)
    n = len(c) - kmax
    rows = []
    g0 = None
    for k in (0, *horizons):
        y = c[k : k + n] - o[:n]
        fr = sm.OLS(y, sm.add_constant(r0[:n])).fit(cov_type="HAC", cov_kwds={"maxlags": k + 1})
        ff = sm.OLS(y, sm.add_constant(flow[:n])).fit(cov_type="HAC", cov_kwds={"maxlags": k + 1})
        if k == 0:
            g0 = float(ff.params[1])
        cr, cf = fr.conf_int(), ff.conf_int()
        rows.append(
            {
                "k": k,
                "ret_slope": float(fr.params[1]),
                "ret_lo": float(cr[1, 0]),
                "ret_hi": float(cr[1, 1]),
                "flow_slope": float(ff.params[1]),
                "flow_lo": float(cf[1, 0]),
                "flow_hi": float(cf[1, 1]),
                "flow_ratio": float(ff.params[1]) / g0,
                "flow_r2": float(ff.rsquared),
            }
        )
    return pd.DataFrame(rows).set_index("k")


# ---------------------------------------------------------------------------------- measurement


def _rule(control: bool = False) -> str:
    if control:
        return (
            f"control = 5-min bars with log OI change at or above its median (OI not falling) and |excursion| "
            f"(max |log(low or high/open)|) above its {MOVE_QUANTILE:g} quantile, merged within "
            f"{int(MERGE_GAP.total_seconds() // 60)} min"
        )
    return (
        f"episodes = 5-min bars with log OI change below its {OI_QUANTILE:g} quantile and |excursion| "
        f"(max |log(low or high/open)|) above its {MOVE_QUANTILE:g} quantile, merged within "
        f"{int(MERGE_GAP.total_seconds() // 60)} min"
    )


#: The variants measured: name suffix, extreme rule, control (OI not falling) or not.
VARIANTS: tuple[tuple[str, str, bool], ...] = (
    ("", "wick", False),
    ("_close", "close", False),
    ("control_", "wick", True),
)


def _variant_name(base: str, suffix: str) -> str:
    return f"control_{base}" if suffix == "control_" else f"{base}{suffix}"


def measure(shared_dir: str | Path | None = None, *, detail: bool = False, n_boot: int = 500) -> Any:
    """Every value of ``measured/impact.toml``, measured afresh from ``shared_dir`` (the shared
    ``data`` folder, or the folder holding it).

    Three variants, each at 1 minute (BTC) and 5 minutes (four assets pooled): the liquidation
    episodes with the extreme at the bars' wicks (the main measurement, names ``btc_1m`` and
    ``pooled_5m``); the same with the extreme at closes (``*_close``); and the control, large
    moves with OI *not* falling (``control_*``).  ``headline.*`` are the main BTC 1-minute values.

    Returns ``{name: {"value", "unit", "source"}}``; with ``detail=True`` a pair ``(rows,
    objects)`` with the episodes, per-episode profiles, :class:`Profile` and :class:`LawFit`
    behind them and the regression table.
    """
    data = shared_data_dir(shared_dir)
    if not (data / ONE_MIN_FILE).exists() and (data / "data" / ONE_MIN_FILE).exists():
        data = data / "data"
    rows: dict[str, Any] = {}
    objs: dict[str, Any] = {}
    win5 = f"{WINDOW[0][:10]} to {WINDOW[1][:10]} UTC"
    bars5 = {a: load_bars(data / BARS_FILE.format(asset=a)) for a in ASSETS}
    ois = {a: load_oi(data / OI_FILE.format(asset=a)) for a in ASSETS}
    bars1 = load_bars(data / ONE_MIN_FILE)
    objs["bars_1m"] = bars1
    assets = "{" + ",".join(ASSETS) + "}"
    how = "mean over episodes, 95 % percentile bootstrap over episodes (scipy.stats.bootstrap)"
    law = (
        "scipy.optimize.curve_fit of remaining(k) = p + (1-p)*0.5**(k/h) to the mean profile (weights = bootstrap s.e.)"
    )
    free = "scipy.optimize.curve_fit of remaining(k) = p + A*0.5**(k/h) (free amplitude A) to the mean profile"
    ci = f"95 % percentile bootstrap of the refit over episodes ({n_boot} resamples)"

    for suffix, extreme, control in VARIANTS:
        rule = _rule(control)
        ext_txt = "lowest low (highest high)" if extreme == "wick" else "lowest (highest) close"
        per5 = []
        for a in ASSETS:
            eps = find_episodes(bars5[a], ois[a], extreme=extreme, control=control)
            per5.append(reversion_profile(bars5[a], eps, HORIZONS_5M))
            objs[f"episodes_{a}{suffix}" if not control else f"control_episodes_{a}"] = eps
            if suffix == "" or control:
                pre = "episodes" if not control else "control_episodes"
                src = f"data: {OI_FILE.format(asset=a)} + {BARS_FILE.format(asset=a)}, {win5}, {rule}"
                rows[f"{pre}.{a}.count"] = row(len(eps), "episodes", src)
                rows[f"{pre}.{a}.profiled"] = row(
                    len(per5[-1]), "episodes", src + "; with 60 min of bars after the extreme"
                )
                if not control:
                    rows[f"{pre}.{a}.oi_threshold"] = row(eps.attrs["oi_threshold"], "1 (log OI change per 5 min)", src)
                rows[f"{pre}.{a}.move_threshold"] = row(eps.attrs["move_threshold"], "1 (log excursion)", src)
                rows[f"{pre}.{a}.median_abs_move"] = row(float(np.median(np.abs(eps["move"]))), "1 (log)", src)
        eps_btc = objs[f"episodes_BTC{suffix}" if not control else "control_episodes_BTC"]
        eps1 = refine(eps_btc, bars1)
        prof1 = reversion_profile(bars1, eps1, HORIZONS_1M)
        pooled = pd.concat(per5)
        src1 = (
            f"data: {OI_FILE.format(asset='BTC')} (episodes) + {ONE_MIN_FILE} (prices), episodes of 2026-01-29 to "
            f"2026-02-07 UTC, {rule}; extreme = {ext_txt} of the 1-min bars in the episode's bars, remaining(k) = "
            "log(close k min after the extreme's minute / first open) / log(extreme / first open)"
        )
        src5 = (
            f"data: {OI_FILE.format(asset=assets)} + {BARS_FILE.format(asset=assets)}, {win5}, {rule}; extreme = "
            f"{ext_txt} of the episode's bars, remaining(k) = log(close of the bar k min after the extreme's bar / "
            "first open) / log(extreme / first open)"
        )
        for base, per, src, bar_min in (("btc_1m", prof1, src1, 1.0), ("pooled_5m", pooled, src5, 5.0)):
            name = _variant_name(base, suffix)
            prof = summarize(per, n_boot=max(n_boot, 200))
            fit = fit_law(per, bar_min=bar_min, n_boot=n_boot)
            objs[f"per_episode_{name}"], objs[f"profile_{name}"], objs[f"fit_{name}"] = per, prof, fit
            if base == "btc_1m":
                objs[f"episodes_{name}"] = eps1
            rows[f"episodes.{name}.count"] = row(prof.n, "episodes", src)
            for i, k in enumerate(prof.horizons_min):
                for sfx, v, what in (
                    ("", prof.mean[i], "mean"),
                    ("_lo", prof.lo[i], "2.5 %"),
                    ("_hi", prof.hi[i], "97.5 %"),
                ):
                    rows[f"profile.{name}.remaining_{k}min{sfx}"] = row(
                        v, "1 (fraction of the move left)", f"{src}; {how}: {what}"
                    )
            minutes_to_s = 60.0
            items = [
                *with_interval("permanent_impact", fit.p, fit.p_ci, "1", law, ci),
                *with_interval("resilience_half_life_s", minutes_to_s * fit.h_min,
                               tuple(minutes_to_s * x for x in fit.h_ci), "s", law, ci),
                ("half_life_resolved", float(fit.resolved), "1 (bool)",
                 f"{law}; 1 when the half-life interval lies within [one bar, 60 min); h searched in [0.06 s, 60 min]"),
                ("reverts", float(fit.reverts), "1 (bool)", "1 when the profile's 97.5 % bound is below 1 at some horizon"),
            ]  # fmt: skip
            if suffix == "":
                items += [
                    *with_interval("free_p", fit.free_p, fit.free_p_ci, "1", free, ci),
                    *with_interval("free_amplitude", fit.free_a, fit.free_a_ci, "1", free, ci),
                    *with_interval("free_half_life_s", minutes_to_s * fit.free_h_min,
                                   tuple(minutes_to_s * x for x in fit.free_h_ci), "s", free, ci),
                ]  # fmt: skip
            for key, v, unit, what in items:
                rows[f"fit.{name}.{key}"] = row(v, unit, f"{src}; {what}")

    # the headline: the BTC 1-minute liquidation episodes (wicks)
    fit = objs["fit_btc_1m"]
    src = rows["fit.btc_1m.permanent_impact"]["source"]
    rows["headline.permanent_impact"] = row(fit.p, "1", src)
    rows["headline.permanent_impact_lo"] = row(fit.p_ci[0], "1", rows["fit.btc_1m.permanent_impact_lo"]["source"])
    rows["headline.permanent_impact_hi"] = row(fit.p_ci[1], "1", rows["fit.btc_1m.permanent_impact_hi"]["source"])
    bound = "resolved" if fit.resolved else "NOT resolved: below the 1-minute bars' resolution, this is an upper bound"
    rows["headline.resilience_half_life_s_upper"] = row(
        60 * fit.h_ci[1], "s", f"{rows['fit.btc_1m.resilience_half_life_s_hi']['source']}; {bound}"
    )

    reg = flow_regression(bars1)
    objs["regression"] = reg
    srcr = (
        f"data: {ONE_MIN_FILE}, every minute 2026-01-29 to 2026-02-07 UTC, statsmodels OLS with HAC (k+1 lags) of "
        "log(close k min later / open of the minute) on"
    )
    for k, r in reg.iterrows():
        rows[f"regression.return.slope_{k}min"] = row(
            r["ret_slope"], "1 (fraction of a minute's move left)", f"{srcr} the minute's log return: slope"
        )
        rows[f"regression.return.slope_{k}min_lo"] = row(r["ret_lo"], "1", f"{srcr} the minute's log return: 2.5 %")
        rows[f"regression.return.slope_{k}min_hi"] = row(r["ret_hi"], "1", f"{srcr} the minute's log return: 97.5 %")
        flow = f"{srcr} the minute's signed taker flow 2*taker_buy_volume-volume (per s.d.)"
        rows[f"regression.flow.slope_{k}min"] = row(
            r["flow_slope"], "1 (log return per s.d. of flow)", f"{flow}: slope"
        )
        rows[f"regression.flow.slope_{k}min_lo"] = row(
            r["flow_lo"], "1 (log return per s.d. of flow)", f"{flow}: 2.5 %"
        )
        rows[f"regression.flow.slope_{k}min_hi"] = row(
            r["flow_hi"], "1 (log return per s.d. of flow)", f"{flow}: 97.5 %"
        )
        rows[f"regression.flow.ratio_{k}min"] = row(
            r["flow_ratio"], "1 (fraction of the flow's impact left)", f"{flow}: slope at k / slope at 0"
        )
    return (rows, objs) if detail else rows


def write_measured(path: str | Path = MEASURED_PATH, shared_dir: str | Path | None = None) -> dict[str, Any]:
    """Measure (:func:`measure`) and write the values as TOML, one table per value."""
    rows = measure(shared_dir)
    write_rows(
        path,
        "Price impact and resilience of liquidation episodes MEASURED from Binance open interest and klines\n"
        "(written by liqcascade.analytics.impact.write_measured; do not edit by hand).\n"
        "One table per value: value, unit, source (data file, window, method).",
        rows,
    )
    return rows


def load_measured(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The measured values as ``{"fit.btc_1m.permanent_impact": {"value", "unit", "source"}, ...}``;
    by default the embedded ``scenarios/measured/impact.toml`` (read via :mod:`importlib.resources`)."""
    if path is None:
        res = resources.files("liqcascade.scenarios").joinpath("measured", "impact.toml")
        return read_rows(lambda: res.read_text("utf-8"), "liqcascade.scenarios/measured/impact.toml")
    return read_rows(lambda: Path(path).read_text(encoding="utf-8"), path)


def plot_profile(path: str | Path, shared_dir: str | Path | None = None, *, n_boot: int = 500) -> Path:
    """Draw the reversion profiles with their 95 % intervals and the fitted engine laws (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, objs = measure(shared_dir, detail=True, n_boot=n_boot)
    fig, ax = plt.subplots(figsize=(9, 6))
    kk = np.linspace(0, 62, 300)
    for name, color, label in (
        ("btc_1m", "C0", "BTC, 1-min bars"),
        ("pooled_5m", "C1", "BTC+ETH+SOL+DOGE, 5-min bars"),
    ):
        prof, fit = objs[f"profile_{name}"], objs[f"fit_{name}"]
        k = np.array(prof.horizons_min, float)
        ax.errorbar(k, prof.mean, yerr=[prof.mean - prof.lo, prof.hi - prof.mean], fmt="o", color=color, capsize=3,
                    label=f"{label} (n = {prof.n}), mean and 95 % CI")  # fmt: skip
        ax.plot(kk, engine_remaining(kk, fit.p, fit.h_min), color=color, lw=1,
                label=f"engine law fit: p = {fit.p:.2f}, h = {60 * fit.h_min:.0f} s"
                + ("" if fit.resolved else f" (not resolved; 95 % bound {60 * fit.h_ci[1]:.0f} s)"))  # fmt: skip
    prof = objs["profile_control_pooled_5m"]
    k = np.array(prof.horizons_min, float) + 0.8
    ax.errorbar(k, prof.mean, yerr=[prof.mean - prof.lo, prof.hi - prof.mean], fmt="s", mfc="none", color="C2",
                capsize=3, label=f"control: large 5-min moves, OI not falling (n = {prof.n})")  # fmt: skip
    ax.plot(kk, engine_remaining(kk, 0.3134, 20.78 / 60), color="grey", ls="--", lw=1,
            label="current fitted values: p = 0.31, h = 21 s")  # fmt: skip
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel("minutes after the extreme (close of the bar k min after the extreme's bar)")
    ax.set_ylabel("fraction of the move remaining")
    ax.set_title("Reversion after liquidation episodes (OI fall + large move), Jan-Feb 2026")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=120)
    plt.close(fig)
    return p


# ------------------------------------------------------------------- the same measure on the engine
#: the horizons (minutes) of the 5-minute reversion profile the engine is compared on
ENGINE_HORIZONS = (5, 10, 15, 30, 60)


def real_thresholds(shared_dir: str | Path | None = None, assets: tuple[str, ...] = ("BTC", "ETH", "SOL", "DOGE")):
    """Per asset, the real series' episode thresholds ``(oi_threshold, move_threshold)`` (log OI
    change, |excursion|) and the real per-episode profile at :data:`ENGINE_HORIZONS` (all assets
    pooled): what :func:`engine_reversion` measures the engine against."""
    d = shared_data_dir(shared_dir)
    thr, profiles = {}, []
    for a in assets:
        bars = load_bars(d / f"binance_2026_harthor/binance_usdm_{a}USDT_5m_2026-01-01_2026-02-19.csv")
        oi = load_oi(d / f"binance_oi_2026_hlreaper/binance_usdm_{a}USDT_oi_5m_2026-01-01_2026-02-28.csv")
        ep = find_episodes(bars, oi)
        thr[a] = (ep.attrs["oi_threshold"], ep.attrs["move_threshold"])
        profiles.append(reversion_profile(bars, ep, ENGINE_HORIZONS))
    return thr, pd.concat(profiles)


def run_profile(run, start, thresholds: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """The per-episode reversion profile of one engine run (a free run: its open interest falls
    only by its liquidations), measured like the real one: 5-minute bars of each asset's index,
    its open interest in coins (every venue's USD over the index) on the 5-minute stamps, the
    episodes found with the real series' ``thresholds``."""
    from ..summary import recorded_index

    t0 = pd.Timestamp(start)
    idx = recorded_index(run)
    idx.index = t0 + pd.to_timedelta(idx.index, unit="s")
    steps = run.steps
    out = []
    for a, (q_oi, q_mv) in thresholds.items():
        if a not in idx.columns:
            continue
        s = idx[a]
        bars = s.resample("5min").agg(["first", "max", "min", "last"])
        bars.columns = ["open", "high", "low", "close"]
        usd = steps[steps["asset"] == a].groupby("time_s", observed=True)["open_interest_usd"].sum()
        usd.index = t0 + pd.to_timedelta(usd.index, unit="s")
        coins = (usd / s.reindex(usd.index)).resample("5min").first()
        ep = find_episodes(bars, coins, window=None, oi_threshold=q_oi, move_threshold=q_mv)
        if len(ep):
            out.append(reversion_profile(bars, ep, ENGINE_HORIZONS))
    return pd.concat(out) if out else pd.DataFrame(columns=[*ENGINE_HORIZONS, "move"])


def engine_reversion(
    scenarios=("feb-2026", "feb-2026-weekend"),
    seeds=(0, 1, 2),
    *,
    positions: int = 100_000,
    parameters=None,
    shared_dir: str | Path | None = None,
) -> tuple[pd.Series, pd.Series, int]:
    """The engine's reversion after its own liquidation episodes against the real one: free runs
    of ``scenarios`` over ``seeds`` (``positions`` drawn; ``parameters`` a model-parameters file
    or loaded parameters), each measured by :func:`run_profile` with the real thresholds.  Returns
    the engine's mean profile, the real one (:data:`ENGINE_HORIZONS`, fraction of the move left)
    and the engine's episode count.  This is what identifies ``prices.permanent_impact``: the
    episodes mix forced moves with the informed flow's, which stays, so the law fitted to the
    real profile directly (:func:`fit_law`) is not the engine's parameter."""
    from ..pipeline import replay

    thr, real = real_thresholds(shared_dir)
    prof = []
    for name in scenarios:
        for seed in seeds:
            r = replay(name, mode="free", seed=int(seed), positions=positions, parameters=parameters)
            prof.append(run_profile(r.run, r.scenario.spec.start, thr))
    sim = pd.concat(prof)
    return sim[list(ENGINE_HORIZONS)].mean(), real[list(ENGINE_HORIZONS)].mean(), len(sim)
