"""Binance bookDepth: the 10 Oct 2025 file (stale bid level from ~15:30 UTC), synthetic books that
pin the cleaning rules down, and malformed copies."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqcascade.data import DataCleaningWarning, read_binance_book_depth
from liqcascade.errors import InputError

BOOK = "theglory_oct10_2025/BTCUSDT-bookDepth-2025-10-10.csv"
BIDS, ASKS = [-1, -2, -3, -4, -5], [1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def real_book(shared_data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame, report = read_binance_book_depth(shared_data / BOOK)
    return frame, report, caught


def test_warns_with_the_counts(real_book):
    _, report, caught = real_book
    messages = [str(w.message) for w in caught if issubclass(w.category, DataCleaningWarning)]
    assert len(messages) == 1
    assert "dropped 1,906 of 28,790" in messages[0]
    assert "1,686 frozen" in messages[0] and "1,906 inverted" in messages[0]
    assert report.rows_in == 28_790 and report.snapshots == 2_879
    assert report.rows_out == report.rows_in - report.dropped_rows


def test_inverted_buckets_from_1530_are_dropped(real_book, shared_data):
    frame, report, _ = real_book
    assert pd.Timestamp(report.first_inverted, unit="ms") == pd.Timestamp("2025-10-10 15:30:42")
    assert report.inverted_snapshots == 969
    # exactly the bid buckets whose weighted average price was above the lowest ask bucket's
    assert report.inverted_by_percentage == {-5: 23, -4: 77, -3: 342, -2: 494, -1: 969, 1: 1}
    w = frame.pivot(index="timestamp", columns="percentage", values="weighted_avg_price")
    assert not (w[BIDS].max(axis=1) > w[ASKS].min(axis=1)).any()
    # the stale 17.654 BTC level at 121,363 is gone
    assert not ((frame["depth"] == 17.654) & (frame["weighted_avg_price"].round(2) == 121363.27)).any()


def test_nothing_before_1530_is_touched(real_book, shared_data):
    frame, _, _ = real_book
    raw = pd.read_csv(shared_data / BOOK, skipinitialspace=True)
    raw_before = (pd.to_datetime(raw["timestamp"].str.strip()) < pd.Timestamp("2025-10-10 15:30:42")).sum()
    before = frame[frame["datetime"] < pd.Timestamp("2025-10-10 15:30:42", tz="UTC")]
    assert len(before) == raw_before == 1_860 * 10


def test_frozen_stretches_of_the_stale_level(real_book):
    _, report, _ = real_book
    longest = max(report.frozen_stretches, key=lambda s: s.snapshots)
    assert longest.percentage == -1 and longest.snapshots == 379
    assert pd.Timestamp(longest.end, unit="ms") == pd.Timestamp("2025-10-10 23:59:30")
    assert all(s.percentage < 0 for s in report.frozen_stretches)  # the ask side never froze
    assert report.frozen_rows == sum(s.snapshots - 1 for s in report.frozen_stretches)


def test_timestamp_with_a_leading_space_is_read(real_book):
    frame, _, _ = real_book
    row = frame[(frame["datetime"] == pd.Timestamp("2025-10-10 21:34:32", tz="UTC")) & (frame["percentage"] == -5)]
    assert row["depth"].tolist() == [256.471]


def test_columns_and_units(real_book):
    frame, _, _ = real_book
    assert list(frame.columns) == ["timestamp", "datetime", "percentage", "depth", "notional", "weighted_avg_price"]
    assert frame["timestamp"].dtype == np.int64 and frame["percentage"].dtype == np.int64
    assert str(frame["datetime"].dt.tz) == "UTC"
    # depth (BTC) x weighted average price = notional (USDT)
    assert np.allclose(frame["depth"] * frame["weighted_avg_price"], frame["notional"], rtol=1e-6)


# ---------------------------------------------------------------------- synthetic books


def book_csv(path: Path, snapshots: list[dict[int, tuple[float, float]]], start: str = "2025-10-10 00:00:00") -> Path:
    """Write snapshots ``{percentage: (depth, weighted_avg_price)}`` 30 s apart."""
    t0 = pd.Timestamp(start)
    lines = ["timestamp,percentage,depth,notional,weighted_avg_price"]
    for k, snap in enumerate(snapshots):
        t = (t0 + pd.Timedelta(seconds=30 * k)).strftime("%Y-%m-%d %H:%M:%S")
        for p in sorted(snap):
            depth, w = snap[p]
            lines.append(f"{t},{p},{depth},{depth * w},{w}")
    path.write_text("\n".join(lines) + "\n")
    return path


def sound(mid: float, jitter: float = 0.0) -> dict[int, tuple[float, float]]:
    snap = {}
    for k in range(1, 6):
        snap[-k] = (10.0 * k + jitter, mid * (1 - 0.4 * k / 100))
        snap[k] = (11.0 * k + jitter, mid * (1 + 0.4 * k / 100))
    return snap


def read_quietly(path: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataCleaningWarning)
        return read_binance_book_depth(path, **kw)


def test_frozen_snapshots_keep_the_first_of_the_run(tmp_path):
    live = [sound(100_000 + i, jitter=i) for i in range(5)]
    frozen = [sound(100_000.5, jitter=0.5)] * 12
    path = book_csv(tmp_path / "b.csv", live + frozen + [sound(100_010, jitter=9)])
    with pytest.warns(DataCleaningWarning, match="dropped 110 of 180"):
        frame, report = read_binance_book_depth(path)
    assert report.frozen_rows == 11 * 10 and report.inverted_rows == 0
    assert len(report.frozen_stretches) == 10 and {s.snapshots for s in report.frozen_stretches} == {12}
    assert frame["timestamp"].nunique() == 5 + 1 + 1
    _, lenient = read_quietly(path, min_frozen_run=13)
    assert lenient.dropped_rows == 0


def test_a_run_shorter_than_the_minimum_is_kept(tmp_path):
    path = book_csv(tmp_path / "b.csv", [sound(100_000, jitter=1)] * 9 + [sound(100_001)])
    _, report = read_quietly(path)
    assert report.dropped_rows == 0
    path = book_csv(tmp_path / "c.csv", [sound(100_000, jitter=1)] * 10 + [sound(100_001)])
    _, report = read_quietly(path)
    assert report.frozen_rows == 9 * 10


def test_a_bid_above_the_asks_is_dropped_and_the_asks_kept(tmp_path):
    bad = sound(100_000)
    bad[-1] = (1.0, 103_500.0)  # a stale bid 3.5 % above the mid, above every ask bucket
    path = book_csv(tmp_path / "b.csv", [sound(100_000, jitter=0.1), bad, sound(100_000, jitter=0.2)])
    frame, report = read_quietly(path)
    assert report.inverted_by_percentage == {-1: 1}
    assert len(frame) == 29


def _tie_book(with_clear_snapshot: bool) -> list[dict[int, tuple[float, float]]]:
    a = {-1: (5, 99.5), -2: (9, 99.0), 1: (5, 100.5), 2: (9, 101.0)}
    b = {-1: (1, 105.0), -2: (6, 99.8), 1: (5, 100.5), 2: (9, 101.0)}  # -1 alone is off: 3 vs 1
    c = {-1: (1, 105.0), -2: (2, 104.0), 1: (5.5, 100.5), 2: (9.5, 101.0)}  # 2 vs 2
    return [a, b, c] if with_clear_snapshot else [a, c]


def test_a_tie_follows_what_the_previous_snapshot_dropped(tmp_path):
    frame, report = read_quietly(book_csv(tmp_path / "b.csv", _tie_book(True)))
    assert report.inverted_by_percentage == {-2: 1, -1: 2}
    last = frame[frame["timestamp"] == frame["timestamp"].max()]
    assert sorted(last["percentage"]) == [1, 2]


def test_an_undecided_tie_drops_every_bucket_in_doubt(tmp_path):
    frame, report = read_quietly(book_csv(tmp_path / "b.csv", _tie_book(False)))
    assert report.inverted_rows == 4 and frame["timestamp"].nunique() == 1


@settings(max_examples=40, deadline=None)
@given(
    mids=st.lists(st.floats(1.0, 1e6), min_size=2, max_size=6),
    shares=st.lists(st.floats(0.001, 0.999), min_size=10, max_size=10),
)
def test_a_sound_book_is_never_touched(tmp_path_factory, mids, shares):
    """Any book whose buckets sit within their band of a common mid passes unchanged."""
    snaps = []
    for i, mid in enumerate(mids):
        snap = {}
        for j, p in enumerate(BIDS + ASKS):
            w = mid * (1 + np.sign(p) * shares[j] * abs(p) / 100)
            snap[p] = (1.0 + i + j, w)
        snaps.append(snap)
    path = book_csv(tmp_path_factory.mktemp("sound") / "b.csv", snaps)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataCleaningWarning)
        frame, report = read_binance_book_depth(path)
    assert report.dropped_rows == 0 and len(frame) == 10 * len(mids)


# ---------------------------------------------------------------------------- bad input


def _error(path: Path) -> str:
    with pytest.raises(InputError) as exc:
        read_quietly(path)
    assert path.name in str(exc.value)
    return str(exc.value)


def test_missing_column(shared_data, malformed):
    # notional is required; weighted_avg_price is not (Binance's 2026 archives dropped it)
    path = malformed(shared_data / BOOK, lambda lines: [",".join(l.split(",")[:3] + l.split(",")[4:]) for l in lines])
    message = _error(path)
    assert "row 1" in message and "notional" in message


def test_without_weighted_prices_only_frozen_buckets_go(shared_data, malformed):
    path = malformed(shared_data / BOOK, lambda lines: [",".join(l.split(",")[:4]) for l in lines])
    with pytest.warns(DataCleaningWarning):
        df, report = read_binance_book_depth(path)
    assert "weighted_avg_price" not in df.columns
    assert report.inverted_rows == 0 and report.frozen_rows > 0


def test_truncated(shared_data, malformed):
    message = _error(malformed(shared_data / BOOK, lambda lines: lines[:-1] + ["2025-10-10 23:59:30,5,1"]))
    assert "row 28791" in message and "truncated" in message


def test_duplicated_bucket(shared_data, malformed):
    message = _error(malformed(shared_data / BOOK, lambda lines: lines[:5] + [lines[4]] + lines[5:]))
    assert "row 6" in message and "appears twice" in message


def test_unsorted_snapshots(shared_data, malformed):
    message = _error(malformed(shared_data / BOOK, lambda lines: lines[:1] + lines[11:21] + lines[1:11] + lines[21:]))
    assert "row 12" in message and "not sorted" in message


def test_nan_depth_and_zero_percentage(shared_data, malformed):
    def nan_depth(lines):
        f = lines[30].split(",")
        f[2] = "NaN"
        lines[30] = ",".join(f)
        return lines

    assert "row 31" in _error(malformed(shared_data / BOOK, nan_depth))

    def zero_pct(lines):
        f = lines[7].split(",")
        f[1] = "0"
        lines[7] = ",".join(f)
        return lines

    assert "row 8" in _error(malformed(shared_data / BOOK, zero_pct))


def test_min_frozen_run_must_be_a_run(shared_data):
    with pytest.raises(InputError, match="min_frozen_run"):
        read_binance_book_depth(shared_data / BOOK, min_frozen_run=1)
