"""The bundled tier tables themselves: every table is well formed (contiguous tiers, rates that rise,
leverage that falls, maintenance amounts continuous across tiers), the transcribed values match
their sources at a few spot checks, DOGE is available on every venue, and the placeholders are
still marked as such.

Sources of the spot-checked values (see each entry's ``source`` in the JSON):

* Binance ETHUSDT and DOGEUSDT: freqtrade/freqtrade commit 01d10aebcab25c526473c603a88e14eb7d9699cc,
  ``freqtrade/exchange/binance_leverage_tiers.json`` (ccxt ``fetchLeverageTiers`` with the raw
  ``leverageBracket`` fields, including ``cum``).
* Hyperliquid DOGE: the docs' "Margin tiers" page (mainnet: 0-20M notional 10x, above 20M 5x).
* OKX DOGE-USDT-SWAP ``ctVal`` 1000: ccxt/ccxt ``ts/src/test/static/markets/okx.json``
  (commit 3802e1a243497a0ffd025df7a97023315217391f).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from liqcascade.engine.positions import venue_symbol
from liqcascade.scenario import load_scenario
from liqcascade.venues import get_venue
from liqcascade.venues.loaders import OKX_CONTRACT_SIZES, load_tier_file
from liqcascade.venues.tiers import TierTable, derive_maintenance_amounts

TABLES = Path(__file__).parents[1] / "src" / "liqcascade" / "venues" / "tables"
VENUES = ("binance", "bybit", "okx", "hyperliquid")


def doc(venue: str) -> dict:
    return json.loads((TABLES / f"{venue}.json").read_text("utf-8"))


def all_tables():
    for venue in VENUES:
        for symbol in doc(venue)["symbols"]:
            yield venue, symbol


def table(venue: str, symbol: str) -> TierTable:
    return load_tier_file(TABLES / f"{venue}.json", venue=venue)[symbol]


# ------------------------------------------------------------------------------ shape of every table
@pytest.mark.parametrize("venue, symbol", list(all_tables()))
def test_table_is_well_formed(venue, symbol):
    spec = doc(venue)["symbols"][symbol]
    assert spec["as_of"] and spec["source"]
    t = table(venue, symbol)
    assert t.floors[0] == 0
    np.testing.assert_array_equal(t.floors[1:], t.caps[:-1])          # contiguous
    assert np.all(t.caps > t.floors)
    assert np.all(np.diff(t.mmr) > 0)                                    # rates rise with the tier
    assert np.all(np.diff(t.max_leverage) < 0)                           # leverage falls with the tier
    if t.basis == "notional":
        # continuity: N*mmr_k - D_k equals N*mmr_{k-1} - D_{k-1} at each boundary N = floor_k
        np.testing.assert_allclose(t.maintenance_amount, derive_maintenance_amounts(t.floors, t.mmr), atol=1e-6)
        left = t.floors[1:] * t.mmr[:-1] - t.maintenance_amount[:-1]
        right = t.floors[1:] * t.mmr[1:] - t.maintenance_amount[1:]
        np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-6)
        given = [r.get("maintenance_amount") for r in spec["tiers"]]
        if all(g is not None for g in given):                            # a published cum is kept verbatim
            assert t.maintenance_amount.tolist() == given
    else:
        assert not np.any(t.maintenance_amount)
        assert t.contract_size == OKX_CONTRACT_SIZES[symbol]


# ------------------------------------------------------------------------------ spot checks against the sources
def test_binance_eth_is_the_published_ethusdt_table():
    t = table("binance", "ETH/USDT:USDT")
    assert t.n_tiers == 12
    assert t.caps.tolist() == [5e4, 6e5, 3e6, 12e6, 50e6, 65e6, 150e6, 320e6, 400e6, 530e6, 800e6, 1.2e9]
    assert t.max_leverage.tolist() == [125, 100, 75, 50, 25, 20, 10, 5, 4, 3, 2, 1]
    assert (t.caps[2], t.mmr[2], t.maintenance_amount[2]) == (3_000_000, 0.0065, 950)      # tier 3
    assert t.maintenance_amount.tolist() == [0, 50, 950, 11450, 131450, 381450, 2006450, 9506450, 17506450,
                                             27506450, 80506450, 280506450]
    assert "01d10aebcab25c526473c603a88e14eb7d9699cc" in t.source


def test_binance_doge_is_the_published_dogeusdt_table():
    t = table("binance", "DOGE/USDT:USDT")
    assert t.n_tiers == 10
    assert t.caps.tolist() == [1e4, 5e4, 75e4, 8e5, 1.6e6, 8e6, 16e6, 20e6, 40e6, 80e6]
    assert t.mmr.tolist() == [0.005, 0.007, 0.01, 0.02, 0.025, 0.05, 0.1, 0.125, 0.25, 0.5]
    assert t.max_leverage.tolist() == [75, 50, 40, 25, 20, 10, 5, 4, 2, 1]
    assert (t.caps[2], t.mmr[2], t.max_leverage[2]) == (750_000, 0.01, 40)                # tier 3
    assert t.maintenance_amount.tolist() == [0, 20, 170, 7670, 11670, 51670, 451670, 851670, 3351670, 13351670]
    assert "01d10aebcab25c526473c603a88e14eb7d9699cc" in t.source


def test_hyperliquid_doge_is_the_docs_table():
    t = table("hyperliquid", "DOGE/USDC:USDC")
    assert t.floors.tolist() == [0, 20e6]
    assert t.max_leverage.tolist() == [10, 5]
    np.testing.assert_allclose(t.mmr, 1 / (2 * t.max_leverage))
    assert t.maintenance_amount[1] == pytest.approx(20e6 * (0.1 - 0.05))
    assert "margin-tiers" in t.source


def test_okx_doge_contract_is_1000_doge():
    t = table("okx", "DOGE/USDT:USDT")
    assert t.basis == "contracts" and t.contract_size == 1000.0
    assert float(t.measure(50_000.0, 0.2)) == pytest.approx(50.0)       # 50,000 DOGE = 50 contracts


def test_placeholders_are_marked_and_real_tables_are_not():
    placeholders = {("bybit", "ETH/USDT:USDT"), ("bybit", "SOL/USDT:USDT"), ("bybit", "DOGE/USDT:USDT"),
                    ("okx", "SOL/USDT:USDT"), ("okx", "DOGE/USDT:USDT")}
    for venue, symbol in all_tables():
        spec = doc(venue)["symbols"][symbol]
        marked = spec["source"].startswith("PLACEHOLDER") and spec["as_of"].startswith("placeholder")
        assert marked == ((venue, symbol) in placeholders), (venue, symbol)
        assert ("PLACEHOLDER" in spec["source"]) == marked


# ------------------------------------------------------------------------------ DOGE on every venue
@pytest.mark.parametrize("venue", VENUES)
def test_doge_resolves_on_every_venue(venue):
    symbol = venue_symbol(venue, "DOGE")
    assert symbol == ("DOGE/USDC:USDC" if venue == "hyperliquid" else "DOGE/USDT:USDT")
    t = get_venue(venue).tier_table(symbol)
    assert t.symbol == symbol and t.venue == venue and t.n_tiers >= 1
    assert get_venue(venue).tier_table("DOGE/USDT:USDT") is t


def test_the_bundled_scenarios_hold_doge_on_each_of_their_venues():
    for name in ("feb-2026", "feb-2026-weekend"):
        s = load_scenario(name)
        venues = {m.venue for m in s.spec.markets}
        assert {m.venue for m in s.spec.markets if m.asset == "DOGE"} == venues
