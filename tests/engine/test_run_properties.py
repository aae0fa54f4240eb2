"""Run-level properties: determinism, conservation, the as-reported total, flows' rules."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqcascade.engine import (
    Flows,
    as_reported,
    etf_redemptions,
    long_term_holders,
    macro_shock,
    panic_sellers,
    simulate,
    stop_losses,
    treasury_company,
)
from liqcascade.engine import core as C
from liqcascade.engine import ledger as L

from .markets import liquidity, prices, random_positions, shock_flows


def crash(seed=3, n=300, **kw):
    pos = random_positions(seed, n, spread=0.02)
    return simulate(
        pos,
        liquidity(),
        prices(),
        shock_flows(-5e6, -2e6, 2, 40),
        n_steps=70,
        insurance_fund={"binance": 1e4, "bybit": 1e3, "hyperliquid": 5e3},
        seed=seed,
        **kw,
    )


def test_same_seed_same_frames_bit_for_bit():
    a, b = crash(), crash()
    pd.testing.assert_frame_equal(a.steps, b.steps, check_exact=True)
    pd.testing.assert_frame_equal(a.events, b.events, check_exact=True)
    pd.testing.assert_frame_equal(a.waves, b.waves, check_exact=True)
    assert a.summary == b.summary or json.dumps(a.summary, default=str) == json.dumps(b.summary, default=str)


def test_different_seed_different_noise():
    a, b = crash(seed=3), crash(seed=4)
    assert not np.array_equal(a.steps["mid"], b.steps["mid"])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31), shock=st.floats(-8e6, 4e6))
def test_as_reported_never_exceeds_true_and_ledger_balances(seed, shock):
    pos = random_positions(seed, 200, spread=0.02)
    run = simulate(
        pos, liquidity(), prices(), shock_flows(shock, shock / 3, 2, 40), n_steps=60, insurance_fund=1e4, seed=seed
    )
    s = run.summary
    assert s["as_reported_total_usd"] <= s["true_total_liquidated_usd"] + 1e-9
    assert run.ledger["ok"] and abs(run.ledger["imbalance"]) <= run.ledger["tolerance"]
    assert run.ledger["inventory_residual"] < 1e-6
    # per venue: throttled venues report at most one print per symbol per second
    rep = as_reported(run.events)
    for v in ("binance",):
        per = rep[rep["venue"] == v].groupby(["asset", "time_s"], observed=True).size()
        assert (per <= 1).all()
    for v in ("bybit", "hyperliquid"):
        assert (rep["venue"] == v).sum() == (run.events["venue"] == v).sum()


def test_binance_feed_keeps_the_latest_print_per_second():
    """Binance's forceOrder stream: "only the latest one liquidation order within 1000ms"."""
    ev = pd.DataFrame(
        {
            "time_s": [0.0, 0.0, 0.0, 1.0, 2.0, 2.0],
            "venue": pd.Categorical(["binance"] * 3 + ["bybit"] * 3),
            "asset": pd.Categorical(["BTC"] * 6),
            "usd": [5.0, 9.0, 7.0, 3.0, 4.0, 1.0],
        }
    )
    rep = as_reported(ev)
    assert list(rep["usd"]) == [7.0, 3.0, 4.0, 1.0]
    # rows out of time order (a user's frame, same-second rows in their order): the sort path agrees
    shuffled = ev.iloc[[3, 0, 5, 1, 4, 2]]
    assert sorted(as_reported(shuffled)["usd"]) == sorted(rep["usd"])
    two_symbols = pd.DataFrame(
        {
            "time_s": [0.2, 0.4, 0.9, 1.0],
            "venue": pd.Categorical(["binance"] * 4),
            "asset": pd.Categorical(["BTC", "ETH", "BTC", "BTC"]),
            "usd": [8.0, 2.0, 1.0, 6.0],
        }
    )
    assert list(as_reported(two_symbols)["usd"]) == [2.0, 1.0, 6.0]


def test_ledger_check_catches_a_missing_transfer():
    """Conservation is computed from the final state: a dollar created anywhere shows."""
    pos = random_positions(5, 100)
    run = simulate(pos, liquidity(), prices(), shock_flows(), n_steps=50, insurance_fund=1e4, keep_final=True)
    f = run.final
    args = (pos.side, f["size"], pos.entry, f["margin"], pos.market(), f["mst"], f["vst"], f["mst"][:, C.MARK])
    initial = run.ledger["initial_value"]
    assert L.balance(initial, *args).ok
    vst = f["vst"].copy()
    vst[0, C.FUND] += 1.0
    bad = L.balance(initial, *args[:6], vst, args[7])
    assert not bad.ok and bad.imbalance == pytest.approx(1.0, abs=1e-6)


def test_ledger_pass_matches_numpy():
    """The ledger's one pass over the positions: the traders' value (compensated sum) and their
    inventories per market (summed in position order) against NumPy's obvious arrays."""
    rng = np.random.default_rng(11)
    n, nm = 10_007, 5
    side = np.where(rng.random(n) < 0.55, 1, -1).astype(np.int8)
    size = rng.lognormal(0.0, 1.5, n) * (rng.random(n) < 0.9)  # some closed
    entry = rng.uniform(5e4, 1e5, n)
    margin = rng.uniform(-50.0, 5e4, n)
    mkt = rng.integers(0, nm, n).astype(np.int16)
    marks = rng.uniform(5e4, 1e5, nm)
    inv = np.zeros(nm)
    value = L._traders_pass(side, size, entry, margin, mkt, marks, inv)
    s = side.astype(float)
    want = math.fsum(margin - s * size * entry + s * size * marks[mkt])
    assert value == pytest.approx(want, rel=1e-15, abs=1e-6)
    assert np.array_equal(inv, np.bincount(mkt, s * size, nm))


def test_outputs_are_parquet_writable(tmp_path):
    run = crash(n=100)
    run.to_parquet(tmp_path)
    back = pd.read_parquet(tmp_path / "events.parquet")
    assert len(back) == len(run.events)
    assert set(run.events["method"].astype(str)) <= {"book", "backstop", "adl"}


def test_no_jit_path_gives_the_same_run():
    """The kernels run as plain Python with LIQCASCADE_DISABLE_JIT=1 and give the same answer."""
    code = (
        "import json, sys; sys.path.insert(0, %r);"
        "from tests.engine.markets import *; from liqcascade.engine import simulate;"
        "r = simulate(random_positions(11, 40), liquidity(), prices(), shock_flows(-6e6, -2e6, 2, 20), n_steps=30,"
        " insurance_fund=1e3, seed=11);"
        "print(json.dumps([r.events['price'].tolist(), r.steps['mark'].tolist()]))"
    ) % os.getcwd()
    env = dict(os.environ, LIQCASCADE_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    prices_py, marks_py = json.loads(out.stdout)
    r = simulate(
        random_positions(11, 40),
        liquidity(),
        prices(),
        shock_flows(-6e6, -2e6, 2, 20),
        n_steps=30,
        insurance_fund=1e3,
        seed=11,
    )
    assert len(prices_py) == len(r.events) > 0
    np.testing.assert_allclose(prices_py, r.events["price"], rtol=1e-12)
    np.testing.assert_allclose(marks_py, r.steps["mark"], rtol=1e-12)


# ------------------------------------------------------------------ flows
def flat_positions():
    return random_positions(0, 20, spread=0.0, max_lev=2.0)


def test_cohorts_never_sell_more_than_they_hold():
    flows = Flows(
        cohorts=[
            panic_sellers("BTC", holdings=50.0, usd_per_s_per_drawdown=5e7, usd_per_s_at_max_fear=1e6),
            long_term_holders("BTC", holdings=20.0, drawdown_floor=0.01),
        ],
        programmes=[etf_redemptions("BTC", 3e6 * 86_400, 0, 30)],
    )
    run = simulate(flat_positions(), liquidity(), prices(), flows, n_steps=120, keep_final=True)
    held = run.final["cohorts"][:, 0]
    assert np.all(held >= 0) and np.all(held <= [50.0, 20.0])
    assert held[0] < 50.0  # the panic sellers did sell into the fall
    assert run.ledger["ok"]


def test_treasury_sells_only_below_its_trigger():
    t = treasury_company("BTC", holdings=100.0, cost_basis=99_000.0, threshold=0.0, usd_per_s=1e6)
    calm = simulate(flat_positions(), liquidity(), prices(), Flows(cohorts=[t]), n_steps=30, keep_final=True)
    assert calm.final["cohorts"][0, 0] == 100.0
    falling = Flows(cohorts=[t], programmes=[etf_redemptions("BTC", 5e6 * 86_400, 0, 20)])
    run = simulate(flat_positions(), liquidity(), prices(), falling, n_steps=40, keep_final=True)
    assert run.final["cohorts"][0, 0] < 100.0


def test_stop_losses_fire_once_when_crossed():
    stops = stop_losses("BTC", [99_000.0, 50_000.0], [10.0, 10.0], side=-1, holdings=20.0)
    base = Flows(programmes=[etf_redemptions("BTC", 5e6 * 86_400, 0, 10)])
    a = simulate(flat_positions(), liquidity(), prices(), base, n_steps=30)
    b = simulate(flat_positions(), liquidity(), prices(), Flows(programmes=base.programmes, stops=[stops]), n_steps=30)
    # the 99,000 stop fires, pushing the price lower than without it; the 50,000 one does not
    btc = lambda r: r.steps.loc[r.steps["asset"] == "BTC", "mid"]
    assert btc(b).min() < btc(a).min()
    assert btc(b).min() > 80_000.0


def test_macro_shock_follows_the_equity_path_with_beta():
    n = 60
    path = np.r_[np.full(10, 5_000.0), np.linspace(5_000.0, 4_500.0, n - 9)]
    flows = Flows(macro=[macro_shock("BTC", path, beta=1.5, usd_per_unit_return=1e9)])
    run = simulate(flat_positions(), liquidity(), prices(), flows, n_steps=n)
    btc = run.steps[(run.steps["asset"] == "BTC") & (run.steps["venue"] == "binance")]
    assert btc["mid"].iloc[5] == pytest.approx(100_000.0, rel=1e-6)
    assert btc["mid"].iloc[-1] < 95_000.0


def test_buffers_that_overflow_grow_and_give_the_same_run(monkeypatch):
    """Start with buffers far too small for the events, waves and active set: the engine grows
    them and reruns; the result is the run the default buffers give, bit for bit."""
    from liqcascade.engine import run as R
    from liqcascade.engine import simulate

    from .markets import liquidity, prices, random_positions, shock_flows

    pos = random_positions(3, 400, spread=0.03)
    kw = dict(n_steps=70, insurance_fund={"binance": 5e3, "bybit": 0.0, "hyperliquid": 2e3}, seed=3, keep_final=True)
    flows = shock_flows(btc_usd_per_s=-8e6, eth_usd_per_s=-3e6, start=2, end=60)
    ref = simulate(pos, liquidity(), prices(), flows, **kw)
    # initial buffers with MIN_BUFFER = 2: 400 // 4 = 100 events, 70 // 2 = 35 waves: both overflow
    assert len(ref.events) > 100 and len(ref.waves) > 35
    monkeypatch.setattr(R, "MIN_BUFFER", 2)
    small = simulate(pos, liquidity(), prices(), flows, **kw)
    assert small.events.equals(ref.events) and small.waves.equals(ref.waves)
    assert np.array_equal(small.final["margin"], ref.final["margin"])
