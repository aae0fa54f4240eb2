"""OKX in the bundled scenarios (issue 21 item 2): every asset on every venue, OKX's open interest
Binance's times its stated share (scenario_build.VENUE_SHARES, each with its source), an insurance
fund stated as an assumption, a full venue x asset grid for the engine, and OKX ETH's positions
drawn within the one tier its table holds (500 ETH)."""

from __future__ import annotations

import numpy as np
import pytest

from liqcascade.engine.positions import venue_symbol
from liqcascade.scenario import build_engine_inputs, build_population, bundled_text, load_scenario
from liqcascade.scenario_build import VENUE_SHARES
from liqcascade.venues import get_venue

NAMES = ("feb-2026", "feb-2026-weekend")
VENUES = ("binance", "bybit", "okx", "hyperliquid")
ASSETS = ("BTC", "ETH", "SOL", "DOGE")


@pytest.mark.parametrize("name", NAMES)
def test_okx_holds_each_asset_at_its_stated_share(name):
    s = load_scenario(name)
    oi = {(m.venue, m.asset): m.open_interest_usd for m in s.spec.markets}
    assert set(oi) == {(v, a) for v in VENUES for a in ASSETS}  # the full grid, nothing absent
    for a in ASSETS:
        assert oi[("okx", a)] == pytest.approx(oi[("binance", a)] * VENUE_SHARES["okx"][a].value, rel=1e-5)
    assert (VENUE_SHARES["okx"]["BTC"].value, VENUE_SHARES["okx"]["SOL"].value, VENUE_SHARES["okx"]["DOGE"].value) == (
        0.30,
        0.29,
        0.42,
    )
    assert "mytokencap" in VENUE_SHARES["okx"]["BTC"].source and "assumption" in VENUE_SHARES["okx"]["ETH"].source
    assert s.spec.insurance_fund_usd["okx"] > 0
    text = bundled_text(name)
    assert "--venues binance,bybit,okx,hyperliquid" in text and "OKX is left out" not in text
    assert "okx = 4.0e8                    # assumption" in text


def test_the_engine_grid_and_okx_eth_positions_fit_their_tables():
    s = load_scenario("feb-2026")
    pop = build_population(s, n_positions=20_000, seed=0)
    _, liquidity, *_ = build_engine_inputs(s, pop)
    depth = liquidity.arrays(list(VENUES), list(ASSETS))  # no "no depth profile"
    assert depth.shape == (4, 16) and np.all(depth[:2] > 0)
    vi, ai = pop.venues.index("okx"), pop.assets.index("ETH")
    okx_eth = (pop.venue == vi) & (pop.asset == ai)
    assert okx_eth.any()
    table = get_venue("okx").tier_table(venue_symbol("okx", "ETH"))
    assert table.n_tiers == 1
    assert np.all(table.measure(pop.size[okx_eth], 1.0) <= table.max_position())  # <= 5,000 contracts
    assert np.all(pop.leverage[okx_eth] <= 100 * (1 + 1e-9))
    # OKX's open interest is drawn: its share of the population's notional is its share of OI
    notional = pop.size * s.spec.assets["BTC"].start_price
    btc = pop.asset == pop.assets.index("BTC")
    okx_btc = notional[btc & (pop.venue == vi)].sum() / notional[btc].sum()
    oi = {(m.venue, m.asset): m.open_interest_usd for m in s.spec.markets}
    assert okx_btc == pytest.approx(oi[("okx", "BTC")] / sum(oi[(v, "BTC")] for v in VENUES), rel=0.05)


def test_a_small_draw_fits_okx_sol_under_its_small_table():
    """OKX SOL's table ends at 364,000 SOL (about 33.5M USD at the start): a reduced draw that keeps
    too few long survivors to hold the side's open interest lets the side's drawn positions stand
    in instead of failing ('1 positions cannot hold 108,150,280 USD')."""
    s = load_scenario("feb-2026")
    pop = build_population(s, n_positions=1_000, seed=0)
    table = get_venue("okx").tier_table("SOL/USDT:USDT")
    vi, ai = pop.venues.index("okx"), pop.assets.index("SOL")
    sel = (pop.venue == vi) & (pop.asset == ai) & ~pop.is_pending
    assert np.all(pop.size[sel] <= 0.95 * table.max_position() * table.contract_size * (1 + 1e-9))
    m = next(m for m in s.spec.markets if (m.venue, m.asset) == ("okx", "SOL"))
    at_start = pop.size[sel] * s.spec.assets["SOL"].start_price
    assert at_start.sum() == pytest.approx(m.open_interest_usd, rel=1e-9)
