"""bookDepth cleaning (the readers' rules, applied to frames), depth within ±x % and depth collapse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqcascade import data
from liqcascade.analytics import clean_book_depth, depth_collapse, depth_within
from liqcascade.data import DataCleaningWarning, read_binance_book_depth
from liqcascade.errors import InputError

PCTS = [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]


def snapshot(ts, scale=1.0, mid=100_000.0, stale_bid=None):
    rows = []
    for p in PCTS:
        notional = abs(p) * 1e6 * scale
        wap = mid * (1 + p / 200)  # bids below mid, asks above
        if stale_bid is not None and p in (-1, -2):
            wap = stale_bid
        rows.append((ts, p, notional / wap, notional, wap))
    return rows


def frame(rows):
    return pd.DataFrame(rows, columns=["timestamp", "percentage", "depth", "notional", "weighted_avg_price"])


def test_the_analytics_clean_with_the_readers_rules():
    assert clean_book_depth is data.clean_book_depth


def test_frozen_stretches_and_inverted_buckets_are_counted():
    rows = []
    rows += snapshot("2025-10-10 00:00:00", 1.0)
    rows += snapshot("2025-10-10 00:00:30", 1.1)
    # frozen: the same values again under three new timestamps (a run of four snapshots)
    for t in ("00:01:00", "00:01:30", "00:02:00"):
        rows += [(f"2025-10-10 {t}",) + r[1:] for r in snapshot("x", 1.1)]
    # two bid buckets at 103,000: above every ask and outside the band any other bucket allows
    rows += snapshot("2025-10-10 00:02:30", 1.2, stale_bid=103_000.0)
    with pytest.warns(DataCleaningWarning, match="dropped 32 of 60"):
        clean, rep = clean_book_depth(frame(rows), min_frozen_run=4)
    assert (rep.rows_in, rep.frozen_rows, rep.inverted_rows) == (60, 30, 2)
    assert len(rep.frozen_stretches) == 10 and {s.snapshots for s in rep.frozen_stretches} == {4}
    assert rep.inverted_by_percentage == {-2: 1, -1: 1}
    assert rep.dropped_rows == 32 and rep.rows_out == 28 == len(clean)
    d = depth_within(clean, 1)
    assert len(d) == 3
    assert np.isnan(d["bid_usd"].iloc[-1]) and d["ask_usd"].iloc[-1] == pytest.approx(1.2e6)
    assert d["total_usd"].iloc[0] == pytest.approx(2e6)
    # the reader's default: a run must last ten snapshots to count as frozen
    with pytest.warns(DataCleaningWarning, match="dropped 2 of 60"):
        _, lenient = clean_book_depth(frame(rows))
    assert lenient.frozen_rows == 0


def test_a_frame_cleans_as_its_file_reads(tmp_path):
    rows = snapshot("2025-10-10 00:00:00") + snapshot("2025-10-10 00:00:30", 1.1, stale_bid=103_000.0)
    path = tmp_path / "BTCUSDT-bookDepth-2025-10-10.csv"
    frame(rows).to_csv(path, index=False)
    with pytest.warns(DataCleaningWarning):
        from_file, file_report = read_binance_book_depth(path)
    with pytest.warns(DataCleaningWarning):
        from_frame, frame_report = clean_book_depth(frame(rows))
    pd.testing.assert_frame_equal(from_file, from_frame)
    assert frame_report.inverted_by_percentage == file_report.inverted_by_percentage == {-2: 1, -1: 1}


def test_depth_within_needs_an_existing_bucket():
    f = frame(snapshot("2025-10-10 00:00:00"))
    assert depth_within(f, 3)["total_usd"].iloc[0] == pytest.approx(6e6)
    with pytest.raises(InputError) as e:
        depth_within(f, 0.5)
    assert e.value.field == "pct"


def test_collapse_by_hand():
    idx = pd.date_range("2025-10-10 20:00", periods=10, freq="10min", tz="UTC")
    depth = pd.Series([100, 120, 80, 100, 50, 4, 20, 60, 95, 100.0], index=idx)
    c = depth_collapse(depth, "2025-10-10 20:40", pre_window="40min", recovery_fraction=0.9)
    assert c.pre_event_level == pytest.approx(100)  # median of 100, 120, 80, 100
    assert c.trough == 4 and c.trough_time == idx[5]
    assert c.ratio == pytest.approx(25)
    assert c.recovered_at == idx[8] and c.time_to_recover == pd.Timedelta("30min")
    never = depth_collapse(depth.iloc[:8], "2025-10-10 20:40", pre_window="40min")
    assert never.recovered_at is None and never.time_to_recover is None


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda f: f.iloc[0:0], "book_depth"),
        (lambda f: f.drop(columns="notional"), "notional"),
        (lambda f: f.assign(notional=f["notional"].where(f.index != 3, np.nan)), "notional"),
        (lambda f: f.iloc[::-1].reset_index(drop=True), "timestamp"),
        (lambda f: pd.concat([f, f]).reset_index(drop=True), "timestamp"),
    ],
)
def test_bad_frames(mutate, field):
    f = frame(snapshot("2025-10-10 00:00:00") + snapshot("2025-10-10 00:00:30"))
    with pytest.raises(InputError) as e:
        clean_book_depth(mutate(f))
    assert e.value.field == field


def test_oct_10_2025_collapse(data_file):
    with pytest.warns(DataCleaningWarning):
        clean, rep = read_binance_book_depth(data_file("theglory_oct10_2025", "BTCUSDT-bookDepth-2025-10-10.csv"))
    # measured on the archive: the stale 17.654 BTC bid at 121,363 inverts 1,905 bid buckets from
    # 15:30:42 on (and, in one tied snapshot, one ask bucket); 1,686 of those rows are also frozen
    assert rep.rows_in == 28_790 and rep.dropped_rows == rep.inverted_rows == 1_906
    assert rep.frozen_rows == 1_686
    ask = depth_within(clean, 1)["ask_usd"]
    c = depth_collapse(ask, "2025-10-10 20:50", "2025-10-10 22:00", pre_window="1h")
    # measured: +1 % asks 359.4M -> 56.8M at 21:22:31 (6.33x), back at 90 % after 1 h 36 min
    assert c.pre_event_level == pytest.approx(359.4e6, rel=1e-3)
    assert c.trough == pytest.approx(56.77e6, rel=1e-3)
    assert c.ratio == pytest.approx(6.33, abs=0.01)
    assert c.time_to_recover == pd.Timedelta("1h36min2s")
    bid5 = depth_within(clean, 5)["bid_usd"]
    c5 = depth_collapse(bid5, "2025-10-10 20:50", "2025-10-10 22:00", pre_window="1h")
    assert c5.ratio == pytest.approx(38.7, abs=0.1) and c5.recovered_at is None
