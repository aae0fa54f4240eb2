"""`liqcascade liqprice`: published examples through the CLI, batch and cross-account paths, and
every kind of bad input (one line on stderr, exit code 2, no traceback).

Expected figures are derived here from the margin equation (exchange-mechanics.md §1)

    LP = (M + D - s*Q*E) / (Q*MMR - s*Q),   BP = E - s*M/Q

with the tier parameters read from the venue's own table, or are the venues' published results.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from liqcascade import liqprice as lp
from liqcascade._jit import HAVE_NUMBA
from liqcascade.cli import app, main
from liqcascade.venues import VENUES, get_venue

FIXTURES = Path(__file__).parent / "fixtures" / "cli"
POSITIONS_CSV = FIXTURES / "positions.csv"
ACCOUNT_JSON = FIXTURES / "account.json"

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["liqprice", *args])


def run_json(*args: str):
    res = run(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def assert_input_error(res, *needles: str) -> str:
    """Exit 2, nothing on stdout, exactly one line on stderr naming what is wrong, no traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    assert res.stdout == ""
    lines = res.stderr.strip("\n").splitlines()
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("liqcascade: error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def venue_available(name: str) -> bool:
    try:
        get_venue(name)
    except Exception:  # a table file not (yet) bundled
        return False
    return True


def formula_lp(side: int, q: float, e: float, m: float, mmr: float, d: float = 0.0) -> float:
    return (m + d - side * q * e) / (q * mmr - side * q)


# ============================================================================ $1,000 at 10x
E95, M1000, L10 = 95_000.0, 1_000.0, 10.0


def test_thousand_at_10x_binance_by_formula():
    q = M1000 * L10 / E95
    table = get_venue("binance").tier_table("BTC/USDT:USDT")
    lp_expect = formula_lp(+1, q, E95, M1000, float(table.mmr[0]), float(table.maintenance_amount[0]))
    assert q * lp_expect <= table.caps[0]  # tier 1 holds the notional at the liquidation price
    move_expect = (lp_expect / E95 - 1) * 100

    r = run_json("--venue", "binance", "--side", "long", "--entry", "95000", "--margin", "1000", "--leverage", "10")
    assert r["size"] == pytest.approx(0.10526315789473684, rel=1e-15)
    assert r["notional_usd"] == pytest.approx(10_000.0, rel=1e-15)
    assert r["margin_usd"] == 1000.0 and r["leverage"] == 10.0
    assert r["bankruptcy_price"] == pytest.approx(85_500.0, rel=1e-15)
    assert round(r["bankruptcy_distance_pct"], 2) == -10.00
    assert r["liquidation_price"] == pytest.approx(lp_expect, rel=1e-12)
    assert abs(r["liquidation_distance_pct"] - move_expect) < 0.01
    assert round(r["liquidation_distance_pct"], 1) == -9.6  # the reports' "liquidated before -10 %"
    assert r["tier"] == 1 and r["mmr"] == pytest.approx(float(table.mmr[0]))
    # equity at the liquidation price equals the maintenance margin there
    assert M1000 + q * (r["liquidation_price"] - E95) == pytest.approx(r["maintenance_margin"], rel=1e-9)
    for key in (
        "venue",
        "symbol",
        "notional_usd",
        "margin_usd",
        "leverage",
        "liquidation_distance_pct",
        "bankruptcy_distance_pct",
        "tier",
        "mmr",
        "maintenance_margin",
    ):
        assert key in r


def test_thousand_at_10x_every_venue_side_by_side():
    res = run("--side", "long", "--entry", "95000", "--margin", "1000", "--leverage", "10")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "$10,000.00 position" in out and "0.105263 BTC" in out
    assert "-10.00%" in out and "85,500.00" in out  # the move that wipes the margin out
    for name in ("binance", "bybit", "hyperliquid"):
        assert name in out
    assert "BTC/USDC:USDC" in out  # Hyperliquid's own BTC perp

    data = run_json("--side", "long", "--entry", "95000", "--margin", "1000", "--leverage", "10")
    assert set(data) == set(VENUES)
    for name, r in data.items():
        if "error" in r:
            assert not venue_available(name), r
            continue
        assert r["venue"] == name
        assert r["bankruptcy_price"] == pytest.approx(85_500.0)
        # liquidation comes before the margin is gone, and its line is the venue's
        assert E95 > r["liquidation_price"] > r["bankruptcy_price"]
        assert -10.0 < r["liquidation_distance_pct"] < 0
        assert f"{r['liquidation_price']:,.2f}" in out
        assert f"{r['liquidation_distance_pct']:+.2f}%" in out
    binance = data["binance"]
    table = get_venue("binance").tier_table("BTC/USDT:USDT")
    q = M1000 * L10 / E95
    assert binance["liquidation_price"] == pytest.approx(formula_lp(+1, q, E95, M1000, float(table.mmr[0])), rel=1e-12)
    hl_table = get_venue("hyperliquid").tier_table("BTC/USDT:USDT")
    assert data["hyperliquid"]["symbol"] == "BTC/USDC:USDC"
    assert data["hyperliquid"]["mmr"] == pytest.approx(1 / (2 * hl_table.max_leverage[0]))


def test_comparison_marks_a_venue_that_refuses_and_fails_when_all_refuse():
    hl_cap = float(get_venue("hyperliquid").tier_table("BTC/USDT:USDT").max_leverage[0])
    lev = hl_cap + 10  # above Hyperliquid's cap, below Binance's
    data = run_json("--side", "long", "--entry", "95000", "--margin", "100", "--leverage", f"{lev:g}")
    assert "error" in data["hyperliquid"] and "leverage" in data["hyperliquid"]["error"]
    assert "liquidation_price" in data["binance"]
    res = run("--side", "long", "--entry", "95000", "--margin", "100", "--leverage", "1000")
    assert_input_error(res, "leverage")


# ============================================================================ published examples
def test_bybit_published_example_19700():
    args = (
        "--venue",
        "bybit",
        "--side",
        "long",
        "--entry",
        "20000",
        "--size",
        "1",
        "--leverage",
        "50",
        "--mmr",
        "0.005",
    )
    r = run_json(*args)
    assert round(r["liquidation_price"], 2) == 19_700.00
    assert r["maintenance_margin"] == pytest.approx(100.0)  # MM 100 on the 20,000 position value
    assert r["margin_usd"] == pytest.approx(400.0)  # IM = 20,000 / 50
    assert r["bankruptcy_price"] == pytest.approx(19_600.0)
    res = run(*args)
    assert res.exit_code == 0 and "19,700.00" in res.stdout


BINANCE_WALLET = "1535443.01"


def test_binance_calculator_eth_example_to_the_cent():
    r = run_json(
        "--venue",
        "binance",
        "--symbol",
        "ETH/USDT:USDT",
        "--side",
        "long",
        "--entry",
        "1456.84",
        "--size",
        "3683.979",
        "--margin",
        BINANCE_WALLET,
        "--mmr",
        "0.10",
        "--maintenance-amount",
        "135365",
    )
    expect = formula_lp(+1, 3683.979, 1456.84, 1535443.01, 0.10, 135365.0)
    assert r["liquidation_price"] == pytest.approx(expect, rel=1e-12)
    assert round(r["liquidation_price"], 2) == 1114.78
    assert r["mmr"] == 0.10 and r["maintenance_amount"] == 135365.0 and r["pinned"] is True


def test_binance_calculator_btc_example_to_the_cent():
    r = run_json(
        "--venue",
        "binance",
        "--side",
        "long",
        "--entry",
        "32481.98",
        "--size",
        "109.488",
        "--margin",
        BINANCE_WALLET,
        "--mmr",
        "0.025",
        "--maintenance-amount",
        "16300",
    )
    expect = formula_lp(+1, 109.488, 32481.98, 1535443.01, 0.025, 16300.0)
    assert r["liquidation_price"] == pytest.approx(expect, rel=1e-12)
    assert round(r["liquidation_price"], 2) == 18778.73


def test_tier_at_liquidation_example_through_the_cli():
    # 100 BTC long at 30,000, 10x on Binance: the tier that holds Q*LP, not the entry tier
    r = run_json("--venue", "binance", "--side", "long", "--entry", "30000", "--size", "100", "--leverage", "10")
    table = get_venue("binance").tier_table("BTC/USDT:USDT")
    k = int(table.tier_index(100 * r["liquidation_price"]))
    assert r["tier"] == k + 1
    assert r["liquidation_price"] == pytest.approx(
        formula_lp(+1, 100, 30000, 300000, float(table.mmr[k]), float(table.maintenance_amount[k])), rel=1e-12
    )


# ============================================================================ sizing and pins
def test_size_and_leverage_default_the_margin():
    r = run_json("--venue", "binance", "--side", "short", "--entry", "95000", "--size", "0.5", "--leverage", "20")
    assert r["margin_usd"] == pytest.approx(0.5 * 95000 / 20)
    assert r["liquidation_price"] > 95000 and r["bankruptcy_price"] == pytest.approx(95000 * 1.05)


def test_extra_margin_moves_liquidation_away():
    base = run_json("--venue", "bybit", "--side", "long", "--entry", "95000", "--size", "1", "--leverage", "20")
    extra = run_json(
        "--venue", "bybit", "--side", "long", "--entry", "95000", "--size", "1", "--leverage", "20", "--margin", "6000"
    )
    assert extra["margin_usd"] == 6000.0 and extra["leverage"] == 20.0
    assert extra["liquidation_price"] < base["liquidation_price"]
    # Bybit isolated: LP = E - (M - MM)/Q with MM fixed on the entry value
    assert extra["liquidation_price"] == pytest.approx(base["liquidation_price"] - (6000 - 95000 / 20), rel=1e-12)


def test_size_and_margin_give_the_effective_leverage():
    r = run_json("--venue", "binance", "--side", "long", "--entry", "95000", "--size", "1", "--margin", "19000")
    assert r["leverage"] == pytest.approx(5.0)


def test_cross_mode_single_position_on_bybit_uses_the_mark():
    iso = run_json("--venue", "bybit", "--side", "long", "--entry", "95000", "--margin", "1000", "--leverage", "10")
    cross = run_json(
        "--venue",
        "bybit",
        "--side",
        "long",
        "--entry",
        "95000",
        "--margin",
        "1000",
        "--leverage",
        "10",
        "--mode",
        "cross",
    )
    assert cross["mode"] == "cross"
    # maintenance on the mark is smaller below entry, so cross liquidates a little lower
    assert cross["liquidation_price"] < iso["liquidation_price"]
    q = 1000 * 10 / 95000
    assert 1000 + q * (cross["liquidation_price"] - 95000) == pytest.approx(cross["maintenance_margin"], rel=1e-9)


def test_partial_pin_takes_the_rest_from_the_entry_tier():
    table = get_venue("binance").tier_table("BTC/USDT:USDT")
    r = run_json(
        "--venue", "binance", "--side", "long", "--entry", "95000", "--size", "1", "--leverage", "10", "--mmr", "0.02"
    )
    k = int(table.tier_index(95000.0))
    assert r["mmr"] == 0.02
    assert r["maintenance_amount"] == pytest.approx(float(table.maintenance_amount[k]))
    assert r["max_leverage"] == pytest.approx(float(table.max_leverage[k]))


def test_pinned_max_leverage_is_one_over_mmr_without_a_table():
    # ADA is in no bundled table: with --mmr the position is still computed, capped at 1/mmr
    args = (
        "--venue",
        "binance",
        "--symbol",
        "ADA/USDT:USDT",
        "--side",
        "long",
        "--entry",
        "0.25",
        "--size",
        "10000",
        "--mmr",
        "0.02",
    )
    r = run_json(*args, "--leverage", "10")
    assert r["max_leverage"] == pytest.approx(50.0) and r["symbol"] == "ADA/USDT:USDT"
    assert r["liquidation_price"] == pytest.approx(formula_lp(+1, 10000, 0.25, 250.0, 0.02), rel=1e-12)
    assert_input_error(run(*args, "--leverage", "60"), "leverage", "50x")


def test_max_leverage_pin_alone_keeps_the_tiers():
    table = get_venue("binance").tier_table("BTC/USDT:USDT")
    plain = run_json("--venue", "binance", "--side", "long", "--entry", "30000", "--size", "100", "--leverage", "10")
    capped = run_json(
        "--venue",
        "binance",
        "--side",
        "long",
        "--entry",
        "30000",
        "--size",
        "100",
        "--leverage",
        "10",
        "--max-leverage",
        "12",
    )
    assert capped["liquidation_price"] == plain["liquidation_price"] and capped["max_leverage"] == 12
    assert table.n_tiers > 1
    assert_input_error(
        run(
            "--venue",
            "binance",
            "--side",
            "long",
            "--entry",
            "30000",
            "--size",
            "100",
            "--leverage",
            "15",
            "--max-leverage",
            "12",
        ),
        "leverage",
    )


def test_okx_with_pinned_mmr_puts_the_taker_fee_in_the_denominator():
    r = run_json(
        "--venue",
        "okx",
        "--side",
        "long",
        "--entry",
        "95000",
        "--margin",
        "1000",
        "--leverage",
        "10",
        "--mmr",
        "0.004",
        "--maintenance-amount",
        "0",
        "--max-leverage",
        "100",
        "--taker-fee",
        "0.0005",
    )
    q = 1000 * 10 / 95000
    assert r["liquidation_price"] == pytest.approx((95000 - 1000 / q) / (1 - (0.004 + 0.0005)), rel=1e-12)
    assert r["taker_fee"] == 0.0005


@pytest.mark.skipif(not venue_available("okx"), reason="OKX tier table not bundled yet")
def test_okx_from_its_table():
    table = get_venue("okx").tier_table("BTC/USDT:USDT")
    fee = get_venue("okx").default_taker_fee
    r = run_json("--venue", "okx", "--side", "short", "--entry", "95000", "--size", "0.5", "--leverage", "20")
    assert table.basis == "contracts" and r["tier"] == 1
    m = 0.5 * 95000 / 20
    assert r["liquidation_price"] == pytest.approx((95000 + m / 0.5) / (1 + float(table.mmr[0]) + fee), rel=1e-12)


# ============================================================================ batch
def _single_args(row: pd.Series) -> list[str]:
    args = []
    for col in lp.BATCH_COLUMNS:
        v = row.get(col, "")
        if isinstance(v, str) and v.strip() != "":
            args += [f"--{col.replace('_', '-')}", v.strip()]
    return args


def test_batch_csv_round_trip_equals_single_positions(tmp_path):
    out = tmp_path / "out.csv"
    res = run("--batch", str(POSITIONS_CSV), "--venue", "binance", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    src = pd.read_csv(POSITIONS_CSV, dtype=str, keep_default_na=False)
    got = pd.read_csv(out)
    assert list(got.columns) == list(src.columns) + [
        "liquidation_price",
        "bankruptcy_price",
        "maintenance_margin",
        "tier",
    ]
    assert len(got) == len(src)
    for i, row in src.iterrows():
        single = run_json("--venue", "binance", *_single_args(row))
        for key in ("liquidation_price", "bankruptcy_price", "maintenance_margin"):
            assert got.loc[i, key] == pytest.approx(single[key], rel=1e-15, abs=0), (i, key)
        assert got.loc[i, "tier"] == single["tier"]
    # the published examples are rows of the fixture
    assert round(got.loc[4, "liquidation_price"], 2) == 1114.78
    assert round(got.loc[5, "liquidation_price"], 2) == 18778.73


@pytest.mark.parametrize("venue", list(VENUES))
def test_batch_json_in_input_order_on_every_venue(tmp_path, venue):
    if not venue_available(venue):
        pytest.skip(f"{venue} tier table not bundled yet")
    csv_path = tmp_path / "btc.csv"
    csv_path.write_text(
        "side,entry,size,margin,leverage,mode\n"
        "long,95000,,1000,10,\n"
        "short,90000,0.2,,5,cross\n"
        "long,100000,0.05,2000,,isolated\n"
    )
    res = run("--batch", str(csv_path), "--venue", venue, "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["entry"] for r in rows] == [95000.0, 90000.0, 100000.0]
    src = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    for (_, row), got in zip(src.iterrows(), rows):
        single = run_json("--venue", venue, *_single_args(row))
        assert got["liquidation_price"] == pytest.approx(single["liquidation_price"], rel=1e-15)
        assert got["maintenance_margin"] == pytest.approx(single["maintenance_margin"], rel=1e-15)
        assert got["tier"] == single["tier"]


def test_batch_to_stdout_is_csv():
    res = run("--batch", str(POSITIONS_CSV), "--venue", "binance")
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].endswith(",liquidation_price,bankruptcy_price,maintenance_margin,tier")
    assert len(lines) == 1 + len(pd.read_csv(POSITIONS_CSV))


def test_batch_defaults_from_flags():
    frame = pd.DataFrame(
        {
            "side": ["long", "long"],
            "entry": [95000.0, 95000.0],
            "size": [1.0, 1.0],
            "leverage": [10.0, 10.0],
            "mmr": [np.nan, 0.01],
        }
    )
    got = lp.batch_figures(frame, "bybit", defaults={"mmr": 0.005})
    assert got["liquidation_price"].tolist() == [
        lp.position_figures("long", 95000, 1, leverage=10, venue="bybit", mmr=m)["liquidation_price"]
        for m in (0.005, 0.01)
    ]


@pytest.mark.skipif(not HAVE_NUMBA, reason="the kernels run as plain Python (LIQCASCADE_DISABLE_JIT=1)")
def test_batch_of_100k_rows_is_vectorised():
    n = 100_000
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "side": rng.choice(["long", "short"], n),
            "entry": rng.uniform(20_000, 120_000, n).round(2).astype(str),
            "size": rng.uniform(0.001, 40, n).round(4).astype(str),
            "margin": [""] * n,
            "leverage": rng.integers(1, 20, n).astype(str),
            "mode": rng.choice(["isolated", "cross", ""], n),
            "symbol": rng.choice(["BTC/USDT:USDT", "ETH/USDT:USDT", ""], n),
        }
    )
    # speed is measured in benchmarks/bench_liqprice.py; here: one vectorised pass gives the
    # scalar path's figures
    got = lp.batch_figures(frame, "binance")
    assert got["liquidation_price"].notna().all() and (got["tier"] >= 1).all()
    # spot-check against the scalar path
    for i in (0, 12_345, n - 1):
        row = frame.iloc[i]
        single = lp.position_figures(
            row["side"],
            float(row["entry"]),
            float(row["size"]),
            leverage=float(row["leverage"]),
            venue="binance",
            mode=row["mode"] or None,
            symbol=row["symbol"] or None,
        )
        assert got["liquidation_price"].iloc[i] == pytest.approx(single["liquidation_price"], rel=1e-15)


def test_batch_out_is_atomic_and_keeps_the_old_file_on_error(tmp_path):
    out = tmp_path / "result.csv"
    out.write_text("previous result\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("side,entry,size,leverage\nlong,95000,1,10\nlong,oops,1,10\n")
    assert_input_error(run("--batch", str(bad), "--venue", "binance", "--out", str(out)), "entry", "row 2")
    assert out.read_text() == "previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "result.csv"]
    res = run("--batch", str(POSITIONS_CSV), "--venue", "binance", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("side,entry,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "result.csv"]


# ============================================================================ cross account
def _account(positions, wallet=10_000.0):
    return {"wallet_balance": wallet, "positions": positions}


BTC_LONG = {"symbol": "BTC/USDT:USDT", "side": "long", "size": 1.0, "entry": 95000, "mark": 94000}
ETH_LOSING = {"symbol": "ETH/USDT:USDT", "side": "long", "size": 20.0, "entry": 3800, "mark": 3500}


@pytest.mark.parametrize("venue", ["binance", "bybit", "hyperliquid"])
def test_cross_account_losing_second_position_brings_liquidation_closer(tmp_path, venue):
    alone, both = tmp_path / "alone.json", tmp_path / "both.json"
    alone.write_text(json.dumps(_account([BTC_LONG])))
    both.write_text(json.dumps(_account([BTC_LONG, ETH_LOSING])))
    if venue == "bybit" and "ETH" not in " ".join(get_venue("bybit").symbols()):
        pytest.skip("bybit table without ETH")
    a = run_json("--account", str(alone), "--venue", venue)
    b = run_json("--account", str(both), "--venue", venue)
    assert len(a) == 1 and len(b) == 2
    btc_alone, btc_both, eth = a[0], b[0], b[1]
    assert btc_alone["liquidation_price"] < btc_both["liquidation_price"] < BTC_LONG["mark"]
    # collateral = wallet + the other's (uPnL - MM) at its mark
    assert eth["upnl"] == pytest.approx(20 * (3500 - 3800))
    assert btc_both["collateral_usd"] == pytest.approx(10_000 + eth["upnl"] - eth["maintenance_margin"], rel=1e-12)
    # at the liquidation price, the position's equity equals the venue's cross maintenance margin
    rules = get_venue(venue)
    table = rules.tier_table("BTC/USDT:USDT")
    lpx = btc_both["liquidation_price"]
    mm_at_lp = float(rules.maintenance_margin(np.array([1.0]), np.array([lpx]), table, mode="cross")[0])
    assert btc_both["collateral_usd"] + (lpx - 95000) == pytest.approx(mm_at_lp, rel=1e-9)


def test_cross_account_human_table_and_pins():
    res = run("--account", str(ACCOUNT_JSON), "--venue", "binance")
    assert res.exit_code == 0, res.output
    assert "BTC/USDT:USDT" in res.stdout and "ETH/USDT:USDT" in res.stdout and "collateral" in res.stdout
    doc = _account([dict(BTC_LONG, mmr=0.01, maintenance_amount=0)])
    frame = lp.account_figures(doc, "binance")
    assert frame.loc[0, "mmr"] == 0.01
    assert frame.loc[0, "liquidation_price"] == pytest.approx(formula_lp(+1, 1.0, 95000, 10_000, 0.01), rel=1e-12)


# ============================================================================ bad input
SINGLE = ("--side", "long", "--entry", "95000", "--size", "1", "--leverage", "10")
BEYOND = f"{2 * get_venue('binance').tier_table('BTC/USDT:USDT').max_position() / 95000:.0f}"  # BTC, twice the table


@pytest.mark.parametrize(
    "args, needles",
    [
        pytest.param(("--venue", "kraken", *SINGLE), ("venue", "kraken"), id="unknown-venue"),
        pytest.param(
            ("--venue", "binance", "--symbol", "ADA/USDT:USDT", *SINGLE),
            ("symbol", "ADA/USDT:USDT"),
            id="unknown-symbol",
        ),
        pytest.param(("--symbol", "XYZ/USDT:USDT", *SINGLE), ("symbol", "every venue"), id="unknown-symbol-all-venues"),
        pytest.param(
            ("--venue", "binance", "--side", "long", "--entry", "95000", "--size", "-1", "--leverage", "10"),
            ("size", "positive"),
            id="negative-size",
        ),
        pytest.param(
            ("--venue", "binance", "--side", "long", "--entry", "95000", "--size", "0", "--leverage", "10"),
            ("size", "positive"),
            id="zero-size",
        ),
        pytest.param(
            ("--venue", "binance", "--side", "long", "--entry", "0", "--size", "1", "--leverage", "10"),
            ("entry", "positive"),
            id="zero-price",
        ),
        pytest.param(
            ("--venue", "binance", "--side", "long", "--entry", "-95000", "--size", "1", "--leverage", "10"),
            ("entry", "positive"),
            id="negative-price",
        ),
        pytest.param(
            ("--venue", "binance", "--side", "long", "--entry", "95000", "--size", "1", "--leverage", "0"),
            ("leverage", "positive"),
            id="zero-leverage",
        ),
        pytest.param(
            ("--venue", "hyperliquid", "--side", "long", "--entry", "95000", "--size", "1", "--leverage", "60"),
            ("leverage", "60x", "maximum"),
            id="leverage-above-tier-max",
        ),
        pytest.param(
            (
                "--venue",
                "binance",
                "--side",
                "long",
                "--entry",
                "95000",
                "--size",
                "1",
                "--leverage",
                "10",
                "--margin",
                "100",
            ),
            ("margin", "cannot open"),
            id="margin-cannot-open",
        ),
        pytest.param(
            (
                "--venue",
                "binance",
                "--side",
                "long",
                "--entry",
                "95000",
                "--size",
                "1",
                "--leverage",
                "300",
                "--max-leverage",
                "500",
            ),
            ("margin", "liquidated"),
            id="margin-below-maintenance",
        ),
        pytest.param(
            ("--venue", "binance", "--side", "long", "--entry", "95000", "--size", "1"),
            ("margin", "two of size, margin, leverage"),
            id="sizing-missing",
        ),
        pytest.param(
            ("--venue", "binance", "--side", "up", "--entry", "95000", "--size", "1", "--leverage", "2"),
            ("side", "'up'"),
            id="bad-side",
        ),
        pytest.param(
            ("--venue", "binance", "--entry", "95000", "--size", "1", "--leverage", "2"),
            ("side", "missing"),
            id="missing-side",
        ),
        pytest.param(("--venue", "binance", *SINGLE, "--mode", "portfolio"), ("mode", "portfolio"), id="bad-mode"),
        pytest.param(("--venue", "binance", *SINGLE, "--mmr", "1.5"), ("mmr",), id="mmr-not-a-fraction"),
        pytest.param(
            ("--venue", "binance", "--side", "long", "--entry", "inf", "--size", "1", "--leverage", "2"),
            ("entry",),
            id="infinite-price",
        ),
        pytest.param(
            ("--venue", "binance", "--side", "long", "--entry", "95000", "--size", BEYOND, "--leverage", "1"),
            ("size", "largest tier"),
            id="beyond-the-table",
        ),
        pytest.param(("--batch", str(POSITIONS_CSV)), ("venue", "--batch needs --venue"), id="batch-without-venue"),
        pytest.param(
            ("--batch", "no/such/file.csv", "--venue", "binance"), ("no such file", "file.csv"), id="missing-batch-file"
        ),
        pytest.param(
            ("--account", "no/such/account.json", "--venue", "binance"),
            ("no such file", "account.json"),
            id="missing-account-file",
        ),
        pytest.param(
            ("--batch", str(POSITIONS_CSV), "--venue", "binance", "--entry", "5"),
            ("entry", "--batch"),
            id="batch-with-position-flags",
        ),
        pytest.param(("--venue", "binance", *SINGLE, "--out", "x.csv"), ("out",), id="out-without-batch"),
    ],
)
def test_bad_input_single_line_exit_2(args, needles):
    assert_input_error(run(*args), *needles)


@pytest.mark.parametrize(
    "text, needles",
    [
        pytest.param("side,size,leverage\nlong,1,10\n", ("missing column 'entry'",), id="missing-column"),
        pytest.param("side,entry,size\nlong,95000,1\n", ("missing column", "margin"), id="missing-sizing-columns"),
        pytest.param(
            "side,entyr,size,leverage\nlong,95000,1,10\n",
            ("unknown column 'entyr'", "did you mean 'entry'"),
            id="misspelled-column",
        ),
        pytest.param(
            "side,entry,size,leverage\nlong,95000,1,10\nlong,95000,1,10\nshort,9a5000,1,10\n",
            ("row 3", "field 'entry'", "'9a5000'", "line 4"),
            id="non-numeric-cell",
        ),
        pytest.param(
            "side,entry,size,leverage\nlong,95000,1,10\nlong,95000,1,ten\n",
            ("row 2", "field 'leverage'", "'ten'"),
            id="non-numeric-leverage",
        ),
        pytest.param(
            "side,entry,size,leverage\nlong,95000,1,10\nshort,95000,-2,10\n",
            ("row 2", "field 'size'", "positive"),
            id="negative-size-in-row",
        ),
        pytest.param(
            "side,entry,size,leverage,symbol\nlong,95000,1,10,\nlong,95000,1,10,FOO/USDT:USDT\n",
            ("row 2", "field 'symbol'", "FOO/USDT:USDT"),
            id="unknown-symbol-in-row",
        ),
        pytest.param(
            "side,entry,size,leverage\nlong,95000,1,10\nlong,95000,1,10\nlong,95000,1,400\n",
            ("row 3", "field 'leverage'", "400x"),
            id="leverage-above-max-in-row",
        ),
        pytest.param(
            "side,entry,size,margin,leverage\nlong,95000,1,100,10\n",
            ("row 1", "field 'margin'"),
            id="margin-cannot-open-in-row",
        ),
        pytest.param(
            "side,entry,size,leverage\nlong,95000,1\n", ("row 1", "field 'leverage'", "two of"), id="short-row"
        ),
        pytest.param("side,entry,size,leverage\nlong,95000,1,10,9,9\n", ("CSV",), id="ragged-row"),
        pytest.param("", ("empty",), id="empty-file"),
        pytest.param("side,entry,entry,size,leverage\nlong,1,1,1,1\n", ("entry", "twice"), id="duplicate-column"),
    ],
)
def test_bad_batch_csv(tmp_path, text, needles):
    path = tmp_path / "positions.csv"
    path.write_text(text)
    line = assert_input_error(run("--batch", str(path), "--venue", "binance"), *needles)
    assert "positions.csv" in line


@pytest.mark.parametrize(
    "text, needles",
    [
        pytest.param('{"wallet_balance": 1000, "positions": [', ("not valid JSON", "line 1"), id="truncated-json"),
        pytest.param("[1, 2]", ("account", "object"), id="not-an-object"),
        pytest.param('{"positions": []}', ("wallet_balance", "missing"), id="missing-wallet"),
        pytest.param(
            '{"wallet_balance": "lots", "positions": []}', ("wallet_balance", "number"), id="wallet-not-number"
        ),
        pytest.param('{"wallet_balance": 1000, "positions": []}', ("positions", "non-empty"), id="no-positions"),
        pytest.param(
            '{"wallet_balance": 1000, "positions": [{"symbol": "BTC/USDT:USDT", "side": "long", '
            '"size": 1, "entry": 95000}]}',
            ("positions[0].mark", "missing"),
            id="position-missing-mark",
        ),
        pytest.param(
            '{"wallet_balance": 1000, "positions": [{"symbol": "BTC/USDT:USDT", "side": "long", '
            '"size": 1, "entry": 95000, "mark": 94000, "mmrr": 0.01}]}',
            ("positions[0].mmrr", "mmr"),
            id="position-misspelled-key",
        ),
        pytest.param(
            '{"wallet_balance": 1000, "positions": [{"symbol": "BTC/USDT:USDT", "side": "long", '
            '"size": -1, "entry": 95000, "mark": 94000}]}',
            ("positions[0].size", "positive"),
            id="position-negative-size",
        ),
        pytest.param(
            '{"wallet_balance": 1000, "positions": [{"symbol": "NOPE/USDT:USDT", "side": "long", '
            '"size": 1, "entry": 95000, "mark": 94000}]}',
            ("positions[0].symbol", "NOPE"),
            id="position-unknown-symbol",
        ),
    ],
)
def test_bad_account_json(tmp_path, text, needles):
    path = tmp_path / "account.json"
    path.write_text(text)
    assert_input_error(run("--account", str(path), "--venue", "binance"), *needles)


# ============================================================================ main() and the installed script
def test_main_turns_usage_errors_into_one_line(capsys):
    assert main(["liqprice", "--venue", "binance", "--side", "long", "--entry", "abc", "--size", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("liqcascade: error: ") and "--entry" in err[0]
    assert main(["liqprice", "--sizee", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sizee" in err[0]
    assert main(["liqprice", "--venue", "nowhere", *SINGLE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["liqcascade: error: field 'venue': unknown venue 'nowhere'; choose one of " + ", ".join(VENUES)]


def test_main_help_and_success(capsys):
    assert main(["liqprice", "--help"]) == 0
    assert "--batch" in capsys.readouterr().out
    assert (
        main(
            [
                "liqprice",
                "--venue",
                "bybit",
                "--side",
                "long",
                "--entry",
                "20000",
                "--size",
                "1",
                "--leverage",
                "50",
                "--mmr",
                "0.005",
                "--json",
            ]
        )
        == 0
    )
    assert round(json.loads(capsys.readouterr().out)["liquidation_price"], 2) == 19700.0


def _script() -> Path:
    exe = Path(sys.executable).with_name("liqcascade")
    if not exe.exists():
        pytest.skip("console script not installed next to the interpreter")
    return exe


def test_installed_console_script_subprocess():
    exe = _script()
    env = dict(os.environ, COLUMNS="120")
    ok = subprocess.run(
        [str(exe), "liqprice", "--side", "long", "--entry", "95000", "--margin", "1000", "--leverage", "10", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    q = 1000 * 10 / 95000
    table = get_venue("binance").tier_table("BTC/USDT:USDT")
    assert data["binance"]["liquidation_price"] == pytest.approx(formula_lp(+1, q, 95000, 1000, float(table.mmr[0])))
    table_out = subprocess.run(
        [str(exe), "liqprice", "--side", "long", "--entry", "95000", "--margin", "1000", "--leverage", "10"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert table_out.returncode == 0 and "85,500.00" in table_out.stdout and "-10.00%" in table_out.stdout
    bad = subprocess.run(
        [
            str(exe),
            "liqprice",
            "--venue",
            "binance",
            "--side",
            "long",
            "--entry",
            "95000",
            "--size",
            "-1",
            "--leverage",
            "10",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stdout == "" and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["liqcascade: error: field 'size': must be a positive number, got -1"]
    usage = subprocess.run(
        [str(exe), "liqprice", "--entry", "abc"], capture_output=True, text=True, env=env, timeout=120
    )
    assert usage.returncode == 2 and len(usage.stderr.strip().splitlines()) == 1 and "Traceback" not in usage.stderr
