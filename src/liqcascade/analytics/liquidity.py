"""Book depth, the book exponent and the market makers' withdrawal and refill, measured.

The engine (:mod:`liqcascade.engine.liquidity`) models each side of a book as uniform within
``touch_u`` of mid and as the power law ``Cum(u) = B * u**kappa`` beyond it (``u`` the distance
from mid as a fraction, ``Cum`` in USD).  A depth multiplier ``m(t)`` in ``[floor, 1]`` scales
every book: with ``sigma`` the per-second realised volatility (an EWMA of squared log returns,
time constant ``vol_window_s``)::

    stress = vol_sensitivity * max(0, log(sigma / calm_sigma)) + flow_sensitivity * L / depth
    target = max(floor, 1 / (1 + stress))

``m`` drops to ``target`` at once when the target is lower and otherwise refills toward it with
half-life ``refill_half_life_s``.  This module measures those quantities on Binance ``bookDepth``
archives (cumulative depth at fixed distances from mid, a snapshot every ~30 s):

- :func:`book_shape` — ``B`` and ``kappa`` per snapshot and side, and their calm medians;
- :func:`withdrawal` — ``m(t)`` (depth within a band over its calm median), its minimum, and the
  engine's volatility law fitted to it (``vol_sensitivity``, ``calm_sigma``);
- :func:`refill` / :func:`refill_fit` — the half-life of the recovery after the minimum;
- :func:`oi_flow_proxy` / :func:`flow_fit` — ``flow_sensitivity``, with open-interest falls as
  the liquidation flow ``L`` (USD per second) and the calm depth within ±1 % (both sides) as
  ``depth``;
- :func:`lead_lag` — does depth fall before the price moves, with it, or after it;
- :func:`measure` / :func:`write_measured` / :func:`load_measured` — the values of
  ``scenarios/measured/liquidity.toml``, measured from ``../shared/data`` and read back;
  :func:`plot_measured` draws the figure of ``docs/guide/liquidity.md``.

The archives hold no liquidation prints for these days, so the liquidation-flow term is measured
with a proxy: Binance BTCUSDT open-interest falls per 5 minutes (in coins, valued at the price),
spread evenly over the window's seconds, on 31 Jan 2026 (10 Oct 2025 has only Coinalyze's daily
coin-margined open interest: no flow at this resolution).  The proxy's biases run both ways:
voluntary closes inflate ``L`` (``flow_sensitivity`` too low), liquidations absorbed by a
counterparty who opens leave open interest unchanged, and the 5-minute smear lowers the peak
rate (both: too high).  The fit identifies it only on the flush's two hours without a volatility
term (31 Jan shows no volatility response); on the whole day, jointly with the volatility term,
or with the 10 Oct volatility set held, its interval reaches 0 (see ``flow.jan31.*``).  Frames
must be clean (read them with
:func:`liqcascade.data.read_binance_book_depth`, or pass them through
:func:`liqcascade.data.clean_book_depth`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._measured import read_rows, row, shared_data_dir, write_rows
from .depth import _check_frame, depth_within

__all__ = [
    "SHAPE_BANDS",
    "engine_reach",
    "BookShape",
    "Withdrawal",
    "RefillFit",
    "book_shape",
    "engine_multiplier",
    "multiplier_series",
    "withdrawal",
    "LawFit",
    "fit_engine_law",
    "oi_flow_proxy",
    "FlowFit",
    "flow_fit",
    "refill_fit",
    "refill",
    "lead_lag",
    "measure",
    "write_measured",
    "load_measured",
    "MEASURED_PATH",
    "plot_measured",
]

#: Bands (percent of mid) of the power-law fit.  The ±0.2 % band of the 2026 archives is left
#: out: it lies just beyond the engine's uniform ``touch_u = 0.1 %`` zone, where the queue at the
#: touch (not the power law) sets depth, and one noisy point at ``log u = -6.2`` would lever the
#: slope of a five-point fit.  It is compared with the fitted law instead
#: (:attr:`BookShape.near_touch_ratio`).
SHAPE_BANDS: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)

#: Where the measured values live (package data; readable without ``../shared``).
MEASURED_PATH = Path(__file__).resolve().parents[1] / "scenarios" / "measured" / "liquidity.toml"

_LN2 = math.log(2.0)


def _ns(idx: pd.DatetimeIndex) -> np.ndarray:
    """Epoch nanoseconds of an index whatever its resolution (pandas 2 keeps ms indexes in ms)."""
    return pd.DatetimeIndex(idx).as_unit("ns").asi8


def _ts(value: Any, field: str) -> pd.Timestamp:
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise InputError(f"not a timestamp: {value!r}", field=field) from None
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _window(window: Any, field: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise InputError(f"must be a (start, end) pair, got {window!r}", field=field)
    start, end = _ts(window[0], field), _ts(window[1], field)
    if not end > start:
        raise InputError(f"end {end} is not after start {start}", field=field)
    return start, end


def _notional_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Snapshots × signed percentage, cumulative USD notional (NaN where a bucket was dropped)."""
    f = _check_frame(frame)
    table = f.pivot(index="timestamp", columns="percentage", values="notional")
    table.index = pd.DatetimeIndex(table.index, name="timestamp")
    return table.sort_index()


# --------------------------------------------------------------------------------------------
# book shape


@dataclass(frozen=True)
class BookShape:
    """The calm book's power law ``Cum(u) = B * u**kappa`` per side (``u`` a fraction, USD).

    ``bid_b``/``ask_b`` and ``bid_kappa``/``ask_kappa`` are medians over the calm snapshots of
    per-snapshot least-squares fits of ``log Cum = log B + kappa log u`` over :attr:`bands_pct`;
    the ``*_iqr`` pairs are their 25th and 75th percentiles.  ``B`` and ``kappa`` of one snapshot
    are strongly correlated (a steeper book has a larger ``B``), so the two medians are not one
    snapshot's pair: ``*_depth_1pct`` is the median of the fitted ``Cum(1 %)`` itself.
    ``near_touch_ratio`` (per side, ``None`` without a ±0.2 % band) is the median of the
    observed ±0.2 % depth over the law's value there: above 1, the book near the touch is deeper
    than the law extrapolated from 1–5 %.  ``*_kappa_near`` (``None`` likewise) is the median
    local exponent between ±0.2 % and ±1 %, ``log(Cum(1 %)/Cum(0.2 %)) / log 5``: the book's
    slope where most liquidation orders are filled.  ``per_snapshot`` holds every fit.
    """

    bands_pct: tuple[float, ...]
    calm: tuple[pd.Timestamp, pd.Timestamp]
    n_calm: int
    bid_b: float
    bid_b_iqr: tuple[float, float]
    bid_kappa: float
    bid_kappa_iqr: tuple[float, float]
    ask_b: float
    ask_b_iqr: tuple[float, float]
    ask_kappa: float
    ask_kappa_iqr: tuple[float, float]
    bid_depth_1pct: float
    ask_depth_1pct: float
    bid_r2: float
    ask_r2: float
    bid_near_touch_ratio: float | None
    ask_near_touch_ratio: float | None
    bid_kappa_near: float | None
    ask_kappa_near: float | None
    per_snapshot: pd.DataFrame


def _fit_rows(u: np.ndarray, cum: np.ndarray, min_bands: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise least squares of log cum on log u over the finite, positive entries."""
    ok = np.isfinite(cum) & (cum > 0)
    x = np.where(ok, np.log(u)[None, :], 0.0)
    y = np.where(ok, np.log(np.where(ok, cum, 1.0)), 0.0)
    n = ok.sum(axis=1).astype(np.float64)
    sx, sy = x.sum(axis=1), y.sum(axis=1)
    sxx, sxy = (x * x).sum(axis=1), (x * y).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        den = n * sxx - sx * sx
        kappa = (n * sxy - sx * sy) / den
        logb = (sy - kappa * sx) / n
        resid = np.where(ok, y - logb[:, None] - kappa[:, None] * x, 0.0)
        ybar = sy / n
        sst = (np.where(ok, y - ybar[:, None], 0.0) ** 2).sum(axis=1)
        r2 = 1.0 - (resid**2).sum(axis=1) / sst
    bad = (n < min_bands) | ~(den > 0)
    kappa[bad], logb[bad], r2[bad] = np.nan, np.nan, np.nan
    return np.exp(logb), kappa, r2


def book_shape(
    frame: pd.DataFrame,
    calm: tuple[Any, Any] | None = None,
    *,
    bands: tuple[float, ...] = SHAPE_BANDS,
    min_bands: int = 3,
) -> BookShape:
    """Fit ``Cum(u) = B * u**kappa`` per snapshot and side; the calm medians and IQRs.

    Parameters
    ----------
    frame:
        A clean Binance ``bookDepth`` frame (``timestamp, percentage, depth, notional``).
    calm:
        ``(start, end)`` UTC of the calm period whose snapshots give the medians; ``None``: all.
    bands:
        Distances (percent) fitted; default :data:`SHAPE_BANDS` (1–5 %, beyond the touch — see
        there why ±0.2 % is left out).  Each must be in the frame.
    min_bands:
        A side of a snapshot with fewer clean bands than this is not fitted (NaN).

    Returns
    -------
    BookShape
    """
    table = _notional_table(frame)
    bands = tuple(float(b) for b in bands)
    have = set(np.abs(table.columns.to_numpy()).tolist())
    missing = [b for b in bands if b not in have]
    if missing:
        raise InputError(f"no bucket at ±{missing[0]:g} %; the frame has {sorted(have)}", field="bands")
    if len(bands) < 2 or min_bands < 2 or min_bands > len(bands):
        raise InputError(f"need at least 2 bands and 2 <= min_bands <= {len(bands)}", field="min_bands")
    u = np.array(bands) / 100.0
    out = pd.DataFrame(index=table.index)
    for side, sign in (("bid", -1.0), ("ask", 1.0)):
        cum = table.reindex(columns=[sign * b for b in bands]).to_numpy(np.float64)
        b, k, r2 = _fit_rows(u, cum, min_bands)
        out[f"{side}_b"], out[f"{side}_kappa"], out[f"{side}_r2"] = b, k, r2
        out[f"{side}_depth_1pct"] = b * 0.01**k
        touch = sign * 0.2
        if touch in table.columns:
            out[f"{side}_near_touch_ratio"] = table[touch].to_numpy(np.float64) / (b * 0.002**k)
            if sign * 1.0 in table.columns:
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio = table[sign * 1.0].to_numpy(np.float64) / table[touch].to_numpy(np.float64)
                    out[f"{side}_kappa_near"] = np.where(ratio > 0, np.log(ratio), np.nan) / math.log(5.0)
    if calm is None:
        lo, hi = out.index[0], out.index[-1]
        sel = out
    else:
        lo, hi = _window(calm, "calm")
        sel = out[(out.index >= lo) & (out.index < hi)]
    if sel["bid_kappa"].notna().sum() == 0 or sel["ask_kappa"].notna().sum() == 0:
        raise InputError(f"no snapshot between {lo} and {hi} has {min_bands} clean bands on each side", field="calm")

    def med(col: str) -> float:
        return float(sel[col].median())

    def iqr(col: str) -> tuple[float, float]:
        q = sel[col].quantile([0.25, 0.75]).to_numpy()
        return float(q[0]), float(q[1])

    def near(side: str, what: str = "near_touch_ratio") -> float | None:
        col = f"{side}_{what}"
        return med(col) if col in sel and sel[col].notna().any() else None

    return BookShape(
        bands_pct=bands,
        calm=(lo, hi),
        n_calm=int(sel[["bid_kappa", "ask_kappa"]].notna().all(axis=1).sum()),
        bid_b=med("bid_b"),
        bid_b_iqr=iqr("bid_b"),
        bid_kappa=med("bid_kappa"),
        bid_kappa_iqr=iqr("bid_kappa"),
        ask_b=med("ask_b"),
        ask_b_iqr=iqr("ask_b"),
        ask_kappa=med("ask_kappa"),
        ask_kappa_iqr=iqr("ask_kappa"),
        bid_depth_1pct=med("bid_depth_1pct"),
        ask_depth_1pct=med("ask_depth_1pct"),
        bid_r2=med("bid_r2"),
        ask_r2=med("ask_r2"),
        bid_near_touch_ratio=near("bid"),
        ask_near_touch_ratio=near("ask"),
        bid_kappa_near=near("bid", "kappa_near"),
        ask_kappa_near=near("ask", "kappa_near"),
        per_snapshot=out,
    )


# --------------------------------------------------------------------------------------------
# the engine's law


def _closes(prices_1m: Any) -> pd.Series:
    """Closes on the UTC time at which each is known (a bar's close time).

    A Series on a DatetimeIndex is taken as it is (index = time the price is known).  A frame of
    klines (:func:`liqcascade.data.read_binance_klines`) is put on ``close_timestamp`` + 1 ms, or
    on ``timestamp`` + 60 s without it (1-minute bars, opened at ``timestamp``).
    """
    if isinstance(prices_1m, pd.Series):
        if not isinstance(prices_1m.index, pd.DatetimeIndex):
            raise InputError("a price Series needs a DatetimeIndex", field="prices_1m")
        s = prices_1m.astype(np.float64)
        s.index = s.index.tz_localize("UTC") if s.index.tz is None else s.index.tz_convert("UTC")
    elif isinstance(prices_1m, pd.DataFrame):
        if "close" not in prices_1m.columns:
            raise InputError(f"missing column; got {list(prices_1m.columns)}", field="close")
        if "close_timestamp" in prices_1m.columns:
            t = pd.to_datetime(prices_1m["close_timestamp"].astype("int64") + 1, unit="ms", utc=True)
        elif "timestamp" in prices_1m.columns:
            t = pd.to_datetime(prices_1m["timestamp"].astype("int64") + 60_000, unit="ms", utc=True)
        else:
            raise InputError("klines need close_timestamp or timestamp (epoch ms)", field="prices_1m")
        s = pd.Series(pd.to_numeric(prices_1m["close"], errors="coerce").to_numpy(np.float64), index=t)
    else:
        raise InputError("must be a pandas Series or a klines DataFrame", field="prices_1m")
    v = s.to_numpy()
    bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
    if bad.size:
        raise InputError("close must be a positive number", field="close", row=int(bad[0]))
    if not s.index.is_monotonic_increasing or s.index.has_duplicates:
        raise InputError("price times are not sorted and unique", field="prices_1m")
    return s


def _ewma_sigma(closes: pd.Series, vol_window_s: float) -> pd.Series:
    """The engine's realised volatility per second at each close: an EWMA of squared log returns
    (weight ``1 - exp(-dt/vol_window_s)`` per return of ``dt`` seconds), over ``dt``."""
    t = _ns(closes.index) / 1e9
    r = np.diff(np.log(closes.to_numpy()))
    dt = np.diff(t)
    var = np.empty(len(r))
    v = float(np.median(r[: min(len(r), 60)] ** 2 / dt[: min(len(r), 60)]))  # per second
    for i in range(len(r)):
        a = 1.0 - math.exp(-dt[i] / vol_window_s)
        v += a * (r[i] * r[i] / dt[i] - v)
        var[i] = v
    return pd.Series(np.sqrt(var), index=closes.index[1:], name="sigma_per_s")


def engine_multiplier(
    sigma: np.ndarray,
    dt: np.ndarray | float,
    vol_sensitivity: float,
    calm_sigma: float,
    floor: float,
    refill_half_life_s: float | None,
    flow: np.ndarray | None = None,
    flow_sensitivity: float = 0.0,
) -> np.ndarray:
    """The engine's depth multiplier on a series of per-second volatilities (and liquidation flows).

    ``target = max(floor, 1/(1 + vol_sensitivity*max(0, log(sigma/calm_sigma)) + flow_sensitivity*flow))``;
    ``m`` drops to the target at once and refills toward it by ``1 - 0.5**(dt/refill_half_life_s)``
    a step (``dt`` seconds before each step); ``refill_half_life_s=None`` returns the target itself.
    ``m`` starts at 1.  ``flow`` (``None``: no flow term) is the engine's ``L / depth_1pct_base``
    per one-second step: USD liquidated per second over the calm USD depth within ±1 % (both
    sides), held through each step of the series.  A flow constant over a step gives the same
    ``m`` at its end as the engine's one-second steps would (the drop is at once, the refill
    exponential toward a constant target).
    """
    sigma = np.asarray(sigma, np.float64)
    stress = vol_sensitivity * np.maximum(0.0, np.log(np.maximum(sigma, 1e-300) / calm_sigma))
    if flow is not None:
        stress = stress + flow_sensitivity * np.broadcast_to(np.asarray(flow, np.float64), sigma.shape)
    target = np.maximum(floor, 1.0 / (1.0 + stress))
    if refill_half_life_s is None:
        return target
    rho = 1.0 - 0.5 ** (np.broadcast_to(np.asarray(dt, np.float64), sigma.shape) / refill_half_life_s)
    m = np.empty_like(target)
    cur = 1.0
    for i in range(len(target)):
        tg = target[i]
        cur = tg if tg < cur else cur + (tg - cur) * rho[i]
        m[i] = cur
    return m


# --------------------------------------------------------------------------------------------
# the law's fit


def _block_index(rng: np.random.Generator, n: int, block: int) -> np.ndarray:
    """Indexes of one moving-block bootstrap draw: ``n // block + 1`` blocks of ``block``
    consecutive positions of ``range(n)``, uniform starts, cut to ``n``."""
    starts = np.arange(0, n - block + 1)
    return np.concatenate([np.arange(k, k + block) for k in rng.choice(starts, size=n // block + 1)])[:n]


@dataclass(frozen=True)
class _LawCase:
    """One series for the law's fit: sigma on the price grid, the steps' lengths (s), each
    snapshot's position on that grid, the observed m, and the floor and half-life held fixed."""

    sigma: np.ndarray
    dt: np.ndarray
    pos: np.ndarray
    m: np.ndarray
    floor: float
    half_life_s: float | None
    snap_step_s: float
    times_ns: np.ndarray | None = None  # the price grid (epoch ns): where a flow series is put
    flow: np.ndarray | None = None  # L / depth per second on the price grid (see engine_multiplier)

    def model(self, vs: float, cs: float, fs: float = 0.0) -> np.ndarray:
        flow = None if fs == 0.0 else self.flow
        return engine_multiplier(self.sigma, self.dt, vs, cs, self.floor, self.half_life_s, flow, fs)[self.pos]


@dataclass(frozen=True)
class LawFit:
    """``vol_sensitivity`` and ``calm_sigma`` of the engine's law fitted to one or more series
    (and ``flow_sensitivity`` when the cases carry a flow, see :func:`flow_fit`).

    The intervals are 2.5 and 97.5 % quantiles of a moving-block bootstrap of the residuals (blocks
    of 30 minutes within each series).  ``rmse`` is the law's misfit over all points, ``rmse_flat``
    that of ``m = 1`` (no response at all).  With a flow term: ``rmse_no_flow`` is the misfit of
    the same law with ``flow_sensitivity = 0`` (the other parameters as fitted or held),
    ``flow_boot_at_zero`` the share of bootstrap replicates whose ``flow_sensitivity`` sits at 0,
    and ``vol_held`` says whether ``vol_sensitivity`` and ``calm_sigma`` were held (their
    intervals are then NaN).
    """

    vol_sensitivity: float
    vol_sensitivity_ci: tuple[float, float]
    calm_sigma: float
    calm_sigma_ci: tuple[float, float]
    rmse: float
    rmse_flat: float
    n_points: int
    fitted: tuple[np.ndarray, ...] = field(repr=False, compare=False)
    flow_sensitivity: float = 0.0
    flow_sensitivity_ci: tuple[float, float] = (float("nan"), float("nan"))
    flow_boot_at_zero: float = float("nan")
    rmse_no_flow: float = float("nan")
    vol_held: bool = False


def _fit_cases(
    cases: list[_LawCase],
    *,
    n_boot: int = 100,
    seed: int = 0,
    flow: bool = False,
    hold: tuple[float, float] | None = None,
) -> LawFit:
    """Least squares of the law on ``cases``.  ``flow=False``: ``vol_sensitivity`` and
    ``calm_sigma``.  ``flow=True``: also ``flow_sensitivity`` (each case needs its ``flow``), with
    ``hold=(vol_sensitivity, calm_sigma)`` held fixed, or fitted jointly when ``hold`` is None."""
    from scipy.optimize import least_squares

    if hold is not None and not flow:
        raise InputError("hold is only for a flow fit", field="hold")
    fscale = 1.0
    if flow:
        if any(c.flow is None for c in cases):
            raise InputError("a flow fit needs a flow series on every case", field="flow")
        fmax = max(float(np.max(c.flow)) for c in cases)  # type: ignore[arg-type]
        if not fmax > 0:
            raise InputError("the flow is zero everywhere: flow_sensitivity is not identified", field="flow")
        fscale = 1.0 / fmax  # flow_sensitivity at which the largest flow alone gives stress 1
    lo: list[float] = [] if hold else [0.0, -25.0]
    hi: list[float] = [] if hold else [100.0, 0.0]
    xs: list[float] = [] if hold else [0.5, 1.0]
    if flow:
        lo, hi, xs = lo + [0.0], hi + [1e4 * fscale], xs + [fscale]

    def unpack(p: np.ndarray) -> tuple[float, float, float]:
        vs, cs = hold if hold else (float(p[0]), math.exp(p[1]))
        return vs, cs, (float(p[-1]) if flow else 0.0)

    def solve(ms: list[np.ndarray], starts: list[tuple[float, ...]]) -> np.ndarray:
        def resid(p: np.ndarray) -> np.ndarray:
            vs, cs, fs = unpack(p)
            if flow:
                return np.concatenate([c.model(vs, cs, fs) - mv for c, mv in zip(cases, ms)])
            return np.concatenate([c.model(vs, cs) - mv for c, mv in zip(cases, ms)])

        best = None
        for x0 in starts:
            r = least_squares(resid, x0=list(x0), bounds=(lo, hi), x_scale=xs)
            if best is None or r.cost < best.cost:
                best = r
        assert best is not None
        return best.x

    # the hinge makes the loss kinked in log calm_sigma: start from a grid of kinks
    all_sigma = np.concatenate([c.sigma[c.pos] for c in cases])
    grid = np.quantile(np.log(np.maximum(all_sigma, 1e-300)), [0.1, 0.3, 0.5, 0.7, 0.9])
    starts: list[tuple[float, ...]] = [] if hold else [(v0, lc) for lc in grid for v0 in (0.1, 0.5, 2.0)]
    if flow:
        f0s = (0.1 * fscale, fscale, 10.0 * fscale)
        starts = [(f0,) for f0 in f0s] if hold else [st + (f0,) for st in starts for f0 in f0s[:2]]
    x = solve([c.m for c in cases], starts)
    vs, cs, fs = unpack(x)
    fitted = tuple((c.model(vs, cs, fs) if flow else c.model(vs, cs)) for c in cases)
    res = [c.m - f for c, f in zip(cases, fitted)]
    ci_vs = ci_cs = ci_fs = (float("nan"), float("nan"))
    at_zero = float("nan")
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        boots = []
        x_hat = tuple(float(v) for v in x)
        if flow:  # off the bound, so that a replicate can move either way
            x_hat = x_hat[:-1] + (max(x_hat[-1], 1e-3 * fscale),)
        for _ in range(n_boot):
            ms = []
            for c, f, r in zip(cases, fitted, res):
                n = len(r)
                block = max(1, min(n, int(round(1800.0 / max(c.snap_step_s, 1e-9)))))
                ms.append(f + r[_block_index(rng, n, block)])
            xb = solve(ms, [x_hat] if flow else [(vs, math.log(cs))])
            boots.append(unpack(xb))
        arr = np.array(boots)

        def q(col: int) -> tuple[float, float]:
            return float(np.quantile(arr[:, col], 0.025)), float(np.quantile(arr[:, col], 0.975))

        if not hold:
            ci_vs, ci_cs = q(0), q(1)
        if flow:
            ci_fs = q(2)
            at_zero = float(np.mean(arr[:, 2] <= 1e-6 * fscale))
    allres = np.concatenate(res)
    allm = np.concatenate([c.m for c in cases])
    rmse_nf = float("nan")
    if flow:
        rmse_nf = float(np.sqrt(np.mean(np.concatenate([c.m - c.model(vs, cs) for c in cases]) ** 2)))
    return LawFit(
        vol_sensitivity=vs,
        vol_sensitivity_ci=ci_vs,
        calm_sigma=cs,
        calm_sigma_ci=ci_cs,
        rmse=float(np.sqrt(np.mean(allres**2))),
        rmse_flat=float(np.sqrt(np.mean((allm - 1.0) ** 2))),
        n_points=int(len(allm)),
        fitted=fitted,
        flow_sensitivity=fs,
        flow_sensitivity_ci=ci_fs,
        flow_boot_at_zero=at_zero,
        rmse_no_flow=rmse_nf,
        vol_held=hold is not None,
    )


def fit_engine_law(withdrawals: list[Withdrawal], *, n_boot: int = 100, seed: int = 0) -> LawFit:
    """One ``vol_sensitivity`` and ``calm_sigma`` for several events at once (each keeps the
    floor and refill half-life its :func:`withdrawal` held fixed), as the engine has one law."""
    if not withdrawals or not all(isinstance(w, Withdrawal) for w in withdrawals):
        raise InputError("give one or more Withdrawal results", field="withdrawals")
    return _fit_cases([w.case for w in withdrawals], n_boot=n_boot, seed=seed)


# --------------------------------------------------------------------------------------------
# the liquidation-flow term


def oi_flow_proxy(open_interest: pd.DataFrame, times: Any) -> pd.Series:
    """A proxy for the liquidation flow: open-interest falls, in USD per second, at ``times``.

    ``open_interest`` is a frame of :func:`liqcascade.data.read_binance_open_interest`
    (``timestamp`` epoch ms, ``open_interest`` in coins, ``open_interest_usd``).  Between two
    stamps the fall in coins (0 when open interest rose) is valued at the mean of the two stamps'
    prices (``open_interest_usd / open_interest``; the coin count keeps price moves out of it) and
    spread evenly over the interval's seconds.  A time ``t`` takes the rate of the interval
    ``(t_prev, t_next]`` holding it, so a 1-minute step ending at ``t`` sees the interval it lies in.

    This is not the forced flow: a net fall counts voluntary closes too (biasing the flow up),
    misses liquidations absorbed by a counterparty who opens (down), and smears a flush of seconds
    over 5 minutes (a lower peak rate).
    """
    need = ("timestamp", "open_interest", "open_interest_usd")
    if not isinstance(open_interest, pd.DataFrame) or any(c not in open_interest.columns for c in need):
        got = list(open_interest.columns) if isinstance(open_interest, pd.DataFrame) else type(open_interest).__name__
        raise InputError(f"need columns {need}; got {got}", field="open_interest")
    t = open_interest["timestamp"].to_numpy(np.int64) * 1_000_000  # ns
    oi = open_interest["open_interest"].to_numpy(np.float64)
    usd = open_interest["open_interest_usd"].to_numpy(np.float64)
    if len(t) < 2 or not np.all(np.diff(t) > 0):
        raise InputError("need two or more stamps in time order", field="open_interest")
    px = usd / oi
    fall = np.maximum(0.0, oi[:-1] - oi[1:]) * 0.5 * (px[:-1] + px[1:])
    rate = fall / (np.diff(t) / 1e9)
    tt = _ns(pd.DatetimeIndex(pd.to_datetime(times, utc=True)))
    k = np.searchsorted(t, tt, side="left")
    bad = np.flatnonzero((k < 1) | (k >= len(t)))
    if bad.size:
        raise InputError(
            f"time {pd.Timestamp(tt[bad[0]], tz='UTC')} is outside the open interest's range", field="times"
        )
    return pd.Series(rate[k - 1], index=pd.to_datetime(tt, utc=True), name="oi_fall_usd_per_s")


@dataclass(frozen=True)
class FlowFit:
    """``flow_sensitivity`` of the engine's law fitted to one depth multiplier with a flow proxy.

    ``law`` is the fit (:class:`LawFit`: the interval is a 30-minute moving-block bootstrap of the
    residuals; ``flow_boot_at_zero`` the share of replicates at 0).  ``vol_sensitivity`` and
    ``calm_sigma`` were held (``vol_held``) or fitted jointly; ``floor`` and ``refill_half_life_s``
    were held.  ``flow_usd_per_s`` is the proxy ``L`` on the law's price grid and ``depth_usd``
    the calm depth it is divided by (the engine's ``depth_1pct_base``); ``fitted`` the law's ``m``
    at the snapshots.
    """

    flow_sensitivity: float
    flow_sensitivity_ci: tuple[float, float]
    vol_sensitivity: float
    calm_sigma: float
    vol_held: bool
    floor: float
    refill_half_life_s: float | None
    depth_usd: float
    rmse: float
    rmse_no_flow: float
    rmse_flat: float
    n_points: int
    flow_usd_per_s: pd.Series
    fitted: pd.Series
    law: LawFit = field(repr=False, compare=False)


def flow_fit(
    w: Withdrawal,
    open_interest: pd.DataFrame,
    *,
    hold: tuple[float, float] | None = None,
    floor: float | None = None,
    refill_half_life_s: float | None = None,
    n_boot: int = 100,
    seed: int = 0,
) -> FlowFit:
    """Fit ``flow_sensitivity`` on a :func:`withdrawal` result, with open-interest falls
    (:func:`oi_flow_proxy`) as the liquidation flow ``L`` and the withdrawal's calm depth as the
    engine's ``depth_1pct_base``: ``stress = vol term + flow_sensitivity * L / depth``.

    ``hold=(vol_sensitivity, calm_sigma)`` holds the volatility term (``(0, 1)``: no volatility
    term at all); ``None`` fits it jointly.  ``floor`` and ``refill_half_life_s`` default to the
    withdrawal's.  Use the ``both``-sides band of the engine's depth (``pct=1``) for ``w``.
    """
    import dataclasses

    if not isinstance(w, Withdrawal):
        raise InputError("must be a Withdrawal result", field="w")
    case = w.case
    if case.times_ns is None:
        raise InputError("the withdrawal carries no price grid", field="w")
    flow_usd = oi_flow_proxy(open_interest, pd.to_datetime(case.times_ns, utc=True))
    fl = case.floor if floor is None else float(floor)
    hl = case.half_life_s if refill_half_life_s is None else float(refill_half_life_s)
    c = dataclasses.replace(case, floor=fl, half_life_s=hl, flow=flow_usd.to_numpy() / w.calm_level_usd)
    law = _fit_cases([c], n_boot=n_boot, seed=seed, flow=True, hold=hold)
    return FlowFit(
        flow_sensitivity=law.flow_sensitivity,
        flow_sensitivity_ci=law.flow_sensitivity_ci,
        vol_sensitivity=law.vol_sensitivity,
        calm_sigma=law.calm_sigma,
        vol_held=law.vol_held,
        floor=fl,
        refill_half_life_s=hl,
        depth_usd=w.calm_level_usd,
        rmse=law.rmse,
        rmse_no_flow=law.rmse_no_flow,
        rmse_flat=law.rmse_flat,
        n_points=law.n_points,
        flow_usd_per_s=flow_usd,
        fitted=pd.Series(law.fitted[0], index=w.fitted.index, name="m_law"),
        law=law,
    )


# --------------------------------------------------------------------------------------------
# withdrawal


@dataclass(frozen=True)
class Withdrawal:
    """The depth multiplier around an event and the engine's volatility law fitted to it.

    ``multiplier`` = depth within ``band_pct`` % (``side``: ``both`` sums bids and asks) over its
    median in ``calm`` (``calm_level_usd``).  ``minimum`` (at ``minimum_time``) is its lowest
    value inside ``event``; ``collapse_factor = 1/minimum``.  ``sigma`` is the engine's per-second
    EWMA volatility of the 1-minute log returns, as known at each snapshot.  ``vol_sensitivity``
    and ``calm_sigma`` minimise the squared difference between ``multiplier`` and
    :func:`engine_multiplier` (``floor`` and ``refill_half_life_s`` held fixed) over the fit
    window (``fitted`` is the law's ``m``; ``rmse`` its misfit; ``rmse_flat`` that of ``m = 1``).
    The 95 % intervals (``*_ci``) are a moving-block bootstrap of the residuals (blocks of 30
    minutes), since they are serially correlated.
    """

    band_pct: float
    side: str
    calm: tuple[pd.Timestamp, pd.Timestamp]
    calm_level_usd: float
    multiplier: pd.Series
    minimum: float
    minimum_time: pd.Timestamp
    collapse_factor: float
    sigma: pd.Series
    vol_window_s: float
    floor: float
    refill_half_life_s: float | None
    vol_sensitivity: float
    vol_sensitivity_ci: tuple[float, float]
    calm_sigma: float
    calm_sigma_ci: tuple[float, float]
    fitted: pd.Series
    rmse: float
    rmse_flat: float
    n_points: int
    case: _LawCase = field(repr=False, compare=False)


def _depth_series(frame: pd.DataFrame, pct: float, side: str) -> pd.Series:
    if side not in ("both", "bid", "ask"):
        raise InputError(f"must be 'both', 'bid' or 'ask', got {side!r}", field="side")
    d = depth_within(frame, pct)
    return d[{"both": "total_usd", "bid": "bid_usd", "ask": "ask_usd"}[side]]


def multiplier_series(
    frame: pd.DataFrame, pct: float, side: str, calm: tuple[Any, Any]
) -> tuple[pd.Series, float, tuple[pd.Timestamp, pd.Timestamp]]:
    """Depth within ``pct`` % over its calm median, NaN snapshots dropped; and that median."""
    lo, hi = _window(calm, "calm")
    depth = _depth_series(frame, pct, side).dropna()
    base = depth[(depth.index >= lo) & (depth.index < hi)]
    if len(base) == 0:
        raise InputError(f"no clean ±{pct:g} % {side} depth between {lo} and {hi}", field="calm")
    level = float(base.median())
    if not level > 0:
        raise InputError("calm depth is zero", field="calm")
    return (depth / level).rename("m"), level, (lo, hi)


def withdrawal(
    frame: pd.DataFrame,
    prices_1m: Any,
    *,
    calm: tuple[Any, Any],
    event: tuple[Any, Any] | None = None,
    fit_window: tuple[Any, Any] | None = None,
    pct: float = 1.0,
    side: str = "both",
    vol_window_s: float = 60.0,
    floor: float | None = None,
    refill_half_life_s: float | None = None,
    n_boot: int = 100,
    seed: int = 0,
) -> Withdrawal:
    """The depth multiplier ``m(t)``, its collapse, and the engine's volatility law fitted to it.

    Parameters
    ----------
    frame:
        A clean ``bookDepth`` frame.
    prices_1m:
        1-minute closes: klines from :func:`liqcascade.data.read_binance_klines` (placed at each
        bar's close time) or a Series indexed by the time each close is known.
    calm:
        ``(start, end)`` UTC whose median depth is ``m = 1``.
    event:
        Window searched for the minimum (default: the whole frame).
    fit_window:
        Window of the law's fit (default: the whole frame).
    pct, side:
        The band (percent; one of the frame's) and ``both``, ``bid`` or ``ask``.
    vol_window_s:
        The engine's EWMA time constant of the volatility (held fixed; 60 s in the engine).
    floor:
        The law's floor during the fit; default the measured minimum of this band.
    refill_half_life_s:
        The refill half-life during the fit (e.g. :func:`refill`'s); ``None`` fits ``m`` to the
        instantaneous target (no memory).
    n_boot, seed:
        Bootstrap replicates for the intervals (0: none, NaN intervals) and their seed.
    """
    m, level, (lo, hi) = multiplier_series(frame, pct, side, calm)
    if not (np.isfinite(vol_window_s) and vol_window_s > 0):
        raise InputError("must be a positive number of seconds", field="vol_window_s")
    ev = m if event is None else m[(m.index >= _window(event, "event")[0]) & (m.index <= _window(event, "event")[1])]
    if len(ev) == 0:
        raise InputError("no clean snapshot inside the event window", field="event")
    t_min = ev.idxmin()
    m_min = float(ev.min())
    floor_used = m_min if floor is None else float(floor)
    if not 0 < floor_used <= 1:
        raise InputError(f"floor must be in (0, 1], got {floor_used!r}", field="floor")

    closes = _closes(prices_1m)
    sig = _ewma_sigma(closes, vol_window_s)
    if fit_window is not None:
        f0, f1 = _window(fit_window, "fit_window")
        sig_fit = sig[(sig.index >= f0 - pd.Timedelta(minutes=30)) & (sig.index <= f1)]
        mm = m[(m.index >= f0) & (m.index <= f1)]
    else:
        sig_fit, mm = sig, m
    mm = mm[(mm.index >= sig_fit.index[0])] if len(sig_fit) else mm
    if len(sig_fit) < 10 or len(mm) < 10:
        raise InputError("the prices and the depth overlap on fewer than 10 points", field="prices_1m")
    # the law runs on the price grid; each snapshot sees the last close at or before it
    tt = _ns(sig_fit.index) / 1e9
    dts = np.diff(np.concatenate([[tt[0] - 60.0], tt]))
    pos = np.searchsorted(_ns(sig_fit.index), _ns(mm.index), side="right") - 1
    keep = pos >= 0
    mm, pos = mm[keep], pos[keep]
    mv = mm.to_numpy()

    snap = float(np.median(np.diff(_ns(mm.index)))) / 1e9 if len(mm) > 1 else 30.0
    case = _LawCase(sig_fit.to_numpy(), dts, pos, mv, floor_used, refill_half_life_s, snap, _ns(sig_fit.index))
    law = _fit_cases([case], n_boot=n_boot, seed=seed)
    fitted = law.fitted[0]
    res = mv - fitted
    return Withdrawal(
        band_pct=float(pct),
        side=side,
        calm=(lo, hi),
        calm_level_usd=level,
        multiplier=m,
        minimum=m_min,
        minimum_time=t_min,
        collapse_factor=1.0 / m_min if m_min > 0 else float("inf"),
        sigma=pd.Series(sig_fit.to_numpy()[pos], index=mm.index, name="sigma_per_s"),
        vol_window_s=float(vol_window_s),
        floor=floor_used,
        refill_half_life_s=refill_half_life_s,
        vol_sensitivity=law.vol_sensitivity,
        vol_sensitivity_ci=law.vol_sensitivity_ci,
        calm_sigma=law.calm_sigma,
        calm_sigma_ci=law.calm_sigma_ci,
        fitted=pd.Series(fitted, index=mm.index, name="m_law"),
        rmse=float(np.sqrt(np.mean(res**2))),
        rmse_flat=float(np.sqrt(np.mean((mv - 1.0) ** 2))),
        n_points=int(len(mv)),
        case=case,
    )


# --------------------------------------------------------------------------------------------
# refill


@dataclass(frozen=True)
class RefillFit:
    """``m(t) = m_inf + (m0 - m_inf) * 2**(-(t - t0)/half_life_s)`` fitted after the minimum.

    ``half_life_ci``: 95 % interval, a moving-block bootstrap of the residuals (blocks of
    ``block`` snapshots; the residuals are serially correlated, so the covariance interval
    ``half_life_ci_cov`` of :func:`scipy.optimize.curve_fit` is too narrow).
    """

    start: pd.Timestamp
    window_s: float
    m0: float
    m_inf: float
    half_life_s: float
    half_life_ci: tuple[float, float]
    half_life_ci_cov: tuple[float, float]
    n_points: int
    rmse: float
    times_s: np.ndarray
    observed: np.ndarray
    fitted: np.ndarray


def _recovery(t: np.ndarray, m0: float, m_inf: float, h: float) -> np.ndarray:
    return m_inf + (m0 - m_inf) * np.exp(-_LN2 * t / h)


def refill_fit(
    multiplier: pd.Series,
    start: Any | None = None,
    *,
    window_s: float = 1800.0,
    n_boot: int = 300,
    block: int = 4,
    seed: int = 0,
) -> RefillFit:
    """Fit the exponential recovery of ``m`` from its minimum toward a post-event level.

    Parameters
    ----------
    multiplier:
        ``m(t)`` on a DatetimeIndex (e.g. :attr:`Withdrawal.multiplier`).
    start:
        The minimum's time (default: the series' minimum).  The fit runs from there for
        ``window_s`` seconds; ``m0``, ``m_inf`` (the post-event level) and the half-life are free.
    n_boot, block, seed:
        Moving-block bootstrap of the residuals for the interval.
    """
    from scipy.optimize import curve_fit

    if not isinstance(multiplier, pd.Series) or not isinstance(multiplier.index, pd.DatetimeIndex):
        raise InputError("must be a Series on a DatetimeIndex", field="multiplier")
    s = multiplier.dropna()
    if len(s) == 0:
        raise InputError("is empty", field="multiplier")
    t0 = s.idxmin() if start is None else _ts(start, "start")
    if s.index.tz is None:
        s.index = s.index.tz_localize("UTC")
    w = s[(s.index >= t0) & (s.index <= t0 + pd.Timedelta(seconds=window_s))]
    if len(w) < 5:
        raise InputError(f"fewer than 5 points in the {window_s:g} s after {t0}", field="window_s")
    t = (_ns(w.index) - _ns(w.index)[0]) / 1e9
    y = w.to_numpy(np.float64)
    tail = float(np.median(y[len(y) // 2 :]))
    lo_b, hi_b = [-np.inf, -np.inf, 1.0], [np.inf, np.inf, 1e6]

    def fit(yy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        best: tuple[np.ndarray, np.ndarray] | None = None
        best_cost = np.inf
        for h0 in (30.0, 120.0, 600.0):
            try:
                p, c = curve_fit(_recovery, t, yy, p0=[yy[0], tail, h0], bounds=(lo_b, hi_b), maxfev=20000)
            except RuntimeError:
                continue
            cost = float(np.sum((_recovery(t, *p) - yy) ** 2))
            if cost < best_cost:
                best, best_cost = (p, c), cost
        if best is None:
            raise InputError("the exponential recovery does not fit", field="multiplier")
        return best

    p, cov = fit(y)
    se = float(np.sqrt(cov[2, 2])) if np.isfinite(cov[2, 2]) else float("nan")
    fitted = _recovery(t, *p)
    res = y - fitted
    ci = (float("nan"), float("nan"))
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        n = len(res)
        b = max(1, min(block, n))
        hs = []
        for _ in range(n_boot):
            try:
                hs.append(fit(fitted + res[_block_index(rng, n, b)])[0][2])
            except InputError:
                continue
        if hs:
            ci = (float(np.quantile(hs, 0.025)), float(np.quantile(hs, 0.975)))
    return RefillFit(
        start=t0,
        window_s=float(window_s),
        m0=float(p[0]),
        m_inf=float(p[1]),
        half_life_s=float(p[2]),
        half_life_ci=ci,
        half_life_ci_cov=(float(p[2] - 1.96 * se), float(p[2] + 1.96 * se)),
        n_points=int(len(y)),
        rmse=float(np.sqrt(np.mean(res**2))),
        times_s=t,
        observed=y,
        fitted=fitted,
    )


def refill(
    frame: pd.DataFrame,
    *,
    calm: tuple[Any, Any],
    event: tuple[Any, Any] | None = None,
    pct: float = 1.0,
    side: str = "both",
    window_s: float = 1800.0,
) -> float:
    """The refill half-life (seconds) of ``m`` after its minimum inside ``event``.

    ``m`` is depth within ``pct`` % (``side``) over its ``calm`` median; see :func:`refill_fit`
    (which also gives the confidence interval) for the fit.
    """
    m, _, _ = multiplier_series(frame, pct, side, calm)
    ev = m if event is None else m[(m.index >= _window(event, "event")[0]) & (m.index <= _window(event, "event")[1])]
    if len(ev) == 0:
        raise InputError("no clean snapshot inside the event window", field="event")
    return refill_fit(m, ev.idxmin(), window_s=window_s).half_life_s


# --------------------------------------------------------------------------------------------
# does depth lead the price?


def lead_lag(multiplier: pd.Series, prices_1m: Any, lags: range = range(-5, 6)) -> pd.Series:
    """Correlation of the minute's log depth change with the absolute 1-minute return ``k``
    minutes later (``k < 0``: the return came first), per lag.

    A withdrawal that anticipates the move peaks at ``k > 0``; one that follows it (a response
    to realised volatility or to the liquidations the move sets off) at ``k <= 0``.
    """
    closes = _closes(prices_1m)
    m = multiplier.dropna()
    grid = closes.index
    mm = m.reindex(grid, method="ffill", tolerance=pd.Timedelta(seconds=60))
    dlog = np.log(mm).diff()
    absr = np.log(closes).diff().abs()
    out = {k: float(dlog.corr(absr.shift(-k))) for k in lags}
    return pd.Series(out, name="corr(dlog m, |r| k min later)")


# --------------------------------------------------------------------------------------------
# the measured values


_DATA_JAN = "binance_bookdepth_2026-01-31/BTCUSDT-bookDepth-2026-01-31.zip"
_DATA_OCT = "theglory_oct10_2025/BTCUSDT-bookDepth-2025-10-10.csv"
_PX_JAN = "binance_1m_feb2026_owlacar/binance_usdm_BTCUSDT_1m_2026-01-29_2026-02-07.csv"
_PX_OCT = "theglory_oct10_2025/BTCUSD_PERP-1m-2025-10-10.zip"
_OI_JAN = "binance_oi_2026_hlreaper/binance_usdm_BTCUSDT_oi_5m_2026-01-01_2026-02-28.csv"
#: the flow fit's window on 31 Jan: the flush (18:40-18:45) with the two hours around it
_FLUSH_JAN = ("2026-01-31 18:00", "2026-01-31 20:00")

#: the two events.  ``shape_calm``: the book-shape window (lowest 1-minute volatility of the day,
#: both sides clean).  ``calm``: the baseline of ``m`` (``m = 1``) — on 31 Jan the same calm
#: morning; on 10 Oct the hour before the crash (20:50), since the asks had grown by half since
#: the morning (price 4 % lower) and the bids are stale from 15:30.  ``event``: where the minimum
#: is searched.  ``fit``: the law's fit window (from the baseline on).
EVENTS: dict[str, dict[str, Any]] = {
    "jan31": {
        "depth": _DATA_JAN,
        "prices": _PX_JAN,
        "shape_calm": ("2026-01-31 00:00", "2026-01-31 08:00"),
        "calm": ("2026-01-31 00:00", "2026-01-31 08:00"),
        "event": ("2026-01-31 14:00", "2026-02-01 00:00"),
        "fit": ("2026-01-31 00:00", "2026-02-01 00:00"),
    },
    "oct10": {
        "depth": _DATA_OCT,
        "prices": _PX_OCT,
        "shape_calm": ("2025-10-10 00:00", "2025-10-10 12:00"),
        "calm": ("2025-10-10 19:50", "2025-10-10 20:50"),
        "event": ("2025-10-10 20:50", "2025-10-11 00:00"),
        "fit": ("2025-10-10 19:50", "2025-10-11 00:00"),
    },
}


def _load(data: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    import warnings

    from ..data import read_binance_book_depth, read_binance_klines
    from ..data._common import DataCleaningWarning

    ev = EVENTS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataCleaningWarning)
        frame, _ = read_binance_book_depth(data / ev["depth"])
    return frame, read_binance_klines(data / ev["prices"])


def measure(data_dir: str | Path | None = None, *, detail: bool = False, n_boot: int = 100) -> Any:
    """Every value of ``measured/liquidity.toml``, measured afresh from ``data_dir``.

    Returns ``{name: {"value", "unit", "source"}}``; with ``detail=True`` a pair
    ``(rows, objects)`` where ``objects`` holds the :class:`BookShape`, :class:`Withdrawal` and
    :class:`RefillFit` behind them (the docs' figure uses them).
    """
    data = shared_data_dir(data_dir)
    rows: dict[str, Any] = {}
    objs: dict[str, Any] = {}
    frames = {k: _load(data, k) for k in EVENTS}

    # book shape, calm
    for k, (frame, _) in frames.items():
        ev = EVENTS[k]
        shape = book_shape(frame, ev["shape_calm"])
        objs[f"shape_{k}"] = shape
        win = f"{ev['shape_calm'][0]}-{ev['shape_calm'][1][-5:]} UTC ({shape.n_calm} snapshots)"
        how = "per-snapshot least squares of log Cum on log u over bands 1-5 %"
        for side in ("bid", "ask"):
            src = f"data: {ev['depth']}, {win}, {how}, median"
            unit_b = "USD (Cum(u) = B u^kappa, u fraction)"
            rows[f"book.{k}.{side}_b"] = row(getattr(shape, f"{side}_b"), unit_b, src)
            lo, hi = getattr(shape, f"{side}_b_iqr")
            rows[f"book.{k}.{side}_b_q25"] = row(lo, unit_b, src.replace("median", "25th percentile"))
            rows[f"book.{k}.{side}_b_q75"] = row(hi, unit_b, src.replace("median", "75th percentile"))
            rows[f"book.{k}.{side}_kappa"] = row(getattr(shape, f"{side}_kappa"), "1", src)
            lo, hi = getattr(shape, f"{side}_kappa_iqr")
            rows[f"book.{k}.{side}_kappa_q25"] = row(lo, "1", src.replace("median", "25th percentile"))
            rows[f"book.{k}.{side}_kappa_q75"] = row(hi, "1", src.replace("median", "75th percentile"))
            rows[f"book.{k}.{side}_depth_1pct"] = row(
                getattr(shape, f"{side}_depth_1pct"), "USD", src.replace("median", "median fitted Cum(1 %)")
            )
            ntr = getattr(shape, f"{side}_near_touch_ratio")
            if ntr is not None:
                rows[f"book.{k}.{side}_near_touch_ratio"] = row(
                    ntr, "1", src.replace("median", "median of observed 0.2 % depth / fitted law at 0.2 %")
                )
            kn = getattr(shape, f"{side}_kappa_near")
            if kn is not None:
                rows[f"book.{k}.{side}_kappa_0p2_to_1pct"] = row(
                    kn, "1", src.replace(how, "local exponent log(Cum(1 %)/Cum(0.2 %))/log 5 per snapshot")
                )

    # collapse factors, per band and side
    bands = {"jan31": [(1.0, "both"), (1.0, "bid"), (1.0, "ask"), (0.2, "both"), (0.2, "bid"), (0.2, "ask")],
             "oct10": [(1.0, "ask"), (2.0, "ask"), (5.0, "ask"), (4.0, "bid"), (5.0, "bid")]}  # fmt: skip
    for k, (frame, _) in frames.items():
        ev = EVENTS[k]
        for pct, side in bands[k]:
            m, level, _ = multiplier_series(frame, pct, side, ev["calm"])
            e = m[(m.index >= _ts(ev["event"][0], "event")) & (m.index <= _ts(ev["event"][1], "event"))]
            tmin = e.idxmin()
            src = (
                f"data: {ev['depth']}, calm {ev['calm'][0]}-{ev['calm'][1][-5:]} UTC median {level / 1e6:.1f} M USD, "
                f"minimum in {ev['event'][0]}-{ev['event'][1][-5:]} at {tmin:%H:%M:%S} UTC, calm median / minimum"
            )
            rows[f"collapse.{k}.{side}_{pct:g}pct"] = row(1.0 / float(e.min()), "x (calm depth / minimum)", src)
    # withdrawal by distance from mid: every band's multiplier (cumulative depth within it over its
    # calm median) at the snapshot where the 1 % band of that side is lowest in the event
    reach = {"jan31": ("bid", (0.2, 1.0, 2.0, 3.0, 4.0, 5.0)), "oct10": ("ask", (1.0, 2.0, 3.0, 4.0, 5.0))}
    for k, (frame, _) in frames.items():
        ev = EVENTS[k]
        side, pcts = reach[k]
        m1, _, _ = multiplier_series(frame, 1.0, side, ev["calm"])
        e1 = m1[(m1.index >= _ts(ev["event"][0], "event")) & (m1.index <= _ts(ev["event"][1], "event"))]
        t1 = e1.idxmin()
        for pct in pcts:
            m, level, _ = multiplier_series(frame, pct, side, ev["calm"])
            src = (
                f"data: {ev['depth']}, {side}s within {pct:g} % at {t1:%H:%M:%S} UTC (the event's lowest "
                f"{side} 1 % snapshot) over their calm median {ev['calm'][0]}-{ev['calm'][1][-5:]} UTC "
                f"({level / 1e6:.1f} M USD)"
            )
            rows[f"reach.{k}.{side}_{pct:g}pct"] = row(float(m.loc[t1]), "1 (m)", src)
    # the 31 Jan -1 % bid minimum in USD (the data README's figure)
    jd = depth_within(frames["jan31"][0], 1.0)["bid_usd"]
    rows["collapse.jan31.bid_1pct_min_usd"] = row(
        float(jd.min()),
        "USD",
        f"data: {_DATA_JAN}, whole day, minimum of the -1 % bid notional (at {jd.idxmin():%H:%M:%S} UTC)",
    )

    # refill: both events, 1 % band (both sides on 31 Jan; asks on 10 Oct, the bids being stale)
    refill_band = {"jan31": (1.0, "both"), "oct10": (1.0, "ask")}
    for k, (frame, _) in frames.items():
        ev = EVENTS[k]
        pct, side = refill_band[k]
        m, _, _ = multiplier_series(frame, pct, side, ev["calm"])
        e = m[(m.index >= _ts(ev["event"][0], "event")) & (m.index <= _ts(ev["event"][1], "event"))]
        window = 1800.0 if k == "jan31" else 7200.0
        rf = refill_fit(m, e.idxmin(), window_s=window)
        objs[f"refill_{k}"] = rf
        src = (
            f"data: {ev['depth']}, {window / 60:.0f} min from the {side} {pct:g} % minimum at {rf.start:%H:%M:%S} UTC, "
            f"curve_fit of m_inf + (m0 - m_inf) 2^(-t/h), 95 % moving-block bootstrap"
        )
        rows[f"refill.{k}.half_life_s"] = row(rf.half_life_s, "s", src)
        rows[f"refill.{k}.half_life_s_lo"] = row(rf.half_life_ci[0], "s", src + " (2.5 %)")
        rows[f"refill.{k}.half_life_s_hi"] = row(rf.half_life_ci[1], "s", src + " (97.5 %)")
        rows[f"refill.{k}.post_level"] = row(rf.m_inf, "1 (m)", src + ": m_inf")

    # the engine's volatility law.  The engine's set: the floor is the deepest clean 1 % collapse
    # (10 Oct asks), the refill half-life the clean refill of 31 Jan, and vol_sensitivity and
    # calm_sigma are fitted on 10 Oct holding those two.  Each day is also fitted with its own
    # floor and refill (law.*): 31 Jan's whole day shows no volatility response beyond noise.
    floor = 1.0 / rows["collapse.oct10.ask_1pct"]["value"]
    h = rows["refill.jan31.half_life_s"]["value"]
    boot = ", 95 % moving-block bootstrap (30 min)"
    fits = (
        ("market_maker", "oct10", 1.0, "ask", floor, h, n_boot),
        ("law.oct10", "oct10", 1.0, "ask", floor, rows["refill.oct10.half_life_s"]["value"], n_boot),
        ("law.jan31", "jan31", 1.0, "both", 1.0 / rows["collapse.jan31.both_1pct"]["value"], h, n_boot),
    )
    for prefix, k, pct, side, fl, hl, nb in fits:
        frame, px = frames[k]
        ev = EVENTS[k]
        w = withdrawal(frame, px, calm=ev["calm"], event=ev["event"], fit_window=ev["fit"], pct=pct, side=side,
                       floor=fl, refill_half_life_s=hl, n_boot=nb, seed=0)  # fmt: skip
        objs[f"withdrawal_{prefix}"] = w
        src = (
            f"data: {ev['depth']} + {ev['prices']}, {ev['fit'][0]}-{ev['fit'][1][-5:]} UTC ({w.n_points} snapshots), "
            f"m = {side} {pct:g} % depth / median {ev['calm'][0][-5:]}-{ev['calm'][1][-5:]} vs the engine's law "
            f"(EWMA 60 s of 1-min log returns, floor {fl:.3f} and refill {hl:.0f} s held fixed), scipy least_squares"
        )
        unit_cs = "1/sqrt(s) (per-second volatility, from 1-min returns)"
        rows[f"{prefix}.vol_sensitivity"] = row(w.vol_sensitivity, "1", src)
        rows[f"{prefix}.vol_sensitivity_lo"] = row(w.vol_sensitivity_ci[0], "1", src + boot + " (2.5 %)")
        rows[f"{prefix}.vol_sensitivity_hi"] = row(w.vol_sensitivity_ci[1], "1", src + boot + " (97.5 %)")
        rows[f"{prefix}.calm_sigma"] = row(w.calm_sigma, unit_cs, src)
        rows[f"{prefix}.calm_sigma_lo"] = row(w.calm_sigma_ci[0], unit_cs, src + boot + " (2.5 %)")
        rows[f"{prefix}.calm_sigma_hi"] = row(w.calm_sigma_ci[1], unit_cs, src + boot + " (97.5 %)")
        rows[f"{prefix}.fit_rmse"] = row(w.rmse, "1 (m)", src + ": rms residual")
        rows[f"{prefix}.fit_rmse_flat"] = row(w.rmse_flat, "1 (m)", src + ": rms of m - 1 (no response)")
    rows["market_maker.min_multiplier"] = row(
        floor,
        "1",
        f"data: {_DATA_OCT}, minimum of the ask 1 % multiplier (baseline 19:50-20:50 UTC) at "
        f"{objs['withdrawal_market_maker'].minimum_time:%H:%M:%S} UTC, {1 / floor:.2f}x: the deepest 1 % collapse "
        "in clean data (see collapse.* for the other bands)",
    )
    rows["market_maker.refill_half_life_s"] = dict(rows["refill.jan31.half_life_s"])
    rows["market_maker.refill_half_life_s_lo"] = dict(rows["refill.jan31.half_life_s_lo"])
    rows["market_maker.refill_half_life_s_hi"] = dict(rows["refill.jan31.half_life_s_hi"])
    # the engine's set (fitted on 10 Oct) run on 31 Jan's volatility: does it carry over?
    wj = objs["withdrawal_law.jan31"]
    c = wj.case
    mj = engine_multiplier(c.sigma, c.dt, rows["market_maker.vol_sensitivity"]["value"],
                           rows["market_maker.calm_sigma"]["value"], floor, h)[c.pos]  # fmt: skip
    rows["check.jan31.market_maker_set_rmse"] = row(
        float(np.sqrt(np.mean((c.m - mj) ** 2))),
        "1 (m)",
        f"data: {_DATA_JAN} + {_PX_JAN}, 00:00-24:00 UTC, rms of m (both sides 1 %) minus the engine's law with the "
        "market_maker set above (compare law.jan31.fit_rmse_flat, m = 1)",
    )

    # does depth fall before the price moves?
    for k, pct, side in (("jan31", 1.0, "both"), ("oct10", 1.0, "ask")):
        frame, px = frames[k]
        ev = EVENTS[k]
        m, _, _ = multiplier_series(frame, pct, side, ev["calm"])
        m = m[(m.index >= _ts(ev["fit"][0], "fit")) & (m.index <= _ts(ev["fit"][1], "fit"))]
        ll = lead_lag(m, px, range(-2, 3))
        src = (
            f"data: {ev['depth']} + {ev['prices']}, {ev['fit'][0]}-{ev['fit'][1][-5:]} UTC, correlation of the minute's "
            f"change of log {side} {pct:g} % depth with |1-min log return| k minutes later (k < 0: return first)"
        )
        for lag, c in ll.items():
            name = f"minus{-lag}" if lag < 0 else (f"plus{lag}" if lag > 0 else "0")
            rows[f"leadlag.{k}.lag_{name}_min"] = row(c, "1 (correlation)", src)
    rows["market_maker.vol_window_s"] = row(60.0, "s", "engine value, held fixed in the fit (not measured)")

    # the liquidation-flow term, on 31 Jan (10 Oct has no open interest finer than daily)
    _measure_flow(data, frames["jan31"], rows, objs, floor, h, n_boot)
    return (rows, objs) if detail else rows


def _measure_flow(data: Path, jan31: tuple[pd.DataFrame, pd.DataFrame], rows: dict[str, Any],
                  objs: dict[str, Any], floor: float, h: float, n_boot: int) -> None:  # fmt: skip
    """``flow_sensitivity`` with Binance open-interest falls as the flow (see :func:`flow_fit`)."""
    from ..data import read_binance_open_interest

    frame, px = jan31
    ev = EVENTS["jan31"]
    oi = read_binance_open_interest(data / _OI_JAN)
    vol_set = (rows["market_maker.vol_sensitivity"]["value"], rows["market_maker.calm_sigma"]["value"])
    no_vol = (0.0, 1.0)
    base = (
        f"data: {_DATA_JAN} + {_OI_JAN} + {_PX_JAN}, m = both 1 % depth / median {ev['calm'][0][-5:]}-"
        f"{ev['calm'][1][-5:]}, L = open-interest falls (coins x price) per 5 min spread evenly over its seconds, "
        f"floor {floor:.3f} and refill {h:.0f} s held, scipy least_squares"
    )
    boot = ", 95 % moving-block bootstrap (30 min)"
    fits = {}
    for win_name, win in (("flush", _FLUSH_JAN), ("day", ev["fit"])):
        w = withdrawal(frame, px, calm=ev["calm"], event=ev["event"], fit_window=win, pct=1.0, side="both",
                       floor=floor, refill_half_life_s=h, n_boot=0)  # fmt: skip
        wtxt = f"{win[0]}-{win[1][-5:]} UTC ({w.n_points} snapshots)"
        for how, hold, txt in (("no_vol", no_vol, "no volatility term"),
                               ("given_vol_set", vol_set, "volatility term held at the market_maker set"),
                               ("joint", None, "volatility term fitted jointly")):  # fmt: skip
            f = flow_fit(w, oi, hold=hold, n_boot=n_boot, seed=0)
            fits[(win_name, how)] = f
            src = f"{base}, {wtxt}, {txt}"
            pre = f"flow.jan31.{win_name}.{how}"
            unit = "1 (per USD/s liquidated per USD of calm both-sides 1 % depth)"
            rows[f"{pre}.flow_sensitivity"] = row(f.flow_sensitivity, unit, src)
            rows[f"{pre}.flow_sensitivity_lo"] = row(f.flow_sensitivity_ci[0], unit, src + boot + " (2.5 %)")
            rows[f"{pre}.flow_sensitivity_hi"] = row(f.flow_sensitivity_ci[1], unit, src + boot + " (97.5 %)")
            rows[f"{pre}.boot_share_at_zero"] = row(f.law.flow_boot_at_zero, "1", src + boot + ": share at 0")
            if hold is None:
                rows[f"{pre}.vol_sensitivity"] = row(f.vol_sensitivity, "1", src)
                rows[f"{pre}.calm_sigma"] = row(
                    f.calm_sigma, "1/sqrt(s) (per-second volatility, from 1-min returns)", src
                )
            rows[f"{pre}.fit_rmse"] = row(f.rmse, "1 (m)", src + ": rms residual")
            rows[f"{pre}.fit_rmse_no_flow"] = row(
                f.rmse_no_flow, "1 (m)", src + ": rms residual with flow_sensitivity 0"
            )
        rows[f"flow.jan31.{win_name}.fit_rmse_flat"] = row(f.rmse_flat, "1 (m)", f"{base}, {wtxt}: rms of m - 1")
    f = fits[("flush", "no_vol")]
    objs["flow_jan31"] = f
    fl = f.flow_usd_per_s
    rows["flow.jan31.depth_usd"] = row(f.depth_usd, "USD", f"data: {_DATA_JAN}, median both-sides 1 % depth "
                                        f"{ev['calm'][0]}-{ev['calm'][1][-5:]} UTC (the engine's depth_1pct_base)")  # fmt: skip
    rows["flow.jan31.proxy_peak_usd_per_s"] = row(
        float(fl.max()), "USD/s", f"data: {_OI_JAN}, largest open-interest fall per second in {_FLUSH_JAN[0]}-"
        f"{_FLUSH_JAN[1][-5:]} UTC, the 5 min ending {fl.idxmax().ceil('5min'):%H:%M} UTC (x 300 s: the window's fall)"
    )  # fmt: skip
    lo, hi = f.flow_sensitivity_ci
    rows["market_maker.flow_sensitivity"] = row(
        f.flow_sensitivity,
        "1 (per USD liquidated in the step per USD of +-1 % depth)",
        f"{rows['flow.jan31.flush.no_vol.flow_sensitivity']['source']}; proxy L (not liquidation prints): "
        "voluntary closes push it down, absorbed liquidations and the 5-min smear up; "
        "not identified on the whole day nor with the market_maker volatility set (flow.jan31.*)",
    )
    rows["market_maker.flow_sensitivity_lo"] = row(lo, rows["market_maker.flow_sensitivity"]["unit"],
                                                    rows["flow.jan31.flush.no_vol.flow_sensitivity_lo"]["source"])  # fmt: skip
    rows["market_maker.flow_sensitivity_hi"] = row(hi, rows["market_maker.flow_sensitivity"]["unit"],
                                                    rows["flow.jan31.flush.no_vol.flow_sensitivity_hi"]["source"])  # fmt: skip


def write_measured(path: str | Path = MEASURED_PATH, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Measure (:func:`measure`) and write the values as TOML, one table per value."""
    rows = measure(data_dir)
    write_rows(
        path,
        "Liquidity parameters MEASURED from Binance bookDepth archives and 1-minute klines\n"
        "(written by liqcascade.analytics.liquidity.write_measured; do not edit by hand).\n"
        "One table per value: value, unit, source (data file, window, method).",
        rows,
    )
    return rows


def load_measured(path: str | Path = MEASURED_PATH) -> dict[str, dict[str, Any]]:
    """The measured values as ``{"book.jan31.bid_kappa": {"value", "unit", "source"}, ...}``."""
    return read_rows(lambda: Path(path).read_text(encoding="utf-8"), Path(path))


def plot_measured(path: str | Path, data_dir: str | Path | None = None) -> Path:
    """The docs' figure: ``m(t)`` around both events with the engine's law over it (the measured
    ``market_maker`` set, and each day's own fit), and the refill fits.  Writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, objs = measure(data_dir, detail=True, n_boot=0)
    vs, cs = rows["market_maker.vol_sensitivity"]["value"], rows["market_maker.calm_sigma"]["value"]
    floor, h = rows["market_maker.min_multiplier"]["value"], rows["market_maker.refill_half_life_s"]["value"]
    frames = {k: _load(shared_data_dir(data_dir), k)[0] for k in EVENTS}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    panels = (
        ("jan31", "law.jan31", ("2026-01-31 16:00", "2026-01-31 21:00"), "31 Jan 2026: both sides"),
        ("oct10", "law.oct10", ("2025-10-10 20:00", "2025-10-11 00:00"), "10 Oct 2025: asks"),
    )
    for ax, (k, name, (a, b), title) in zip(axes[:2], panels):
        w: Withdrawal = objs[f"withdrawal_{name}"]
        c = w.case
        engine = pd.Series(engine_multiplier(c.sigma, c.dt, vs, cs, floor, h)[c.pos], index=w.fitted.index)
        lo, hi = _ts(a, "plot"), _ts(b, "plot")

        def cut(x: pd.Series, lo: pd.Timestamp = lo, hi: pd.Timestamp = hi) -> pd.Series:
            return x[(x.index >= lo) & (x.index <= hi)]

        ax.plot(cut(w.multiplier).index, cut(w.multiplier).to_numpy(), color="0.55", lw=0.8, label="m, 1 % band")
        if k == "jan31":
            m02, _, _ = multiplier_series(frames[k], 0.2, "both", EVENTS[k]["calm"])
            ax.plot(cut(m02).index, cut(m02).to_numpy(), color="tab:orange", lw=0.6, alpha=0.6, label="m, 0.2 % band")
        ax.plot(cut(w.fitted).index, cut(w.fitted).to_numpy(), color="tab:blue", lw=1.4, label="law, this day's fit")
        ax.plot(cut(engine).index, cut(engine).to_numpy(), color="tab:red", lw=1.4, ls="--", label="law, measured set")
        ax.axhline(floor, color="tab:red", lw=0.6, ls=":")
        ax2 = ax.twinx()
        sg = cut(w.sigma)
        ax2.semilogy(sg.index, sg.to_numpy(), color="tab:green", lw=0.6, alpha=0.5)
        ax2.set_ylabel("sigma per second (EWMA of 1-min returns)", color="tab:green", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("depth multiplier m")
        ax.set_ylim(0, 1.8)
        ax.legend(fontsize=7, loc="upper left")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax = axes[2]
    for k, color in (("jan31", "tab:blue"), ("oct10", "tab:purple")):
        rf: RefillFit = objs[f"refill_{k}"]
        t = np.maximum(rf.times_s, 1.0)
        ax.semilogx(t, rf.observed, ".", color=color, ms=3)
        lbl = f"{k}: half-life {rf.half_life_s:.0f} s [{rf.half_life_ci[0]:.0f}, {rf.half_life_ci[1]:.0f}]"
        ax.semilogx(t, rf.fitted, "-", color=color, label=lbl)
    ax.set_xlabel("seconds after the minimum")
    ax.set_ylabel("m")
    ax.set_title("refill after the minimum (1 % band)", fontsize=10)
    ax.legend(fontsize=7)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------------- the engine's books
def engine_reach(
    scenario: Any = "feb-2026-weekend",
    at: Any = "2026-01-31T18:44:00Z",
    *,
    venue: str = "binance",
    asset: str = "BTC",
    side: str = "bid",
    distances: tuple[float, ...] = (0.002, 0.01, 0.02, 0.05),
    positions: int = 300_000,
    seed: int = 0,
    memory: bool | None = None,
) -> pd.Series:
    """The engine's counterpart of the ``reach.*`` rows: the depth of ``venue``'s ``asset`` book
    side within each of ``distances`` (fractions) of its mid over its fresh depth there, at the
    start of the step at ``at`` of the observed replay of ``scenario`` (``positions`` drawn,
    ``seed``).  With fresh books that is the makers' multiplier at every distance; with book
    memory (``memory``: the scenario's own ``[prices] books`` where None) the multiplier times the
    share of the fresh depth beyond the side's hole, ``(Cum(h + x) - Cum(h)) / Cum(x)``."""
    import dataclasses

    from ..engine import Flows, simulate
    from ..engine import core as C
    from ..engine import run as R
    from ..replay import observed_setup
    from ..scenario import load_scenario

    if side not in ("bid", "ask"):
        raise InputError("must be 'bid' or 'ask'", field="side")
    if isinstance(scenario, str):
        scenario = load_scenario(scenario)
    spec = scenario.spec
    t = (_ts(at, "at") - pd.Timestamp(spec.start)).total_seconds()
    n = int(round(t / spec.step_seconds))
    if not 0 < n <= scenario.n_steps:
        raise InputError(f"{at} is not inside the scenario's window", field="at")
    setup = observed_setup(scenario, n_positions=positions, seed=seed)
    prices = setup.prices if memory is None else dataclasses.replace(setup.prices, book_memory=bool(memory))
    kw = dict(setup.run_kw, n_steps=n)
    run = simulate(
        setup.positions,
        setup.liquidity,
        prices,
        Flows(),
        index_path={a: p[:n] for a, p in setup.paths.items()},
        keep_final=True,
        **kw,
    )
    venues = list(dict.fromkeys(run.steps["venue"]))
    assets = list(spec.assets)
    if venue not in venues or asset not in assets:
        raise InputError(f"no {venue} {asset} market in {setup.scenario.name}", field="venue")
    m = venues.index(venue) * len(assets) + assets.index(asset)
    market = R.build_market(venues, assets, setup.liquidity, prices, spec.step_seconds)
    glob = R.global_parameters(
        setup.liquidity, prices, Flows(), spec.step_seconds, kw["adl_rule"], kw["vault_unwind_half_life_s"]
    )
    # the books the step at ``at`` starts from: the kernel's own start of that step on the run's
    # final state (the side's hole and the USD it holds on the book as it stands)
    mst, ast = run.final["mst"].copy(), run.final["ast"].copy()
    C.start_of_step(mst, ast, market.mkt_i, market.mkt_f, glob)
    a = assets.index(asset)
    d = -1.0 if side == "bid" else 1.0
    h = float(C.side_hole(ast, a, d))
    b, k = C.book_side(mst, market.mkt_f, m, d)  # depth (USD, the multiplier's) and exponent
    u0 = market.mkt_f[m, C.TOUCH_U]
    pw = market.mkt_f[m, C.TOUCH_PW_BID if side == "bid" else C.TOUCH_PW_ASK]
    eaten = mst[m, C.CONS_BID if side == "bid" else C.CONS_ASK]
    fresh = market.mkt_f[m, C.BID_B if side == "bid" else C.ASK_B]
    mult = float(mst[m, C.MULT])
    out = {float(x): (b * C.cum_unit(h + x, k, u0, pw) - eaten) / (fresh * C.cum_unit(x, k, u0, pw)) for x in distances}
    res = pd.Series(out, name="depth over fresh")
    res.index.name = "within (fraction)"
    res.attrs.update(multiplier=mult, hole=h, kappa=float(k), memory=bool(prices.book_memory))
    return res
