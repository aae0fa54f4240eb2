"""How fast a venue's gap to the index closes: the mean reversion of a basis, measured.

The engine (:mod:`liqcascade.engine.prices`) closes each venue's gap to the index by
``1 - exp(-arbitrage_rate * dt)`` a step, so a gap decays as ``exp(-arbitrage_rate * t)``.  On
two price series sampled every ``dt`` seconds the log gap ``x = log a - log b``, less its slow
level (a rolling mean: funding premium, USDT/USD), follows an AR(1) ``x_t = phi x_{t-dt} + e``
with ``phi = exp(-rate * dt)``.  :func:`basis_reversion` fits it (ordinary least squares on
the de-meaned gap, :mod:`statsmodels`) and returns ``rate = -log(phi)/dt``, or, when ``phi`` is not
significantly above 0 (the gap forgets itself within one sample), only the lower bound
``rate >= -log(phi_hi)/dt`` with ``phi_hi`` the upper end of ``phi``'s 95 % interval.  At
5-minute or 1-hour sampling a rate near 1/s is far beyond resolution: what is left at the next
sample is noise (bid-ask bounce, the two closes' different instants), so a bound is all these
data can give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["BasisReversion", "basis_reversion"]


@dataclass(frozen=True)
class BasisReversion:
    """The AR(1) of a de-meaned log basis sampled every ``dt_s`` seconds.

    ``phi`` (95 % interval ``phi_ci``, OLS standard errors) is the lag-one coefficient.  When the
    interval's lower end is above 0, ``rate_per_s = -log(phi)/dt_s`` is a measurement and
    ``half_life_s`` its half-life; otherwise they are NaN and ``resolved`` is False.  In both cases
    ``rate_lower_bound_per_s = -log(phi_ci[1])/dt_s`` (``inf`` when ``phi_ci[1] <= 0``) bounds
    the rate from below at 97.5 %.  ``basis_sd`` is the de-meaned gap's standard deviation (log).
    """

    dt_s: float
    n: int
    phi: float
    phi_ci: tuple[float, float]
    resolved: bool
    rate_per_s: float
    half_life_s: float
    rate_lower_bound_per_s: float
    basis_sd: float
    demean_window: int


def basis_reversion(a: pd.Series, b: pd.Series, *, demean_window: int = 288) -> BasisReversion:
    """Mean reversion of ``log a - log b`` (two price series on one regular time grid).

    Parameters
    ----------
    a, b:
        Prices (positive) on DatetimeIndexes; only their common times are used and the grid
        step ``dt`` is the median spacing.  Pairs across a gap in the grid are dropped.
    demean_window:
        Samples of the centred rolling mean taken off the gap (its slow level); 288 is a day of
        5-minute bars.  ``0``: the whole-sample mean.
    """
    for name, s in (("a", a), ("b", b)):
        if not isinstance(s, pd.Series) or not isinstance(s.index, pd.DatetimeIndex):
            raise InputError("must be a Series on a DatetimeIndex", field=name)
    j = pd.concat([a.astype(np.float64), b.astype(np.float64)], axis=1, join="inner").dropna()
    if len(j) < 30:
        raise InputError(f"the two series share {len(j)} times; need at least 30", field="a")
    v = j.to_numpy()
    if not np.all(v > 0):
        raise InputError("prices must be positive", field="a")
    t = pd.DatetimeIndex(j.index).as_unit("ns").asi8 / 1e9
    steps = np.diff(t)
    dt = float(np.median(steps))
    x = pd.Series(np.log(v[:, 0]) - np.log(v[:, 1]))
    if demean_window and demean_window > 1:
        x = x - x.rolling(int(demean_window), center=True, min_periods=max(2, int(demean_window) // 2)).mean()
    else:
        x = x - x.mean()
    xv = x.to_numpy()
    ok = np.isfinite(xv[1:]) & np.isfinite(xv[:-1]) & np.isclose(steps, dt)
    y, z = xv[1:][ok], xv[:-1][ok]
    if len(y) < 30:
        raise InputError("fewer than 30 consecutive pairs on the grid", field="a")
    import statsmodels.api as sm

    res = sm.OLS(y, z).fit()
    phi = float(res.params[0])
    lo, hi = (float(c) for c in res.conf_int(0.05)[0])
    resolved = lo > 0 and phi < 1
    rate = -math.log(phi) / dt if resolved else float("nan")
    bound = -math.log(hi) / dt if 0 < hi < 1 else (math.inf if hi <= 0 else 0.0)
    return BasisReversion(
        dt_s=dt,
        n=int(len(y)),
        phi=phi,
        phi_ci=(lo, hi),
        resolved=bool(resolved),
        rate_per_s=rate,
        half_life_s=math.log(2.0) / rate if resolved else float("nan"),
        rate_lower_bound_per_s=bound,
        basis_sd=float(np.nanstd(xv)),
        demean_window=int(demean_window),
    )
