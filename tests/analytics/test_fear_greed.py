"""The rebuilt fear & greed index against the real one, and on synthetic markets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqcascade.analytics import FEAR_GREED_WEIGHTS, classify, compare_with, fear_greed_components, fear_greed_index
from liqcascade.data import read_ohlcv
from liqcascade.errors import InputError


def test_weights_sum_to_one():
    assert sum(FEAR_GREED_WEIGHTS.values()) == pytest.approx(1.0)


def test_against_the_real_index(data_file):
    bars = read_ohlcv(data_file("scofieldchen_daily", "binance_btcusdt_1d.csv"))
    # the published index is not market data (date, value, classification): no reader for it
    real = pd.read_csv(data_file("scofieldchen_daily", "fear_greed_index.csv"), parse_dates=["date"]).set_index("date")
    stats = compare_with(fear_greed_index(bars), real["value"])
    # measured: 2,422 shared days (Feb 2018 - Sep 2024), Pearson 0.829, Spearman 0.837, MAD 10.1 points
    assert stats["days"] == 2_422
    assert stats["pearson"] >= 0.80
    assert stats["spearman"] >= 0.80
    assert stats["mean_abs_diff"] <= 11.0


def test_intraday_bars_give_the_same_daily_index(data_file):
    daily = read_ohlcv(data_file("scofieldchen_daily", "binance_btcusdt_1d.csv"))
    four_h = read_ohlcv(data_file("scofieldchen_daily", "binance_btcusdt_4h_ohlcv.csv"))
    a, b = fear_greed_index(daily), fear_greed_index(four_h)
    j = pd.concat([a, b], axis=1, join="inner").dropna()
    assert j.iloc[:, 0].corr(j.iloc[:, 1]) > 0.99


def _bars(prices):
    idx = pd.date_range("2023-01-01", periods=len(prices), freq="D", tz="UTC")
    return pd.DataFrame({"timestamp": idx, "close": prices, "volume": 1_000.0})


def test_a_steady_rally_is_greed_and_a_crash_is_fear():
    n = 200
    rally = 20_000 * np.exp(np.linspace(0, 0.8, n)) * (1 + 0.01 * np.sin(np.arange(n)))
    crash = np.concatenate([rally[:150], rally[149] * np.exp(np.linspace(0, -0.6, 50))])
    up, down = fear_greed_index(_bars(rally)), fear_greed_index(_bars(crash))
    assert up.iloc[:90].isna().all() and up.iloc[90:].notna().all()
    assert up.iloc[-1] > 55 and classify(up.iloc[-1]) in ("Greed", "Extreme Greed")
    assert down.iloc[-1] < 25 and classify(down.iloc[-1]) == "Extreme Fear"
    comp = fear_greed_components(_bars(rally))
    assert ((comp.dropna() >= 0) & (comp.dropna() <= 100)).all().all()


def test_too_short_and_bad_values():
    with pytest.raises(InputError) as e:
        fear_greed_index(_bars(np.full(50, 100.0)))
    assert e.value.field == "close"
    p = np.full(120, 100.0)
    p[7] = np.nan
    with pytest.raises(InputError) as e:
        fear_greed_index(_bars(p))
    assert e.value.field == "close" and e.value.row == 7
    with pytest.raises(InputError):
        classify(101)
