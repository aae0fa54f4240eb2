"""The basis mean reversion (analytics/basis.py): an AR(1) gap with a known rate is recovered; a
gap that forgets itself within one sample gives only a lower bound; bad input is an InputError."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from liqcascade.analytics.basis import basis_reversion
from liqcascade.errors import InputError

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def pair(phi: float, n: int = 5000, dt: float = 60.0, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + 1e-4 * rng.standard_normal()
    idx = T0 + pd.to_timedelta(np.arange(n) * dt, unit="s")
    b = pd.Series(50_000.0 * np.exp(np.cumsum(1e-3 * rng.standard_normal(n))), index=idx)
    return b * np.exp(x + 2e-4), b  # a constant premium, taken off with the mean


def test_ar1_rate_recovered():
    a, b = pair(0.8)
    r = basis_reversion(a, b, demean_window=0)
    assert r.resolved and r.dt_s == 60.0
    assert r.phi == pytest.approx(0.8, abs=0.03)
    assert r.rate_per_s == pytest.approx(-math.log(0.8) / 60.0, rel=0.15)
    assert r.half_life_s == pytest.approx(math.log(2) / r.rate_per_s)
    assert r.rate_lower_bound_per_s < r.rate_per_s


def test_fast_gap_gives_a_lower_bound_only():
    a, b = pair(0.0)  # gone within one sample
    r = basis_reversion(a, b, demean_window=100)
    assert not r.resolved and math.isnan(r.rate_per_s)
    assert r.phi_ci[0] < 0 < r.phi_ci[1]
    assert r.rate_lower_bound_per_s == pytest.approx(-math.log(r.phi_ci[1]) / 60.0)
    assert r.rate_lower_bound_per_s > 1.0 / 60.0  # at least about one e-fold a sample


def test_bad_input():
    a, b = pair(0.5, n=20)
    with pytest.raises(InputError):
        basis_reversion(a, b)
    with pytest.raises(InputError):
        basis_reversion(a.to_numpy(), b)  # type: ignore[arg-type]
