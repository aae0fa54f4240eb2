"""A venue is one module: a fictional venue defined in one file (tests/fictional_venue.py) and
registered runs through the scenarios and the engine like a bundled one, and neither the engine
nor the scenario module names a venue in its code."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest

from liqcascade import venues
from liqcascade.engine import Liquidity, PriceConfig
from liqcascade.engine import core as C
from liqcascade.engine.run import build_market, feed_throttles_s
from liqcascade.errors import InputError
from liqcascade.scenario import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """
name = "fictex-crash"
title = "A BTC sell-off on a fictional venue and Binance"
start = 2026-02-05T00:00:00Z
horizon_hours = 0.5
step_seconds = 1.0

[assets.BTC]
start_price = 73137.5
path = [["2026-01-01", 87608.3], ["2026-01-20", 92589.6], ["2026-02-04", 75732.4]]

[[markets]]
venue = "fictex"
asset = "BTC"
open_interest_usd = 2.0e9
long_share = 0.62
depth_1pct_usd = 2.0e7
kappa = 1.1

[[markets]]
venue = "binance"
asset = "BTC"
open_interest_usd = 3.0e9
long_share = 0.6
depth_1pct_usd = 4.0e7
kappa = 1.1

[insurance_fund_usd]
fictex = 2.0e6
binance = 5.0e6

[[large_positions]]
venue = "fictex"
asset = "BTC"
side = "long"
notional_usd = 4.0e6
leverage = 10.0
entry = 74000.0

[[flows]]
kind = "sell_programme"
asset = "BTC"
usd = 2.5e9
start_hour = 0.02
end_hour = 0.3
"""


@pytest.fixture
def fictex():
    """The fictional venue, registered for one test (importing its module registers it)."""
    import fictional_venue

    venues.register(fictional_venue.FictEx)
    yield fictional_venue.FictEx
    venues.unregister("fictex")


def test_the_registry_lists_the_fictional_venue_only_while_registered(fictex):
    assert venues.names()[:4] == ("binance", "bybit", "okx", "hyperliquid")
    assert "fictex" in venues.names() and "fictex" in venues.VENUES
    rules = venues.get_venue("fictex")
    assert rules.tier_table("BTC/USDT:USDT").n_tiers == 4
    assert venues.kernel_spec("fictex").mark_window_s == 60.0
    venues.unregister("fictex")
    assert "fictex" not in venues.names()
    with pytest.raises(InputError, match="unknown venue 'fictex'; choose one of binance, bybit, okx, hyperliquid"):
        venues.get_venue("fictex")
    venues.register(fictex)


def test_register_refuses_a_kernel_that_contradicts_the_procedure(fictex):
    class Wrong(fictex):
        name = "wrongex"
        kernel = venues.KernelSpec(cooldown_s=1.0, feed_throttle_s=2.0)

    with pytest.raises(InputError, match="cooldown"):
        venues.register(Wrong)
    with pytest.raises(InputError, match="mark_rule"):
        venues.KernelSpec(mark_rule="last")
    assert "wrongex" not in venues.names()


def test_the_engine_reads_the_fictional_venues_kernel_spec(fictex):
    vs, assets = ("binance", "fictex"), ("BTC", "ETH")
    pr = PriceConfig({"BTC": 1e5, "ETH": 3e3})
    mk = build_market(vs, assets, Liquidity.uniform(vs, assets, 1e7), pr, 1.0)
    v = vs.index("fictex")
    assert tuple(mk.ven_i[v, [C.STEP_KIND, C.ADL_KIND, C.FIXED_MM_ISO, C.ADL_AT_PREV_MARK]]) == (
        venues.STEP_FRACTION_ABOVE,
        venues.ADL_PNL_X_LEVERAGE,
        0,
        0,
    )
    assert mk.ven_f[v, C.BACKSTOP_FRAC] == 0.5
    assert mk.ven_f[v, C.HL_THRESH] == 50_000.0 and mk.ven_f[v, C.HL_FRAC] == 0.25
    assert mk.ven_f[v, C.COOLDOWN] == 10.0
    assert pr.rule("fictex") == "index_ema" and pr.window("fictex") == 60.0
    m = v * len(assets)
    assert mk.mkt_i[m, C.MARK_RULE] == C.MARK_INDEX_EMA
    assert mk.mkt_f[m, C.EMA_A] == 1.0 - np.exp(-1.0 / 60.0)
    assert list(feed_throttles_s(vs)) == [1.0, 2.0]
    # the kernel's restatements equal the rule book's methods (as tests/engine/test_rules_mirror.py
    # checks for the bundled venues)
    rules = venues.get_venue("fictex")
    rng = np.random.default_rng(7)
    for ai, (asset, p0) in enumerate((("BTC", 1e5), ("ETH", 3e3))):
        m = v * len(assets) + ai
        table = mk.tables[("fictex", asset)]
        n = 300
        side = rng.choice(np.array([-1, 1], np.int8), n)
        entry = p0 * np.exp(rng.normal(0, 0.05, n))
        size = np.exp(rng.uniform(np.log(1e2), np.log(5e7), n)) / entry
        margin = size * entry / np.exp(rng.uniform(0, np.log(20), n))
        mark = entry * np.exp(rng.normal(0, 0.1, n))
        kr = mk.rules()
        lp_k = [C.liquidation_price(float(s), q, e, c, m, False, kr) for s, q, e, c in zip(side, size, entry, margin)]
        np.testing.assert_array_equal(lp_k, rules.liquidation_price(side, size, entry, margin, table))
        step_k = [C.step_size(q, p, m, v, kr) for q, p in zip(size, mark)]
        np.testing.assert_allclose(step_k, rules.liquidation_step(size, mark, table), rtol=1e-12)
        rem = rng.normal(0, 1e4, n)
        fee_k = [C.liquidation_fee(q * p, r, m, v, kr) for q, p, r in zip(size, mark, rem)]
        np.testing.assert_allclose(fee_k, rules.liquidation_fee(size * mark, rem, table.symbol), rtol=1e-12)
        mm = rules.maintenance_margin(size, mark, table, mode="cross")
        key_k = [C.adl_key(float(s), q, e, p, c, m, v, kr) for s, q, e, p, c in zip(side, size, entry, mark, margin)]
        np.testing.assert_allclose(key_k, rules.adl_rank_key(side, size, entry, mark, margin, mm), rtol=1e-12)


def test_a_scenario_on_the_fictional_venue_cascades_and_balances(fictex, tmp_path):
    f = tmp_path / "fictex.toml"
    f.write_text(SCENARIO, "utf-8")
    scenario = load_scenario(f)
    assert {m.venue for m in scenario.spec.markets} == {"fictex", "binance"}
    run, pop = run_scenario(scenario, n_positions=6_000, seed=1)
    assert "fictex" in pop.venues
    ev = run.events
    on = ev[ev["venue"] == "fictex"]
    assert len(on) > 0 and on["usd"].sum() > 0
    assert (on["method"] == "backstop").any()  # its backstop (equity < 1/2 maintenance) took positions over
    assert run.summary["by_venue_usd"]["fictex"] > 0
    assert run.ledger["ok"]
    # its public feed throttles (2 s): fewer prints than liquidations
    from liqcascade.engine import as_reported

    shown = as_reported(ev)
    assert 0 < (shown["venue"] == "fictex").sum() < len(on)


def test_scenarios_check_venues_against_the_registry(tmp_path):
    f = tmp_path / "unknown.toml"
    f.write_text(SCENARIO, "utf-8")  # fictex is not registered here
    with pytest.raises(InputError) as e:
        load_scenario(f)
    msg = str(e.value)
    assert "markets[0].venue" in msg and "\n" not in msg
    assert "unknown venue 'fictex'; known venues: binance, bybit, okx, hyperliquid" in msg


# ------------------------------------------------------------------------- no venue in the engine
VENUE_NAME = re.compile(r"binance|bybit|okx|hyperliquid", re.IGNORECASE)
#: the files that must not name a venue
CHECKED = sorted((ROOT / "src/liqcascade/engine").glob("*.py")) + [ROOT / "src/liqcascade/scenario.py"]
#: prose (comments and docstrings) naming a venue: none; a venue's rules and their story belong
#: in its module
PROSE_ALLOWED: dict[str, int | None] = {}


def _code_and_prose(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line, text) of the file's code words and string literals, and of its comments and
    docstrings (a string that is a statement of its own)."""
    src = path.read_text("utf-8")
    tree = ast.parse(src)
    prose_strings = {
        id(n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
    }
    code, prose = [], []
    for n in ast.walk(tree):
        line = getattr(n, "lineno", 0)
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            (prose if id(n) in prose_strings else code).append((line, n.value))
        elif isinstance(n, ast.Name):
            code.append((line, n.id))
        elif isinstance(n, ast.Attribute):
            code.append((line, n.attr))
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            code.append((line, n.name))
        elif isinstance(n, ast.arg):
            code.append((line, n.arg))
        elif isinstance(n, ast.keyword) and n.arg:
            code.append((line, n.arg))
        elif isinstance(n, ast.alias):
            code.append((line, n.name + " " + (n.asname or "")))
        elif isinstance(n, ast.ImportFrom) and n.module:
            code.append((line, n.module))
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            prose.append((tok.start[0], tok.string))
    return code, prose


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.name)
def test_the_engine_and_the_scenarios_name_no_venue(path):
    code, prose = _code_and_prose(path)
    named = [f"{path.name}:{line}: {text!r}" for line, text in code if VENUE_NAME.search(text)]
    assert not named, "venue names in code (a venue's rules belong in its venues/<venue>.py):\n" + "\n".join(named)
    allowed = PROSE_ALLOWED.get(path.name, 0)
    in_prose = sorted({line for line, text in prose if VENUE_NAME.search(text)})
    if allowed is not None:
        assert len(in_prose) <= allowed, f"{path.name}: venue names in comments or docstrings at lines {in_prose}"


def test_snapshots_ask_the_venue_modules(fictex):
    """A venue without a live source (``live = None``) has no snapshot; the bundled ones do."""
    from liqcascade.snapshot import fetch_market_state, supported_exchanges

    assert supported_exchanges() == ("binance", "bybit", "okx", "hyperliquid")
    with pytest.raises(InputError, match="unknown exchange 'fictex'; choose one of binance, bybit, okx, hyperliquid"):
        fetch_market_state("fictex")
    assert venues.get_venue("hyperliquid").live.tiers_info_key == "meta"
