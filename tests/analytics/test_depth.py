"""bookDepth cleaning, depth within ±x % and depth collapse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqcascade.analytics import clean_book_depth, depth_collapse, depth_within
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


def test_frozen_snapshots_and_inverted_buckets_are_counted():
    rows = []
    rows += snapshot("2025-10-10 00:00:00", 1.0)
    rows += snapshot("2025-10-10 00:00:30", 1.1)
    # frozen: the same values again under three new timestamps
    for t in ("00:01:00", "00:01:30", "00:02:00"):
        rows += [(f"2025-10-10 {t}",) + r[1:] for r in snapshot("x", 1.1)]
    rows += snapshot("2025-10-10 00:02:30", 1.2, stale_bid=101_000.0)  # two bid buckets above the asks
    clean, rep = clean_book_depth(frame(rows))
    assert (rep.rows_in, rep.frozen_snapshots, rep.frozen_rows, rep.inverted_rows) == (60, 3, 30, 2)
    assert rep.rows_dropped == 32 and rep.rows_out == 28 == len(clean)
    d = depth_within(clean, 1)
    assert len(d) == 3
    assert np.isnan(d["bid_usd"].iloc[-1]) and d["ask_usd"].iloc[-1] == pytest.approx(1.2e6)
    assert d["total_usd"].iloc[0] == pytest.approx(2e6)


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


@pytest.mark.parametrize("mutate, field", [
    (lambda f: f.iloc[0:0], "book_depth"),
    (lambda f: f.drop(columns="notional"), "notional"),
    (lambda f: f.assign(notional=f["notional"].where(f.index != 3, np.nan)), "notional"),
    (lambda f: f.iloc[::-1].reset_index(drop=True), "timestamp"),
    (lambda f: pd.concat([f, f]).reset_index(drop=True), "timestamp"),
])
def test_bad_frames(mutate, field):
    f = frame(snapshot("2025-10-10 00:00:00") + snapshot("2025-10-10 00:00:30"))
    with pytest.raises(InputError) as e:
        clean_book_depth(mutate(f))
    assert e.value.field == field


def test_oct_10_2025_collapse(data_file):
    raw = pd.read_csv(data_file("theglory_oct10_2025", "BTCUSDT-bookDepth-2025-10-10.csv"))
    clean, rep = clean_book_depth(raw)
    # measured on the archive: no frozen stretch on this day; 1,905 bid buckets inverted by the stale
    # 17.654 BTC bid at 121,363 (all -1 % buckets from 15:30 on)
    assert rep.rows_in == 28_790 and rep.frozen_rows == 0 and rep.inverted_rows == 1_905
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
