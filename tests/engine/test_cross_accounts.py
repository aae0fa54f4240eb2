"""Multi-asset cross accounts: one wallet behind positions in several markets of a venue."""

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


def market(mode, venue="binance", sell_usd=1e7, size=(1.0, 10.0), margin=(10_000.0, 6_000.0)):
    """One account on ``venue``: by default a BTC long (1 BTC at 100,000, 10,000 margin) and an
    ETH long (10 ETH at 3,000, 6,000 margin: 5x).  In cross they share their wallet.  BTC alone
    falls: a ``sell_usd`` sell in one step on a linear BTC book of B = 1e8 moves it by
    ``sell_usd / B`` (10 % by default)."""
    pos = Positions.from_arrays(
        account=[1, 1],
        venue=[venue] * 2,
        asset=["BTC", "ETH"],
        side=[1, 1],
        size=list(size),
        entry=[100_000.0, 3_000.0],
        margin=list(margin),
        leverage=[10.0, 5.0],
        mode=[mode, mode],
    )
    liq = Liquidity(
        {(venue, "BTC"): DepthProfile(B, B, 1.0, 1.0), (venue, "ETH"): DepthProfile(B, B, 1.0, 1.0)},
        MarketMakerResponse(vol_sensitivity=0.0, flow_sensitivity=0.0),
    )
    flows = Flows(programmes=[programme("BTC", -sell_usd * 86_400, 0.0, 1.0)])
    return pos, liq, PriceConfig({"BTC": 100_000.0, "ETH": 3_000.0}), flows


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_isolated_btc_long_is_liquidated(engine):
    pos, liq, prices, flows = market("isolated")
    run = engine(pos, liq, prices, flows, n_steps=1)
    assert list(run.events["asset"].astype(str)) == ["BTC"]  # LP 90,402 > 90,000


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_cross_wallet_carries_the_btc_loss(engine):
    """At 90,000 the account's equity is 16,000 - 10,000 = 6,000, above the maintenance margin
    0.005*90,000 - 50 + 0.004*30,000 = 520 (Binance tiers 2 and 1): nothing is liquidated."""
    pos, liq, prices, flows = market("cross")
    run = engine(pos, liq, prices, flows, n_steps=1)
    assert run.events.empty
    assert run.ledger["ok"]


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_cross_account_goes_to_the_books_by_the_venues_steps(engine):
    """A 15,600,000 USD sell takes BTC to 84,400: the account's equity is 16,000 - 15,600 = 400,
    below its maintenance margin 0.005*84,400 - 50 (BTC, tier 2) + 0.004*30,000 (ETH, tier 1)
    = 492: the account is liquidated by Binance's step rule, as lone positions would be.  Its
    equity is positive, so BTC (84,400 USD, tier 2) is cut to the top of tier 1 (50,000 USD:
    1 - 50,000/84,400 BTC sold) and ETH (tier 1) closes whole; the account is still below its
    margin at the next wave, and BTC's rest (tier 1) closes whole."""
    run = engine(*market("cross", sell_usd=1.56e7), n_steps=1, insurance_fund=1e5)
    ev = run.events
    assert list(ev["asset"].astype(str)) == ["BTC", "ETH", "BTC"]
    assert set(ev["account"]) == {1}
    assert run.summary["accounts_liquidated"] == 1
    assert run.ledger["ok"]
    keep = 50_000 / 84_400
    assert list(ev["size"]) == pytest.approx([1 - keep, 10.0, keep], rel=1e-12)
    # the orders walk the linear bid book (B = 1e8) from the mid: v USD fill at mid*(1 - v/(2B))
    v1 = (1 - keep) * 84_400
    assert ev["price"].iloc[0] == pytest.approx(84_400 * (1 - v1 / (2 * B)), rel=1e-12)
    assert ev["price"].iloc[1] == pytest.approx(3_000 * (1 - 30_000 / (2 * B)), rel=1e-12)
    assert run.summary["waves_total"] >= 2


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_cross_account_with_no_equity_left_closes_whole(engine):
    """A 16,500,000 USD sell takes BTC to 83,500: the account's equity is 16,000 - 16,500 < 0,
    so no partial step: both positions close whole in one wave."""
    run = engine(*market("cross", sell_usd=1.65e7), n_steps=1, insurance_fund=1e5)
    ev = run.events
    assert list(ev["asset"].astype(str)) == ["BTC", "ETH"]
    assert list(ev["size"]) == pytest.approx([1.0, 10.0], rel=1e-12)
    assert run.ledger["ok"]


def hyperliquid_market(sell_usd, **kw):
    """The same account on Hyperliquid (maintenance rate half the initial rate at maximum
    leverage: BTC 40x -> 1.25 %, ETH 25x -> 2 %; no maintenance amount in the first tier)."""
    return market("cross", venue="hyperliquid", sell_usd=sell_usd, **kw)


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_hyperliquid_account_below_two_thirds_of_maintenance_goes_to_the_vault(engine):
    """BTC to 84,400: equity 16,000 - 15,600 = 400 < 2/3 of the maintenance margin
    0.0125*84,400 + 0.02*30,000 = 1,655 (1,103.33): the vault takes both positions over at their
    marks and the account's 400 of equity with them; nothing walks the books."""
    run = engine(*hyperliquid_market(1.56e7), n_steps=1, insurance_fund=1e6)
    ev = run.events.sort_values("asset")
    assert list(ev["method"].astype(str)) == ["backstop", "backstop"]
    assert list(ev["price"]) == pytest.approx([84_400.0, 3_000.0], rel=1e-12)
    assert run.summary["backstop_usd"] == pytest.approx(84_400.0 + 30_000.0, rel=1e-12)
    assert run.summary["accounts_liquidated"] == 1
    assert run.ledger["ok"]


def test_hyperliquid_account_vault_books():
    run = simulate(*hyperliquid_market(1.56e7), n_steps=1, insurance_fund=1e6, keep_final=True)
    from liqcascade.engine import core as C

    vst, mst, margin = run.final["vst"], run.final["mst"], run.final["margin"]
    # paid 114,400 for the positions at their marks, received the account's 400 of equity
    assert vst[0, C.VAULT_CASH] == pytest.approx(-114_000.0, rel=1e-12)
    assert sorted(mst[:, C.VAULT_INV]) == pytest.approx([1.0, 10.0])
    assert list(margin) == [0.0, 0.0]


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_hyperliquid_account_between_two_thirds_and_all_of_maintenance_goes_to_the_book(engine):
    """BTC to 85,500: equity 1,500, maintenance margin 0.0125*85,500 + 600 = 1,668.75, two thirds
    of it 1,112.5: liquidated, on the books."""
    run = engine(*hyperliquid_market(1.45e7), n_steps=1, insurance_fund=1e6)
    assert list(run.events["method"].astype(str)) == ["book", "book"]
    assert run.ledger["ok"]


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_hyperliquid_account_steps_20_percent_of_large_positions_with_a_30_s_cooldown(engine):
    """Hyperliquid, 2 BTC long at 100,000 and 0.1 ETH at 3,000 in one cross account, wallet
    25,600.  A 12,000,000 USD sell takes BTC to 88,000: equity 25,600 - 24,000 = 1,600, maintenance
    margin 0.0125*176,000 + 0.02*300 = 2,206 (2/3 of it 1,470.67): liquidated on the books.  BTC
    (176,000 USD > 100,000) goes 20 % at a time: 0.4 BTC; ETH (300 USD) whole.  The account is still
    below its margin (about 1,594 against 0.0125*1.6*87,969 = 1,759.4) but waits out the 30 s
    cooldown: the next step, 20 % of 1.6 = 0.32 BTC, comes at t = 30 s, and leaves it above."""
    run = engine(*hyperliquid_market(1.2e7, size=(2.0, 0.1), margin=(25_540.0, 60.0)), n_steps=70, insurance_fund=1e6)
    ev = run.events
    assert list(ev["time_s"]) == [0.0, 0.0, 30.0]
    assert list(ev["asset"].astype(str)) == ["BTC", "ETH", "BTC"]
    assert list(ev["size"]) == pytest.approx([0.4, 0.1, 0.32], rel=1e-12)
    assert set(ev["method"].astype(str)) == {"book"}
    # the first BTC order walks the linear book from 88,000: 35,200 USD fill at 88,000*(1 - 35,200/(2B))
    assert ev["price"].iloc[0] == pytest.approx(88_000 * (1 - 35_200 / (2 * B)), rel=1e-12)
    assert run.summary["accounts_liquidated"] == 1
    assert run.ledger["ok"]


def adl_market(counterparty=True):
    """The Binance account of :func:`market` (BTC and ETH longs, one wallet, BTC to 83,500) beside,
    by default, a lone isolated BTC short of another account (1 BTC at 100,000, 10,000 margin),
    which the fall puts in profit."""
    _, liq, prices, flows = market("cross", sell_usd=1.65e7)
    n = 3 if counterparty else 2
    pos = Positions.from_arrays(
        account=[1, 1, 2][:n],
        venue=["binance"] * n,
        asset=["BTC", "ETH", "BTC"][:n],
        side=[1, 1, -1][:n],
        size=[1.0, 10.0, 1.0][:n],
        entry=[100_000.0, 3_000.0, 100_000.0][:n],
        margin=[10_000.0, 6_000.0, 10_000.0][:n],
        leverage=[10.0, 5.0, 10.0][:n],
        mode=["cross", "cross", "isolated"][:n],
    )
    return pos, liq, prices, flows


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_cross_account_deficit_the_fund_cannot_pay_goes_to_adl(engine):
    """BTC at 83,500, an empty insurance fund: the account (wallet 16,000) closes whole.  BTC's
    bankruptcy price in the account is where its equity is zero with ETH at its mark (3,000, no
    PnL): 100,000 - 16,000 = 84,000.  On the book BTC would fill near 83,465 (a 535 deficit the
    fund cannot pay), so ADL closes it against the profitable short at 84,000 (the short gains
    16,000).  ETH's bankruptcy price is then 3,000 (the account's equity is 0): its book fill
    (2,999.55: 30,000 USD on B = 1e8) leaves a 4.5 deficit, and with no ETH short to deleverage it
    stays on the book and the 4.5 is bad debt (535 more without the ADL)."""
    pos, liq, prices, flows = adl_market()
    kw = dict(keep_final=True) if engine is simulate else {}
    run = engine(pos, liq, prices, flows, n_steps=1, insurance_fund=0.0, **kw)
    ev = run.events
    assert list(ev["asset"].astype(str)) == ["BTC", "ETH"]
    assert list(ev["method"].astype(str)) == ["adl", "book"]
    assert list(ev["account"]) == [1, 1]
    assert ev["price"].iloc[0] == pytest.approx(84_000.0, rel=1e-12)
    assert ev["price"].iloc[1] == pytest.approx(3_000 * (1 - 30_000 / (2 * B)), rel=1e-12)
    assert run.summary["adl_usd"] == pytest.approx(84_000.0, rel=1e-12)
    assert run.steps["bad_debt_usd"].sum() == pytest.approx(10 * 3_000 * 30_000 / (2 * B), rel=1e-9)
    assert run.ledger["ok"]
    if engine is simulate:
        size, margin = run.final["size"], run.final["margin"]
        assert list(size) == [0.0, 0.0, 0.0]
        assert margin[2] == pytest.approx(10_000.0 + 16_000.0, rel=1e-12)  # the short's profit at 84,000


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_cross_account_deficit_without_counterparty_is_bad_debt(engine):
    """The same fall with no short to deleverage: both positions fill on the book and the whole
    deficit, 16,000 - 1*(100,000 - f_BTC) - 4.5, is bad debt."""
    pos, liq, prices, flows = adl_market(counterparty=False)
    run = engine(pos, liq, prices, flows, n_steps=1, insurance_fund=0.0)
    ev = run.events
    assert list(ev["method"].astype(str)) == ["book", "book"]
    f_btc = 83_500 * (1 - 83_500 / (2 * B))
    deficit = -(16_000 - (100_000 - f_btc)) + 10 * 3_000 * 30_000 / (2 * B)
    assert run.steps["bad_debt_usd"].sum() == pytest.approx(deficit, rel=1e-9)
    assert run.ledger["ok"]
