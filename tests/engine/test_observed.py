"""The observed mode: the index pinned to a path, positions opened and closed at a time.

Worked by hand on the toy market of ``test_toy`` (Hyperliquid BTC, a linear book
``Cum(u) = 1e8*u``, no fees, no market-maker response): a path from 100,000 down to 91,000 in one
step pins the mid there with a sell of ``1e8 * 0.09 = 9,000,000`` USD, the same move the toy's
programme makes, so the same two longs are liquidated at the same prices; the next step's pin buys
back what their fills moved."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqcascade.engine import DepthProfile, Flows, Liquidity, MarketMakerResponse, Positions, PriceConfig, simulate
from liqcascade.errors import InputError

from .markets import random_positions
from .test_toy import toy


def test_pin_takes_the_toy_to_its_path_and_liquidates_as_the_programme_did():
    pos, liq, prices, _ = toy()
    path = np.array([91_000.0, 91_000.0])
    run = simulate(
        pos,
        liq,
        PriceConfig({"BTC": 100_000.0}, permanent_impact=1.0, flow_permanent_impact=1.0),
        Flows(),
        n_steps=2,
        index_path={"BTC": path},
    )
    fill_a = 91_000.0 * (1 - 0.000455)
    mid_1 = 91_000.0 * (1 - 0.00091)
    u_b = mid_1 / 1e8
    mid_2 = mid_1 * (1 - u_b)
    np.testing.assert_allclose(run.events["price"], [fill_a, mid_1 * (1 - u_b / 2)], rtol=1e-12)
    flow = run.implied_flow_usd["BTC"].to_numpy()
    assert flow[0] == pytest.approx(-9e6, rel=1e-12)  # USD at mid: 1e8 * 0.09
    assert flow[1] == pytest.approx(1e8 * (91_000.0 / mid_2 - 1.0), rel=1e-9)  # bought back
    np.testing.assert_allclose(run.steps["index"].to_numpy(), [mid_2, 91_000.0], rtol=1e-12)
    assert run.summary["mode"] == "observed"
    assert run.ledger["ok"]


def _market():
    liq = Liquidity(
        {
            (v, a): DepthProfile.from_depth_1pct(5e7 if a == "BTC" else 2e7, 1.2)
            for v in ("binance", "bybit", "hyperliquid")
            for a in ("BTC", "ETH")
        },
        MarketMakerResponse(),
    )
    return liq, PriceConfig({"BTC": 100_000.0, "ETH": 3_000.0}, permanent_impact=1.0, flow_permanent_impact=1.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(-0.12, 0.12))
def test_index_follows_any_path_when_nothing_is_liquidated(seed, drift):
    """With positions far from their LPs, the index at every step's end is the path's price to
    the last bits, whatever the path, and the books balance."""
    rng = np.random.default_rng(seed)
    pos = random_positions(seed, 300, max_lev=2)
    liq, prices = _market()
    n = 120
    paths = {a: p0 * np.exp(np.cumsum(rng.normal(drift / n, 0.002, n))) for a, p0 in (("BTC", 1e5), ("ETH", 3e3))}
    run = simulate(pos, liq, prices, Flows(), n_steps=n, index_path=paths)
    assert run.summary["true_total_liquidated_usd"] == 0.0
    idx = run.steps.groupby(["time_s", "asset"], observed=True)["index"].first().unstack("asset")
    for a, p in paths.items():
        np.testing.assert_allclose(idx[a].to_numpy(), p, rtol=1e-12)
    assert run.ledger["ok"]


def test_a_falling_path_implies_selling_and_liquidates_the_leveraged_longs():
    pos = random_positions(3, 2_000)
    liq, prices = _market()
    n = 300
    paths = {"BTC": 1e5 * np.linspace(1.0, 0.9, n), "ETH": 3e3 * np.linspace(1.0, 0.88, n)}
    run = simulate(pos, liq, prices, Flows(), n_steps=n, index_path=paths)
    assert run.implied_flow_usd["BTC"].sum() < 0 and run.implied_flow_usd["ETH"].sum() < 0
    ev = run.events
    assert (ev["side"] == "long").mean() > 0.9
    # every liquidated long's LP was reached by the path (within the step's own walk)
    assert run.ledger["ok"]


def test_timed_opens_and_closes_trade_at_the_market_and_conserve_money():
    liq, prices = _market()
    n = 60
    pos = Positions.from_arrays(
        account=[0, 1, 2, 3],
        venue=["binance"] * 4,
        asset=["BTC"] * 4,
        side=[1, -1, 1, 1],
        size=[1.0, 2.0, 0.5, 3.0],
        entry=[100_000.0] * 4,
        margin=[50_000.0, 100_000.0, 25_000.0, 150_000.0],
        leverage=[2.0] * 4,
        pending=[False, False, True, True],
        open_s=[np.nan, np.nan, 10.0, 30.0],
        close_s=[20.0, np.nan, 40.0, np.nan],
    )
    path = {"BTC": np.full(n, 100_000.0)}
    run = simulate(pos, liq, prices, Flows(), n_steps=n, index_path=path, keep_final=True)
    f = run.final
    oi = run.steps[(run.steps["asset"] == "BTC") & (run.steps["venue"] == "binance")].set_index("time_s")
    oi = oi["open_interest_usd"]
    # open interest (USD at the mark, the mean of the long and short sides): longs 1 BTC, +0.5 at
    # 10 s, -1 at 20 s, +3 at 30 s, -0.5 at 40 s; shorts 2 BTC throughout
    for t, btc in ((5, 1.5), (15, 1.75), (25, 1.25), (35, 2.75), (45, 2.5)):
        assert oi.loc[float(t)] / 100_000.0 == pytest.approx(btc, rel=2e-3)
    assert list(f["size"]) == [0.0, 2.0, 0.0, 3.0]
    timed = run.timed_flow_usd["BTC"].to_numpy()
    assert timed[10] > 0 and timed[20] < 0 and timed[30] > 0 and timed[40] < 0
    assert timed[10] == pytest.approx(0.5 * f["entry"][2], rel=1e-12)  # bought 0.5 BTC at its fill
    assert run.ledger["ok"] and run.summary["true_total_liquidated_usd"] == 0.0


def test_bad_paths_are_refused_in_one_line():
    pos, liq, prices, _ = toy()
    with pytest.raises(InputError, match="2 values, the run 3 steps"):
        simulate(pos, liq, prices, Flows(), n_steps=3, index_path={"BTC": [1.0, 2.0]})
    with pytest.raises(InputError, match="step 1"):
        simulate(pos, liq, prices, Flows(), n_steps=2, index_path={"BTC": [1.0, -2.0]})
    with pytest.raises(InputError, match="no market"):
        simulate(pos, liq, prices, Flows(), n_steps=1, index_path={"DOGE": [1.0]})


def test_a_position_opened_at_a_time_is_liquidated_when_the_path_crosses_its_lp():
    """Only timed openings (no price-triggered entry order): the opened short goes to its heap
    and is liquidated when the path rises through its LP, like the one standing from the start."""
    liq = Liquidity({("binance", "BTC"): DepthProfile.from_depth_1pct(5e7, 1.2)}, MarketMakerResponse())
    prices = PriceConfig({"BTC": 100_000.0}, permanent_impact=1.0, flow_permanent_impact=1.0)
    pos = Positions.from_arrays(
        account=[0, 1, 2],
        venue=["binance"] * 3,
        asset=["BTC"] * 3,
        side=[1, -1, -1],
        size=[1.0] * 3,
        entry=[100_000.0] * 3,
        margin=[50_000.0, 10_000.0, 10_000.0],
        leverage=[2.0, 10.0, 10.0],
        pending=[False, True, False],
        open_s=[np.nan, 10.0, np.nan],
    )
    n = 200
    path = {"BTC": 100_000.0 * np.r_[np.ones(20), np.linspace(1.0, 1.2, n - 20)]}
    run = simulate(pos, liq, prices, Flows(), n_steps=n, index_path=path, keep_final=True)
    assert set(run.events["position"]) == {1, 2}
    assert list(run.final["size"]) == [1.0, 0.0, 0.0]
    assert run.ledger["ok"]
