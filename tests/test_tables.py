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
* OKX BTC-USDT and DOGE-USDT swaps (cross margin, recorded by 2026-08-31): OKX's responses to
  ``GET /api/v5/public/position-tiers`` kept in dream-until-dawn/okx-position-simulator-go @
  bc51029770b3cad1a038d088748a0fb44d1149c0, ``refdata/testdata/`` (also
  ``tests/fixtures/recorded/okx_position_tiers_cross_2026-08.json``); BTC-USDT-SWAP ``ctVal`` 0.01:
  nautilus_trader's ``crates/adapters/okx/test_data/http_get_instruments_swap.json``.
* OKX SOLUSDT perpetual (in force 2022-11-08): OKX's announcement "OKX adjustment of SOL, GMT, SRM
  Position Tiers and Discount Rate" (copy at news.wikibit.com, notice 202211086194920001): tiers 1-4
  as published, tier 5 on by its published increments (+4,000 contracts, +0.5 % maintenance and
  initial ratio, leverage 1/initial ratio truncated to 0.01), written out to 2x.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from liqcascade.engine.positions import venue_symbol
from liqcascade.errors import InputError
from liqcascade.scenario import load_scenario
from liqcascade.venues import get_venue
from liqcascade.venues.loaders import OKX_CONTRACT_SIZES, bundled_versions, load_tier_file
from liqcascade.venues.tiers import TierTable, derive_maintenance_amounts

TABLES = Path(__file__).parents[1] / "src" / "liqcascade" / "venues" / "tables"
VENUES = ("binance", "bybit", "okx", "hyperliquid")


def doc(venue: str) -> dict:
    return json.loads((TABLES / f"{venue}.json").read_text("utf-8"))


def specs(venue: str, symbol: str) -> list[dict]:
    """A symbol's dated versions as written (one table, or ``versions`` oldest first)."""
    spec = doc(venue)["symbols"][symbol]
    return spec["versions"] if "versions" in spec else [spec]


def all_tables():
    for venue in VENUES:
        for symbol in doc(venue)["symbols"]:
            for k in range(len(specs(venue, symbol))):
                yield venue, symbol, k


def table(venue: str, symbol: str, version: int = -1) -> TierTable:
    if version == -1:
        return load_tier_file(TABLES / f"{venue}.json", venue=venue)[symbol]
    return bundled_versions(doc(venue), venue)[symbol][version]


# ------------------------------------------------------------------------------ shape of every table
@pytest.mark.parametrize("venue, symbol, version", list(all_tables()))
def test_table_is_well_formed(venue, symbol, version):
    spec = specs(venue, symbol)[version]
    assert spec["as_of"] and spec["source"]
    t = table(venue, symbol, version)
    assert t.as_of_date is not None and t.as_of == spec["as_of"]  # every bundled table is dated to the day
    assert t.floors[0] == 0
    np.testing.assert_array_equal(t.floors[1:], t.caps[:-1])  # contiguous
    assert np.all(t.caps > t.floors)
    assert np.all(np.diff(t.mmr) > 0)  # rates rise with the tier
    assert np.all(np.diff(t.max_leverage) < 0)  # leverage falls with the tier
    if t.basis == "notional":
        # continuity: N*mmr_k - D_k equals N*mmr_{k-1} - D_{k-1} at each boundary N = floor_k
        np.testing.assert_allclose(t.maintenance_amount, derive_maintenance_amounts(t.floors, t.mmr), atol=1e-6)
        left = t.floors[1:] * t.mmr[:-1] - t.maintenance_amount[:-1]
        right = t.floors[1:] * t.mmr[1:] - t.maintenance_amount[1:]
        np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-6)
        given = [r.get("maintenance_amount") for r in spec["tiers"]]
        if all(g is not None for g in given):  # a published cum is kept verbatim
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
    assert (t.caps[2], t.mmr[2], t.maintenance_amount[2]) == (3_000_000, 0.0065, 950)  # tier 3
    assert t.maintenance_amount.tolist() == [
        0,
        50,
        950,
        11450,
        131450,
        381450,
        2006450,
        9506450,
        17506450,
        27506450,
        80506450,
        280506450,
    ]
    assert "01d10aebcab25c526473c603a88e14eb7d9699cc" in t.source


def test_binance_doge_is_the_published_dogeusdt_table():
    t = table("binance", "DOGE/USDT:USDT")
    assert t.n_tiers == 10
    assert t.caps.tolist() == [1e4, 5e4, 75e4, 8e5, 1.6e6, 8e6, 16e6, 20e6, 40e6, 80e6]
    assert t.mmr.tolist() == [0.005, 0.007, 0.01, 0.02, 0.025, 0.05, 0.1, 0.125, 0.25, 0.5]
    assert t.max_leverage.tolist() == [75, 50, 40, 25, 20, 10, 5, 4, 2, 1]
    assert (t.caps[2], t.mmr[2], t.max_leverage[2]) == (750_000, 0.01, 40)  # tier 3
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
    assert float(t.measure(50_000.0, 0.2)) == pytest.approx(50.0)  # 50,000 DOGE = 50 contracts


def test_placeholders_are_marked_and_real_tables_are_not():
    placeholders = {("bybit", "SOL/USDT:USDT"), ("bybit", "DOGE/USDT:USDT")}
    for venue, symbol, version in all_tables():
        spec = specs(venue, symbol)[version]
        marked = spec["source"].startswith("PLACEHOLDER")  # as_of stays a date: the borrowed table's
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


# ------------------------------------------------------------------------------ XRP and HYPE; dated versions
def test_binance_xrp_is_the_published_xrpusdt_table():
    t = table("binance", "XRP/USDT:USDT")
    assert t.caps.tolist() == [1e4, 2e4, 16e4, 8e5, 1.6e6, 8e6, 16e6, 20e6, 40e6, 80e6]
    assert t.mmr.tolist() == [0.005, 0.0065, 0.01, 0.02, 0.025, 0.05, 0.1, 0.125, 0.25, 0.5]
    assert t.max_leverage.tolist() == [75, 50, 40, 25, 20, 10, 5, 4, 2, 1]
    assert t.maintenance_amount.tolist() == [0, 15, 85, 1685, 5685, 45685, 445685, 845685, 3345685, 13345685]
    assert t.as_of == "2024-10-24" and "3d9514d2660c42dfdbde517f7b421d1a5cf4f196" in t.source


def test_hyperliquid_xrp_and_hype_are_the_recorded_margin_tables():
    xrp, hype = table("hyperliquid", "XRP/USDC:USDC"), table("hyperliquid", "HYPE/USDC:USDC")
    assert (xrp.floors.tolist(), xrp.max_leverage.tolist()) == ([0, 40e6], [20, 10])  # table 53
    assert (hype.floors.tolist(), hype.max_leverage.tolist()) == ([0, 20e6], [10, 5])  # table 52
    for t in (xrp, hype):
        np.testing.assert_allclose(t.mmr, 1 / (2 * t.max_leverage))


@pytest.mark.parametrize("venue", ["binance", "hyperliquid"])
def test_xrp_is_no_longer_refused(venue):
    v = get_venue(venue)
    t = v.tier_table("XRP/USDT:USDT")
    assert t.symbol.startswith("XRP/")
    v.check_opening(10_000.0, 0.6, 600.0, t)  # 6,000 USD at 10x


def test_hyperliquid_keeps_the_2024_caps_as_a_dated_version():
    for symbol, then, now in (
        ("BTC/USDC:USDC", 50, 40),
        ("ETH/USDC:USDC", 50, 25),
        ("SOL/USDC:USDC", 20, 20),
        ("DOGE/USDC:USDC", 20, 10),
    ):
        old, new = (table("hyperliquid", symbol, k) for k in (0, 1))
        assert (old.as_of, new.as_of) == ("2024-10-01", "2026-01-01")
        assert old.max_leverage.tolist() == [then] and new.max_leverage[0] == now
        assert "hyperliquid_positions_2024.json" in old.source


# ------------------------------------------------------------------------------ OKX: contracts at the boundary
def test_okx_btc_tiers_are_in_contracts_of_0_01_btc():
    """Tier 1 holds up to 1,000 contracts = 10 BTC: 10 BTC is tier 1 and 10.01 BTC tier 2 at any
    price (the tier follows the size in contracts, not the notional: 10 BTC at 60,000 is 600,000 USD,
    far above 1,000).  The largest position is 1,940,000 contracts = 19,400 BTC; more is refused,
    naming contracts."""
    v = get_venue("okx")
    t = v.tier_table("BTC/USDT:USDT")
    assert t.basis == "contracts" and t.contract_size == 0.01
    assert float(t.measure(10.0, 60_000.0)) == pytest.approx(1000.0)
    for price in (1_000.0, 60_000.0, 500_000.0):
        f = v.margin_figures("long", 10.0, price, 10.0 * price / 50, t)
        assert int(f.tier[()]) == 1
        assert float(f.liquidation_price[()]) == pytest.approx(
            (price - price / 50) / (1 - (0.004 + v.default_taker_fee)), rel=1e-13
        )
        g = v.margin_figures("long", 10.01, price, 10.01 * price / 50, t)
        assert (int(g.tier[()]), float(g.mmr[()])) == (2, 0.005)
    v.check_opening(19_400.0, 70_000.0, 19_400 * 70_000.0 / 2, t)
    with pytest.raises(InputError, match=r"1,940,001\.00 contracts exceeds the largest tier \(1,940,000\)"):
        v.check_opening(19_400.01, 70_000.0, 19_400.01 * 70_000.0 / 2, t)


def test_okx_btc_is_the_recorded_cross_table():
    t = table("okx", "BTC/USDT:USDT")
    assert t.as_of == "2026-08-31" and "bc51029770b3cad1a038d088748a0fb44d1149c0" in t.source
    assert t.n_tiers == 99
    # recorded figures: tiers 1-5, tier 52 and the last tier (contracts, maintenance rate, max leverage)
    assert t.caps[:5].tolist() == [1000, 5000, 20000, 40000, 60000]
    assert t.mmr[:5].tolist() == [0.004, 0.005, 0.0075, 0.0125, 0.0175]
    assert t.max_leverage[:5].tolist() == [100, 66.66, 50, 40, 33.33]
    assert (t.caps[51], t.mmr[51], t.max_leverage[51]) == (1_000_000, 0.2525, 3.77)
    assert (t.caps[-1], t.mmr[-1], t.max_leverage[-1]) == (1_940_000, 0.4875, 2.0)
    # tier 5 on: +20,000 contracts and +0.5 % per tier; leverage 1/(3 % + 0.5 % per tier), truncated
    n = np.arange(5, 100)
    np.testing.assert_allclose(t.caps[4:], 60_000 + 20_000 * (n - 5), rtol=0, atol=1e-9)
    np.testing.assert_allclose(t.mmr[4:], 0.0175 + 0.005 * (n - 5), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        t.max_leverage[4:], np.floor(100 / (0.03 + 0.005 * (n - 5)) + 1e-9) / 100, rtol=0, atol=1e-12
    )


def test_okx_btc_positions_get_their_tier_and_maintenance():
    """150 BTC at 70,000 USD (10.5M USD) is 15,000 contracts: tier 3 (5,000 < 15,000 <= 20,000),
    0.75 %; OKX adds the taker fee: MM = 10.5M * (0.75 % + 0.05 %) = 84,000 USD.  Tier 3 allows 50x."""
    v = get_venue("okx")
    t = v.tier_table("BTC/USDT:USDT")
    assert float(t.measure(150.0, 70_000.0)) == pytest.approx(15_000.0)
    assert float(v.maintenance_margin(150.0, 70_000.0, t)) == pytest.approx(84_000.0, rel=1e-12)
    f = v.margin_figures("short", 150.0, 70_000.0, 10_500_000.0 / 20, t)
    assert (int(f.tier[()]), float(f.mmr[()])) == (3, 0.0075)
    v.check_opening(150.0, 70_000.0, 10_500_000.0 / 50, t)
    with pytest.raises(InputError, match="50x maximum of tier 3"):
        v.check_opening(150.0, 70_000.0, 10_500_000.0 / 60, t)
    # 200 BTC (20,000 contracts) is still tier 3, 200.01 BTC tier 4 (1.25 %)
    assert [int(k) + 1 for k in t.tier_index(t.measure(np.array([200.0, 200.01]), 70_000.0))] == [3, 4]


def test_okx_doge_is_the_recorded_cross_table():
    t = table("okx", "DOGE/USDT:USDT")
    assert t.as_of == "2026-08-31" and "bc51029770b3cad1a038d088748a0fb44d1149c0" in t.source
    assert t.n_tiers == 93 and t.contract_size == 1000.0
    assert t.caps[:4].tolist() == [3000, 6000, 12000, 24000]
    assert t.mmr[:4].tolist() == [0.01, 0.015, 0.03, 0.035]
    assert t.max_leverage[:4].tolist() == [50, 40, 20, 18.18]
    assert (t.caps[-1], t.mmr[-1], t.max_leverage[-1]) == (1_092_000, 0.48, 2.0)
    # tier 4 on: +12,000 contracts and +0.5 % per tier; leverage 1/(5.5 % + 0.5 % per tier), truncated
    n = np.arange(4, 94)
    np.testing.assert_allclose(t.caps[3:], 12_000 + 12_000 * (n - 3), rtol=0, atol=1e-9)
    np.testing.assert_allclose(t.mmr[3:], 0.035 + 0.005 * (n - 4), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        t.max_leverage[3:], np.floor(100 / (0.055 + 0.005 * (n - 4)) + 1e-9) / 100, rtol=0, atol=1e-12
    )


def test_okx_doge_positions_get_their_tier_and_maintenance():
    """10,000,000 DOGE at 0.10 USD (1M USD) is 10,000 contracts of 1,000 DOGE: tier 3 (6,000 < 10,000
    <= 12,000), 3 %; MM = 1M * (3 % + 0.05 %) = 30,500 USD.  The largest position is 1,092,000
    contracts = 1.092 billion DOGE (109.2M USD at 0.10)."""
    v = get_venue("okx")
    t = v.tier_table("DOGE/USDT:USDT")
    assert float(t.measure(10_000_000.0, 0.1)) == pytest.approx(10_000.0)
    assert int(t.tier_index(t.measure(10_000_000.0, 0.1))) + 1 == 3
    assert float(v.maintenance_margin(10_000_000.0, 0.1, t)) == pytest.approx(30_500.0, rel=1e-12)
    v.check_opening(1.092e9, 0.1, 1.092e9 * 0.1 / 2, t)
    with pytest.raises(InputError, match="exceeds the largest tier"):
        v.check_opening(1.092e9 + 1000, 0.1, (1.092e9 + 1000) * 0.1, t)


def test_okx_tables_say_what_is_missing():
    assert "Only tier 1 was recorded" in table("okx", "ETH/USDT:USDT").source


def test_bybit_eth_is_the_recorded_ethusdt_table_and_refuses_beyond_it():
    t = table("bybit", "ETH/USDT:USDT")
    assert t.as_of == "2023-03-05" and "17061" in t.source
    assert t.caps.tolist() == [9e5, 1.5e6, 3e6, 4.5e6, 6e6, 7.5e6, 9e6, 10.5e6, 16e6, 18e6, 20e6, 22e6, 24e6]
    assert t.mmr.tolist() == [0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.055, 0.06, 0.065]
    assert t.max_leverage[[0, 2, 12]].tolist() == [100, 36.37, 9.76]
    v = get_venue("bybit")
    v.check_opening(8_000.0, 3_000.0, 24e6 / 9, t)  # 24M USDT at 9x: the last tier
    with pytest.raises(InputError, match="exceeds the largest tier"):
        v.check_opening(8_001.0, 3_000.0, 24.003e6 / 9, t)


# ------------------------------------------------------------------------------ OKX SOL: the 2022 announcement
def test_okx_sol_is_the_announced_2022_table():
    t = table("okx", "SOL/USDT:USDT")
    assert t.as_of == "2022-11-08" and "202211086194920001" in t.source
    assert t.basis == "contracts" and t.contract_size == 1.0
    # tiers 1-4 as published (max amount in contracts, maintenance ratio, max leverage)
    assert t.caps[:4].tolist() == [500, 1000, 4000, 8000]
    assert t.mmr[:4].tolist() == [0.01, 0.015, 0.02, 0.025]
    assert t.max_leverage[:4].tolist() == [75, 50, 20, 18.18]
    # tier 5 on: +4,000 contracts, +0.5 % on both ratios, max leverage 1/initial ratio truncated to 0.01
    n = np.arange(5, t.n_tiers + 1)
    np.testing.assert_array_equal(t.caps[4:], 8000 + 4000 * (n - 4))
    np.testing.assert_allclose(t.mmr[4:], 0.025 + 0.005 * (n - 4), rtol=0, atol=1e-12)
    imr = 0.055 + 0.005 * (n - 4)
    np.testing.assert_allclose(t.max_leverage[4:], np.floor(100 / imr + 1e-9) / 100, rtol=0, atol=1e-12)
    assert (t.mmr[4], t.max_leverage[4]) == (0.03, 16.66)  # tier 5
    # written out to the tier whose initial ratio is 50 % (2x): 364,000 contracts
    assert (t.n_tiers, t.caps[-1], t.mmr[-1], t.max_leverage[-1]) == (93, 364_000, 0.47, 2.0)


def test_okx_sol_positions_get_their_tier_and_maintenance():
    """One SOL-USDT-SWAP contract is 1 SOL, so the tier follows the SOL held: 5,000 SOL at 90 USD
    (450,000 USD) is tier 4 (4,000 < 5,000 <= 8,000 contracts, 2.5 %); OKX's maintenance margin adds
    the taker fee to the rate: 450,000 * (2.5 % + 0.05 %) = 11,475 USD."""
    v = get_venue("okx")
    t = v.tier_table("SOL/USDT:USDT")
    assert float(t.measure(5_000.0, 90.0)) == 5_000.0
    assert int(t.tier_index(5_000.0)) + 1 == 4
    assert float(v.maintenance_margin(5_000.0, 90.0, t)) == pytest.approx(450_000 * (0.025 + 0.0005), rel=1e-12)
    f = v.margin_figures("long", 5_000.0, 90.0, 450_000.0 / 10, t)
    assert int(f.tier[()]) == 4 and float(f.mmr[()]) == 0.025
    # the boundary: 8,000 SOL is tier 4, 8,001 SOL tier 5 at 3 %
    assert [int(k) + 1 for k in t.tier_index(np.array([8_000.0, 8_001.0]))] == [4, 5]
    assert float(v.maintenance_margin(8_001.0, 90.0, t)) == pytest.approx(8_001 * 90.0 * (0.03 + 0.0005), rel=1e-12)
    # tier 4's 18.18x: 20x is refused, 18x opens
    v.check_opening(5_000.0, 90.0, 450_000.0 / 18, t)
    with pytest.raises(InputError, match=r"18\.18x maximum of tier 4"):
        v.check_opening(5_000.0, 90.0, 450_000.0 / 20, t)
    # the largest position: 364,000 SOL (32.76M USD at 90) at 2x opens, one more SOL is refused
    v.check_opening(364_000.0, 90.0, 364_000 * 90.0 / 2, t)
    with pytest.raises(InputError, match="exceeds the largest tier"):
        v.check_opening(364_001.0, 90.0, 364_001 * 90.0, t)
