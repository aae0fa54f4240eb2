"""Generic OHLCV, spot trades, Binance metrics and Coinalyze open interest / funding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqcascade.data import (
    read_binance_metrics,
    read_coinalyze_funding,
    read_coinalyze_open_interest,
    read_ohlcv,
    read_trades,
)
from liqcascade.errors import InputError

OHLCV_FILES = [
    "scofieldchen_daily/binance_btcusdt_1d.csv",
    "scofieldchen_daily/binance_btcusdt_1h.csv",
    "scofieldchen_daily/binance_btcusdt_4h_ohlcv.csv",
    "scofieldchen_daily/binance_ethusdt_1d_ohlcv.csv",
    "scofieldchen_daily/binance_ethusdt_4h_ohlcv.csv",
    "scofieldchen_daily/bitstamp_btcusd_1d.csv",
    "nasdaq100/NDX_daily_2019-01-02_2026-08-21.csv",
    "nasdaq100/NQF_daily_2019-01-02_2026-08-21.csv",
    "theglory_oct10_2025/BATS_QQQ_2min_2025-10-02_2026-01-16.csv",
    "theglory_oct10_2025/BATS_IBIT_daily_2024-01-11_2026-01-12.csv",
    "coinalyze_coinbase/coinbase_daily_BTC_ETH_USD_2020-01-01_2025-10-25.csv",
]
IBIT = "theglory_oct10_2025/BATS_IBIT_daily_2024-01-11_2026-01-12.csv"
BTC_4H = "scofieldchen_daily/binance_btcusdt_4h_ohlcv.csv"
GEMINI_BTC = "theglory_oct10_2025/gemini_trades_2025-10-10_BTCUSD.csv.gz"
OI = "coinalyze_coinbase/coinalyze_oi_daily_BTCUSD_ETHUSD_PERP_A_2021-09-15_2025-10-26.csv"
FUNDING = "coinalyze_coinbase/coinalyze_funding_daily_BTC_ETH_2025-07-28_2025-10-25.csv"


def _error(fn, path) -> str:
    with pytest.raises(InputError) as exc:
        fn(path)
    message = str(exc.value)
    assert path.name in message and "\n" not in message
    return message


# ------------------------------------------------------------------------------- OHLCV


@pytest.mark.parametrize("relative", OHLCV_FILES)
def test_every_shared_ohlcv_file_loads(shared_data, relative):
    df = read_ohlcv(shared_data / relative)
    assert list(df.columns[:2]) == ["timestamp", "datetime"]
    assert {"open", "high", "low", "close", "volume"} <= set(df.columns)
    assert df["timestamp"].dtype == np.int64 and str(df["datetime"].dt.tz) == "UTC"
    assert (df["high"] >= df["low"]).all() and (df["low"] > 0).all()


def test_time_units_are_detected(shared_data):
    ibit = read_ohlcv(shared_data / IBIT)
    assert ibit.attrs["time_unit"] == "s"
    assert ibit["datetime"].iloc[0] == pd.Timestamp("2024-01-11 14:30", tz="UTC")  # the US open, first day
    ndx = read_ohlcv(shared_data / "nasdaq100/NDX_daily_2019-01-02_2026-08-21.csv")
    assert ndx.attrs["time_unit"] == "iso" and "adj_close" in ndx.columns
    assert ndx["datetime"].iloc[0] == pd.Timestamp("2019-01-02", tz="UTC")


def test_crash_days_are_in_the_bars(shared_data):
    btc = read_ohlcv(shared_data / BTC_4H)
    mar_2020 = btc[(btc["datetime"] >= "2020-03-12") & (btc["datetime"] < "2020-03-14")]
    assert mar_2020["low"].min() < 4_000  # BTC traded below $4k on 12-13 Mar 2020
    aug_2024 = read_ohlcv(shared_data / "scofieldchen_daily/binance_btcusdt_1h.csv")
    aug_5 = aug_2024[aug_2024["datetime"].dt.strftime("%Y-%m-%d") == "2024-08-05"]
    assert len(aug_5) == 24 and aug_5["low"].min() < 50_000


def test_two_symbols_in_one_file(shared_data):
    cb = read_ohlcv(shared_data / "coinalyze_coinbase/coinbase_daily_BTC_ETH_USD_2020-01-01_2025-10-25.csv")
    assert set(cb["symbol"]) == {"BTC/USD", "ETH/USD"}
    assert cb.groupby("symbol")["timestamp"].apply(lambda t: t.is_monotonic_increasing).all()


def test_the_same_bars_in_s_ms_us_and_iso(shared_data, malformed):
    base = read_ohlcv(shared_data / IBIT)

    def scaled(factor):
        return lambda lines: [lines[0]] + [str(int(l.split(",")[0]) * factor) + l[l.index(",") :] for l in lines[1:]]

    def iso(lines):
        out = [lines[0]]
        for l in lines[1:]:
            t = pd.Timestamp(int(l.split(",")[0]), unit="s").isoformat() + "Z"
            out.append(t + l[l.index(",") :])
        return out

    for edit, unit in ((scaled(1000), "ms"), (scaled(1_000_000), "us"), (iso, "iso")):
        df = read_ohlcv(malformed(shared_data / IBIT, edit, f"{unit}.csv"))
        assert df.attrs["time_unit"] == unit
        assert (df["timestamp"] == base["timestamp"]).all()


def test_ohlcv_bad_input(shared_data, malformed):
    no_time = malformed(shared_data / IBIT, lambda lines: [lines[0].replace("time", "when")] + lines[1:], "notime.csv")
    assert "no time column" in _error(read_ohlcv, no_time)
    no_close = malformed(
        shared_data / IBIT, lambda lines: [",".join(l.split(",")[:4] + l.split(",")[5:]) for l in lines], "noclose.csv"
    )
    assert "missing column(s) close" in _error(read_ohlcv, no_close)

    def mixed(lines):
        f = lines[10].split(",")
        f[0] = f[0] + "000"
        lines[10] = ",".join(f)
        return lines

    message = _error(read_ohlcv, malformed(shared_data / IBIT, mixed, "mixed.csv"))
    assert "row 11" in message and "mixed time units" in message and "milliseconds" in message
    date_among_epochs = malformed(
        shared_data / IBIT, lambda ls: ls[:5] + ["2024-01-20" + ls[5][ls[5].index(",") :]] + ls[6:], "d.csv"
    )
    assert "row 6" in _error(read_ohlcv, date_among_epochs)

    def nan_low(lines):
        f = lines[20].split(",")
        f[3] = "NaN"
        lines[20] = ",".join(f)
        return lines

    message = _error(read_ohlcv, malformed(shared_data / IBIT, nan_low, "nan.csv"))
    assert "row 21" in message and "'low'" in message
    shuffled = malformed(shared_data / BTC_4H, lambda ls: ls[:1] + ls[300:301] + ls[1:300] + ls[301:], "shuffled.csv")
    assert "row 3" in _error(read_ohlcv, shuffled)
    dup = malformed(shared_data / BTC_4H, lambda ls: ls + [ls[-1]], "dup.csv")
    assert "duplicated" in _error(read_ohlcv, dup)


# ------------------------------------------------------------------------------- trades


def test_gemini_trades(shared_data):
    df = read_trades(shared_data / GEMINI_BTC)
    assert len(df) == 24_706
    assert set(df["symbol"]) == {"BTC/USD"} and set(df["exchange"]) == {"gemini"}
    assert set(df["side"]) == {"buy", "sell"}
    assert df["timestamp"].iloc[0] == 1760054406843  # µs in the file, ms here
    assert df["datetime"].iloc[0] == pd.Timestamp("2025-10-10 00:00:06.843", tz="UTC")
    assert df["local_datetime"].iloc[0] == pd.Timestamp("2025-10-10 00:00:06.899497", tz="UTC")
    assert np.allclose(df["cost"], df["price"] * df["amount"])
    assert df["price"].min() == 107_000.0 and df["datetime"].is_monotonic_increasing


def test_trades_bad_input(shared_data, malformed):
    src = shared_data / GEMINI_BTC
    backwards = malformed(src, lambda ls: ls[:1] + ls[2:3] + ls[1:2] + ls[3:])
    assert "row 3" in _error(read_trades, backwards)

    def zero_amount(lines):
        f = lines[4].split(",")
        f[7] = "0"
        lines[4] = ",".join(f)
        return lines

    message = _error(read_trades, malformed(src, zero_amount))
    assert "row 5" in message and "amount" in message
    dup_id = malformed(src, lambda ls: ls[:3] + [ls[2]] + ls[3:])
    assert "duplicated trade id" in _error(read_trades, dup_id)

    def bad_side(lines):
        lines[6] = lines[6].replace(",buy,", ",long,").replace(",sell,", ",long,")
        return lines

    assert "row 7" in _error(read_trades, malformed(src, bad_side))
    truncated = malformed(src, lambda ls: ls[:-1] + [ls[-1][:25]])
    assert "truncated" in _error(read_trades, truncated)


# ------------------------------------------------------------------------ Binance metrics


def test_binance_metrics(fixtures):
    df = read_binance_metrics(fixtures / "BTCUSDT-metrics-2025-10-10.csv")
    assert len(df) == 9 and set(df["symbol"]) == {"BTC/USDT:USDT"}
    assert df["datetime"].iloc[0] == pd.Timestamp("2025-10-10 20:45", tz="UTC")
    assert df["open_interest"].iloc[0] == pytest.approx(98765.432)
    assert df["open_interest_usd"].iloc[0] == pytest.approx(11456789012.3456)
    assert df["toptrader_long_short_account_ratio"].iloc[0] == pytest.approx(2.01234567)
    assert df["toptrader_long_short_position_ratio"].iloc[0] == pytest.approx(1.87654321)
    assert df["long_short_account_ratio"].iloc[0] == pytest.approx(2.3456789)
    assert df["taker_buy_sell_volume_ratio"].iloc[0] == pytest.approx(0.91234)
    assert np.isnan(df["taker_buy_sell_volume_ratio"].iloc[7])  # an empty cell stays empty


def test_binance_metrics_bad_input(fixtures, malformed):
    src = fixtures / "BTCUSDT-metrics-2025-10-10.csv"
    no_oi = malformed(src, lambda ls: [",".join(l.split(",")[:2] + l.split(",")[3:]) for l in ls])
    assert "sum_open_interest" in _error(read_binance_metrics, no_oi)
    dup = malformed(src, lambda ls: ls[:4] + [ls[3]] + ls[4:])
    assert "row 5" in _error(read_binance_metrics, dup)
    negative = malformed(src, lambda ls: ls[:2] + [ls[2].replace(",98512.1010000000000000,", ",-1,")] + ls[3:])
    assert "row 3" in _error(read_binance_metrics, negative)


# ---------------------------------------------------------------------------- Coinalyze


def test_open_interest_in_usd(shared_data):
    df = read_coinalyze_open_interest(shared_data / OI)
    assert set(df["symbol"]) == {"BTC/USD:BTC", "ETH/USD:ETH"} and set(df["exchange"]) == {"binance"}
    first = df.iloc[0]
    assert first["datetime"] == pd.Timestamp("2021-09-15", tz="UTC") and first["oi_close_usd"] == 718_741_000.0
    # the README's scale: the coin-margined pair holds a few billion USD in total
    last = df.groupby("symbol")["oi_close_usd"].last().sum()
    assert 1e9 < last < 5e9


def test_funding_normalised_to_a_fraction_per_8h(shared_data):
    df = read_coinalyze_funding(shared_data / FUNDING)
    raw = pd.read_csv(shared_data / FUNDING)
    assert df["funding_rate"].iloc[0] == pytest.approx(0.0001)  # 0.01 % per 8 h
    assert np.allclose(df["funding_rate"], raw["funding_rate"] / 100)
    assert np.allclose(df["funding_rate"], raw["funding_rate_pct"] / 10_000)  # the 100x column
    assert "funding_rate_pct" not in df.columns
    assert set(df["coin"]) == {"BTC", "ETH"}


def test_funding_bad_input(shared_data, malformed):
    def huge(lines):
        f = lines[3].split(",")
        f[6] = "12.5"
        lines[3] = ",".join(f)
        return lines

    message = _error(read_coinalyze_funding, malformed(shared_data / FUNDING, huge))
    assert "row 4" in message and "implausible" in message

    def nan_rate(lines):
        f = lines[8].split(",")
        f[6] = ""
        lines[8] = ",".join(f)
        return lines

    assert "row 9" in _error(read_coinalyze_funding, malformed(shared_data / FUNDING, nan_rate))
