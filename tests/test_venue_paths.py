"""One input, one answer, on every path; dated tables; pins the venue could not have.

* Hyperliquid's maintenance rate is ``1/(2*maxLev)``: a pinned maximum leverage sets it on the
  single-position, batch and account paths, and the dated table (the 2024 caps) gives the engine
  the same number.  The specification is Hyperliquid's own answer, recorded: the liquidation
  prices of 29 positions it returned in late 2024 (``tests/fixtures/recorded/
  hyperliquid_positions_2024.json``, from freqtrade's tests; see the file's ``source``).
* A pinned maintenance amount that would make the maintenance margin negative is refused, and for
  every venue and random valid input the liquidation price is never beyond bankruptcy.
* Tables are looked up by date.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from liqcascade import liqprice as lp
from liqcascade.cli import app
from liqcascade.errors import InputError
from liqcascade.venues import VENUES, get_venue, table_date

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
HL = json.loads((RECORDED / "hyperliquid_positions_2024.json").read_text("utf-8"))
#: the issue's example: ETH long 0.015 at 2,458.5, isolated margin 36.864593 USD, max leverage 50
EXAMPLE = HL["positions"][0]
DATE_2024 = "2024-10-15"


def tolerance(pos: dict, mmr: float) -> float:
    """The recorded margin has 6 decimals (USD, rounded or truncated: one unit) and the recorded
    price 8 decimals; a unit of the margin moves the liquidation price by 1e-6 / (Q*(1 - s*mmr))."""
    s = 1.0 if pos["side"] == "long" else -1.0
    return 1e-6 / (pos["size"] * (1.0 - s * mmr)) + 5e-9


def test_the_example_is_the_recorded_one():
    assert (EXAMPLE["symbol"], EXAMPLE["side"], EXAMPLE["entry"], EXAMPLE["size"], EXAMPLE["margin"]) == (
        "ETH/USDC:USDC",
        "long",
        2458.5,
        0.015,
        36.864593,
    )
    assert EXAMPLE["liquidation_price"] == 0.86915825
    assert HL["max_leverage"]["ETH/USDC:USDC"] == 50


# ------------------------------------------------------------------------------ every path, one answer
def single(pos: dict, max_leverage: float) -> float:
    return lp.position_figures(
        pos["side"],
        pos["entry"],
        size=pos["size"],
        margin=pos["margin"],
        venue="hyperliquid",
        symbol=pos["symbol"],
        max_leverage=max_leverage,
    )["liquidation_price"]


def test_hyperliquid_pinned_max_leverage_sets_the_rate_on_the_single_path():
    r = lp.position_figures(
        "long", 2458.5, size=0.015, margin=36.864593, venue="hyperliquid", symbol="ETH/USDC:USDC", max_leverage=50
    )
    assert r["mmr"] == 0.01 and r["max_leverage"] == 50
    assert r["liquidation_price"] == pytest.approx(0.86915825, abs=tolerance(EXAMPLE, 0.01))
    # before the fix: 0.878027 (the table's 25x rate) -- far outside the tolerance
    assert abs(0.878027 - 0.86915825) > 100 * tolerance(EXAMPLE, 0.01)


def test_every_recorded_hyperliquid_position_on_the_single_and_batch_paths():
    caps = HL["max_leverage"]
    frame = pd.DataFrame(
        [
            {
                "side": p["side"],
                "entry": p["entry"],
                "size": p["size"],
                "margin": p["margin"],
                "max_leverage": caps[p["symbol"]],
                "symbol": p["symbol"],
            }
            for p in HL["positions"]
        ]
    )
    batch = lp.batch_figures(frame, "hyperliquid")
    # the symbol given once as the batch's default, as the CLI's --symbol does
    for i, p in enumerate(HL["positions"]):
        mmr = 1 / (2 * caps[p["symbol"]])
        one = single(p, caps[p["symbol"]])
        assert one == pytest.approx(p["liquidation_price"], abs=tolerance(p, mmr)), p
        assert batch["liquidation_price"].iloc[i] == one  # one answer, to the bit


def test_the_batch_default_max_leverage_and_a_default_symbol_give_the_same_answer():
    frame = pd.DataFrame([{"side": "long", "entry": 2458.5, "size": 0.015, "margin": 36.864593}])
    for defaults in ({"max_leverage": 50, "symbol": "ETH/USDC:USDC"}, {"max_leverage": 50}):
        out = lp.batch_figures(frame, "hyperliquid", defaults=defaults)
        assert out["liquidation_price"].iloc[0] == single(EXAMPLE, 50)


def test_the_account_path_gives_the_same_answer():
    """A cross account holding only this position: its collateral is the wallet, so its
    liquidation price is the isolated one with that margin, whatever the mark."""
    for mark in (2458.5, 2000.0):
        acct = {
            "wallet_balance": EXAMPLE["margin"],
            "positions": [
                {
                    "symbol": "ETH/USDC:USDC",
                    "side": "long",
                    "size": 0.015,
                    "entry": 2458.5,
                    "mark": mark,
                    "max_leverage": 50,
                }
            ],
        }
        frame = lp.account_figures(acct, "hyperliquid")
        assert frame["mmr"].iloc[0] == 0.01
        assert frame["liquidation_price"].iloc[0] == pytest.approx(single(EXAMPLE, 50), rel=1e-13)


def test_an_account_max_leverage_where_it_sets_nothing_is_refused():
    acct = {
        "wallet_balance": 1000.0,
        "positions": [
            {
                "symbol": "BTC/USDT:USDT",
                "side": "long",
                "size": 0.1,
                "entry": 60000.0,
                "mark": 60000.0,
                "max_leverage": 50,
            }
        ],
    }
    with pytest.raises(InputError, match="no effect on binance") as err:
        lp.account_figures(acct, "binance")
    assert err.value.field == "positions[0].max_leverage"


def test_the_dated_rule_book_gives_the_same_answer():
    """No pin: the table in force on the position's date (2024: ETH 50x flat) is the venue's."""
    v = get_venue("hyperliquid", as_of=DATE_2024)
    for p in HL["positions"]:
        t = v.tier_table(p["symbol"])
        assert t.max_leverage[0] == HL["max_leverage"][p["symbol"]]
        got = float(v.liquidation_price(p["side"], p["size"], p["entry"], p["margin"], t)[()])
        assert got == single(p, HL["max_leverage"][p["symbol"]])
    # the latest table (ETH 25x) is not the venue's answer for a 2024 position
    latest = get_venue("hyperliquid").tier_table("ETH/USDC:USDC")
    wrong = float(get_venue("hyperliquid").liquidation_price("long", 0.015, 2458.5, 36.864593, latest)[()])
    assert abs(wrong - 0.86915825) > 100 * tolerance(EXAMPLE, 0.01)


def test_the_engine_gives_the_same_answer_with_the_dated_table(monkeypatch):
    """The engine reads its tables through ``get_venue``; given the rule book of the scenario's
    date (the one-line change the engine's ``build_market`` needs: ``get_venue(v, as_of=date)``),
    its compiled liquidation-price kernel returns the same number, to the bit."""
    from liqcascade.engine import Liquidity, PriceConfig
    from liqcascade.engine import run as R

    monkeypatch.setattr(R, "get_venue", lambda name: get_venue(name, as_of=DATE_2024))
    mk = R.build_market(
        ("hyperliquid",),
        ("ETH",),
        Liquidity.uniform(("hyperliquid",), ("ETH",), 1e7),
        PriceConfig({"ETH": 2458.5}),
        1.0,
    )
    out = R.liquidation_prices_into(
        mk,
        np.array([1], np.int8),
        np.array([0.015]),
        np.array([2458.5]),
        np.array([36.864593]),
        np.zeros(1, np.int16),
        np.zeros(1, np.int8),
        np.empty(1),
    )
    assert out[0] == single(EXAMPLE, 50)
    assert out[0] == pytest.approx(0.86915825, abs=tolerance(EXAMPLE, 0.01))


def test_an_explicit_mmr_still_wins_over_the_max_leverage():
    r = lp.position_figures(
        "long",
        2458.5,
        size=0.015,
        margin=36.864593,
        venue="hyperliquid",
        symbol="ETH/USDC:USDC",
        max_leverage=50,
        mmr=0.02,
    )
    assert r["mmr"] == 0.02


def test_a_pinned_max_leverage_on_other_venues_keeps_their_rates():
    a = lp.position_figures("long", 60_000.0, size=0.1, leverage=10, venue="binance")
    b = lp.position_figures("long", 60_000.0, size=0.1, leverage=10, venue="binance", max_leverage=20)
    assert (a["mmr"], a["liquidation_price"]) == (b["mmr"], b["liquidation_price"])
    assert b["max_leverage"] == 20


# ------------------------------------------------------------------------------ impossible pins
def test_the_issue_s_negative_maintenance_pin_is_refused_in_one_line():
    res = CliRunner().invoke(
        app,
        [
            "liqprice",
            "--venue",
            "binance",
            "--side",
            "long",
            "--entry",
            "30000",
            "--size",
            "10",
            "--leverage",
            "20",
            "--mmr",
            "0.025",
            "--maintenance-amount",
            "16300",
        ],
    )
    assert res.exit_code == 2, res.output
    text = res.output.strip()
    assert "\n" not in text and "Traceback" not in text
    assert "maintenance_amount" in text and "652,000.00 USD" in text and "negative" in text


def test_a_negative_maintenance_pin_is_refused_in_a_batch_naming_its_row():
    frame = pd.DataFrame(
        [
            {"side": "long", "entry": 30000, "size": 10, "leverage": 20, "mmr": 0.025, "maintenance_amount": 50},
            {"side": "long", "entry": 30000, "size": 10, "leverage": 20, "mmr": 0.025, "maintenance_amount": 16300},
        ]
    )
    with pytest.raises(InputError) as err:
        lp.batch_figures(frame, "binance")
    assert err.value.row == 2 and err.value.field == "maintenance_amount"


def test_a_negative_maintenance_pin_is_refused_in_an_account():
    acct = {
        "wallet_balance": 20_000.0,
        "positions": [
            {
                "symbol": "BTC/USDT:USDT",
                "side": "long",
                "size": 10,
                "entry": 30000,
                "mark": 30000,
                "mmr": 0.025,
                "maintenance_amount": 16300,
            }
        ],
    }
    with pytest.raises(InputError) as err:
        lp.account_figures(acct, "binance")
    assert err.value.field == "positions[0].maintenance_amount"


@st.composite
def pinned_positions(draw):
    venue = draw(st.sampled_from(list(VENUES)))
    rules = get_venue(venue)
    symbol = draw(st.sampled_from(rules.symbols()))
    side = draw(st.sampled_from(["long", "short"]))
    entry = draw(st.floats(0.05, 150_000.0))
    notional = math.exp(draw(st.floats(math.log(20.0), math.log(5e7))))
    kw = dict(venue=venue, symbol=symbol, size=notional / entry)
    if draw(st.booleans()):
        kw["mmr"] = draw(st.floats(0.0, 0.3))
    if draw(st.booleans()):
        kw["maintenance_amount"] = draw(st.one_of(st.just(0.0), st.floats(0.0, 2e6)))
    if draw(st.booleans()):
        kw["max_leverage"] = draw(st.floats(1.0, 125.0))
    lev_hi = kw.get("max_leverage", 125.0)
    kw["leverage"] = draw(st.floats(1.0, lev_hi))
    kw["mode"] = draw(st.sampled_from(["isolated", "cross"]))
    return side, entry, kw


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pinned_positions())
def test_the_liquidation_price_is_never_beyond_bankruptcy(p):
    """For every venue and random valid input (with or without pins): either the position is
    refused with an InputError, or its maintenance margin is >= 0 at entry and at the liquidation
    price, and the liquidation price lies between entry and bankruptcy."""
    side, entry, kw = p
    try:
        r = lp.position_figures(side, entry, **kw)
    except InputError:
        return
    assert r["maintenance_margin"] >= 0 and r["maintenance_margin_at_entry"] >= 0
    liq, bank = r["liquidation_price"], r["bankruptcy_price"]
    ulps = 1e-12 * entry  # a zero maintenance puts LP on BP, computed by two formulas: a few ulps apart
    if side == "long":
        assert bank - ulps <= liq < entry
    else:
        assert entry < liq <= bank + ulps


# ------------------------------------------------------------------------------ dated tables
def test_tables_are_looked_up_at_a_date():
    v = get_venue("hyperliquid")
    assert v.tier_table("ETH/USDC:USDC").max_leverage.tolist() == [25, 15]  # latest
    assert v.tier_table("ETH/USDC:USDC", as_of="2024-10-15").max_leverage.tolist() == [50]
    assert v.tier_table("BTC/USDT:USDT", as_of="2026-02-05").max_leverage.tolist() == [40, 20]
    assert v.tier_table("BTC/USDC:USDC", as_of="2025-12-31").max_leverage.tolist() == [50]  # the 2024 one
    # before the earliest version: the earliest, whose as_of tells the caller
    early = v.tier_table("SOL/USDC:USDC", as_of="2021-01-01")
    assert early.as_of == "2024-10-01" and early.max_leverage.tolist() == [20]
    for t in v.table_versions("BTC/USDC:USDC"):
        assert t.source and table_date(t.as_of) == t.as_of_date
    # a dated rule book looks up at its date by default
    assert get_venue("hyperliquid", as_of=pd.Timestamp("2024-10-15T08:00Z")).tier_table(
        "DOGE/USDC:USDC"
    ).max_leverage.tolist() == [20]
    assert get_venue("hyperliquid", "2024-10-15") is get_venue("hyperliquid", as_of="2024-10-15")


def test_a_position_is_checked_against_the_table_of_its_date():
    v2024, v2026 = get_venue("hyperliquid", as_of=DATE_2024), get_venue("hyperliquid", as_of="2026-02-05")
    v2024.check_opening(1.0, 2500.0, 2500.0 / 40, v2024.tier_table("ETH/USDC:USDC"))  # 40x: allowed in 2024
    with pytest.raises(InputError, match="25x maximum"):
        v2026.check_opening(1.0, 2500.0, 2500.0 / 40, v2026.tier_table("ETH/USDC:USDC"))


def test_a_bad_date_names_the_field():
    with pytest.raises(InputError, match="as_of"):
        get_venue("hyperliquid").tier_table("ETH/USDC:USDC", as_of="last tuesday")
    with pytest.raises(InputError, match="as_of"):
        get_venue("binance", as_of="2024-13-45")


def test_a_live_table_replaces_every_version():
    v = get_venue("hyperliquid")
    live = v.tier_table("ETH/USDC:USDC", as_of=DATE_2024)
    w = v.with_table(live).at("2026-02-05")
    assert w.tier_table("ETH/USDC:USDC") is live
    assert len(v.table_versions("ETH/USDC:USDC")) == 2  # the original is untouched


def test_the_position_s_date_picks_the_table_on_every_path():
    """--as-of / as_of=: the 2024 table (ETH 50x) without any pin gives Hyperliquid's answer."""
    res = CliRunner().invoke(
        app,
        [
            "liqprice",
            "--venue",
            "hyperliquid",
            "--symbol",
            "ETH/USDC:USDC",
            "--side",
            "long",
            "--entry",
            "2458.5",
            "--size",
            "0.015",
            "--margin",
            "36.864593",
            "--as-of",
            DATE_2024,
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["liquidation_price"] == single(EXAMPLE, 50)
    frame = pd.DataFrame(
        [{"side": "long", "entry": 2458.5, "size": 0.015, "margin": 36.864593, "symbol": "ETH/USDC:USDC"}]
    )
    assert lp.batch_figures(frame, "hyperliquid", as_of=DATE_2024)["liquidation_price"].iloc[0] == single(EXAMPLE, 50)
    acct = {
        "wallet_balance": 36.864593,
        "positions": [{"symbol": "ETH/USDC:USDC", "side": "long", "size": 0.015, "entry": 2458.5, "mark": 2458.5}],
    }
    got = lp.account_figures(acct, "hyperliquid", as_of=DATE_2024)["liquidation_price"].iloc[0]
    assert got == pytest.approx(single(EXAMPLE, 50), rel=1e-13)
    bad = CliRunner().invoke(
        app,
        [
            "liqprice",
            "--venue",
            "hyperliquid",
            "--side",
            "long",
            "--entry",
            "2458.5",
            "--size",
            "0.015",
            "--margin",
            "36.864593",
            "--as-of",
            "yesterday",
        ],
    )
    assert bad.exit_code == 2 and "as_of" in bad.output and "Traceback" not in bad.output
