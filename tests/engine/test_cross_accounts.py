"""Multi-asset cross accounts: one wallet behind positions in several markets of a venue."""

import numpy as np
import pytest

from liqcascade.engine import (DepthProfile, Flows, Liquidity, MarketMakerResponse, Positions, PriceConfig,
                               programme, simulate)

from .reference import simulate_reference

B = 1e8


def market(mode):
    """Binance: a BTC long (1 BTC at 100,000, 10,000 margin) and an ETH long (10 ETH at 3,000,
    6,000 margin: 5x).  In cross they share a 16,000 wallet.  BTC alone falls 10 % in one step
    (a 10,000,000 USD sell on a linear BTC book of B = 1e8)."""
    pos = Positions.from_arrays(account=[1, 1], venue=["binance"] * 2, asset=["BTC", "ETH"], side=[1, 1],
                                size=[1.0, 10.0], entry=[100_000.0, 3_000.0], margin=[10_000.0, 6_000.0],
                                leverage=[10.0, 5.0], mode=[mode, mode])
    liq = Liquidity({("binance", "BTC"): DepthProfile(B, B, 1.0, 1.0), ("binance", "ETH"): DepthProfile(B, B, 1.0, 1.0)},
                    MarketMakerResponse(vol_sensitivity=0.0, flow_sensitivity=0.0))
    flows = Flows(programmes=[programme("BTC", -1e7 * 86_400, 0.0, 1.0)])
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
def test_cross_account_closes_all_its_positions_together(engine):
    """A 15,600,000 USD sell takes BTC to 84,400: the account's equity is 16,000 - 15,600 = 400,
    below its maintenance margin 0.005*84,400 - 50 (BTC, tier 2) + 0.004*30,000 (ETH, tier 1)
    = 492: the account is liquidated and both positions close on their own books."""
    pos, liq, prices, flows = market("cross")
    flows = Flows(programmes=[programme("BTC", -1.56e7 * 86_400, 0.0, 1.0)])
    run = engine(pos, liq, prices, flows, n_steps=1, insurance_fund=1e5)
    ev = run.events
    assert sorted(ev["asset"].astype(str)) == ["BTC", "ETH"]
    assert set(ev["account"]) == {1}
    assert run.summary["accounts_liquidated"] == 1
    assert run.ledger["ok"]
    # the BTC order walks from 84,400: 1 BTC = 84,400 USD on B = 1e8 fills 84,400*(1 - 84,400/(2B))
    f_btc = ev.loc[ev["asset"] == "BTC", "price"].iloc[0]
    assert f_btc == pytest.approx(84_400 * (1 - 84_400 / (2 * B)), rel=1e-12)
    f_eth = ev.loc[ev["asset"] == "ETH", "price"].iloc[0]
    assert f_eth == pytest.approx(3_000 * (1 - 30_000 / (2 * B)), rel=1e-12)
