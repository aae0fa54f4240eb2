"""The free-running market's stochastic baseline, measured from real 5-minute bars.

A one-factor model of exogenous log returns:

- the **leader** (BTC by default): its 5-minute log return ``r_L`` follows a GARCH(1,1) with
  Student-t innovations, ``r_L,t = sigma_t z_t``, ``sigma2_{t+1} = omega + alpha r_L,t**2 + beta sigma2_t``,
  fitted by maximum likelihood with :func:`arch.arch_model` (no drift: ``mean="Zero"``);
- every other asset: ``r_i = beta_i r_L + e_i`` with ``beta_i`` by ordinary least squares through
  the origin (zero drift) and the residual ``e_i`` itself GARCH(1,1)-t, independent of the leader.

Units
-----
Returns are **log returns, a fraction per 5-minute bar** (0.001 = 0.1 %).  ``omega`` is in
(fraction per 5 min)², ``alpha``, ``beta`` and the degrees of freedom ``nu`` are pure numbers, the
volatilities are fractions per 5 minutes (multiply by ``sqrt(105_120)`` for a 365-day year).  The
optimiser sees the returns in **basis points** (× 10⁴, a standard deviation of 11–27), and the
fitted ``omega`` is converted back.  Percent (× 100, a standard deviation of 0.1–0.3, outside the
1–1000 range arch recommends) was tried first: on the *raw* BTC returns of 1–28 Jan 2026 SLSQP
stopped after 5 iterations at arch's own starting values (alpha = 0.1, beta = 0.88 exactly), and
the raw XRP residual's fit differed from the basis-point one (alpha 0.113 vs 0.084).  On the
day-normalised returns fitted now both scales give the same BTC estimate (alpha 0.1264, beta
0.8499); basis points stay because they are the scale the optimiser is safe on.

Why the fit window is 1–28 January 2026 (the default)
-----------------------------------------------------
The baseline is the market *without* the cascade: the engine adds the liquidation feedback on top
of it.  Fitting over the 29 Jan – 6 Feb crash would put the cascade's own moves into the
exogenous noise (and count them twice).  1 Jan 00:00 – 28 Jan 00:00 UTC is the calm stretch of the
data before the late-January sell-off: 7,775 five-minute returns per asset, no gaps, all six assets
(HYPE included) with a full history.

Why returns are divided by their day's level before the GARCH fit (``daily_normalise``)
-----------------------------------------------------------------------------------------
Fitted to the raw 5-minute returns, BTC's GARCH(1,1)-t lands on the integrated boundary
(alpha + beta = 0.9999999, 1–28 Jan 2026): the slow day-to-day changes of the volatility level
look like infinitely persistent variance to a single GARCH(1,1).  (Dividing by an hour-of-day
profile instead — the 14–17 UTC hours are 2.5× busier than 10–12 UTC — leaves it at 1.0000.)  Such a fit has no unconditional variance, and a path simulated from it has no
stable level.  So each return is divided by the root-mean-square of the returns of its UTC day,
relative to the window's (the window's mean square is unchanged), and the GARCH(1,1)-t is fitted
to that: it then measures the *intraday* clustering (BTC alpha + beta = 0.976, a half-life of
about 2.4 hours) around the window's average level.  ``daily_normalise=False`` gives the raw fit,
which raises :class:`~liqcascade.errors.InputError` for BTC (not covariance-stationary).

Simulation
----------
:func:`simulate_baseline` draws per-step Student-t shocks (the fitted ``nu``, scaled to unit
variance) with variance ``sigma2_5m * dt_s / 300`` inside each 5-minute bar, and advances the
5-minute variance recursion once per 300 s with the bar's realised aggregate shock.  A bar's
aggregate of many t shocks is nearly normal, so the simulated 5-minute returns' fat tails come from
the volatility clustering alone and are thinner than the data's (see :func:`stylised_facts`):
over 200,000 simulated bars the excess kurtosis of 5-minute returns is BTC 11.2 (real, 1–28 Jan:
14.8), ETH 6.8 (19.9), XRP 3.4 (12.1), DOGE 4.0 (26.7), HYPE 2.1 (5.2).  Nor is there a common
volatility factor: a residual's variance does not rise with the leader's, so an altcoin's calm
hours are less calm than the data's (ETH calm-hour realised vol 1.46× the real one, BTC's 1.25×).

The measured values ship in ``liqcascade/scenarios/measured/baseline.toml`` (written by
:func:`write_measured`, read by :func:`load_measured`), so the package works without the data.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.ohlcv import read_ohlcv
from ..errors import InputError
from ._series import bar_seconds, price_series

__all__ = [
    "ASSETS",
    "DEFAULT_WINDOW",
    "AssetFit",
    "BaselineFit",
    "default_data_dir",
    "load_bars",
    "load_closes",
    "log_returns",
    "load_returns_5m",
    "fit_baseline",
    "simulate_baseline",
    "event_vol_scale",
    "stylised_facts",
    "write_measured",
    "load_measured",
]

#: The assets of the measured baseline, the leader first.
ASSETS: tuple[str, ...] = ("BTC", "ETH", "SOL", "XRP", "DOGE", "HYPE")
#: The fit window [start, end) in UTC: the calm weeks before the late-January 2026 crash.
DEFAULT_WINDOW: tuple[str, str] = ("2026-01-01T00:00:00Z", "2026-01-28T00:00:00Z")
#: The bar size the GARCH recursion runs on, in seconds.
BAR_S = 300
#: The 5-minute files under the shared data folder (``{asset}`` = BTC, ETH, …).
FIVE_MIN_FILE = "binance_2026_harthor/binance_usdm_{asset}USDT_5m_2026-01-01_2026-02-19.csv"
#: The 1-minute BTC file under the shared data folder.
ONE_MIN_FILE = "binance_1m_feb2026_owlacar/binance_usdm_BTCUSDT_1m_2026-01-29_2026-02-07.csv"
#: Returns are multiplied by this (basis points) for the optimiser.
OPTIMISER_SCALE = 1e4
#: A fit needs at least this many returns (about 3.5 days of 5-minute bars).
MIN_BARS = 1000
#: The model in words, as written into the measured file.
MODEL = (
    "one factor: leader 5-min log return GARCH(1,1)-t (zero mean); other assets r_i = beta_i * r_leader + e_i "
    "(OLS through the origin), e_i GARCH(1,1)-t; returns divided by their UTC day's RMS relative to the window's "
    "before the GARCH fit"
)


# ----------------------------------------------------------------------------------------- data


def default_data_dir() -> Path:
    """The shared data folder: ``$LIQCASCADE_DATA`` if set, else ``../shared/data`` next to the
    repository checkout (it does not exist on a user's fresh clone)."""
    env = os.environ.get("LIQCASCADE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def load_bars(path: str | Path) -> pd.DataFrame:
    """Read one OHLCV file with :func:`liqcascade.data.read_ohlcv`.

    The harthor 5-minute files name their time column ``open_time_ms``, which is not among the
    reader's default names; it is passed explicitly when the header has it.

    Parameters
    ----------
    path
        A CSV with a header row (``open_time_ms`` or any :data:`~liqcascade.data.ohlcv.TIME_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        The reader's frame: ``timestamp`` (epoch ms), ``datetime`` (UTC), ``open``…``close``, ``volume``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {p}", field="path")
    with p.open("r", encoding="utf-8") as fh:
        head = fh.readline().strip().lower().split(",")
    return read_ohlcv(p, time_column="open_time_ms" if "open_time_ms" in head else None)


def load_closes(paths: Mapping[str, str | Path]) -> pd.DataFrame:
    """Close prices of several files on their common UTC timestamps (an inner join).

    Parameters
    ----------
    paths
        Asset name → OHLCV file.

    Returns
    -------
    pandas.DataFrame
        One column of closes per asset (quote currency), indexed by bar open time (UTC).
    """
    series = {}
    for asset, path in paths.items():
        bars = load_bars(path)
        series[asset] = price_series(bars, "close", field=f"{asset}.close")
    return pd.DataFrame(series).dropna(how="any")


def log_returns(closes: pd.DataFrame) -> pd.DataFrame:
    """Log returns between consecutive bars, a fraction per bar.

    A return that spans a gap (timestamps further apart than the median bar) is dropped rather than
    counted as one bar's move.

    Parameters
    ----------
    closes
        Prices on a sorted UTC DatetimeIndex, one column per asset.

    Returns
    -------
    pandas.DataFrame
        Returns labelled by the later bar's timestamp.  Binance bars are stamped with their open
        time, so the return labelled ``t`` runs from the close of the bar before (at ``t``) to the
        close of the bar opened at ``t`` (at ``t + bar``): it covers ``[t, t + bar)``.
        ``attrs['bar_s']`` is the bar size in seconds.
    """
    step = bar_seconds(closes.index)
    r = np.log(closes).diff()
    gap = np.r_[True, np.diff(closes.index.as_unit("ns").asi8) / 1e9 != step]
    out = r.loc[~gap]
    out.attrs["bar_s"] = step
    return out


def load_returns_5m(data_dir: str | Path | None = None, assets: Sequence[str] = ASSETS) -> pd.DataFrame:
    """The 5-minute log returns of the measured assets from the shared data folder.

    Parameters
    ----------
    data_dir
        The shared data folder (default :func:`default_data_dir`).
    assets
        Which assets (files :data:`FIVE_MIN_FILE`).

    Returns
    -------
    pandas.DataFrame
        Per-5-minute log returns (fraction), 1 Jan – 19 Feb 2026, one column per asset.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    return log_returns(load_closes({a: root / FIVE_MIN_FILE.format(asset=a) for a in assets}))


# ------------------------------------------------------------------------------------------ fit


@dataclass(frozen=True)
class AssetFit:
    """One asset's measured parameters.

    For the leader the GARCH parameters describe its own returns (``factor_beta`` = 1,
    ``corr_leader`` = 1, ``resid_vol_5m`` = 0); for another asset they describe its residual ``e_i``.

    Attributes
    ----------
    asset: name.
    role: ``"leader"`` or ``"factor"``.
    omega: GARCH constant, (fraction per 5 min)².
    alpha: GARCH ARCH coefficient (weight of the last squared shock).
    beta_garch: GARCH persistence coefficient (weight of the last variance).
    nu: Student-t degrees of freedom of the innovations.
    uncond_vol_5m: ``sqrt(omega / (1 - alpha - beta_garch))``, fraction per 5 min, of the GARCH'd series.
    converged: the optimiser's convergence flag was 0.
    factor_beta: OLS slope on the leader's return.
    corr_leader: sample correlation of the asset's and the leader's 5-minute returns.
    resid_vol_5m: sample standard deviation of the residual, fraction per 5 min.
    sample_vol_5m: sample standard deviation of the asset's own returns, fraction per 5 min.
    model_vol_5m: the model's unconditional vol of the asset, ``sqrt(b² s_L² + s_e²)``.
    n_bars: returns in the fit.
    loglik: the GARCH fit's log-likelihood at the optimiser's scale (basis points).
    """

    asset: str
    role: str
    omega: float
    alpha: float
    beta_garch: float
    nu: float
    uncond_vol_5m: float
    converged: bool
    factor_beta: float
    corr_leader: float
    resid_vol_5m: float
    sample_vol_5m: float
    model_vol_5m: float
    n_bars: int
    loglik: float

    def factor_vol_5m(self, level: str = "sample") -> float:
        """The long-run vol of this asset's GARCH'd factor (the leader's return or the residual),
        fraction per 5 min: the window's sample value (``"sample"``) or the MLE's (``"garch"``)."""
        if level == "garch":
            return self.uncond_vol_5m
        return self.sample_vol_5m if self.role == "leader" else self.resid_vol_5m


#: The unit of each AssetFit field, as written into the measured file.
UNITS: dict[str, str] = {
    "omega": "(log return, fraction per 5 min)^2",
    "alpha": "1",
    "beta_garch": "1",
    "nu": "degrees of freedom",
    "uncond_vol_5m": "log return, fraction per 5 min",
    "converged": "flag",
    "factor_beta": "1 (per unit of leader return)",
    "corr_leader": "1",
    "resid_vol_5m": "log return, fraction per 5 min",
    "sample_vol_5m": "log return, fraction per 5 min",
    "model_vol_5m": "log return, fraction per 5 min",
    "n_bars": "5-minute returns",
    "loglik": "nats (returns in basis points)",
}


@dataclass(frozen=True)
class BaselineFit:
    """The measured baseline: the window, the leader and one :class:`AssetFit` per asset."""

    leader: str
    window_start: str
    window_end: str
    bar_s: int
    daily_normalised: bool
    fits: tuple[AssetFit, ...]

    @property
    def assets(self) -> tuple[str, ...]:
        """Asset names, the leader first."""
        return tuple(f.asset for f in self.fits)

    def __getitem__(self, asset: str) -> AssetFit:
        for f in self.fits:
            if f.asset == asset:
                return f
        raise InputError(f"unknown asset {asset!r}; the fit has {', '.join(self.assets)}", field="asset")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the window and a dict of each asset's fields."""
        return {
            "leader": self.leader,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "bar_s": self.bar_s,
            "daily_normalised": self.daily_normalised,
            "assets": {f.asset: asdict(f) for f in self.fits},
        }

    def table(self) -> pd.DataFrame:
        """One row per asset, one column per :class:`AssetFit` field."""
        return pd.DataFrame([asdict(f) for f in self.fits]).set_index("asset")


def _window(returns: pd.DataFrame, window: tuple[Any, Any] | None) -> pd.DataFrame:
    if window is None:
        return returns
    if not isinstance(returns.index, pd.DatetimeIndex):
        raise InputError("a fit window needs returns on a DatetimeIndex (or pass window=None)", field="window")
    idx = returns.index if returns.index.tz is not None else returns.index.tz_localize("UTC")
    start, end = (pd.Timestamp(w) for w in window)
    start = start.tz_convert("UTC") if start.tzinfo else start.tz_localize("UTC")
    end = end.tz_convert("UTC") if end.tzinfo else end.tz_localize("UTC")
    if not start < end:
        raise InputError(f"start must be before end, got {window!r}", field="window")
    return returns.loc[(idx >= start) & (idx < end)]


def _day_groups(index: pd.Index, n: int) -> np.ndarray:
    if isinstance(index, pd.DatetimeIndex):
        days = index.floor("D").asi8
        return np.unique(days, return_inverse=True)[1]
    return np.arange(n) // (86_400 // BAR_S)


def _normalise_by_day(x: np.ndarray, groups: np.ndarray, name: str) -> np.ndarray:
    ms_day = np.bincount(groups, weights=x * x) / np.bincount(groups)
    if np.any(ms_day <= 0):
        raise InputError("a day of zero returns: cannot normalise by the day's level", field=name)
    return x / np.sqrt(ms_day[groups] / np.mean(x * x))


def _garch_t(x: np.ndarray, name: str) -> dict[str, float]:
    from arch import arch_model

    model = arch_model(x * OPTIMISER_SCALE, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False)
    res = model.fit(disp="off", show_warning=False)
    if res.convergence_flag != 0:
        msg = str(res.optimization_result.message).strip()
        raise InputError(f"GARCH(1,1)-t fit did not converge: {msg}", field=name)
    p = res.params
    omega = float(p["omega"]) / OPTIMISER_SCALE**2
    alpha, beta, nu = float(p["alpha[1]"]), float(p["beta[1]"]), float(p["nu"])
    persistence = alpha + beta
    if not persistence < 1 - 1e-6 or omega <= 0:
        raise InputError(
            f"GARCH(1,1)-t fit is not covariance-stationary (alpha+beta = {persistence:.6f}): "
            "no unconditional variance",
            field=name,
        )
    return {
        "omega": omega,
        "alpha": alpha,
        "beta_garch": beta,
        "nu": nu,
        "uncond_vol_5m": math.sqrt(omega / (1 - persistence)),
        "loglik": float(res.loglikelihood),
    }


def fit_baseline(
    returns_5m: pd.DataFrame,
    leader: str = "BTC",
    *,
    window: tuple[Any, Any] | None = DEFAULT_WINDOW,
    daily_normalise: bool = True,
) -> BaselineFit:
    """Fit the one-factor GARCH(1,1)-t baseline to 5-minute log returns.

    Parameters
    ----------
    returns_5m
        Per-5-minute log returns (fraction), one column per asset, on a UTC DatetimeIndex (needed
        for ``window`` and the day grouping; with another index, pass ``window=None`` and days are
        blocks of 288 rows).
    leader
        The factor's column (default BTC); it comes first in the result.
    window
        ``(start, end)`` in UTC: the rows labelled ``start <= t < end`` (with open-time labels,
        see :func:`log_returns`, the returns inside the window).  Default :data:`DEFAULT_WINDOW`,
        1 Jan – 28 Jan 2026 00:00 UTC, the calm weeks before the crash (the cascade must not leak
        into the exogenous noise).  ``None``: all rows.
    daily_normalise
        Divide each return by its UTC day's RMS relative to the window's before the GARCH fits (see
        the module notes: without it BTC's fit is integrated, alpha + beta = 1).

    Returns
    -------
    BaselineFit

    Raises
    ------
    InputError
        Leader missing, NaN or infinite returns, fewer than :data:`MIN_BARS` returns in the window,
        a flat series, a fit that does not converge or is not covariance-stationary — naming the asset.
    """
    if not isinstance(returns_5m, pd.DataFrame):
        raise InputError("must be a pandas DataFrame of returns, one column per asset", field="returns_5m")
    if leader not in returns_5m.columns:
        raise InputError(f"leader {leader!r} is not a column; got {list(returns_5m.columns)}", field="leader")
    r = _window(returns_5m, window)
    if len(r) < MIN_BARS:
        raise InputError(f"needs at least {MIN_BARS} returns in the fit window, got {len(r)}", field="returns_5m")
    cols = [leader, *[c for c in r.columns if c != leader]]
    data = {}
    for c in cols:
        v = pd.to_numeric(r[c], errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(v)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"return is {v[i]!r} at {r.index[i]}; give finite returns", field=str(c), row=i)
        if np.std(v) == 0:
            raise InputError("returns are all equal: nothing to fit", field=str(c))
        data[c] = v
    groups = _day_groups(r.index, len(r))
    prep = (lambda x, name: _normalise_by_day(x, groups, name)) if daily_normalise else (lambda x, name: x)

    lead = data[leader]
    g = _garch_t(prep(lead, str(leader)), str(leader))
    s_lead = float(np.std(lead, ddof=1))
    fits = [
        AssetFit(
            asset=str(leader),
            role="leader",
            converged=True,
            factor_beta=1.0,
            corr_leader=1.0,
            resid_vol_5m=0.0,
            sample_vol_5m=s_lead,
            model_vol_5m=g["uncond_vol_5m"],
            n_bars=len(lead),
            **g,
        )
    ]
    for c in cols[1:]:
        y = data[c]
        b = float(np.linalg.lstsq(lead[:, None], y, rcond=None)[0][0])
        e = y - b * lead
        ge = _garch_t(prep(e, str(c)), str(c))
        fits.append(
            AssetFit(
                asset=str(c),
                role="factor",
                converged=True,
                factor_beta=b,
                corr_leader=float(np.corrcoef(lead, y)[0, 1]),
                resid_vol_5m=float(np.std(e, ddof=1)),
                sample_vol_5m=float(np.std(y, ddof=1)),
                model_vol_5m=math.sqrt(b * b * g["uncond_vol_5m"] ** 2 + ge["uncond_vol_5m"] ** 2),
                n_bars=len(y),
                **ge,
            )
        )
    if isinstance(r.index, pd.DatetimeIndex) and window is not None:
        ws, we = (pd.Timestamp(w).isoformat() for w in window)
    elif isinstance(r.index, pd.DatetimeIndex):
        ws, we = r.index[0].isoformat(), r.index[-1].isoformat()
    else:
        ws, we = "", ""
    return BaselineFit(
        leader=str(leader),
        window_start=ws,
        window_end=we,
        bar_s=BAR_S,
        daily_normalised=daily_normalise,
        fits=tuple(fits),
    )


# ------------------------------------------------------------------------------------- simulate


def simulate_baseline(
    fit: BaselineFit,
    n_steps: int,
    dt_s: float = 1.0,
    seed: int = 0,
    assets: Sequence[str] | None = None,
    level: str = "sample",
    factors: bool = False,
    vol_scale: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Simulate per-step log returns of the baseline at ``dt_s`` resolution, zero drift.

    Each factor (the leader and every residual) keeps a 5-minute GARCH variance ``sigma2``, starting
    at its unconditional value.  Inside a 5-minute bar the ``m = 300 / dt_s`` step shocks are
    Student-t with the fitted ``nu``, scaled to variance ``sigma2 * dt_s / 300``; after the bar,
    ``sigma2 <- omega + alpha * R**2 + beta * sigma2`` with ``R`` the bar's summed shock.  An asset's
    return is ``factor_beta * leader shock + its residual shock``.  All factors are always drawn, so an
    asset's path for a seed does not depend on which ``assets`` are asked for.

    Parameters
    ----------
    fit
        A :class:`BaselineFit` (:func:`fit_baseline` or :func:`load_measured`).
    n_steps
        Number of steps.
    dt_s
        Step in seconds; 300 must be a whole multiple of it.
    seed
        Seed of a :func:`numpy.random.default_rng`; the same seed gives the same paths.
    assets
        Which assets, in this column order (default: all, the leader first).
    level
        Each factor's long-run variance.  ``"sample"`` (default, variance targeting): the window's
        sample variance of the factor (the leader's returns, an asset's OLS residual), reached by
        rescaling ``omega`` to ``var * (1 - alpha - beta)`` with alpha, beta and nu as fitted.
        ``"garch"``: the MLE's own ``omega / (1 - alpha - beta)``.  Measured on 1–28 Jan 2026, the
        MLE level overshoots the sample's (BTC 0.00130 vs 0.00110 per 5 min, SOL residual +17 %,
        ETH residual +5 %), and because the leader's overshoot is the largest, ``"garch"`` also
        inflates the correlations (simulated ETH–BTC 0.91 against 0.868 measured, DOGE 0.82
        against 0.72); with ``"sample"`` the correlations are the measured ones by construction.
    factors
        Return each asset's own factor instead of its return: the leader's shock for the leader,
        the residual ``e_i`` for the others (the engine adds ``factor_beta * leader`` itself,
        through its contagion channel, so that the leader's endogenous moves carry over too).
    vol_scale
        Per asset name, a factor on its factor's long-run volatility (the leader's, an asset's
        residual's): the level of the day the simulation stands for against the fit window's
        (:func:`event_vol_scale`); assets not named keep 1.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_steps, len(assets))``: log returns, a fraction per step.
    """
    if level not in ("sample", "garch"):
        raise InputError(f"must be 'sample' or 'garch', got {level!r}", field="level")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise InputError(f"must be a positive whole number, got {n_steps!r}", field="n_steps")
    if not (isinstance(dt_s, (int, float)) and math.isfinite(dt_s) and 0 < dt_s <= BAR_S):
        raise InputError(f"must be in (0, {BAR_S}] seconds, got {dt_s!r}", field="dt_s")
    m_float = BAR_S / dt_s
    m = int(round(m_float))
    if abs(m_float - m) > 1e-9 * m_float:
        raise InputError(f"{BAR_S} s must be a whole multiple of the step, got {dt_s!r}", field="dt_s")
    names = fit.assets
    cols = list(range(len(names))) if assets is None else [names.index(fit[a].asset) for a in assets]
    k = len(names)
    alpha = np.array([f.alpha for f in fit.fits])
    beta = np.array([f.beta_garch for f in fit.fits])
    scale = dict(vol_scale or {})
    for a, x in scale.items():
        fit[a]  # an unknown asset is an InputError
        if not (isinstance(x, (int, float)) and math.isfinite(x) and x > 0):
            raise InputError(f"{a}: must be a positive finite factor, got {x!r}", field="vol_scale")
    long_run = np.array([(f.factor_vol_5m(level) * scale.get(f.asset, 1.0)) ** 2 for f in fit.fits])
    omega = long_run * (1.0 - alpha - beta)
    nu = np.array([f.nu for f in fit.fits])
    load = np.array([f.factor_beta for f in fit.fits])
    n_bars = -(-int(n_steps) // m)

    rng = np.random.default_rng(seed)
    z = rng.standard_t(nu, size=(n_bars, m, k))
    z *= np.sqrt((nu - 2.0) / nu)  # unit variance
    bar_shock2 = (z.sum(axis=1) ** 2) / m  # (n_bars, k), the bar's squared unit shock
    sig2 = np.empty((n_bars, k))
    s = long_run
    for b in range(n_bars):
        sig2[b] = s
        s = omega + (alpha * bar_shock2[b] + beta) * s
    z *= np.sqrt(sig2 / m)[:, None, :]
    x = z.reshape(n_bars * m, k)[:n_steps]
    if factors:
        return np.ascontiguousarray(x[:, cols])
    out = x[:, cols] + x[:, [0]] * load[cols] * (np.asarray(cols) != 0)
    return np.ascontiguousarray(out)


def _returns_from(g: pd.DataFrame, lo: int, bar_s: int | None = None) -> pd.Series:
    """Close-to-close log returns of the bars ``g`` (one asset's, before the start) that end at or
    after ``lo`` (the bar before gives the first), on its finest bars or on ``bar_s``-second bars;
    indexed by the bar's open time (UTC epoch ms)."""
    size = int(g["bar_s"].min()) if bar_s is None else bar_s
    g = g[g["bar_s"] == size].sort_values("time_ms").drop_duplicates("time_ms")
    r = pd.Series(np.diff(np.log(g["close"].to_numpy(np.float64))), index=g["time_ms"].to_numpy()[1:])
    return r[r.index >= lo]


def event_vol_scale(fit: BaselineFit, series: pd.DataFrame, start_ms: int, hours: float = 24.0) -> dict[str, float]:
    """Per asset of ``fit`` that ``series`` covers, the volatility level of the ``hours`` before
    ``start_ms`` against the fit window's, for the factor the baseline draws: the realised
    volatility over ``[start_ms - hours, start_ms)`` as a 5-minute figure
    (``sqrt(sum r**2 * 300 / span_s)``, any bar size) over the window's, of the leader's returns
    (its finest bars, over ``sample_vol_5m``) and of each other asset's residual
    ``r_i - factor_beta * r_leader`` (their common bars, over ``resid_vol_5m``; an asset whose
    bars the leader does not share is measured on its own returns over ``sample_vol_5m``).  This is
    the forecast of the day's level an analyst holds at the start (the daily term of a HAR model):
    the baseline was fitted to day-normalised returns, so its level is a separate, slower
    quantity.  ``series``: a scenario's market series (:meth:`liqcascade.scenario.Scenario.series`).
    Raises :class:`InputError` when a covered asset's window holds no return."""
    if not (isinstance(hours, (int, float)) and math.isfinite(hours) and hours > 0):
        raise InputError(f"must be a positive number of hours, got {hours!r}", field="hours")
    lo = int(start_ms - hours * 3_600_000)
    span = hours * 3600.0
    before = {a: g for a, g in series[series["time_ms"] < start_ms].groupby("asset") if a in fit.assets}
    out: dict[str, float] = {}
    for a, g in before.items():
        r = _returns_from(g, lo)
        if r.size == 0:
            raise InputError(f"{a}: no bar in the {hours:g} h before the start", field="series")
        f = fit[a]
        if a != fit.leader and fit.leader in before:
            lead = _returns_from(before[fit.leader], lo, bar_s=int(g["bar_s"].min()))
            both = pd.concat([r, lead], axis=1, join="inner").dropna()
            if len(both):
                e = both.iloc[:, 0].to_numpy() - f.factor_beta * both.iloc[:, 1].to_numpy()
                out[a] = float(np.sqrt(np.sum(e**2) * BAR_S / span) / f.resid_vol_5m)
                continue
        out[a] = float(np.sqrt(np.sum(r.to_numpy() ** 2) * BAR_S / span) / f.sample_vol_5m)
    return out


# ------------------------------------------------------------------------------ stylised facts


def _groups(index: pd.Index | None, n: int, bar_s: float, span_s: int) -> tuple[np.ndarray, int]:
    """Group ids of the rows in whole spans of ``span_s`` seconds, and the rows per whole span;
    rows of incomplete spans get -1."""
    per = span_s / bar_s
    if abs(per - round(per)) > 1e-9 or round(per) < 1:
        raise InputError(f"{span_s} s must be a whole multiple of the bar, got bar_s={bar_s!r}", field="bar_s")
    per = int(round(per))
    if isinstance(index, pd.DatetimeIndex):
        # open-time labels (see log_returns): the return labelled t covers [t, t + bar)
        start = index.as_unit("ns").asi8
        ids = np.unique(start // int(span_s * 1e9), return_inverse=True)[1]
    else:
        ids = np.arange(n) // per
    counts = np.bincount(ids)
    ids = np.where(counts[ids] == per, ids, -1)
    return ids, per


def _aggregate(x: np.ndarray, ids: np.ndarray) -> np.ndarray:
    keep = ids >= 0
    uniq, inv = np.unique(ids[keep], return_inverse=True)
    out = np.zeros((len(uniq), x.shape[1]))
    np.add.at(out, inv, x[keep])
    return out


def _calm_hour_rv(x: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Median realised vol of the calm hours, per column (hours with |return| at or below the median)."""
    keep = ids >= 0
    uniq, inv = np.unique(ids[keep], return_inverse=True)
    k = x.shape[1]
    ret = np.zeros((len(uniq), k))
    rv2 = np.zeros((len(uniq), k))
    np.add.at(ret, inv, x[keep])
    np.add.at(rv2, inv, x[keep] ** 2)
    out = np.empty(k)
    for j in range(k):
        calm = np.abs(ret[:, j]) <= np.median(np.abs(ret[:, j]))
        out[j] = float(np.median(np.sqrt(rv2[calm, j])))
    return out


def stylised_facts(returns: pd.DataFrame | np.ndarray, bar_s: float) -> dict[str, Any]:
    """The facts a baseline must reproduce, measured the same way on real and simulated returns.

    Calm hours are the whole hours whose absolute hourly return is at or below the median of that
    asset's hours: the rule picks the quiet half of any stretch (real data with crash hours in it,
    or a simulation) without hand-picked dates.

    Parameters
    ----------
    returns
        Log returns (fraction per bar), one column per asset: a DataFrame (on a DatetimeIndex, hours
        and 5-minute bars are clock-aligned; otherwise rows are grouped from the first) or an array.
    bar_s
        The bar size in seconds; 300 must be a whole multiple of it.

    Returns
    -------
    dict
        ``assets``; ``n_hours`` (whole hours); ``calm_hour_rv`` (realised vol of the bar's own
        returns per hour, sqrt of the summed squares, fraction per hour, median over calm hours) and
        ``calm_hour_rv_5m`` (the same from 5-minute aggregates); on 5-minute aggregates: ``vol_5m``
        (standard deviation), ``excess_kurtosis_5m``, ``abs_acf_5m`` (autocorrelation of absolute
        returns at lags 1–12) and ``corr_5m`` (correlation matrix, nested dict).
    """
    if isinstance(returns, pd.DataFrame):
        names = [str(c) for c in returns.columns]
        x = returns.to_numpy(np.float64)
        index: pd.Index | None = returns.index
    else:
        x = np.asarray(returns, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        names = [f"asset{j}" for j in range(x.shape[1])]
        index = None
    if x.ndim != 2 or len(x) == 0:
        raise InputError("must be a non-empty 2-D table of returns", field="returns")
    if not np.all(np.isfinite(x)):
        raise InputError(
            "returns must be finite (no NaN)", field="returns", row=int(np.flatnonzero(~np.isfinite(x))[0])
        )
    hour_ids, _ = _groups(index, len(x), bar_s, 3600)
    five_ids, _ = _groups(index, len(x), bar_s, BAR_S)
    if not (hour_ids >= 0).any():
        raise InputError("needs at least one whole hour of returns", field="returns")
    r5 = _aggregate(x, five_ids)
    # the hour of each 5-minute aggregate (that of its first row); hours with all 12 aggregates count
    keep = five_ids >= 0
    first = np.unique(five_ids[keep], return_index=True)[1]
    h5 = hour_ids[keep][first]
    per_hour = 3600 // BAR_S
    ok = h5 >= 0
    counts = np.bincount(h5[ok], minlength=int(h5.max()) + 1 if ok.any() else 1)
    h5 = np.where(ok & (counts[np.maximum(h5, 0)] == per_hour), h5, -1)
    c5 = r5 - r5.mean(axis=0)
    var5 = (c5**2).mean(axis=0)
    kurt = (c5**4).mean(axis=0) / var5**2 - 3.0
    a = np.abs(r5) - np.abs(r5).mean(axis=0)
    acf = [
        [float((a[lag:, j] * a[:-lag, j]).sum() / (a[:, j] ** 2).sum()) for lag in range(1, 13)]
        for j in range(x.shape[1])
    ]
    corr = np.corrcoef(r5, rowvar=False).reshape(x.shape[1], x.shape[1])
    rv = _calm_hour_rv(x, hour_ids)
    rv5 = _calm_hour_rv(r5, h5)
    return {
        "assets": names,
        "bar_s": float(bar_s),
        "n_hours": int(len(np.unique(hour_ids[hour_ids >= 0]))),
        "calm_hour_rv": dict(zip(names, rv.tolist())),
        "calm_hour_rv_5m": dict(zip(names, rv5.tolist())),
        "vol_5m": dict(zip(names, np.sqrt(r5.var(axis=0, ddof=1)).tolist())),
        "excess_kurtosis_5m": dict(zip(names, kurt.tolist())),
        "abs_acf_5m": dict(zip(names, acf)),
        "corr_5m": {n: dict(zip(names, corr[i].tolist())) for i, n in enumerate(names)},
    }


# ------------------------------------------------------------------------------- measured file


def _measured_resource() -> Path:
    return Path(str(resources.files("liqcascade.scenarios").joinpath("measured", "baseline.toml")))


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, float):
        if not math.isfinite(v):
            raise InputError(f"cannot write a non-finite value {v!r}", field="value")
        return repr(float(v))
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


#: How each field was measured, for the source line of the measured file.
_HOW: dict[str, str] = {
    "omega": "arch GARCH(1,1)-t MLE{of}, day-normalised",
    "alpha": "arch GARCH(1,1)-t MLE{of}, day-normalised",
    "beta_garch": "arch GARCH(1,1)-t MLE{of}, day-normalised",
    "nu": "arch GARCH(1,1)-t MLE{of}, day-normalised",
    "loglik": "arch GARCH(1,1)-t MLE{of}, day-normalised",
    "converged": "arch GARCH(1,1)-t MLE{of}: optimiser flag 0",
    "uncond_vol_5m": "arch GARCH(1,1)-t MLE{of}: sqrt(omega / (1 - alpha - beta_garch))",
    "factor_beta": "OLS through the origin on {leader}'s 5-min log returns",
    "resid_vol_5m": "sample standard deviation of the OLS residual on {leader}",
    "corr_leader": "sample correlation with {leader}'s 5-min log returns",
    "sample_vol_5m": "sample standard deviation of the 5-min log returns",
    "model_vol_5m": "model: sqrt(factor_beta^2 * uncond_vol_5m({leader})^2 + uncond_vol_5m^2)",
    "n_bars": "count of 5-min log returns in the window",
}


def write_measured(path: str | Path | None = None, data_dir: str | Path | None = None) -> BaselineFit:
    """Fit the baseline to the shared data and write it as the embedded measurement (TOML).

    Parameters
    ----------
    path
        Where to write (default: the package's ``scenarios/measured/baseline.toml``).
    data_dir
        The shared data folder (default :func:`default_data_dir`).

    Returns
    -------
    BaselineFit
        The fit that was written.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    fit = fit_baseline(load_returns_5m(root))
    start, end = (pd.Timestamp(w) for w in DEFAULT_WINDOW)
    days = f"{start.day} {start:%b %H:%M} – {end.day} {end:%b %Y %H:%M} UTC"
    lines = [
        "# The free-running market's stochastic baseline, measured from Binance USD-M 5-minute bars.",
        "# Generated by liqcascade.analytics.baseline.write_measured(); do not edit by hand:",
        "# tests/analytics/test_baseline.py compares it with a fresh fit of the data.",
        "# Factor assets' omega/alpha/beta_garch/nu/uncond_vol_5m describe their residual e_i.",
        "",
        "[baseline]",
        f"leader = {_toml_value(fit.leader)}",
        f"assets = [{', '.join(_toml_value(a) for a in fit.assets)}]",
        f"window_start = {_toml_value(fit.window_start)}",
        f"window_end = {_toml_value(fit.window_end)}",
        f"bar_s = {fit.bar_s}",
        f"daily_normalised = {_toml_value(fit.daily_normalised)}",
        f"model = {_toml_value(MODEL)}",
        f"optimiser_scale = {_toml_value(OPTIMISER_SCALE)}",
    ]
    for f in fit.fits:
        src_file = FIVE_MIN_FILE.format(asset=f.asset)
        lines += ["", f"[assets.{f.asset}]", f"role = {_toml_value(f.role)}"]
        for fld in fields(AssetFit):
            if fld.name in ("asset", "role"):
                continue
            how = _HOW[fld.name].format(leader=fit.leader, of="" if f.role == "leader" else " of the residual")
            source = f"data: {src_file}, {days}, {how}"
            lines.append(
                f"{fld.name} = {{ value = {_toml_value(getattr(f, fld.name))}, unit = {_toml_value(UNITS[fld.name])}, "
                f"source = {_toml_value(source)} }}"
            )
    out = Path(path) if path is not None else _measured_resource()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return fit


def load_measured(path: str | Path | None = None) -> BaselineFit:
    """The embedded measurement (``scenarios/measured/baseline.toml``) as a :class:`BaselineFit`.

    Parameters
    ----------
    path
        Another file written by :func:`write_measured` (default: the package's).

    Raises
    ------
    InputError
        The file is missing, not TOML, or lacks a field.
    """
    p = Path(path) if path is not None else _measured_resource()
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no measured baseline at {p}", field="path") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{p.name}: not valid TOML: {e}", field="path") from None
    try:
        head = doc["baseline"]
        fits = []
        for a in head["assets"]:
            row = doc["assets"][a]
            vals = {fld.name: row[fld.name]["value"] for fld in fields(AssetFit) if fld.name not in ("asset", "role")}
            fits.append(AssetFit(asset=a, role=row["role"], **vals))
        return BaselineFit(
            leader=head["leader"],
            window_start=head["window_start"],
            window_end=head["window_end"],
            bar_s=int(head["bar_s"]),
            daily_normalised=bool(head["daily_normalised"]),
            fits=tuple(fits),
        )
    except KeyError as e:
        raise InputError(f"{p.name}: missing key {e.args[0]!r}", field=str(e.args[0])) from None
