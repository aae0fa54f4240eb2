"""Binance kline archives: the 10 Oct 2025 files, and malformed copies of them."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from liqcascade.data import read_binance_klines
from liqcascade.errors import InputError

MARK_5M = "theglory_oct10_2025/BTCUSDT-5m-2025-10-01_2025-12-31.csv"
COINM_1M = "theglory_oct10_2025/BTCUSD_PERP-1m-2025-10-10.zip"


@pytest.fixture(scope="module")
def mark_5m(shared_data):
    return read_binance_klines(shared_data / MARK_5M)


def test_5m_mark_klines_have_the_crash_low_at_2120(mark_5m):
    day = mark_5m[mark_5m["datetime"].dt.strftime("%Y-%m-%d") == "2025-10-10"]
    assert len(day) == 288
    bar = day.loc[day["low"].idxmin()]
    assert bar["datetime"] == pd.Timestamp("2025-10-10 21:20", tz="UTC")
    assert round(bar["low"], 1) == 101877.7


def test_5m_file_shape_units_and_gap(mark_5m):
    df = mark_5m
    # 1 Oct - 30 Dec 2025 less the missing 4 Oct: 90 days of 288 bars
    assert len(df) == 90 * 288
    assert list(df.columns[:6]) == ["timestamp", "datetime", "open", "high", "low", "close"]
    assert df["timestamp"].dtype == np.int64
    assert str(df["datetime"].dt.tz) == "UTC"
    assert df["timestamp"].iloc[0] == 1759276800000  # 2025-10-01 00:00 UTC, epoch ms
    assert (np.diff(df["timestamp"]) > 0).all()
    assert not (df["datetime"].dt.strftime("%Y-%m-%d") == "2025-10-04").any()
    # a price-index file: no volume; `count` is the number of one-second samples, 300 at most
    assert df.attrs["price_kind"] == "mark/index"
    assert (df["volume"] == 0).all()
    assert df["trades"].max() == 300 and (df["trades"] == 300).mean() > 0.99
    assert df.attrs["symbol"] == "BTCUSDT" and df.attrs["interval"] == "5m"
    assert (df["close_timestamp"] - df["timestamp"] == 300_000 - 1).all()


def test_zip_with_header_row(shared_data):
    df = read_binance_klines(shared_data / COINM_1M)
    assert len(df) == 1440
    assert df["datetime"].iloc[0] == pd.Timestamp("2025-10-10", tz="UTC")
    assert df["datetime"].iloc[-1] == pd.Timestamp("2025-10-10 23:59", tz="UTC")
    assert round(df["low"].min(), 2) == 102497.49
    assert df.attrs["symbol"] == "BTCUSD_PERP"


def test_header_or_not_and_csv_or_zip_read_the_same(shared_data, malformed, tmp_path):
    original = read_binance_klines(shared_data / COINM_1M)
    no_header = read_binance_klines(malformed(shared_data / COINM_1M, lambda lines: lines[1:], "noheader.csv"))
    pd.testing.assert_frame_equal(original, no_header, check_like=False)
    plain = malformed(shared_data / COINM_1M, lambda lines: lines, "plain.csv")
    zipped = tmp_path / "plain.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(plain, "plain.csv")
    pd.testing.assert_frame_equal(original, read_binance_klines(zipped))


def test_microsecond_timestamps_read_as_milliseconds(shared_data, malformed):
    def to_us(lines):
        out = []
        for line in lines[1:]:
            f = line.split(",")
            f[0], f[6] = f[0] + "000", f[6] + "999"
            out.append(",".join(f))
        return out

    df = read_binance_klines(malformed(shared_data / COINM_1M, to_us, "us.csv"))
    assert df.attrs["time_unit"] == "us"
    assert df["timestamp"].iloc[0] == 1760054400000


# ----------------------------------------------------------------------------- bad input


def _error(path) -> str:
    with pytest.raises(InputError) as exc:
        read_binance_klines(path)
    message = str(exc.value)
    assert path.name in message and "\n" not in message
    return message


def test_truncated_file_names_the_last_row(shared_data, malformed):
    path = malformed(shared_data / MARK_5M, lambda lines: lines[:-1] + [lines[-1][:20]])
    message = _error(path)
    assert "row 25920" in message and "truncated" in message


def test_empty_file_and_header_only(tmp_path, shared_data, malformed):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty" in _error(empty)
    only_header = malformed(shared_data / COINM_1M, lambda lines: lines[:1], "header.csv")
    assert "no data rows" in _error(only_header)


def test_corrupt_zip(tmp_path, shared_data):
    cut = tmp_path / "cut.zip"
    cut.write_bytes((shared_data / COINM_1M).read_bytes()[:5000])
    assert "zip" in _error(cut)


def test_wrong_column_set(shared_data, malformed):
    dropped = malformed(shared_data / MARK_5M, lambda lines: [",".join(l.split(",")[:-1]) for l in lines])
    assert "row 1" in _error(dropped) and "expected 12 fields" in _error(dropped)
    renamed = malformed(
        shared_data / COINM_1M, lambda lines: [lines[0].replace("quote_volume", "qv")] + lines[1:], "renamed.csv"
    )
    message = _error(renamed)
    assert "row 1" in message and "quote_volume" in message


def test_unsorted_rows(shared_data, malformed):
    def swap(lines):
        lines[100], lines[101] = lines[101], lines[100]
        return lines

    message = _error(malformed(shared_data / MARK_5M, swap))
    assert "row 102" in message and "not sorted" in message


def test_duplicated_row(shared_data, malformed):
    message = _error(malformed(shared_data / MARK_5M, lambda lines: lines[:50] + [lines[49]] + lines[50:]))
    assert "row 51" in message and "duplicated" in message


@pytest.mark.parametrize(
    "value, words",
    [("nan", "missing or NaN"), ("", "missing or NaN"), ("0", "got 0.0"), ("-5", "got -5.0"), ("abc", "not a number")],
)
def test_bad_close_price(shared_data, malformed, value, words):
    def edit(lines):
        f = lines[9].split(",")
        f[4] = value
        lines[9] = ",".join(f)
        return lines

    message = _error(malformed(shared_data / MARK_5M, edit))
    assert "row 10" in message and "'close'" in message and words in message


def test_high_below_low(shared_data, malformed):
    def edit(lines):
        f = lines[3].split(",")
        f[2], f[3] = f[3], str(float(f[2]) + 100)
        lines[3] = ",".join(f)
        return lines

    assert "row 4" in _error(malformed(shared_data / MARK_5M, edit))


def test_seconds_mixed_into_milliseconds(shared_data, malformed):
    def edit(lines):
        f = lines[200].split(",")
        f[0] = str(int(f[0]) // 1000)
        lines[200] = ",".join(f)
        return lines

    message = _error(malformed(shared_data / MARK_5M, edit))
    assert "row 201" in message and "mixed time units" in message and "seconds" in message
