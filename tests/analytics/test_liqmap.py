"""Liquidation maps as specifications: a hand-placed bucket, conservation, the per-bar reference,
the CoinGlass shape, labels, exports and bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from liqcascade import liqmap as lm
from liqcascade.data import read_binance_klines
from liqcascade.errors import InputError
from liqcascade.liqmap import LiquidationMap, liquidation_map, observed_liquidation_map
from liqcascade.venues import get_venue

T0 = 1_759_276_800_000  # 2025-10-01 00:00 UTC, ms


def flat_bars(n, price=100_000.0, oi=None, spread=10.0):
    oi = np.full(n, 1e9) if oi is None else np.asarray(oi, float)
    return pd.DataFrame(
        {
            "timestamp": T0 + 300_000 * np.arange(n),
            "open": price,
            "high": price + spread,
            "low": price - spread,
            "close": price,
            "open_interest": oi,
        }
    )


def random_bars(n, seed=0):
    rng = np.random.default_rng(seed)
    c = 100_000 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    h = c * (1 + np.abs(rng.normal(0, 0.002, n)))
    lo = c * (1 - np.abs(rng.normal(0, 0.002, n)))
    oi = 1e9 + np.cumsum(rng.normal(0, 3e6, n))
    return pd.DataFrame(
        {"timestamp": T0 + 300_000 * np.arange(n), "open": c, "high": h, "low": lo, "close": c, "open_interest": oi}
    )


def test_one_increase_lands_on_the_rule_books_liquidation_price():
    oi = [1e9, 1e9 + 1e6, 1e9 + 1e6, 1e9 + 1e6]
    bars = flat_bars(4, oi=oi)
    m = liquidation_map(
        bars,
        leverage_mix={10: 1.0},
        long_share=1.0,
        bin_size=1.0,
        price_range=(80_000, 120_000),
        position_notional=10_000,
    )
    # by hand, Binance tier 1 (MMR 0.4 %, no maintenance amount): LP = E (1 - 1/10) / (1 - 0.004)
    entry = 100_000.0  # typical price (H + L + C) / 3 of a flat bar
    by_hand = entry * 0.9 / 0.996
    v = get_venue("binance")
    lp = float(v.liquidation_price("long", 10_000 / entry, entry, 1_000.0, v.tier_table("BTC/USDT:USDT")))
    assert lp == pytest.approx(by_hand, rel=1e-12)
    level = int(np.floor(lp - 80_000))
    assert m.price_levels[level] <= lp < m.price_levels[level] + 1
    assert m.long_usd[0].sum() == 0  # nothing opened in the first bar
    np.testing.assert_allclose(m.long_usd[1:, level], 1e6)
    assert m.long_usd.sum() == pytest.approx(3e6) and m.short_usd.sum() == 0
    assert m.label == "estimated"


def test_a_crossed_bucket_leaves_the_map_and_is_counted_as_liquidated():
    bars = flat_bars(6, oi=[1e9, 1e9 + 2e6] + [1e9 + 2e6] * 4)
    bars.loc[4, "low"] = 85_000.0  # below every 10x long's liquidation price (90,361)
    m = liquidation_map(
        bars, leverage_mix={10: 1.0}, bin_size=100.0, price_range=(80_000, 120_000), decay_with_oi=False
    )
    assert m.long_usd[3].sum() == pytest.approx(1e6) and m.long_usd[4].sum() == 0
    assert m.liquidated_long_usd[4] == pytest.approx(1e6) and m.liquidated_long_usd.sum() == pytest.approx(1e6)
    assert m.short_usd[5].sum() == pytest.approx(1e6)  # the shorts (LP ~ 109,6xx) survive


def test_conservation_without_decay():
    bars = random_bars(3_000, seed=4)
    m = liquidation_map(bars, decay_with_oi=False, price_range=(10_000, 400_000))
    opened = np.clip(np.diff(bars["open_interest"].to_numpy(), prepend=bars["open_interest"].iloc[0]), 0, None)
    liquidated = m.liquidated_long_usd + m.liquidated_short_usd
    alive = m.long_usd.sum(axis=1) + m.short_usd.sum(axis=1) + m.out_of_range_usd
    np.testing.assert_allclose(alive, np.cumsum(opened) - np.cumsum(liquidated), rtol=1e-9, atol=1e-3)
    assert liquidated.sum() > 0.1 * opened.sum()  # the path does cross many buckets
    assert m.meta["opened_usd"] == pytest.approx(opened.sum())


def test_decay_closes_pro_rata():
    oi = [1e9, 1e9 + 1e6, 1e9 + 1e6, 1e9 + 1e6 - 0.25 * (1e9 + 1e6)]
    m = liquidation_map(flat_bars(4, oi=oi), leverage_mix={10: 1.0}, price_range=(80_000, 120_000))
    total = m.total_usd.sum(axis=1)
    np.testing.assert_allclose(total, [0, 1e6, 1e6, 0.75e6])


@pytest.mark.parametrize("decay", [True, False])
@pytest.mark.parametrize(
    "venue, symbol, mix",
    [
        ("binance", "BTC/USDT:USDT", lm.DEFAULT_LEVERAGE_MIX),
        ("hyperliquid", "BTC/USDC:USDC", {3: 0.5, 10: 0.3, 40: 0.2}),
        ("bybit", "BTC/USDT:USDT", {5: 0.5, 50: 0.5}),
    ],
)
def test_vectorised_kernel_equals_the_per_bar_reference(decay, venue, symbol, mix):
    bars = random_bars(1_500, seed=11)
    kw = dict(venue=venue, symbol=symbol, leverage_mix=mix, decay_with_oi=decay, long_share=0.6)
    m = liquidation_map(bars, **kw)
    long_ref, short_ref, levels, liq_l, liq_s = lm._liquidation_map_reference(bars, **kw)
    np.testing.assert_array_equal(m.price_levels, levels)
    np.testing.assert_allclose(m.long_usd, long_ref, rtol=1e-9, atol=1e-4)
    np.testing.assert_allclose(m.short_usd, short_ref, rtol=1e-9, atol=1e-4)
    np.testing.assert_allclose(m.liquidated_long_usd, liq_l, rtol=1e-9, atol=1e-4)
    np.testing.assert_allclose(m.liquidated_short_usd, liq_s, rtol=1e-9, atol=1e-4)


def test_first_crossing_search_matches_a_scan():
    rng = np.random.default_rng(5)
    values = rng.normal(size=257)
    table = lm._sparse_min_table(values)
    start = rng.integers(0, 260, 500)
    thr = rng.normal(-1.5, 1, 500)
    out = lm._first_at_or_below(table, start, thr, np.empty(500, np.int64))
    for s, x, o in zip(start, thr, out):
        hits = [j for j in range(s, 257) if values[j] <= x]
        assert o == (hits[0] if hits else 257)
    np.testing.assert_array_equal(lm._first_at_or_below_numpy(table, start, thr, np.empty(500, np.int64)), out)


def test_coinglass_json_shape(tmp_path):
    m = liquidation_map(random_bars(300, seed=2))
    doc = json.loads(m.to_coinglass_json(tmp_path / "map.json"))
    assert json.loads((tmp_path / "map.json").read_text()) == doc
    assert {"y_axis", "liquidation_leverage_data", "price_candlesticks"} <= set(doc)
    assert doc["label"] == "estimated" and doc["unit"] == "USD"
    assert doc["y_axis"] == [float(p) for p in m.price_levels]
    assert len(doc["price_candlesticks"]) == 300 and all(len(c) == 5 for c in doc["price_candlesticks"])
    assert doc["price_candlesticks"][0][0] == T0
    cells = np.array(doc["liquidation_leverage_data"])
    assert cells.shape[1] == 3 and len(cells) == np.count_nonzero(m.total_usd)
    x, y = cells[:, 0].astype(int), cells[:, 1].astype(int)
    assert x.max() < 300 and y.max() < len(doc["y_axis"])
    np.testing.assert_allclose(cells[:, 2], m.total_usd[x, y])
    longs = m.to_coinglass(side="long", every=10)
    assert len(longs["price_candlesticks"]) == 30 and longs["x_axis"][1] == T0 + 10 * 300_000
    assert longs["price_candlesticks"][0][2] == pytest.approx(m.candles[:10, 1].max())


def test_exports(tmp_path):
    m = liquidation_map(random_bars(200, seed=3))
    f = m.to_frame()
    assert set(f.columns) == {"timestamp", "price_level", "long_usd", "short_usd", "label"}
    assert f["long_usd"].sum() == pytest.approx(m.long_usd.sum())
    back = pd.read_parquet(m.to_parquet(tmp_path / "m.parquet"))
    assert back["short_usd"].sum() == pytest.approx(m.short_usd.sum()) and (back["label"] == "estimated").all()
    assert len(pd.read_csv(m.to_csv(tmp_path / "m.csv"))) == len(f)
    html = m.plot(tmp_path / "m.html")
    text = html.read_text()
    assert "plotly" in text[:200_000].lower()
    assert 'src="http' not in text  # plotly.js inlined: opens offline
    png = m.plot(tmp_path / "m.png")
    assert png.suffix == ".png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def hyperliquid_positions():
    return pd.DataFrame(
        {
            "account": ["0xa", "0xb", "0xc", "0xd"],
            "symbol": ["BTC/USDC:USDC"] * 4,
            "side": ["long", "short", "long", "short"],
            "size": [2.0, 1.0, 0.5, 3.0],
            "entry": [100_000.0, 101_000.0, 99_000.0, 100_500.0],
            "liquidation_price": [91_050.0, 109_920.0, np.nan, 109_999.0],
            "margin": [20_000.0, 10_000.0, 5_000.0, 30_000.0],
        }
    )


def test_observed_map_is_labelled_and_sums_real_positions():
    with pytest.warns(UserWarning, match="1 position"):
        m = observed_liquidation_map(hyperliquid_positions(), bin_size=100, timestamp=T0, mark_price=100_200.0)
    assert m.label == "observed" and m.long_usd.shape[0] == 1
    level = lambda p: int(np.floor((p - m.price_levels[0]) / 100))  # noqa: E731
    assert m.long_usd[0, level(91_050.0)] == pytest.approx(200_000.0)
    assert m.short_usd[0, level(109_920.0)] == pytest.approx(101_000.0 + 301_500.0)  # both in [109,900, 110,000)
    assert m.meta["dropped_without_liquidation_price"] == 1
    assert m.to_coinglass()["label"] == "observed"
    assert m.to_coinglass()["price_candlesticks"] == [[T0, 100_200.0, 100_200.0, 100_200.0, 100_200.0]]


def test_an_observed_snapshot_is_drawn_as_a_map_not_a_one_column_heatmap(tmp_path):
    """One moment has no time axis: the figure is USD per price level, longs and shorts, with each
    side's cumulative USD from the price outwards (the liquidation-map view), HTML and PNG."""
    with pytest.warns(UserWarning):
        m = observed_liquidation_map(hyperliquid_positions(), bin_size=100, timestamp=T0, mark_price=100_200.0)
    fig = m.figure()
    kinds = [t.type for t in fig.data]
    assert "heatmap" not in kinds and kinds.count("bar") == 2
    bars = {t.name: t for t in fig.data if t.type == "bar"}
    assert sum(bars["longs (USD per level)"].y) == pytest.approx(m.long_usd[0].sum())
    cum_long = next(t for t in fig.data if t.name == "longs, cumulative from the price")
    assert np.nanmax(cum_long.y) == pytest.approx(m.long_usd[0][m.price_levels + 50 < 100_200.0].sum())
    assert m.plot(tmp_path / "map.png").stat().st_size > 5_000
    assert "Plotly" in m.plot(tmp_path / "map.html").read_text("utf-8")


@pytest.mark.parametrize(
    "mutate, kwargs, field",
    [
        (lambda b: b.iloc[0:0], {}, "bars"),
        (lambda b: b.drop(columns="low"), {}, "low"),
        (lambda b: b.iloc[[1, 0, 2, 3, 4]].reset_index(drop=True), {}, "timestamp"),
        (lambda b: b.assign(timestamp=[T0, T0, T0 + 1, T0 + 2, T0 + 3]), {}, "timestamp"),
        (lambda b: b.assign(close=[1.0, np.nan, 1.0, 1.0, 1.0]), {}, "close"),
        (lambda b: b.assign(high=[1.0, 0.0, 1.0, 1.0, 1.0]), {}, "high"),
        (lambda b: b.assign(open_interest=[1.0, np.nan, 1.0, 1.0, 1.0]), {}, "open_interest"),
        (lambda b: b.drop(columns="open_interest"), {}, "open_interest"),
        (lambda b: b, {"bin_size": 0}, "bin_size"),
        (lambda b: b, {"bin_size": -100}, "bin_size"),
        (lambda b: b, {"leverage_mix": {10: 0.5, 20: 0.6}}, "leverage_mix"),
        (lambda b: b, {"leverage_mix": {200: 1.0}}, "leverage_mix"),
        (lambda b: b, {"long_share": 1.5}, "long_share"),
        (lambda b: b, {"price_range": (120_000, 80_000)}, "price_range"),
        (lambda b: b, {"venue": "ftx"}, "venue"),
    ],
)
def test_bad_input_names_the_field(mutate, kwargs, field):
    with pytest.raises(InputError) as e:
        liquidation_map(mutate(flat_bars(5)), **kwargs)
    assert e.value.field == field


def test_row_is_named_for_nan_prices():
    with pytest.raises(InputError) as e:
        liquidation_map(flat_bars(5).assign(low=[1.0, 1.0, 1.0, np.nan, 1.0]))
    assert e.value.row == 3 and "low" in str(e.value)


def test_observed_bad_input():
    with pytest.raises(InputError) as e:
        observed_liquidation_map(hyperliquid_positions().iloc[0:0])
    assert e.value.field == "positions"
    with pytest.raises(InputError) as e:
        observed_liquidation_map(hyperliquid_positions().drop(columns="liquidation_price"))
    assert e.value.field == "liquidation_price"
    with pytest.raises(InputError) as e:
        observed_liquidation_map(hyperliquid_positions(), bin_size=0)
    assert e.value.field == "bin_size"
    mixed = hyperliquid_positions().assign(symbol=["BTC/USDC:USDC", "ETH/USDC:USDC"] * 2)
    with pytest.raises(InputError) as e:
        observed_liquidation_map(mixed)
    assert e.value.field == "symbol"


def test_datetime_timestamps_are_accepted():
    bars = flat_bars(4, oi=[1e9, 1e9 + 1e6, 1e9 + 1e6, 1e9 + 1e6])
    bars["timestamp"] = pd.to_datetime(bars["timestamp"], unit="ms", utc=True)
    m = liquidation_map(bars, leverage_mix={10: 1.0})
    assert m.timestamps[0] == T0


def test_three_months_of_real_5m_bars(data_file):
    path = data_file("theglory_oct10_2025", "BTCUSDT-5m-2025-10-01_2025-12-31.csv")
    k = read_binance_klines(path)
    oi = 8e9 + 2e8 * np.sin(np.arange(len(k)) / 500.0)  # an assumed OI path
    m = liquidation_map(k, open_interest=oi, bin_size=100.0)
    assert isinstance(m, LiquidationMap) and m.long_usd.shape == (len(k), len(m.price_levels))
    # the 10 Oct 2025 low (101,877.7 at 21:20) crossed long buckets: the day's largest liquidation bar
    day = (m.timestamps >= 1_760_054_400_000) & (m.timestamps < 1_760_140_800_000)
    worst = m.timestamps[day][np.argmax(m.liquidated_long_usd[day])]
    assert pd.Timestamp(worst, unit="ms", tz="UTC").strftime("%H:%M") in ("21:05", "21:10", "21:15", "21:20")


def test_compiled_and_numpy_grid_fill_agree():
    rng = np.random.default_rng(9)
    n_t, n_b, q = 400, 60, 2_000
    start = rng.integers(0, n_t, q)
    end = start + rng.integers(1, n_t, q)
    level = rng.integers(-3, n_b + 3, q)
    weight = rng.uniform(0, 1e6, q)
    decay = np.cumprod(rng.uniform(0.99, 1.0, n_t))
    a = lm._fill_grid_kernel(np.zeros((n_t, n_b)), start, end, level, weight, decay)
    b = lm._fill_grid_numpy(np.zeros((n_t, n_b)), start, end, level, weight, decay)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-6)
