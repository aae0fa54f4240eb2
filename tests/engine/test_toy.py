"""A market small enough to compute by hand: one venue (Hyperliquid), one asset, two longs, a
linear book (kappa = 1), no market-maker response, no fees (Hyperliquid charges none).

Book: ``Cum(u) = B*u`` with B = 1e8 USD, so a market order of V USD moves the mid by u = V/B and
fills on average u/2 from the pre-trade mid.  With one venue the index is the mid and the mark
equals the mid (the basis EMA stays 0).

Hyperliquid BTC tier 1: MMR = 1/(2*40) = 0.0125, no deduction, so a long's
``LP = (E - M/Q) / (1 - MMR)``.

- A: long 1 BTC at 100,000 with 10,000 margin       -> LP_A = 90,000/0.9875 = 91,139.24
- B: long 1 BTC at 100,000 with 10,186.875 margin   -> LP_B = 89,813.125/0.9875 = 90,950

Step 0: a 9,000,000 USD sell programme walks the book: u = 0.09, mid 100,000 -> 91,000.
Wave 1: the mark 91,000 is below LP_A only.  A's equity at the mark is 1,000, above 2/3 of its
maintenance margin (1,137.50), so no backstop; A's 1 BTC (91,000 USD) walks the book:
u = 0.00091, fill 91,000*(1 - 0.000455) = 90,958.5950, mid -> 91,000*(1 - 0.00091) = 90,917.19.
Wave 2: the mark 90,917.19 is below LP_B: B sells 1 BTC: u = 0.0009091719, fill
90,917.19*(1 - 0.00045458595), mid -> 90,917.19*(1 - 0.0009091719).  Nothing else can cross.

Branching ratio: wave 1, L = 91,000 USD over the 9 % move whose depth is 1e8*0.09 = 9,000,000 USD
-> R = 0.010111; wave 2, L = 90,917.19 USD over a move of 0.00091 (depth 91,000 USD)
-> R = 0.99909.
"""

import numpy as np
import pytest

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

from .reference import simulate_reference


def toy():
    pos = Positions.from_arrays(
        account=[1, 2],
        venue=["hyperliquid"] * 2,
        asset=["BTC"] * 2,
        side=[1, 1],
        size=[1.0, 1.0],
        entry=[100_000.0, 100_000.0],
        margin=[10_000.0, 10_186.875],
        leverage=[10.0, 9.85],
    )
    liq = Liquidity(
        {("hyperliquid", "BTC"): DepthProfile(1e8, 1e8, 1.0, 1.0)},
        MarketMakerResponse(vol_sensitivity=0.0, flow_sensitivity=0.0),
    )
    flows = Flows(programmes=[programme("BTC", -9e6 * 86_400, 0.0, 1.0)])
    return pos, liq, PriceConfig({"BTC": 100_000.0}), flows


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_two_longs_on_a_linear_book(engine):
    pos, liq, prices, flows = toy()
    run = engine(pos, liq, prices, flows, n_steps=1)
    ev = run.events
    fill_a = 91_000.0 * (1 - 0.000455)
    mid_1 = 91_000.0 * (1 - 0.00091)
    u_b = mid_1 / 1e8
    fill_b = mid_1 * (1 - u_b / 2)
    mid_2 = mid_1 * (1 - u_b)
    assert list(ev["account"]) == [1, 2]
    assert list(ev["method"]) == ["book", "book"]
    np.testing.assert_allclose(ev["size"], [1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(ev["price"], [fill_a, fill_b], rtol=1e-12)
    assert fill_a == pytest.approx(90_958.595, rel=1e-12)
    assert run.steps["mid"].iloc[0] == pytest.approx(mid_2, rel=1e-12)
    assert run.steps["mark"].iloc[0] == pytest.approx(mid_2, rel=1e-12)
    assert list(run.waves["wave"]) == [1, 2]
    np.testing.assert_allclose(run.waves["branching_ratio"], [91_000 / 9e6, mid_1 / 91_000], rtol=1e-9)
    s = run.summary
    assert s["true_total_liquidated_usd"] == pytest.approx(fill_a + fill_b, rel=1e-12)
    assert s["as_reported_total_usd"] == pytest.approx(fill_a + fill_b, rel=1e-12)  # Hyperliquid: complete
    assert s["long_share"] == 1.0
    assert s["accounts_liquidated"] == 2
    assert s["max_waves_in_a_step"] == 2
    assert s["drawdown_pct"]["BTC"] == pytest.approx(100 * (1 - mid_2 / 100_000), rel=1e-9)
    assert run.ledger["ok"] and abs(run.ledger["imbalance"]) < 1e-6


def test_toy_balances_by_hand():
    """Both longs keep what is left at their fills (Hyperliquid: no fee); nobody owes anything."""
    pos, liq, prices, flows = toy()
    run = simulate(pos, liq, prices, flows, n_steps=1, keep_final=True)
    fill_a, fill_b = run.events["price"]
    np.testing.assert_allclose(
        run.final["margin"], [10_000 + fill_a - 100_000, 10_186.875 + fill_b - 100_000], rtol=1e-12
    )
    assert np.all(run.final["size"] == 0)
    assert run.summary["adl_usd"] == 0 and run.steps["bad_debt_usd"].max() == 0
