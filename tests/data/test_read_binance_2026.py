"""The January-February 2026 Binance files: perpetual bars, open interest, funding in both
conventions, the bookDepth archive without weighted prices — and malformed copies of each."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqcascade.data import (
    DataCleaningWarning,
    read_binance_bars,
    read_binance_book_depth,
    read_binance_funding,
    read_binance_open_interest,
)
from liqcascade.errors import InputError

BTC_5M = "binance_2026_harthor/binance_usdm_BTCUSDT_5m_2026-01-01_2026-02-19.csv"
ETH_5M = "binance_2026_harthor/binance_usdm_ETHUSDT_5m_2026-01-01_2026-02-19.csv"
BTC_1H = "binance_2026_harthor/binance_usdm_BTCUSDT_1h_2024-12-31_2026-02-19.csv"
BTC_MARK_1H = "binance_2026_harthor/binance_usdm_BTCUSDT_mark_1h_2025-12-01_2026-02-19.csv"
BTC_1M = "binance_1m_feb2026_owlacar/binance_usdm_BTCUSDT_1m_2026-01-29_2026-02-07.csv"
BTC_OI = "binance_oi_2026_hlreaper/binance_usdm_BTCUSDT_oi_5m_2026-01-01_2026-02-28.csv"
ETH_OI = "binance_oi_2026_hlreaper/binance_usdm_ETHUSDT_oi_5m_2026-01-01_2026-02-28.csv"
BTC_FUNDING_8H = "binance_2026_harthor/binance_usdm_BTCUSDT_funding_8h_2024-12-31_2026-02-19.csv"
HYPE_FUNDING_4H = "binance_2026_harthor/binance_usdm_HYPEUSDT_funding_8h_2024-12-31_2026-02-19.csv"
BTC_FUNDING_PER_HOUR = "binance_oi_2026_hlreaper/binance_usdm_BTCUSDT_funding_2025-12-01_2026-06-01.csv"
BOOK = "binance_bookdepth_2026-01-31/BTCUSDT-bookDepth-2026-01-31.zip"


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


def one_line_error(fn, path, *args) -> str:
    with pytest.raises(InputError) as exc:
        fn(path, *args)
    message = str(exc.value)
    assert path.name in message and "\n" not in message
    return message


# ------------------------------------------------------------------------------ bars


def test_5m_perpetual_bars_hold_the_6_feb_low(shared_data):
    btc = read_binance_bars(shared_data / BTC_5M)
    eth = read_binance_bars(shared_data / ETH_5M)
    assert btc.attrs["interval"] == "5m" and btc.attrs["interval_ms"] == 300_000
    assert len(btc) == 14_316 and (np.diff(btc["timestamp"]) == 300_000).all()
    low = btc.loc[btc["low"].idxmin()]
    assert low["datetime"] == pd.Timestamp("2026-02-06 00:15", tz="UTC") and low["low"] == 59_800.0
    eth_bar = eth.set_index("timestamp").loc[ms("2026-02-05")]
    assert eth_bar["open"] == 2147.01
    assert eth.set_index("timestamp").loc[ms("2026-02-06 00:15"), "low"] == 1736.02


def test_1h_trade_and_mark_bars(shared_data):
    trade = read_binance_bars(shared_data / BTC_1H)
    mark = read_binance_bars(shared_data / BTC_MARK_1H)
    assert trade.attrs["interval"] == "1h" == mark.attrs["interval"]
    assert trade["volume"].gt(0).all() and mark["volume"].isna().all()  # mark klines have no volume


def test_1m_klines_aggregate_to_the_5m_bars(shared_data):
    minute = read_binance_bars(shared_data / BTC_1M)
    five = read_binance_bars(shared_data / BTC_5M).set_index("timestamp")
    assert minute.attrs["interval"] == "1m" and len(minute) == 14_400
    agg = minute.groupby(minute["timestamp"] // 300_000 * 300_000).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last")
    )
    assert len(agg) == 2_880
    pd.testing.assert_frame_equal(agg, five.loc[agg.index, ["open", "high", "low", "close"]], check_names=False)


@pytest.mark.parametrize(
    "edit, problem, row",
    [
        (
            lambda ls: ls[:100] + ls[101:],
            "gap: no bar between 2026-01-01 08:10:00.000Z and 2026-01-01 08:20:00.000Z (1 missing 5-minute bars)",
            101,
        ),
        (lambda ls: ls[:100] + [ls[100]] + ls[100:], "duplicated open_time_ms 2026-01-01 08:15:00.000Z", 102),
        (lambda ls: ls[:100] + [ls[101], ls[100]] + ls[102:], "is earlier than", 102),
        (lambda ls: ls[:100] + [ls[100].replace("00000,", "60000,", 1)] + ls[101:], "is not on the 5-minute grid", 101),
        (
            lambda ls: ls[:100] + [ls[100].split(",", 1)[0] + ",0,0,0,0,1"] + ls[101:],
            "open must be positive, got 0.0",
            101,
        ),
        (lambda ls: ls[:100] + [ls[100].split(",", 1)[0] + ",-1,2,1,1,1"] + ls[101:], "open must be positive", 101),
        (lambda ls: ls + [ls[-1].split(",", 1)[0]], "expected 6 fields, found 1", 14_318),
        (lambda ls: ["time,o,h,l,c,v"] + ls[1:], "not a Binance bar file", 1),
    ],
)
def test_malformed_bar_files_are_refused_in_one_line(shared_data, malformed, edit, problem, row):
    path = malformed(shared_data / BTC_5M, edit, "binance_usdm_BTCUSDT_5m_bad.csv")
    message = one_line_error(read_binance_bars, path)
    assert problem in message and f"row {row}" in message


def test_overlapping_and_shifted_bars_are_refused(tmp_path):
    path = tmp_path / "bars_5m.csv"
    head = "open_time_ms,open,high,low,close,volume\n"
    path.write_text(head + "1767225600000,1,1,1,1,1\n1767225900000,1,1,1,1,1\n1767226080000,1,1,1,1,1\n")
    message = one_line_error(read_binance_bars, path)  # 00:08 opens inside the 00:05 bar
    assert (
        "row 4" in message
        and "bar at 2026-01-01 00:08:00.000Z overlaps the 5-minute bar at 2026-01-01 00:05" in message
    )
    path.write_text(head + "1767225660000,1,1,1,1,1\n1767225960000,1,1,1,1,1\n")  # 00:01, 00:06
    message = one_line_error(read_binance_bars, path)
    assert "row 2" in message and "is not on the 5-minute grid" in message


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([300_000, 600_000, 60_000, 0, -300_000]), min_size=1, max_size=30))
def test_a_regular_grid_is_exactly_what_passes(steps):
    """Any sequence of steps other than exactly one bar apart is refused, naming its row."""
    from liqcascade.data._common import check_regular_bars

    t = np.cumsum([1_767_225_600_000] + steps).astype(np.int64)
    if all(s == 300_000 for s in steps):
        check_regular_bars(t, 300_000, "x.csv", 2)
    else:
        first_bad = next(i for i, s in enumerate(steps) if s != 300_000)
        with pytest.raises(InputError) as exc:
            check_regular_bars(t, 300_000, "x.csv", 2)
        assert f"row {2 + first_bad + 1}" in str(exc.value)  # the bar after the bad step


# ------------------------------------------------------------------------- open interest


def test_open_interest_is_snapped_to_the_5_minute_grid(shared_data):
    oi = read_binance_open_interest(shared_data / BTC_OI)
    assert oi.attrs["snapped"] == 6  # the six stamps 1-2 s late
    assert len(oi) == 16_992 and (np.diff(oi["timestamp"]) == 300_000).all()
    at = oi.set_index("timestamp")
    assert at.loc[ms("2026-01-31"), "open_interest"] == pytest.approx(102_164, abs=1)
    assert at.loc[ms("2026-01-31"), "open_interest_usd"] == pytest.approx(8.60e9, rel=1e-3)
    window = oi[(oi["timestamp"] >= ms("2026-01-31")) & (oi["timestamp"] < ms("2026-02-07"))]
    low = window.loc[window["open_interest_usd"].idxmin()]  # in USD: the bar of the price low
    assert low["datetime"] == pd.Timestamp("2026-02-06 00:20", tz="UTC")
    assert low["open_interest"] == pytest.approx(90_925, abs=1)
    assert low["open_interest_usd"] == pytest.approx(5.46e9, rel=1e-3)
    assert read_binance_open_interest(shared_data / ETH_OI).attrs["snapped"] == 0


@pytest.mark.parametrize(
    "edit, problem, row",
    [
        (lambda ls: ls[:50] + ls[51:], "gap: no bar between", 51),
        (
            lambda ls: ls[:50] + [ls[50].split(",")[0] + ",0," + ls[50].split(",")[2]] + ls[51:],
            "oi must be positive",
            51,
        ),
        (
            lambda ls: ls[:50] + [ls[50].split(",")[0] + "," + ls[50].split(",")[1] + ",-5"] + ls[51:],
            "oi_usd must be positive",
            51,
        ),
        (
            lambda ls: ls[:50] + [str(int(ls[50].split(",")[0]) + 90_000) + "," + ls[50].split(",", 1)[1]] + ls[51:],
            "90 s after the 5-minute grid",
            51,
        ),
        (lambda ls: ls[:50] + [ls[51], ls[50]] + ls[52:], "rows are not sorted by time", 52),
        (lambda ls: ["time,oi,usd"] + ls[1:], "not an open-interest file", 1),
    ],
)
def test_malformed_open_interest_is_refused_in_one_line(shared_data, malformed, edit, problem, row):
    path = malformed(shared_data / ETH_OI, edit, "oi_bad.csv")
    message = one_line_error(read_binance_open_interest, path)
    assert problem in message and f"row {row}" in message


# ------------------------------------------------------------------------------- funding


def test_both_funding_conventions_give_the_same_rate_per_8_hours(shared_data):
    per_8h = read_binance_funding(shared_data / BTC_FUNDING_8H)
    per_hour = read_binance_funding(shared_data / BTC_FUNDING_PER_HOUR)
    assert "per settlement" in per_8h.attrs["convention"] and "divided by 8" in per_hour.attrs["convention"]
    # the hl-reaper stamps are a few ms late: match each settlement to the nearest second
    a = per_8h.assign(key=per_8h["timestamp"] // 1000).set_index("key")["rate_8h"]
    b = per_hour.assign(key=(per_hour["timestamp"] + 500) // 1000).set_index("key")["rate_8h"]
    common = a.index.intersection(b.index)
    assert len(common) > 200
    np.testing.assert_allclose(b.loc[common], a.loc[common], rtol=1e-4, atol=1e-9)
    # BTC funding turned negative at the 16:00 settlement of 5 Feb (the data README)
    feb5 = per_8h.set_index("timestamp")["rate_8h"]
    assert feb5.loc[ms("2026-02-05 08:00")] > 0 > feb5.loc[ms("2026-02-05 16:00")]


def test_four_hourly_settlements_are_scaled_to_8_hours(shared_data):
    hype = read_binance_funding(shared_data / HYPE_FUNDING_4H)
    raw = pd.read_csv(shared_data / HYPE_FUNDING_4H)
    assert (hype["interval_hours"] == 4).all()
    np.testing.assert_array_equal(hype["rate_8h"].to_numpy(), raw["funding_rate"].to_numpy() * 2)


@pytest.mark.parametrize(
    "edit, problem, row",
    [
        (lambda ls: ["ts,funding_rate_pct"] + ls[1:], "unknown funding convention", 1),
        (lambda ls: ["time,rate"] + ls[1:], "unknown funding convention", 1),
        (lambda ls: ls[:20] + [ls[21], ls[20]] + ls[22:], "rows are not sorted by time", 22),
        (lambda ls: ls[:20] + [ls[20].split(",")[0] + ",abc"] + ls[21:], "rate is not a number: 'abc'", 21),
    ],
)
def test_malformed_funding_is_refused_in_one_line(shared_data, malformed, edit, problem, row):
    path = malformed(shared_data / BTC_FUNDING_PER_HOUR, edit, "funding_bad.csv")
    message = one_line_error(read_binance_funding, path)
    assert problem in message and f"row {row}" in message


def test_funding_archive_convention_scales_by_its_interval(tmp_path):
    path = tmp_path / "BTCUSDT-fundingRate-2026-02.csv"
    path.write_text(
        "calc_time,funding_interval_hours,last_funding_rate\n1769904000000,8,0.0001\n1769918400000,4,-0.0002\n"
    )
    df = read_binance_funding(path)
    np.testing.assert_allclose(df["rate_8h"], [0.0001, -0.0004])
    assert list(df["interval_hours"]) == [8.0, 4.0]


# ------------------------------------------------------------------------------ bookDepth


def test_book_depth_without_weighted_prices(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataCleaningWarning)  # nothing is dropped, so nothing is said
        book, report = read_binance_book_depth(shared_data / BOOK)
    assert "weighted_avg_price" not in book.columns
    assert report.rows_in == 2_717 * 12 and report.dropped_rows == 0 and report.inverted_rows == 0
    bids = book[book["percentage"] == -1.0].set_index("datetime")["notional"]
    assert bids.iloc[0] == pytest.approx(124.0e6, rel=1e-3)
    assert bids.idxmin() == pd.Timestamp("2026-01-31 18:44:30", tz="UTC")
    assert bids.min() == pytest.approx(47.9e6, rel=1e-3)


def test_malformed_book_depth_is_refused(shared_data, malformed):
    path = malformed(
        shared_data / BOOK,
        lambda ls: ls[:30] + [ls[30].rsplit(",", 1)[0] + ",-5"] + ls[31:],
        "BTCUSDT-bookDepth-bad.csv",
    )
    message = one_line_error(read_binance_book_depth, path)
    assert "row 31" in message and "notional must be non-negative" in message
