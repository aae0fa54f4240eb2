"""Tables that are incomplete or stand-ins, and markets with no table: each says so in its source,
holds its published example, and refuses in one line a position it cannot hold.

* OKX ETH-USDT-SWAP: only tier 1 was ever found (maxSz 5,000 contracts of 0.1 ETH, mmr 0.4 %,
  maxLever 100, recorded 2026-09-25); positions above 500 ETH are refused.
* Bybit SOLUSDT and DOGEUSDT: no published risk-limit table was found; the stand-in (BTCUSDT's
  tiers) is marked PLACEHOLDER and refuses positions above its 80M USDT.
* HYPE has no bundled table on Bybit or OKX (none was found): a HYPE position there is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from liqcascade.errors import InputError
from liqcascade.venues import get_venue

TABLES = Path(__file__).parents[1] / "src" / "liqcascade" / "venues" / "tables"


def source(venue: str, symbol: str) -> str:
    return json.loads((TABLES / f"{venue}.json").read_text("utf-8"))["symbols"][symbol]["source"]


# ------------------------------------------------------------------------------ OKX ETH: tier 1 only
def test_okx_eth_is_tier_1_of_the_recording_and_says_so():
    t = get_venue("okx").tier_table("ETH/USDT:USDT")
    assert t.basis == "contracts" and t.contract_size == 0.1
    assert (t.n_tiers, t.caps.tolist(), t.mmr.tolist(), t.max_leverage.tolist()) == (1, [5000], [0.004], [100])
    assert t.as_of == "2026-09-25"
    src = source("okx", "ETH/USDT:USDT")
    assert "Only tier 1 was recorded" in src and "Searched again on 2026-12-06" in src


def test_okx_eth_tier_1_example_and_boundary():
    """500 ETH (5,000 contracts of 0.1 ETH) at 2,147 USD is the last position tier 1 holds: MM =
    notional x (0.4 % + OKX's 0.05 % taker fee) = 1,073,500 x 0.45 % = 4,830.75 USD; it opens at 100x."""
    v = get_venue("okx")
    t = v.tier_table("ETH/USDT:USDT")
    assert float(t.measure(500.0, 2_147.0)) == pytest.approx(5_000.0)
    assert int(t.tier_index(t.measure(500.0, 2_147.0))) == 0
    assert float(v.maintenance_margin(500.0, 2_147.0, t)) == pytest.approx(1_073_500 * 0.0045, rel=1e-12)
    v.check_opening(500.0, 2_147.0, 1_073_500 / 100, t)
    with pytest.raises(InputError, match=r"100x maximum of tier 1"):
        v.check_opening(500.0, 2_147.0, 1_073_500 / 125, t)


def test_okx_eth_beyond_tier_1_is_refused_in_one_line():
    v = get_venue("okx")
    t = v.tier_table("ETH/USDT:USDT")
    with pytest.raises(InputError) as exc:
        v.check_opening(500.1, 2_147.0, 500.1 * 2_147.0 / 2, t)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "5,001.00 contracts exceeds the largest tier (5,000)" in msg


# ------------------------------------------------------------------------------ Bybit SOL, DOGE: stand-ins
@pytest.mark.parametrize("symbol, price", [("SOL/USDT:USDT", 92.07), ("DOGE/USDT:USDT", 0.10377)])
def test_bybit_stand_ins_are_marked_and_refuse_beyond_their_last_tier(symbol, price):
    src = source("bybit", symbol)
    assert src.startswith("PLACEHOLDER") and "Searched again on 2026-12-06" in src
    v = get_venue("bybit")
    t = v.tier_table(symbol)
    # the stand-in is BTCUSDT's table: tier 1 to 2M USDT at 0.5 %, 100x; the last tier ends at 80M
    bybit_btc = v.tier_table("BTC/USDT:USDT")
    np.testing.assert_array_equal(t.caps, bybit_btc.caps)
    np.testing.assert_array_equal(t.mmr, bybit_btc.mmr)
    assert (t.caps[0], t.mmr[0], t.max_leverage[0], t.max_position()) == (2e6, 0.005, 100, 80e6)
    size = 80e6 / price
    v.check_opening(size, price, 80e6 / 10, t)
    with pytest.raises(InputError) as exc:
        v.check_opening(size * 1.001, price, 80.08e6 / 10, t)
    assert "\n" not in str(exc.value) and "exceeds the largest tier (80,000,000)" in str(exc.value)


# ------------------------------------------------------------------------------ HYPE: no table on Bybit, OKX
@pytest.mark.parametrize("venue", ["bybit", "okx"])
def test_hype_without_a_table_is_refused_in_one_line(venue):
    with pytest.raises(InputError) as exc:
        get_venue(venue).tier_table("HYPE/USDT:USDT")
    msg = str(exc.value)
    assert "\n" not in msg and "unknown symbol 'HYPE/USDT:USDT'" in msg
