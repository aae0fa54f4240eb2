"""The spot anchor: an asset with a spot book takes its index from the spot mid; arbitrage
closes each perpetual's gap to spot, shared by depth; flows walk spot and perpetual books in
proportion to their depth; spot trades are booked (flow party vs spot liquidity providers)."""

import math

import numpy as np

from liqcascade.engine import Flows, Positions, PriceConfig, programme, simulate
from liqcascade.engine import core as C

from .markets import liquidity, random_positions


def one_position():
    return Positions.from_arrays(
        account=[0],
        venue=["binance"],
        asset=["BTC"],
        side=[1],
        size=[0.01],
        entry=[100_000.0],
        margin=[1_000.0],
        leverage=[1.0],
        venues=("binance",),
        assets=("BTC",),
    )


def test_a_sell_splits_between_spot_and_perp_by_depth_and_arbitrage_closes_the_gap_by_hand():
    """One venue, one asset, a $1M sell in step 0: perp book B=2e7/side at 1 %, spot 6e7/side;
    kappa 1 on both (linear books).  The flow splits 1:3 (perp:spot); each walk moves its mid
    by u = usd/B; arbitrage then closes theta of the gap, the perp taking w = D_spot/(D_spot+D_perp)."""
    from liqcascade.engine import DepthProfile, Liquidity, MarketMakerResponse

    liq = Liquidity(
        {("binance", "BTC"): DepthProfile.from_depth_1pct(2e7, 1.0)},
        MarketMakerResponse(flow_sensitivity=0.0, vol_sensitivity=0.0),
        spot={"BTC": DepthProfile.from_depth_1pct(6e7, 1.0)},
    )
    flows = Flows(programmes=[programme("BTC", -1e6 * 86_400, 0, 1)])
    pr = PriceConfig({"BTC": 100_000.0}, arbitrage_rate=0.2)
    run = simulate(one_position(), liq, pr, flows, n_steps=1, keep_final=True)
    p0 = 100_000.0
    b_perp, b_spot = 2e7 / 0.01, 6e7 / 0.01
    perp = p0 * (1 - 0.25e6 / b_perp)
    spot = p0 * (1 - 0.75e6 / b_spot)
    theta = 1 - math.exp(-0.2)
    w = 1.2e8 / (1.2e8 + 4e7)
    gap = perp - spot
    perp, spot = perp - theta * gap * w, spot + theta * gap * (1 - w)
    row = run.steps.iloc[0]
    assert row["index"] == np.float64(spot) or math.isclose(row["index"], spot, rel_tol=1e-12)
    assert math.isclose(row["mid"], perp, rel_tol=1e-12)
    ast = run.final["ast"]
    # the flow party holds the spot it sold short of (sold 0.75M USD at mid): inventory < 0
    assert ast[0, C.SPOT_FLOW_INV] < 0 and math.isclose(ast[0, C.SPOT_FLOW_INV], -ast[0, C.SPOT_LP_INV])
    assert run.ledger["ok"]


def test_a_spot_anchor_damps_a_cascade():
    """The same forced selling on the same positions: with a deep spot book the marks (spot +
    basis EMA) fall less, and fewer positions are liquidated, than when the index is the perp mids."""
    pos = random_positions(11, 400, spread=0.02)
    kw = dict(n_steps=120, insurance_fund=1e6, seed=3)
    flows = Flows(programmes=[programme("BTC", -6e6 * 86_400, 2, 60), programme("ETH", -2e6 * 86_400, 2, 60)])
    without = simulate(pos, liquidity(), PriceConfig({"BTC": 100_000.0, "ETH": 3_000.0}), flows, **kw)
    with_spot = simulate(
        pos, liquidity(spot={"BTC": 2e8, "ETH": 6e7}), PriceConfig({"BTC": 100_000.0, "ETH": 3_000.0}), flows, **kw
    )
    assert with_spot.summary["drawdown_pct"]["BTC"] < without.summary["drawdown_pct"]["BTC"]
    assert with_spot.summary["true_total_liquidated_usd"] < without.summary["true_total_liquidated_usd"]
    assert with_spot.ledger["ok"] and without.ledger["ok"]
    assert "party_spot_flows" in with_spot.ledger
