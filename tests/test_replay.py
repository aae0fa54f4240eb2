"""The observed replay's pieces: the bridge through the bars, the attribution of moves to the
forced flow, and the counterfactual on a market whose forced flow is known."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqcascade.engine import DepthProfile, Flows, Liquidity, MarketMakerResponse, Positions, PriceConfig, simulate
from liqcascade.errors import InputError
from liqcascade.replay import attribution, bridge, counterfactual, forced_moves

T0 = 1_770_249_600_000  # 5 Feb 2026 00:00 UTC, ms


def random_bars(rng, n, bar_s=300, p0=70_000.0):
    o = p0 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    c = o * np.exp(rng.normal(0, 0.003, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.002, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.002, n)))
    return pd.DataFrame({"time_ms": T0 + np.arange(n) * bar_s * 1000, "open": o, "high": h, "low": lo, "close": c})


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([60, 300]), st.integers(1, 12))
def test_bridge_passes_through_every_bar_open_high_low_close(seed, bar_s, n_bars):
    bars = random_bars(np.random.default_rng(seed), n_bars, bar_s)
    path = bridge(bars, start_ms=T0, n_steps=n_bars * bar_s, bar_s=bar_s, seed=seed)
    seg = path.reshape(n_bars, bar_s)
    np.testing.assert_array_equal(seg[:, 0], bars["open"])
    np.testing.assert_array_equal(seg[:, -1], bars["close"])
    np.testing.assert_array_equal(seg.max(axis=1), bars["high"])
    np.testing.assert_array_equal(seg.min(axis=1), bars["low"])
    # the order: a bar that closed up touched its low before it last touched its high (clipping
    # may touch an extreme again away from its anchor)
    up = (bars["close"] >= bars["open"]).to_numpy()
    n = seg.shape[1]
    first_low = seg.argmin(axis=1)
    last_high = n - 1 - seg[:, ::-1].argmax(axis=1)
    first_high = seg.argmax(axis=1)
    last_low = n - 1 - seg[:, ::-1].argmin(axis=1)
    assert np.all(np.where(up, first_low < last_high, first_high < last_low))


def test_bridge_is_seeded_and_covers_only_its_bars():
    bars = random_bars(np.random.default_rng(1), 4)
    a = bridge(bars, start_ms=T0 - 60_000, n_steps=1260, seed=3)
    b = bridge(bars, start_ms=T0 - 60_000, n_steps=1260, seed=3)
    np.testing.assert_array_equal(a, b)
    assert np.isnan(a[:60]).all() and np.isfinite(a[60:]).all()
    assert not np.array_equal(a, bridge(bars, start_ms=T0 - 60_000, n_steps=1260, seed=4))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.assign(low=b["low"].where(b.index != 2, -1.0)), "row 2: a price that is not a positive"),
        (lambda b: b.iloc[[0, 2, 1, 3]], "row 2: bars unsorted or overlapping"),
        (lambda b: b.assign(time_ms=b["time_ms"] + np.array([0, 0, 1000, 1000])), "row 2: bar time off"),
        (lambda b: b.assign(high=b["low"] * 0.99), "row 0: low/high do not bracket"),
        (lambda b: b.drop(columns="close"), "lack column"),
    ],
)
def test_bridge_refuses_bad_bars_in_one_line(mutate, message):
    bars = mutate(random_bars(np.random.default_rng(0), 4))
    with pytest.raises(InputError, match=message) as e:
        bridge(bars, start_ms=T0, n_steps=1200)
    assert "\n" not in str(e.value)


def one_long_market(lev=50.0):
    """Binance BTC, one long of 10 BTC at 100,000 (its LP near 98 % of the entry at 50x), a book
    holding 1e7 USD within 1 % per side (kappa 1.0), no market-maker response."""
    pos = Positions.from_arrays(
        account=[0],
        venue=["binance"],
        asset=["BTC"],
        side=[1],
        size=[10.0],
        entry=[100_000.0],
        margin=[1e6 / lev],
        leverage=[lev],
    )
    liq = Liquidity(
        {("binance", "BTC"): DepthProfile.from_depth_1pct(1e7, 1.0)},
        MarketMakerResponse(vol_sensitivity=0.0, flow_sensitivity=0.0),
    )
    return pos, liq, PriceConfig({"BTC": 100_000.0}, permanent_impact=1.0, flow_permanent_impact=1.0)


def test_attribution_on_a_toy_with_known_forced_flow():
    """A path falling 5 % liquidates the one 50x long: its ~$1M sale moves a 1e7-per-1 % linear
    book by 0.1 % (u = V/B, B = 1e9): the endogenous fall is log(1 - V/1e9) and the share is
    that over the observed fall.  The pin buys the liquidation's move back the next step."""
    pos, liq, prices = one_long_market()
    n = 600
    path = 100_000.0 * np.exp(np.linspace(0.0, np.log(0.95), n))
    run = simulate(pos, liq, prices, Flows(), n_steps=n, index_path={"BTC": path})
    ev = run.events
    assert len(ev) >= 1 and (ev["side"] == "long").all()
    v = ev["usd"].sum()
    depth = {"BTC": {"perp": {"binance": 1e7}, "spot": 0.0, "kappa": 1.0}}
    fm = forced_moves(run, depth)
    assert fm["forced_usd"].sum() == pytest.approx(-v, rel=1e-12)
    assert fm["move"].sum() == pytest.approx(np.log1p(-v / 1e9), rel=1e-9) if len(ev) == 1 else True
    att = attribution(run, {"BTC": path}, depth, interval_s=60)
    s = att.summary["BTC"]
    assert s["observed_fall"] == pytest.approx(-np.log(0.95), rel=1e-9)
    assert s["endogenous_fall"] == pytest.approx(-fm["move"].sum(), rel=1e-9)
    assert s["share_of_fall"] == pytest.approx(fm["move"].sum() / np.log(0.95), rel=1e-9)
    assert att.frame["forced_usd"].sum() == pytest.approx(-v, rel=1e-12)
    assert att.frame["observed_move"].sum() == pytest.approx(np.log(0.95), rel=1e-12)
    # the pin bought back the liquidation's move in the step after it
    k = int(ev["time_s"].iloc[0])
    assert run.implied_flow_usd["BTC"].iloc[k + 1] > 0


def test_counterfactual_replays_the_implied_flow():
    """Free, the implied flow takes the market back to the observed low (consistency); without
    the liquidation the same flow stops higher, by the liquidation's own move."""
    pos, liq, prices = one_long_market()
    n = 600
    path = 100_000.0 * np.exp(np.linspace(0.0, np.log(0.95), n))
    run = simulate(pos, liq, prices, Flows(), n_steps=n, index_path={"BTC": path})
    cf, paths = counterfactual(
        pos,
        liq,
        prices,
        run.implied_flow_usd,
        n_steps=n,
        dt=1.0,
        insurance_fund=0.0,
        adl_rule="queue",
        seed=0,
        start_index={"BTC": 100_000.0},
    )
    assert cf["consistency"]["BTC"]["low"] == pytest.approx(path.min(), rel=1e-3)
    v = run.events["usd"].sum()
    assert cf["no_liquidations"]["liquidated_usd"] == 0.0
    assert cf["no_liquidations"]["BTC"]["low"] > cf["consistency"]["BTC"]["low"]
    assert cf["no_liquidations"]["BTC"]["low"] == pytest.approx(path.min() / (1 - v / 1e9), rel=2e-3)
    assert cf["leverage_10x"]["liquidated_usd"] == 0.0  # a 10x long survives a 5 % fall
    assert paths["consistency"]["BTC"].min() == pytest.approx(path.min(), rel=1e-3)
    assert list(paths["consistency"].index[:2]) == [300.0, 600.0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=50), st.integers(1, 12))
def test_spread_flow_keeps_each_window_sum(values, window):
    from liqcascade.replay import spread_flow

    x = np.array(values)
    y = spread_flow(x, window)
    assert y.shape == x.shape
    edges = np.arange(0, len(x), window)
    np.testing.assert_allclose(np.add.reduceat(y, edges), np.add.reduceat(x, edges), rtol=1e-9, atol=1e-3)
