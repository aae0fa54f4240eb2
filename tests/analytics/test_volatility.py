"""Realised volatility and drawdown: hand-computable series and a GBM with known sigma."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from liqcascade.analytics import drawdown, max_drawdown, periods_per_year, realized_volatility, volatility
from liqcascade.errors import InputError


def series(values, freq="1D", start="2024-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq=freq, tz="UTC"), dtype=float)


def test_drawdown_by_hand():
    dd = drawdown(series([100, 120, 90, 60, 130, 117]))
    np.testing.assert_allclose(dd.to_numpy(), [0, 0, -0.25, -0.5, 0, -0.1])
    assert max_drawdown(series([100, 120, 90, 60, 130, 117])) == pytest.approx(-0.5)


def test_drawdown_accepts_a_frame_with_ms_timestamps():
    f = pd.DataFrame({"timestamp": [0, 60_000, 120_000], "close": [10.0, 5.0, 20.0]})
    np.testing.assert_allclose(drawdown(f).to_numpy(), [0, -0.5, 0])


@pytest.mark.parametrize("freq, bars_per_year", [("5min", 105_120), ("1h", 8_760), ("1D", 365)])
def test_annualisation_is_365_days_of_24_hours(freq, bars_per_year):
    idx = pd.date_range("2024-01-01", periods=10, freq=freq, tz="UTC")
    assert periods_per_year(idx) == pytest.approx(bars_per_year)


@pytest.mark.parametrize("freq, sigma", [("5min", 0.6), ("1h", 0.8), ("1D", 0.5)])
def test_gbm_volatility_recovered(freq, sigma):
    rng = np.random.default_rng(7)
    ppy = {"5min": 105_120, "1h": 8_760, "1D": 365}[freq]
    n = ppy if freq != "1D" else 365 * 6
    r = rng.normal(-0.5 * sigma**2 / ppy, sigma / math.sqrt(ppy), n)
    prices = series(50_000 * np.exp(np.cumsum(r)), freq=freq)
    rolling = realized_volatility(prices, window="30D")
    # standard error of a 30-day estimate: sigma / sqrt(2 * bars in 30 days); daily bars have only 30
    tol = 0.05 if freq != "1D" else 0.35
    last = rolling.dropna()
    assert abs(last.iloc[-1] / sigma - 1) < tol
    assert abs(last.median() / sigma - 1) < tol / 2
    assert volatility(prices) == pytest.approx(sigma, rel=0.05)


def test_rolling_window_is_a_time_span_not_a_bar_count():
    rng = np.random.default_rng(1)
    p5 = series(100 * np.exp(np.cumsum(rng.normal(0, 0.001, 288 * 40))), freq="5min")
    v = realized_volatility(p5, window="1D")
    # one day of 5-minute bars = 288 returns: the first value appears once half a day is there
    assert v.notna().idxmax() == p5.index[144]


@pytest.mark.parametrize(
    "bad, field",
    [
        (series([]), "close"),
        (series([1.0, float("nan"), 2.0]), "close"),
        (series([1.0, 0.0, 2.0]), "close"),
        (
            pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03"], utc=True)),
            "timestamp",
        ),
        (
            pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-03"], utc=True)),
            "timestamp",
        ),
    ],
)
def test_bad_input_names_the_field(bad, field):
    with pytest.raises(InputError) as e:
        realized_volatility(bad)
    assert e.value.field == field


def test_missing_column_is_named():
    with pytest.raises(InputError) as e:
        drawdown(pd.DataFrame({"timestamp": [0, 1], "price": [1.0, 2.0]}))
    assert e.value.field == "close"


def test_bad_window():
    with pytest.raises(InputError) as e:
        realized_volatility(series([1.0, 2.0, 3.0]), window="yesterday")
    assert e.value.field == "window"
