"""Insurance fund and ADL on a hand-sized market (Binance BTC, linear book B = 1e8 USD).

A long of 1 BTC at 100,000 with 10,000 margin (bankruptcy price 90,000) meets a 15,000,000 USD sell
that takes the mid to 85,000 in one step: its fill is far below bankruptcy.  Walking x BTC from
85,000 fills at ``85,000*(1 - x*85,000/(2B))``, so the loss beyond bankruptcy of x BTC is

    S(x) = x*(90,000 - 85,000) + x**2 * 85,000**2/(2B) = 5,000 x + 36.125 x**2  (USD)

- fund >= S(1) = 5,036.125: the book takes everything, the fund pays exactly S(1).
- fund F < S(1): the book takes x_b with S(x_b) = F, the fund is exhausted, and ADL closes the
  uncovered 1 - x_b BTC at 90,000 against the profitable short.
- fund F < S(1) and no profitable opposite position: everything goes to the book, the fund pays
  F and S(1) - F is bad debt.
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

B = 1e8


def market(short_entry=100_000.0, n_shorts=1):
    n = 1 + n_shorts
    pos = Positions.from_arrays(
        account=np.arange(n),
        venue=["binance"] * n,
        asset=["BTC"] * n,
        side=[1] + [-1] * n_shorts,
        size=[1.0] + [1.0] * n_shorts,
        entry=[100_000.0] + [short_entry] * n_shorts,
        margin=[10_000.0] + [50_000.0] * n_shorts,
        leverage=[10.0] + [2.0] * n_shorts,
    )
    liq = Liquidity(
        {("binance", "BTC"): DepthProfile(B, B, 1.0, 1.0)},
        MarketMakerResponse(vol_sensitivity=0.0, flow_sensitivity=0.0),
    )
    flows = Flows(programmes=[programme("BTC", -1.5e7 * 86_400, 0.0, 1.0)])
    return pos, liq, PriceConfig({"BTC": 100_000.0}), flows


def shortfall(x):
    return 5_000.0 * x + 85_000.0**2 / (2 * B) * x**2


def x_book(fund):
    a, b = 85_000.0**2 / (2 * B), 5_000.0
    return (-b + np.sqrt(b * b + 4 * a * fund)) / (2 * a)


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_fund_pays_the_whole_shortfall_when_it_can(engine):
    pos, liq, prices, flows = market()
    run = engine(pos, liq, prices, flows, n_steps=1, insurance_fund=10_000.0)
    ev = run.events
    assert list(ev["method"]) == ["book"]
    assert run.steps["insurance_fund_usd"].iloc[0] == pytest.approx(10_000.0 - shortfall(1.0), rel=1e-12)
    assert run.summary["adl_usd"] == 0.0
    assert run.steps["bad_debt_usd"].iloc[0] == 0.0
    assert run.ledger["ok"]


@pytest.mark.parametrize("adl_rule", ["queue", "pro_rata"])
@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_shortfall_beyond_the_fund_is_deleveraged_exactly(engine, adl_rule):
    fund = 1_000.0
    pos, liq, prices, flows = market()
    run = engine(pos, liq, prices, flows, n_steps=1, insurance_fund=fund, adl_rule=adl_rule)
    ev = run.events.set_index("method", drop=False)
    xb = x_book(fund)
    assert list(run.events["method"]) == ["adl", "book"]
    assert ev.loc["adl", "size"] == pytest.approx(1.0 - xb, rel=1e-9)
    assert ev.loc["adl", "price"] == pytest.approx(90_000.0, rel=1e-12)  # the bankruptcy price
    assert ev.loc["book", "size"] == pytest.approx(xb, rel=1e-9)
    assert run.steps["insurance_fund_usd"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    assert run.steps["adl_usd"].iloc[0] == pytest.approx((1.0 - xb) * 90_000.0, rel=1e-9)
    assert run.steps["bad_debt_usd"].iloc[0] == 0.0
    assert run.ledger["ok"]
    if engine is simulate:
        final = simulate(
            pos, liq, prices, flows, n_steps=1, insurance_fund=fund, adl_rule=adl_rule, keep_final=True
        ).final
        # the short was closed by exactly the uncovered size, at 90,000: +10,000 USD per BTC realised
        assert final["size"][1] == pytest.approx(xb, rel=1e-9)
        assert final["margin"][1] == pytest.approx(50_000.0 + (1 - xb) * 10_000.0, rel=1e-9)
        assert final["margin"][0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_without_profitable_counterparties_the_rest_is_bad_debt(engine):
    fund = 1_000.0
    pos, liq, prices, flows = market(short_entry=80_000.0)  # the short is losing at 85,000
    run = engine(pos, liq, prices, flows, n_steps=1, insurance_fund=fund)
    assert list(run.events["method"]) == ["book"]
    assert run.steps["insurance_fund_usd"].iloc[0] == 0.0
    assert run.steps["bad_debt_usd"].iloc[0] == pytest.approx(shortfall(1.0) - fund, rel=1e-9)
    assert run.ledger["ok"]


def test_queue_takes_the_top_ranked_first_and_pro_rata_spreads():
    """Two profitable shorts, the second with more profit per margin: the queue closes it first;
    pro-rata takes from both in proportion to size."""
    fund = 1_000.0
    pos = Positions.from_arrays(
        account=[0, 1, 2],
        venue=["binance"] * 3,
        asset=["BTC"] * 3,
        side=[1, -1, -1],
        size=[1.0, 1.0, 1.0],
        entry=[100_000.0, 100_000.0, 100_000.0],
        margin=[10_000.0, 50_000.0, 20_000.0],
        leverage=[10.0, 2.0, 5.0],
    )
    _, liq, prices, flows = market()
    q = simulate(pos, liq, prices, flows, n_steps=1, insurance_fund=fund, keep_final=True)
    xb = x_book(fund)
    np.testing.assert_allclose(q.final["size"][1:], [1.0, xb], rtol=1e-9)
    p = simulate(pos, liq, prices, flows, n_steps=1, insurance_fund=fund, adl_rule="pro_rata", keep_final=True)
    np.testing.assert_allclose(p.final["size"][1:], [1 - (1 - xb) / 2] * 2, rtol=1e-9)


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_hyperliquid_deleverages_at_the_previous_mark(engine):
    """Hyperliquid closes ADL counterparties "at the previous mark price against the now underwater
    user".  A long of 1 BTC at 100,000 with 3,000 margin (bankruptcy 97,000; BTC's maintenance
    rate 1/80) and a profitable short; a 40,000 USD sell takes the mid (= the mark: one book, no
    spot index) from 100,000 to 98,000 in one step on a linear book B = 2e6.  At 98,000 the long's
    equity 1,000 is under its maintenance margin 1,225 but above the vault's 2/3 of it (816.7), and
    at 98,000 < 100,000 USD notional it closes whole.  Walking x BTC from 98,000 fills at
    98,000 - 2,401 x, so with an empty fund the book takes x_b = 1,000/2,401 (filled at exactly the
    bankruptcy price) and ADL closes 1 - x_b against the short at the previous mark, 100,000 (the
    bankruptcy price, 97,000, on the other venues): the short realises nothing, the long keeps
    3,000 (1 - x_b)."""
    b = 2e6
    pos = Positions.from_arrays(
        account=[0, 1],
        venue=["hyperliquid"] * 2,
        asset=["BTC"] * 2,
        side=[1, -1],
        size=[1.0, 1.0],
        entry=[100_000.0, 100_000.0],
        margin=[3_000.0, 50_000.0],
        leverage=[34.0, 2.0],
    )
    liq = Liquidity(
        {("hyperliquid", "BTC"): DepthProfile(b, b, 1.0, 1.0)},
        MarketMakerResponse(vol_sensitivity=0.0, flow_sensitivity=0.0),
    )
    flows = Flows(programmes=[programme("BTC", -4.0e4 * 86_400, 0.0, 1.0)])
    run = engine(pos, liq, PriceConfig({"BTC": 100_000.0}), flows, n_steps=1, insurance_fund=0.0)
    xb = 1_000.0 / 2_401.0
    ev = run.events.set_index("method", drop=False)
    assert list(run.events["method"]) == ["adl", "book"]
    assert ev.loc["adl", "size"] == pytest.approx(1.0 - xb, rel=1e-9)
    assert ev.loc["adl", "price"] == pytest.approx(100_000.0, rel=1e-12)  # the previous mark
    assert ev.loc["book", "size"] == pytest.approx(xb, rel=1e-9)
    assert ev.loc["book", "price"] == pytest.approx(97_000.0, rel=1e-9)
    assert run.steps["adl_usd"].iloc[0] == pytest.approx((1.0 - xb) * 100_000.0, rel=1e-9)
    assert run.steps["bad_debt_usd"].iloc[0] == 0.0
    assert run.ledger["ok"]
    if engine is simulate:
        final = simulate(
            pos, liq, PriceConfig({"BTC": 100_000.0}), flows, n_steps=1, insurance_fund=0.0, keep_final=True
        ).final
        assert final["margin"][0] == pytest.approx(3_000.0 * (1.0 - xb), rel=1e-9)
        assert final["size"][1] == pytest.approx(xb, rel=1e-9)
        assert final["margin"][1] == pytest.approx(50_000.0, rel=1e-12)
