"""The fast engine (sorted sweep + active set) matches the slow reference engine (every position
checked every wave, rules straight from the rule books) on random small markets."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqcascade.engine import simulate

from .markets import liquidity, prices, random_positions, shock_flows
from .reference import simulate_reference


def assert_same(fast, ref, rtol=1e-9):
    ef, er = fast.events, ref.events
    assert len(ef) == len(er), (len(ef), len(er))
    assert np.array_equal(ef["position"].to_numpy(), er["position"].to_numpy())
    assert np.array_equal(ef["time_s"].to_numpy(), er["time_s"].to_numpy())
    assert list(ef["method"]) == list(er["method"])
    # sizes to 1e-9 relative or 1e-9 base units: pro-rata ADL sums its shares in another order in
    # the two engines, and the book remainder q - sum(shares) can be a small difference of sums
    np.testing.assert_allclose(ef["size"], er["size"], rtol=rtol, atol=1e-9)
    np.testing.assert_allclose(ef["price"], er["price"], rtol=rtol)
    for col in ("mark", "mid", "depth_1pct_usd", "insurance_fund_usd", "open_interest_usd"):
        np.testing.assert_allclose(fast.steps[col], ref.steps[col], rtol=rtol, atol=1e-6, err_msg=col)
    for col in ("liq_long_usd", "liq_short_usd", "adl_usd", "bad_debt_usd"):
        np.testing.assert_allclose(fast.steps[col], ref.steps[col], rtol=rtol, atol=1e-6, err_msg=col)
    np.testing.assert_array_equal(fast.waves["wave"], ref.waves["wave"])
    np.testing.assert_allclose(fast.waves["liquidated_usd"], ref.waves["liquidated_usd"], rtol=rtol)
    np.testing.assert_allclose(fast.final["size"], ref.final["size"], rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(fast.final["margin"], ref.final["margin"], rtol=rtol, atol=1e-6)
    assert fast.ledger["ok"] and ref.ledger["ok"]


def both_engines(pos, flows, liq=None, **kw):
    """The fast and the reference engine on the same inputs, checked against each other;
    returns ``(fast, ref)``."""
    liq = liq if liq is not None else liquidity()
    fast = simulate(pos, liq, prices(), flows, keep_final=True, **kw)
    ref = simulate_reference(pos, liq, prices(), flows, **kw)
    assert_same(fast, ref)
    return fast, ref


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(5, 150),
    adl_rule=st.sampled_from(["queue", "pro_rata"]),
    fund=st.sampled_from([0.0, 1e3, 1e5, 1e7]),
    shock=st.floats(-6e6, 3e6),
    spread=st.sampled_from([0.0, 0.01, 0.05]),
)
def test_fast_engine_matches_reference(seed, n, adl_rule, fund, shock, spread):
    pos = random_positions(seed, n, spread=spread)
    kw = dict(
        n_steps=80,
        insurance_fund={"binance": fund, "bybit": fund / 2, "hyperliquid": fund},
        seed=seed,
        adl_rule=adl_rule,
    )
    flows = shock_flows(btc_usd_per_s=shock, eth_usd_per_s=shock / 3, start=3, end=40)
    both_engines(pos, flows, **kw)


@pytest.mark.parametrize("seed,vault", [(1, None), (2, None), (3, None), (1, 20.0), (2, 5.0)])
def test_matches_reference_through_a_deep_cascade_with_adl(seed, vault):
    """A crash deep enough to drain the funds: partial steps, cooldowns, backstop and ADL all fire
    (and, with ``vault``, the liquidator vault sells what it took over with that half-life)."""
    pos = random_positions(seed, 400, spread=0.03)
    kw = dict(
        n_steps=90,
        insurance_fund={"binance": 5e3, "bybit": 0.0, "hyperliquid": 2e3},
        seed=seed,
        vault_unwind_half_life_s=vault,
    )
    flows = shock_flows(btc_usd_per_s=-8e6, eth_usd_per_s=-3e6, start=2, end=50)
    fast, _ = both_engines(pos, flows, **kw)
    assert {"book", "backstop"} <= set(fast.events["method"])


def test_matches_reference_with_big_partially_liquidated_positions():
    """Positions above Hyperliquid's 100k threshold are liquidated 20 % at a time with a 30 s
    cooldown, and tiered Binance/Bybit positions step down a tier at a time."""
    pos = random_positions(7, 120, size_usd=3e6, spread=0.02)
    kw = dict(n_steps=120, insurance_fund=1e6, seed=7)
    flows = shock_flows(btc_usd_per_s=-4e6, eth_usd_per_s=-1.5e6, start=2, end=80)
    fast, _ = both_engines(pos, flows, liquidity(depth_btc=4e7, depth_eth=1.2e7), **kw)
    assert fast.events.groupby("position").size().max() > 1  # some position was liquidated in several steps


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(10, 150),
    fund=st.sampled_from([0.0, 1e3, 1e6]),
    shock=st.floats(-6e6, 3e6),
)
def test_matches_reference_with_multi_asset_cross_accounts(seed, n, fund, shock):
    pos = random_positions(seed, n, cross_share=0.5, multi_asset=True, spread=0.02)
    kw = dict(n_steps=60, insurance_fund=fund, seed=seed)
    flows = shock_flows(btc_usd_per_s=shock, eth_usd_per_s=shock / 3, start=3, end=40)
    both_engines(pos, flows, **kw)


@pytest.mark.parametrize("seed", [4, 5])
def test_matches_reference_with_okx(seed):
    """OKX: tiers in contracts, the taker fee inside the maintenance rate, two tiers per step."""
    from liqcascade.engine import Liquidity

    venues = ("binance", "okx")
    pos = random_positions(seed, 200, venues=venues, spread=0.02, size_usd=1e5)
    liq = Liquidity.uniform(venues, ("BTC", "ETH"), {"BTC": 2e7, "ETH": 6e6})
    kw = dict(n_steps=70, insurance_fund=2e3, seed=seed)
    flows = shock_flows(btc_usd_per_s=-5e6, eth_usd_per_s=-2e6, start=2, end=40)
    fast, _ = both_engines(pos, flows, liq, **kw)
    assert (fast.events["venue"] == "okx").any()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(5, 150),
    adl_rule=st.sampled_from(["queue", "pro_rata"]),
    fund=st.sampled_from([0.0, 1e3, 1e7]),
    shock=st.floats(-6e6, 3e6),
    pending_share=st.sampled_from([0.2, 0.6]),
)
def test_matches_reference_with_positions_opened_during_the_run(seed, n, adl_rule, fund, shock, pending_share):
    """Pending entry orders open when the mark reaches them, join the cascade (heap) and the ADL
    queue; the fast engine agrees with the reference that simply checks every open position."""
    pos = random_positions(seed, n, spread=0.02, pending_share=pending_share)
    kw = dict(
        n_steps=80,
        insurance_fund={"binance": fund, "bybit": fund / 2, "hyperliquid": fund},
        seed=seed,
        adl_rule=adl_rule,
    )
    flows = shock_flows(btc_usd_per_s=shock, eth_usd_per_s=shock / 3, start=3, end=40)
    both_engines(pos, flows, **kw)


@pytest.mark.parametrize("seed", [4, 5])
def test_opened_positions_are_liquidated_in_a_crash_and_rebound(seed):
    """A fall opens the resting orders below the start; the rebound after it squeezes the shorts
    opened on the way down: both engines agree and some opened positions are liquidated."""
    pos = random_positions(seed, 300, spread=0.03, pending_share=0.5)
    kw = dict(n_steps=120, insurance_fund={"binance": 1e4, "bybit": 0.0, "hyperliquid": 1e4}, seed=seed)
    flows = shock_flows(btc_usd_per_s=-8e6, eth_usd_per_s=-3e6, start=2, end=40)
    flows.programmes.extend(shock_flows(btc_usd_per_s=9e6, eth_usd_per_s=3e6, start=60, end=100).programmes)
    fast, _ = both_engines(pos, flows, **kw)
    opened_liq = fast.events[pos.pending[fast.events["position"].to_numpy()]]
    assert len(opened_liq) > 0 and set(opened_liq["side"]) == {"long", "short"}
    assert fast.summary["opened_during_run_usd"] > 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(5, 150),
    shock=st.floats(-8e6, 3e6),
    spot_btc=st.sampled_from([5e6, 3e7, 2e8]),
    pending_share=st.sampled_from([0.0, 0.3]),
    touch_u=st.sampled_from([0.0, 1e-3]),
)
def test_matches_reference_with_a_spot_anchor(seed, n, shock, spot_btc, pending_share, touch_u):
    """With a spot book per asset (index = spot mid, perpetuals arbitraged to it, flows split
    across spot and perpetual books by depth) the engines still agree and the books balance,
    spot parties included."""
    pos = random_positions(seed, n, spread=0.02, pending_share=pending_share)
    kw = dict(n_steps=80, insurance_fund={"binance": 1e5, "bybit": 0.0, "hyperliquid": 1e4}, seed=seed)
    flows = shock_flows(btc_usd_per_s=shock, eth_usd_per_s=shock / 3, start=3, end=40)
    liq = liquidity(spot={"BTC": spot_btc, "ETH": spot_btc / 10})
    liq.touch_u = touch_u  # books uniform within 0.1 % of mid
    fast, ref = both_engines(pos, flows, liq, **kw)
    np.testing.assert_allclose(fast.steps["index"], ref.steps["index"], rtol=1e-9)
