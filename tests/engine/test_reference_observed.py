"""The observed mode against the reference engine: the fast engine (the pin in ``flows_step``,
``timed_step``, the heaps of opened positions) matches the reference, which writes the pin and the
timed opens and closes out plainly (tests/engine/reference.py), on small random markets whose
index follows a path that falls and rebounds."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqcascade.engine import DepthProfile, Flows, Liquidity, MarketMakerResponse, Positions, PriceConfig, simulate

from .markets import ASSETS, P0, VENUES, random_positions, shock_flows
from .reference import simulate_reference
from .test_reference import assert_same


def replay_prices():
    """The replay's price law: every move kept (``replay.replay_price_config``)."""
    return PriceConfig(dict(P0), permanent_impact=1.0, flow_permanent_impact=1.0)


def books(seed, depth_btc=3e7, depth_eth=9e6, shapes=False, touch_u=0.0, spot=0.0):
    """Every venue's book of both assets; ``shapes``: each side of each book its own depth and
    exponent (the pin walks each by its own profile); ``spot``: a spot book per asset of that
    share of the perpetuals' depth."""
    rng = np.random.default_rng([seed, 11])
    prof = {}
    for v in VENUES:
        for a, d in (("BTC", depth_btc), ("ETH", depth_eth)):
            if shapes:
                kb, ka = rng.uniform(0.8, 1.8, 2)
                db, da = d / 3 * rng.uniform(0.3, 2.0, 2)
                prof[(v, a)] = DepthProfile(db / 0.01**kb, da / 0.01**ka, kb, ka)
            else:
                prof[(v, a)] = DepthProfile.from_depth_1pct(d / 3, 1.16)
    liq = Liquidity(prof, MarketMakerResponse())
    liq.touch_u = touch_u
    if spot:
        liq.spot.update(
            {
                "BTC": DepthProfile.from_depth_1pct(spot * depth_btc, 1.1),
                "ETH": DepthProfile.from_depth_1pct(spot * depth_eth, 1.1),
            }
        )
    return liq


def with_times(pos, seed, n_steps, dt=1.0, timed_share=0.6, close_share=0.4):
    """``pos`` with timed opens for a share of its pending positions (the others stay resting entry
    orders) and timed closes for a share of all positions, at half-second times (ties) over the
    run and a little past it; a timed position's close mostly after its open, sometimes before."""
    rng = np.random.default_rng([seed, 23])
    n = len(pos)
    horizon = n_steps * dt
    open_s = np.where(
        pos.is_pending & (rng.random(n) < timed_share), np.round(rng.uniform(0, 1.1 * horizon, n) * 2) / 2, np.nan
    )
    after = np.nan_to_num(open_s, nan=0.0) + np.round(rng.uniform(0, 0.8 * horizon, n) * 2) / 2
    close_s = np.where(
        rng.random(n) < close_share,
        np.where(rng.random(n) < 0.85, after, np.round(rng.uniform(0, horizon, n) * 2) / 2),
        np.nan,
    )
    out = dataclasses.replace(pos, open_s=open_s, close_s=close_s)
    out.validate()
    return out


def fall_and_rebound(seed, n_steps, fall=0.1, rebound=0.6, noise=5e-4, gaps=0.0, assets=ASSETS):
    """Per asset, an index path from the start price down by ``fall`` (log) at a third to a half
    of the run, then back up by ``rebound`` of the fall, with Gaussian steps of ``noise``;
    ``gaps``: a share of steps left unpinned (NaN)."""
    rng = np.random.default_rng([seed, 31])
    t = np.arange(n_steps)
    paths = {}
    for k, a in enumerate(assets):
        low = int(n_steps * rng.uniform(1 / 3, 1 / 2))
        depth = fall * (1.0 if k == 0 else rng.uniform(0.5, 1.5))
        shape = np.where(t <= low, -depth * t / low, -depth + rebound * depth * (t - low) / (n_steps - 1 - low))
        p = P0[a] * np.exp(shape + np.cumsum(rng.normal(0.0, noise, n_steps)))
        p[rng.random(n_steps) < gaps] = np.nan
        paths[a] = p
    return paths


def assert_observed_same(fast, ref):
    """Events, marks, ledger (``assert_same``), and the observed mode's own outputs: the index, the
    implied and the timed flows, the USD opened during the run."""
    assert_same(fast, ref)
    np.testing.assert_allclose(fast.steps["index"], ref.steps["index"], rtol=1e-9)
    assert fast.summary["mode"] == ref.summary["mode"] == "observed"
    for name in ("implied_flow_usd", "timed_flow_usd"):
        f, r = getattr(fast, name), getattr(ref, name)
        assert list(f.columns) == list(r.columns)
        np.testing.assert_allclose(f.to_numpy(), r.to_numpy(), rtol=1e-9, atol=1e-6, err_msg=name)
    assert fast.summary["opened_during_run_usd"] == pytest.approx(ref.summary["opened_during_run_usd"], rel=1e-9)
    np.testing.assert_allclose(fast.final["entry"], ref.final["entry"], rtol=1e-9)


def both(pos, liq, paths, flows=None, prices=None, **kw):
    prices = prices or replay_prices()
    fast = simulate(pos, liq, prices, flows or Flows(), keep_final=True, index_path=paths, **kw)
    ref = simulate_reference(pos, liq, prices, flows or Flows(), index_path=paths, **kw)
    assert_observed_same(fast, ref)
    return fast, ref


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(5, 150),
    fall=st.floats(0.01, 0.2),
    rebound=st.floats(0.0, 1.5),
    cross_share=st.sampled_from([0.0, 0.3, 0.8]),
    multi_asset=st.booleans(),
    adl_rule=st.sampled_from(["queue", "pro_rata"]),
    fund=st.sampled_from([0.0, 1e3, 1e6]),
    shapes=st.booleans(),
    touch_u=st.sampled_from([0.0, 1e-3]),
    spot=st.sampled_from([0.0, 0.5]),
    pinned=st.sampled_from(["both", "btc", "gaps"]),
    dt=st.sampled_from([0.5, 1.0, 2.0]),
    noise_flows=st.booleans(),
    size_usd=st.sampled_from([2e4, 3e5]),
    vault=st.sampled_from([None, 10.0]),
    memory=st.booleans(),
)
def test_observed_mode_matches_reference(
    seed,
    n,
    fall,
    rebound,
    cross_share,
    multi_asset,
    adl_rule,
    fund,
    shapes,
    touch_u,
    spot,
    pinned,
    dt,
    noise_flows,
    size_usd,
    vault,
    memory,
):
    """Random markets (three venues per asset, isolated and cross margin, some multi-asset cross
    accounts, resting and timed entry orders, timed closes; book shapes per side, the touch, spot
    anchors, noise flows, a liquidator vault that unwinds; with book memory, the forced flow's
    transient moves leaving holes the pin walks from) on a pinned path that falls and rebounds,
    pinned every step, for one asset only, or with unpinned steps: the engines agree on every
    event, mark, index, flow and the final ledger."""
    n_steps = 60
    pos = random_positions(
        seed, n, spread=0.02, cross_share=cross_share, multi_asset=multi_asset, pending_share=0.4, size_usd=size_usd
    )
    pos = with_times(pos, seed, n_steps, dt)
    paths = fall_and_rebound(seed, n_steps, fall, rebound, gaps=0.2 if pinned == "gaps" else 0.0)
    if pinned == "btc":
        paths.pop("ETH")
    flows = Flows(noise_usd={"BTC": 2e5, "ETH": 5e4}) if noise_flows else None
    both(
        pos,
        books(seed, shapes=shapes, touch_u=touch_u, spot=spot),
        paths,
        flows,
        n_steps=n_steps,
        dt=dt,
        insurance_fund={"binance": fund, "bybit": fund / 2, "hyperliquid": fund},
        seed=seed,
        adl_rule=adl_rule,
        vault_unwind_half_life_s=vault,
        prices=PriceConfig(
            dict(P0), permanent_impact=0.3, flow_permanent_impact=1.0, resilience_half_life_s=20.0, book_memory=True
        )
        if memory
        else None,
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_observed_crash_and_rebound_matches_reference(seed):
    """A deep pinned fall and a rebound through a leveraged market with thin funds: longs are
    liquidated on the way down (backstop, ADL), the shorts opened at a time on the way down are
    squeezed on the way up, positions are closed at their times; both engines agree."""
    n_steps = 90
    pos = with_times(random_positions(seed, 300, spread=0.03, cross_share=0.3, pending_share=0.5), seed, n_steps)
    paths = fall_and_rebound(seed, n_steps, fall=0.2, rebound=1.3)
    fast, _ = both(
        pos,
        books(seed, shapes=True),
        paths,
        n_steps=n_steps,
        seed=seed,
        insurance_fund={"binance": 5e3, "bybit": 0.0, "hyperliquid": 2e3},
    )
    ev = fast.events
    assert {"book", "backstop"} <= set(ev["method"]) and set(ev["side"]) == {"long", "short"}
    timed_open = pos.is_pending & ~np.isnan(pos.open_s)
    assert timed_open[ev["position"].to_numpy()].any()  # some position opened at a time was liquidated
    timed = fast.timed_flow_usd[["BTC", "ETH"]].to_numpy()
    assert (timed > 0).any() and (timed < 0).any()
    assert fast.implied_flow_usd["BTC"].iloc[: n_steps // 3].sum() < 0


def test_timed_closes_left_alone_match_reference():
    """The cases a timed close leaves alone, with the reference: a position still pending (its
    close time before its open time, or a resting entry order not reached), one in a multi-asset
    cross account, one whose fill would leave it negative equity (too big for its book) and one
    liquidated before its time; and the ones it closes, isolated and cross."""
    n = 10
    rows = dict(  # account, venue, asset, side, size, entry, margin, mode, pending, open_s, close_s
        a=(0, "binance", "BTC", 1, 1.0, 1e5, 2e4, "isolated", False, np.nan, 12.0),  # closed
        b=(1, "bybit", "BTC", -1, 2.0, 1e5, 4e4, "cross", False, np.nan, 20.5),  # closed (cross)
        c=(2, "binance", "BTC", 1, 0.5, 1e5, 1e4, "isolated", True, 25.0, 10.0),  # pending at its close: left
        d=(3, "bybit", "BTC", -1, 0.5, 1.2e5, 1e4, "isolated", True, np.nan, 15.0),  # resting order: left
        e=(4, "hyperliquid", "BTC", 1, 1.0, 1e5, 5e4, "cross", False, np.nan, 30.0),  # account: left
        f=(4, "hyperliquid", "ETH", -1, 10.0, 3e3, 1e4, "cross", False, np.nan, 30.0),  # account: left
        g=(5, "binance", "BTC", 1, 60.0, 1e5, 1.5e6, "isolated", False, np.nan, 5.0),  # fill below bankruptcy
        h=(6, "bybit", "ETH", 1, 50.0, 3e3, 1.2e4, "isolated", False, np.nan, 40.0),  # liquidated first
        i=(7, "hyperliquid", "ETH", -1, 20.0, 3e3, 2e4, "isolated", True, 8.0, 35.0),  # opened, then closed
        j=(8, "binance", "ETH", 1, 20.0, 3e3, 1.5e4, "cross", True, 8.0, 8.0),  # opened and closed in one step
    )
    cols = list(zip(*rows.values()))
    pos = Positions.from_arrays(
        account=cols[0],
        venue=cols[1],
        asset=cols[2],
        side=cols[3],
        size=cols[4],
        entry=cols[5],
        margin=cols[6],
        leverage=np.array(cols[4]) * np.array(cols[5]) / np.array(cols[6]),
        mode=cols[7],
        venues=VENUES,
        assets=ASSETS,
        pending=cols[8],
        open_s=cols[9],
        close_s=cols[10],
    )
    assert len(pos) == n
    n_steps = 50
    paths = {"BTC": 1e5 * np.exp(np.linspace(0.0, -0.04, n_steps)), "ETH": 3e3 * np.linspace(1.0, 0.85, n_steps)}
    liq = books(0, depth_btc=9e6, depth_eth=3e6)
    liq.profiles[("binance", "BTC")] = DepthProfile.from_depth_1pct(5e4)  # too thin for g's 60 BTC
    fast, ref = both(pos, liq, paths, n_steps=n_steps, insurance_fund=1e6)
    size = fast.final["size"]
    assert size[[0, 1, 8, 9]].tolist() == [0.0] * 4  # closed at their times
    assert size[2] == 0.5 and size[3] == 0.0  # opened at 25 s after its close time; never reached
    assert size[4] == 1.0 and size[5] == 10.0 and size[6] == 60.0  # left open
    assert set(fast.events["position"]) == {7}  # liquidated before its close time
    assert (fast.timed_flow_usd["BTC"] != 0).sum() == 3  # a and b closed, c opened
    assert (fast.timed_flow_usd["ETH"] != 0).sum() == 2  # i and j opened and j closed (one step), i closed


@pytest.mark.parametrize("jump", [0.3, 1.8])
def test_pin_beyond_half_a_move_is_taken_as_half_like_the_reference(jump):
    """A path that drops 70 % (rises 80 %) in one step moves the index by 50 % (the pin's cap)
    and the next steps go on from there; with the liquidations it sets off, the engines agree."""
    n_steps = 12
    pos = random_positions(5, 60, spread=0.02, max_lev=5)
    paths = {a: np.r_[p, np.full(n_steps - 1, jump * p)] for a, p in P0.items()}
    fast, _ = both(pos, books(5), paths, n_steps=n_steps, insurance_fund=1e5)
    btc = fast.steps[fast.steps["asset"] == "BTC"].groupby("time_s")["index"].first().to_numpy()
    assert btc[1] / btc[0] == pytest.approx(0.5 if jump < 1 else 1.5, rel=0.05)  # liquidations move it further
    np.testing.assert_allclose(btc[-1], jump * P0["BTC"], rtol=1e-2)
    assert len(fast.events) > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_positions_opened_at_a_time_and_liquidated_in_that_step_match_reference(seed):
    """Large positions opened at a time on thin books, the high-leverage ones past their LP by
    their own fill and the fee (liquidated in the step they open, from their heap): the engines
    agree."""
    n_steps = 60
    pos = random_positions(seed, 200, spread=0.03, pending_share=0.6, size_usd=3e5)
    pos = with_times(pos, seed, n_steps, timed_share=1.0)
    paths = fall_and_rebound(seed, n_steps, 0.05, 1.0, noise=3e-3)
    fast, _ = both(
        pos, books(seed, depth_btc=3e6, depth_eth=1e6), paths, n_steps=n_steps, insurance_fund=1e4, seed=seed
    )
    ev = fast.events
    opened_at = np.ceil(pos.open_s[ev["position"].to_numpy()])
    assert (opened_at == ev["time_s"].to_numpy()).sum() > 5


@pytest.mark.parametrize("seed", [3, 4])
def test_timed_positions_in_a_free_run_match_reference(seed):
    """Timed opens and closes without a path (free mode: the flows move the price): the same
    rule, the same answer; no observed outputs."""
    n_steps = 60
    pos = with_times(random_positions(seed, 150, spread=0.02, cross_share=0.3, pending_share=0.5), seed, n_steps)
    flows = shock_flows(btc_usd_per_s=-6e6, eth_usd_per_s=-2e6, start=3, end=30)
    flows.programmes.extend(shock_flows(btc_usd_per_s=6e6, eth_usd_per_s=2e6, start=35, end=55).programmes)
    kw = dict(n_steps=n_steps, insurance_fund=1e4, seed=seed)
    fast = simulate(pos, books(seed), replay_prices(), flows, keep_final=True, **kw)
    ref = simulate_reference(pos, books(seed), replay_prices(), flows, **kw)
    assert_same(fast, ref)
    np.testing.assert_allclose(fast.final["entry"], ref.final["entry"], rtol=1e-9)
    assert fast.summary["mode"] == ref.summary["mode"] == "free" and fast.implied_flow_usd is None
    size, liquidated = fast.final["size"], np.isin(np.arange(len(pos)), fast.events["position"])
    timed_open = pos.is_pending & ~np.isnan(pos.open_s)
    assert (timed_open & (size > 0)).any() and fast.summary["opened_during_run_usd"] > 0
    assert (~pos.is_pending & (pos.close_s < n_steps) & (size == 0) & ~liquidated).any()  # closed at a time


@pytest.mark.parametrize("seed", [4, 5])
def test_observed_mode_with_okx_matches_reference(seed):
    """OKX (tiers in contracts) beside Binance, one path for both books of an asset."""
    venues = ("binance", "okx")
    n_steps = 70
    pos = random_positions(seed, 200, venues=venues, spread=0.02, size_usd=1e5, cross_share=0.3, pending_share=0.4)
    pos = with_times(pos, seed, n_steps)
    liq = Liquidity.uniform(venues, ASSETS, {"BTC": 2e7, "ETH": 6e6})
    fast, _ = both(
        pos,
        liq,
        fall_and_rebound(seed, n_steps, fall=0.12, rebound=1.2),
        n_steps=n_steps,
        insurance_fund=2e3,
        seed=seed,
    )
    assert (fast.events["venue"] == "okx").any()


def test_observed_mode_without_the_jit_matches_reference():
    """With LIQCASCADE_DISABLE_JIT=1 the kernels run as plain Python: the observed run matches the
    reference there too, and the compiled run here, to the last bits the two paths share."""
    code = (
        "import json, sys; sys.path.insert(0, %r);"
        "from tests.engine.test_reference_observed import _small_observed;"
        "fast, ref = _small_observed();"
        "print(json.dumps([fast.events['price'].tolist(), fast.steps['mark'].tolist(),"
        " fast.implied_flow_usd['BTC'].tolist()]))"
    ) % os.getcwd()
    env = dict(os.environ, LIQCASCADE_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    prices_py, marks_py, implied_py = json.loads(out.stdout)
    fast, _ = _small_observed()
    assert len(prices_py) == len(fast.events) > 0
    np.testing.assert_allclose(prices_py, fast.events["price"], rtol=1e-12)
    np.testing.assert_allclose(marks_py, fast.steps["mark"], rtol=1e-12)
    np.testing.assert_allclose(implied_py, fast.implied_flow_usd["BTC"], rtol=1e-12)


def _small_observed():
    n_steps = 40
    pos = with_times(random_positions(9, 40, spread=0.02, cross_share=0.4, pending_share=0.5), 9, n_steps)
    return both(
        pos,
        books(9, shapes=True, touch_u=1e-3),
        fall_and_rebound(9, n_steps, fall=0.12, rebound=1.0),
        n_steps=n_steps,
        insurance_fund=1e3,
        seed=9,
    )


def replay_window(name, n_positions, start_s, n_steps):
    """The observed replay's own inputs (``replay.run_observed``: the population from history, the
    scenario's books, spot anchors and funds, the replay's price law, the bridged path) over
    ``n_steps`` from ``start_s`` into the scenario: positions closed before the window are left
    out, those opened before it stand from its start, the times are shifted to it."""
    from liqcascade.replay import observed_paths, replay_price_config
    from liqcascade.scenario import build_engine_inputs, build_population, load_scenario

    sc = load_scenario(name)
    positions, liquidity, prices, _ = build_engine_inputs(sc, build_population(sc, n_positions=n_positions, seed=0))
    dt = sc.spec.step_seconds
    k = int(start_s / dt)
    paths = observed_paths(sc.series(), list(sc.spec.assets), start_ms=sc.start_ms, n_steps=k + n_steps, dt=dt, seed=0)
    paths = {a: p[k:] for a, p in paths.items()}
    t0 = k * dt
    open_s, close_s = positions.open_s - t0, positions.close_s - t0
    keep = ~(close_s < 0)
    opened = positions.is_pending & (open_s < 0)
    cols = {f.name: getattr(positions, f.name) for f in dataclasses.fields(positions)}
    cols.update(pending=positions.is_pending & ~opened, open_s=np.where(opened, np.nan, open_s), close_s=close_s)
    cols = {f: v[keep] if isinstance(v, np.ndarray) else v for f, v in cols.items()}
    pos = Positions(**cols)
    pos.validate()
    prices = dataclasses.replace(replay_price_config(prices), initial={a: float(p[0]) for a, p in paths.items()})
    liq = sc.params.liquidation
    kw = dict(
        n_steps=n_steps,
        dt=dt,
        insurance_fund=sc.spec.insurance_fund_usd,
        adl_rule=liq.adl_rule,
        seed=0,
        vault_unwind_half_life_s=liq.vault_unwind_half_life_s,
    )
    return pos, liquidity, prices, paths, kw


def test_the_default_replay_at_its_low_matches_reference():
    """``make run``'s replay (feb-2026) over ten minutes at BTC's low (00:10-00:20 UTC 6 Feb), a
    small population: four assets on three venues, spot-anchored indexes, books uniform at the
    touch, positions liquidated, opened and closed at their times; the engines agree."""
    pos, liq, prices, paths, kw = replay_window("feb-2026", 500, 87_000.0, 600)
    fast = simulate(pos, liq, prices, Flows(), keep_final=True, index_path=paths, **kw)
    ref = simulate_reference(pos, liq, prices, Flows(), index_path=paths, **kw)
    assert_observed_same(fast, ref)
    assert len(fast.events) > 100 and liq.spot and liq.touch_u > 0
    timed = fast.timed_flow_usd.drop(columns="time_s").to_numpy()
    assert (timed > 0).any() and (timed < 0).any()
