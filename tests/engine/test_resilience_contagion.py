"""Resilience (transient impact) and cross-asset contagion: hand-computed steps, the limits that
switch them off, the fast engine against the reference with both on, and conservation."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqcascade.engine import Flows, Liquidity, PriceConfig, programme, simulate
from liqcascade.engine.flows import contagion
from liqcascade.errors import InputError

from .markets import P0, liquidity, random_positions, shock_flows
from .reference import simulate_reference
from .test_reference import assert_same


def tiny_positions():
    # one far-from-liquidation position per market so the engine has a book to run on
    from liqcascade.engine import Positions

    return Positions.from_arrays(
        account=[0, 1],
        venue=["binance", "binance"],
        asset=["BTC", "ETH"],
        side=[1, 1],
        size=[0.01, 0.1],
        entry=[P0["BTC"], P0["ETH"]],
        margin=[P0["BTC"] * 0.01, P0["ETH"] * 0.1],
        leverage=[1.0, 1.0],
    )


def one_venue_liquidity(kappa=1.0):
    return Liquidity.uniform(["binance"], ["BTC", "ETH"], {"BTC": 1e7, "ETH": 1e7}, kappa=kappa)


def test_one_sell_springs_back_to_the_permanent_part():
    """A single sell at step 0 moves the index by u; afterwards the index decays toward
    p0*(1-u)**theta with the resilience half-life, exactly."""
    theta, half_life = 0.25, 10.0
    usd = 2e6  # with kappa = 1 and 1e7 USD within 1 %: u = (2e6/1e9) = 0.2 %
    flows = Flows(programmes=[programme("BTC", -usd * 86_400, 0.0, 1.0)])
    prices = PriceConfig(dict(P0), permanent_impact=theta, resilience_half_life_s=half_life)
    run = simulate(tiny_positions(), one_venue_liquidity(), prices, flows, n_steps=60, dt=1.0)
    btc = run.steps[run.steps.asset == "BTC"].set_index("time_s")
    p0 = P0["BTC"]
    u = usd / (1e7 / 0.01)
    traded = p0 * (1 - u)
    fair = p0 * (traded / p0) ** theta
    rho = 1 - 0.5 ** (1.0 / half_life)
    expect0 = traded + (fair - traded) * rho  # end of step 0
    assert btc["mid"].iloc[0] == pytest.approx(expect0, rel=1e-12)
    # then the gap to the fair price halves every half-life
    gap0 = expect0 - fair
    for t in (10, 20, 40):
        assert btc["mid"].loc[float(t)] == pytest.approx(fair + gap0 * (1 - rho) ** t, rel=1e-12)


def test_fully_permanent_impact_never_springs_back():
    flows = Flows(programmes=[programme("BTC", -2e6 * 86_400, 0.0, 1.0)])
    run = simulate(
        tiny_positions(), one_venue_liquidity(), PriceConfig(dict(P0), permanent_impact=1.0), flows, n_steps=30
    )
    mids = run.steps[run.steps.asset == "BTC"]["mid"].to_numpy()
    assert np.all(mids == mids[0])


def test_contagion_sells_the_follower_by_the_leaders_return():
    """ETH follows BTC with beta 2 and 1e8 USD per unit return: after BTC's step-0 fall, step 1
    sells exactly 2e8*|r_BTC| of ETH."""
    usd = 2e6
    flows = Flows(programmes=[programme("BTC", -usd * 86_400, 0.0, 1.0)], contagion=[contagion("ETH", "BTC", 2.0, 1e8)])
    run = simulate(tiny_positions(), one_venue_liquidity(), PriceConfig(dict(P0)), flows, n_steps=3)
    btc = run.steps[run.steps.asset == "BTC"]["mid"].to_numpy()
    eth = run.steps[run.steps.asset == "ETH"]["mid"].to_numpy()
    r_btc = math.log(btc[0] / P0["BTC"])
    assert eth[0] == P0["ETH"]  # contagion acts on the next step
    sell = -2e8 * r_btc
    u = sell / (1e7 / 0.01)
    assert eth[1] == pytest.approx(P0["ETH"] * (1 - u), rel=1e-12)
    # no contagion: ETH does not move
    flat = simulate(
        tiny_positions(),
        one_venue_liquidity(),
        PriceConfig(dict(P0)),
        Flows(programmes=[programme("BTC", -usd * 86_400, 0.0, 1.0)]),
        n_steps=3,
    )
    assert np.all(flat.steps[flat.steps.asset == "ETH"]["mid"].to_numpy() == P0["ETH"])


def test_contagion_on_current_books_moves_the_follower_as_on_fresh_ones():
    """ETH's books are withdrawn (an ETH sell at step 0 raises its volatility; the multiplier m at
    step 1 is < 1).  On its current books the step-1 contagion trades ``m`` times the USD, so ETH
    moves exactly as the full USD moves fresh books (beta times BTC's move, the measured law's
    meaning); as a plain flow the same USD moves the thinner books ``1/m`` times further."""
    usd = 2e6
    sells = [programme("BTC", -usd * 86_400, 0.0, 1.0), programme("ETH", -3e6 * 86_400, 0.0, 1.0)]
    out = {}
    for current in (True, False):
        flows = Flows(programmes=list(sells), contagion=[contagion("ETH", "BTC", 2.0, 1e8, on_current_books=current)])
        run = simulate(tiny_positions(), one_venue_liquidity(), PriceConfig(dict(P0)), flows, n_steps=3)
        btc = run.steps[run.steps.asset == "BTC"]
        eth = run.steps[run.steps.asset == "ETH"]
        out[current] = (btc["mid"].to_numpy(), eth["mid"].to_numpy(), eth["depth_multiplier"].to_numpy())
    btc, eth, mult = out[True]
    m = mult[0]  # the multiplier the step-1 flow meets
    assert m < 0.9
    sell = -2e8 * math.log(btc[0] / P0["BTC"])
    assert eth[1] == pytest.approx(eth[0] * (1 - sell / 1e9), rel=1e-12)  # kappa 1: u = USD / 1e9
    _, eth_fresh, mult_fresh = out[False]
    assert mult_fresh[0] == m and eth_fresh[0] == eth[0]
    assert eth_fresh[1] == pytest.approx(eth[0] * (1 - sell / (m * 1e9)), rel=1e-12)


def test_bad_parameters_refused():
    with pytest.raises(InputError, match="permanent_impact"):
        PriceConfig(dict(P0), permanent_impact=1.5)
    with pytest.raises(InputError, match="resilience_half_life_s"):
        PriceConfig(dict(P0), resilience_half_life_s=0.0)
    with pytest.raises(InputError, match="leader"):
        contagion("BTC", "BTC", 1.0, 1e8)
    with pytest.raises(InputError, match="asset"):
        simulate(
            tiny_positions(),
            one_venue_liquidity(),
            PriceConfig(dict(P0)),
            Flows(contagion=[contagion("SOL", "BTC", 1.0, 1e8)]),
            n_steps=2,
        )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(5, 150),
    theta=st.sampled_from([0.0, 0.3, 1.0]),
    half_life=st.sampled_from([5.0, 60.0]),
    beta=st.sampled_from([0.0, 1.5]),
    shock=st.floats(-6e6, 0.0),
    current=st.booleans(),
    memory=st.booleans(),
)
def test_fast_engine_matches_reference_with_resilience_and_contagion(
    seed, n, theta, half_life, beta, shock, current, memory
):
    pos = random_positions(seed, n, spread=0.01)
    flows = shock_flows(btc_usd_per_s=shock, eth_usd_per_s=0.0, start=3, end=40)
    flows.contagion.append(contagion("ETH", "BTC", beta, 3e8, on_current_books=current))
    prices = PriceConfig(dict(P0), permanent_impact=theta, resilience_half_life_s=half_life, book_memory=memory)
    kw = dict(n_steps=80, insurance_fund=1e5, seed=seed)
    fast = simulate(pos, liquidity(), prices, flows, keep_final=True, **kw)
    ref = simulate_reference(pos, liquidity(), prices, flows, **kw)
    assert_same(fast, ref)


def test_venue_level_programme_walks_one_book_only():
    """A sell programme on one venue moves that venue's mid by exactly the walk, the others only
    through arbitrage afterwards; the same USD split by depth moves every venue."""
    from liqcascade.engine import Positions

    pos = Positions.from_arrays(
        account=[0, 1],
        venue=["binance", "bybit"],
        asset=["BTC", "BTC"],
        side=[1, 1],
        size=[0.01, 0.01],
        entry=[P0["BTC"]] * 2,
        margin=[P0["BTC"] * 0.01] * 2,
        leverage=[1.0, 1.0],
    )
    liq = Liquidity.uniform(["binance", "bybit"], ["BTC"], {"BTC": 2e7}, kappa=1.0)
    usd = 2e6
    only = Flows(programmes=[programme("BTC", -usd * 86_400, 0.0, 1.0, venue="bybit")])
    prices = PriceConfig({"BTC": P0["BTC"]}, arbitrage_rate=0.0)
    run = simulate(pos, liq, prices, only, n_steps=1)
    mids = run.steps.set_index("venue")["mid"]
    b = 1e7 / 0.01  # each venue holds half of the 2e7 USD within 1 %, per side; kappa = 1
    assert mids["binance"] == P0["BTC"]
    assert mids["bybit"] == pytest.approx(P0["BTC"] * (1 - usd / b), rel=1e-12)
    with pytest.raises(InputError, match="venue"):
        simulate(pos, liq, prices, Flows(programmes=[programme("BTC", -1e6, 0.0, 1.0, venue="okx")]), n_steps=1)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), n=st.integers(5, 120), shock=st.floats(-8e6, 0.0))
def test_fast_engine_matches_reference_with_a_venue_shock(seed, n, shock):
    pos = random_positions(seed, n, spread=0.01)
    flows = Flows(programmes=[programme("BTC", shock * 86_400, 3, 40, venue="hyperliquid")], noise_usd={"BTC": 2e5})
    kw = dict(n_steps=60, insurance_fund=1e5, seed=seed)
    fast = simulate(pos, liquidity(), PriceConfig(dict(P0)), flows, keep_final=True, **kw)
    ref = simulate_reference(pos, liquidity(), PriceConfig(dict(P0)), flows, **kw)
    assert_same(fast, ref)
