"""BTC/Nasdaq-100 correlation on trading days; funding and open-interest changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqcascade.analytics import align_trading_days, funding_changes, open_interest_changes, rolling_correlation
from liqcascade.data import DataCleaningWarning, read_binance_book_depth, read_coinalyze_funding, read_ohlcv
from liqcascade.errors import InputError


def test_alignment_keeps_trading_days_and_carries_the_weekend_into_monday():
    days = pd.date_range("2024-01-01", "2024-01-14", freq="D", tz="UTC")  # Mon 1 Jan .. Sun 14 Jan
    btc = pd.Series(np.arange(100.0, 100.0 + len(days)), index=days)
    trading = days[days.day_of_week < 5]
    ndx = pd.Series(np.linspace(1, 2, len(trading)), index=trading)
    a = align_trading_days(btc, ndx)
    assert list(a.index) == list(trading)
    # Monday 8 Jan uses BTC's close of that Monday, so its return spans Fri -> Sat -> Sun -> Mon
    assert a.loc["2024-01-08", "btc"] == btc.loc["2024-01-08"]


def test_perfectly_related_returns_correlate_at_one():
    rng = np.random.default_rng(3)
    days = pd.bdate_range("2024-01-01", periods=120, tz="UTC")
    r = rng.normal(0, 0.01, len(days))
    ndx = pd.Series(10_000 * np.exp(np.cumsum(r)), index=days)
    btc = pd.Series(40_000 * np.exp(np.cumsum(2 * r)), index=days)
    c = rolling_correlation(btc, ndx, window=20).dropna()
    np.testing.assert_allclose(c.to_numpy(), 1.0, atol=1e-9)
    anti = rolling_correlation(pd.Series(40_000 * np.exp(np.cumsum(-r)), index=days), ndx, window=20).dropna()
    np.testing.assert_allclose(anti.to_numpy(), -1.0, atol=1e-9)


def test_real_btc_and_nasdaq_correlation_is_a_correlation(data_file):
    ndx_path = data_file("nasdaq100", "NDX_daily_2019-01-02_2026-08-21.csv")
    btc_path = data_file("scofieldchen_daily", "binance_btcusdt_1d.csv")
    ndx, btc = read_ohlcv(ndx_path), read_ohlcv(btc_path)
    c = rolling_correlation(btc, ndx, window=30).dropna()
    assert len(c) > 1000  # Jan 2019 - Sep 2024 on trading days
    assert c.between(-1, 1).all()
    # measured: over 1,410 trading days (2019 - Sep 2024) the 30-day correlation averaged 0.257 and
    # peaked at 0.827 in 2022
    assert 0.2 < c.mean() < 0.3
    assert c.loc["2022"].max() > 0.75


def test_window_must_be_an_integer():
    days = pd.bdate_range("2024-01-01", periods=10, tz="UTC")
    s = pd.Series(np.arange(1.0, 11.0), index=days)
    with pytest.raises(InputError) as e:
        rolling_correlation(s, s, window="30D")
    assert e.value.field == "window"


def test_open_interest_changes_by_hand():
    idx = pd.date_range("2025-10-01", periods=4, freq="D", tz="UTC")
    out = open_interest_changes(pd.Series([100.0, 110.0, 99.0, 0.0], index=idx), periods=(1, 2))
    np.testing.assert_allclose(out["change_1"].to_numpy()[1:], [10, -11, -99])
    np.testing.assert_allclose(out["pct_change_1"].to_numpy()[1:], [0.1, -0.1, -1.0])
    np.testing.assert_allclose(out["change_2"].to_numpy()[2:], [-1, -110])


def test_funding_annualised_and_cumulative():
    idx = pd.date_range("2025-10-01", periods=3, freq="8h", tz="UTC")
    out = funding_changes(pd.Series([0.0001, -0.0002, 0.0001], index=idx))
    np.testing.assert_allclose(out["annualized"].to_numpy(), [0.1095, -0.219, 0.1095])
    np.testing.assert_allclose(out["cumulative"].to_numpy(), [0.0001, -0.0001, 0.0])
    with pytest.raises(InputError) as e:
        funding_changes(pd.DataFrame({"timestamp": [0, 1], "funding_rate": [0.1, np.nan]}))
    assert e.value.field == "funding_rate" and e.value.row == 1


def test_real_funding_file(data_file):
    path = data_file("coinalyze_coinbase", "coinalyze_funding_daily_BTC_ETH_2025-07-28_2025-10-25.csv")
    f = read_coinalyze_funding(path)  # the file's percent per 8 h, read as a fraction
    btc = f[f["coin"] == "BTC"]
    out = funding_changes(btc[["timestamp", "funding_rate"]])
    assert len(out) == len(btc)
    assert out["annualized"].abs().max() < 2.0  # under 200 % a year on a daily average


def test_analyze_summarises_what_it_is_given(data_file):
    import json

    from liqcascade.analytics import analyze

    bars = read_ohlcv(data_file("scofieldchen_daily", "binance_btcusdt_1d.csv"))
    ndx = read_ohlcv(data_file("nasdaq100", "NDX_daily_2019-01-02_2026-08-21.csv"))
    with pytest.warns(DataCleaningWarning):
        book = read_binance_book_depth(data_file("theglory_oct10_2025", "BTCUSDT-bookDepth-2025-10-10.csv"))
    out = analyze(bars, index=ndx, book_depth=book, event=("2025-10-10 20:50", "2025-10-10 22:00"))
    json.dumps(out)  # JSON-ready
    assert out["drawdown"]["deepest"] == pytest.approx(bars["close"].div(bars["close"].cummax()).min() - 1)
    assert 0 <= out["fear_greed"]["value"] <= 100 and out["fear_greed"]["band"]
    assert -1 <= out["correlation"]["latest"]["value"] <= 1
    assert out["depth"]["rows_dropped"] == out["depth"]["inverted_rows_dropped"] == 1_906
    assert out["depth"]["frozen_rows_dropped"] == 1_686
    assert out["depth"]["ask_usd"]["ratio"] == pytest.approx(6.33, abs=0.01)
    assert "error" in out["depth"]["bid_usd"]  # the -1 % bid is stale-inverted all evening
    assert "open_interest" not in out
