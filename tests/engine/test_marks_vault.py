"""Mark rules and the liquidator vault's unwinding."""

import math

import numpy as np

from liqcascade.engine import (
    DepthProfile,
    Flows,
    Liquidity,
    MarketMakerResponse,
    Positions,
    PriceConfig,
    programme,
    simulate,
)
from liqcascade.engine import core as C

from .markets import liquidity, random_positions, shock_flows


def two_venues():
    pos = Positions.from_arrays(
        account=[0, 1],
        venue=["binance", "bybit"],
        asset=["BTC", "BTC"],
        side=[1, 1],
        size=[0.01, 0.01],
        entry=[100_000.0] * 2,
        margin=[1_000.0] * 2,
        leverage=[1.0] * 2,
        venues=("binance", "bybit"),
        assets=("BTC",),
    )
    liq = Liquidity(
        {
            ("binance", "BTC"): DepthProfile.from_depth_1pct(2e7, 1.0),
            ("bybit", "BTC"): DepthProfile.from_depth_1pct(2e7, 1.0),
        },
        MarketMakerResponse(flow_sensitivity=0.0, vol_sensitivity=0.0),
    )
    return pos, liq


def test_median_of_three_mark_by_hand():
    """One step, a $2M sell on Binance's book alone (linear books, B = 2e9 USD per unit move, so
    the mid falls 0.1 %), no arbitrage: the index is the mean of the two equal-depth mids, each
    venue's basis EMA takes a share a = 1 - exp(-1/300) of its gap, and the median of
    (index + EMA, mid, index) is index + EMA on both venues (it lies between the other two)."""
    pos, liq = two_venues()
    flows = Flows(programmes=[programme("BTC", -2e6 * 86_400, 0, 1, venue="binance")])
    for rule, expect in (("median3", "ema"), ("index_ema", "ema")):
        pr = PriceConfig({"BTC": 100_000.0}, arbitrage_rate=0.0, default_mark_rule=rule)
        run = simulate(pos, liq, pr, flows, n_steps=1)
        st = run.steps
        b = st[st.venue == "binance"].iloc[0]
        mid = 100_000.0 * (1 - 2e6 / 2e9)
        assert math.isclose(b["mid"], mid, rel_tol=1e-12)
        index = 0.5 * (mid + 100_000.0)
        a = 1 - math.exp(-1.0 / 300.0)
        c1 = index + a * (mid - index)
        assert math.isclose(b["index"], index, rel_tol=1e-12)
        # median(c1, mid, index) = c1 since mid < c1 < index
        assert math.isclose(b["mark"], c1, rel_tol=1e-12)
        y = st[st.venue == "bybit"].iloc[0]
        c1y = index + a * (100_000.0 - index)  # Bybit's mid is above the index
        assert math.isclose(y["mark"], c1y, rel_tol=1e-12)


def test_median_differs_from_index_ema_when_the_basis_ema_overshoots():
    """After a dislocation reverses, the EMA still remembers the old basis; index + EMA lies beyond
    both the index and the mid, and the median rule takes the nearer of the two."""
    pos, liq = two_venues()
    flows = Flows(programmes=[programme("BTC", -2e8 * 86_400, 0, 30, venue="binance")])
    runs = {
        rule: simulate(
            pos, liq, PriceConfig({"BTC": 100_000.0}, arbitrage_rate=1.0, default_mark_rule=rule), flows, n_steps=60
        )
        for rule in ("median3", "index_ema")
    }
    med = runs["median3"].steps.query("venue == 'binance'")
    ema = runs["index_ema"].steps.query("venue == 'binance'")
    lo = np.minimum(med["mid"], med["index"]).to_numpy()
    hi = np.maximum(med["mid"], med["index"]).to_numpy()
    assert np.all(med["mark"].to_numpy() >= lo - 1e-9) and np.all(med["mark"].to_numpy() <= hi + 1e-9)
    assert np.any(np.abs(ema["mark"].to_numpy() - med["mark"].to_numpy()) > 1.0)


def test_the_vault_sells_what_it_took_over_and_the_books_balance():
    """Hyperliquid's vault takes positions over in a crash; with a half-life it sells them into
    the book (its inventory decays to nothing), without one it keeps them."""
    pos = random_positions(2, 400, spread=0.03)
    kw = dict(n_steps=200, insurance_fund={"binance": 5e3, "bybit": 0.0, "hyperliquid": 2e3}, seed=2, keep_final=True)
    flows = shock_flows(btc_usd_per_s=-8e6, eth_usd_per_s=-3e6, start=2, end=50)
    keep = simulate(pos, liquidity(), PriceConfig({"BTC": 100_000.0, "ETH": 3_000.0}), flows, **kw)
    sell = simulate(
        pos, liquidity(), PriceConfig({"BTC": 100_000.0, "ETH": 3_000.0}), flows, vault_unwind_half_life_s=10.0, **kw
    )
    assert (keep.events["method"] == "backstop").any()
    held = np.abs(keep.final["mst"][:, C.VAULT_INV]).sum()
    assert held > 0
    assert np.abs(sell.final["mst"][:, C.VAULT_INV]).sum() < 1e-6 * held
    assert keep.ledger["ok"] and sell.ledger["ok"]


def test_dip_buyers_buy_beyond_their_floor_out_of_their_cash_and_lift_the_price():
    """A sell programme drives the index down; dip buyers (floor 2 %) buy at their rate once the
    drawdown passes the floor, never more than their cash, and the price ends higher than
    without them; the engines agree and the books balance."""
    from liqcascade.engine import dip_buyers

    from .reference import simulate_reference

    pos = random_positions(5, 200, spread=0.03)
    kw = dict(n_steps=150, insurance_fund=1e6, seed=5)
    sell = [programme("BTC", -6e6 * 86_400, 2, 60), programme("ETH", -2e6 * 86_400, 2, 60)]
    pr = PriceConfig({"BTC": 100_000.0, "ETH": 3_000.0}, permanent_impact=0.5, resilience_half_life_s=60.0)
    plain = simulate(pos, liquidity(), pr, Flows(programmes=list(sell)), keep_final=True, **kw)
    cash = 2e8
    flows = Flows(
        programmes=list(sell), cohorts=[dip_buyers("BTC", cash, 0.02, 5e8), dip_buyers("ETH", cash, 0.02, 2e8)]
    )
    dip = simulate(pos, liquidity(), pr, flows, keep_final=True, **kw)
    ref = simulate_reference(pos, liquidity(), pr, flows, **kw)
    assert plain.summary["drawdown_pct"]["BTC"] > 2.0  # the floor was passed
    left = dip.final["cohorts"][:, 0]
    assert np.all(left >= 0) and np.all(left < cash)  # they bought, within their cash
    last = lambda r: r.steps.query("asset == 'BTC'")["index"].iloc[-1]
    assert last(dip) > last(plain)
    np.testing.assert_allclose(dip.steps["mark"], ref.steps["mark"], rtol=1e-9)
    assert dip.ledger["ok"]


def test_each_venue_follows_its_published_mark_rule():
    """OKX marks at index + EMA(basis) alone; Binance, Bybit and Hyperliquid at the median of
    three.  After a dislocation on a venue reverses, index + EMA lies beyond both the index and
    the mid: only OKX's mark goes there."""
    from liqcascade.engine.prices import PriceConfig as PC

    pr = PC({"BTC": 100_000.0})
    assert {v: pr.rule(v) for v in ("binance", "bybit", "okx", "hyperliquid")} == {
        "binance": "median3",
        "bybit": "median3",
        "okx": "index_ema",
        "hyperliquid": "median3",
    }
    venues = ("binance", "okx")
    pos = Positions.from_arrays(
        account=[0, 1],
        venue=list(venues),
        asset=["BTC", "BTC"],
        side=[1, 1],
        size=[0.01, 0.01],
        entry=[100_000.0] * 2,
        margin=[1_000.0] * 2,
        leverage=[1.0] * 2,
        venues=venues,
        assets=("BTC",),
    )
    liq = Liquidity(
        {(v, "BTC"): DepthProfile.from_depth_1pct(2e7, 1.0) for v in venues},
        MarketMakerResponse(flow_sensitivity=0.0, vol_sensitivity=0.0),
    )
    for v in venues:  # a dislocation on one venue at a time
        flows = Flows(programmes=[programme("BTC", -2e8 * 86_400, 0, 30, venue=v)])
        st = simulate(pos, liq, PC({"BTC": 100_000.0}, arbitrage_rate=1.0), flows, n_steps=60).steps
        s = st[st.venue == v]
        mark, mid, index = (s[c].to_numpy() for c in ("mark", "mid", "index"))
        outside = (mark < np.minimum(mid, index) - 1e-9) | (mark > np.maximum(mid, index) + 1e-9)
        assert outside.any() == (v == "okx"), v
