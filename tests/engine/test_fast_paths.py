"""The step loop's shortcuts against the obvious computation they replace: an asset's flow walked
once for all its books, the walked distance carried from walk to walk, the events' columns
decoded from the log's code and gathered page by page, the summary's sums in one pass."""

import dataclasses

import numpy as np
import pytest

from liqcascade.engine import core as C
from liqcascade.engine import run as R
from liqcascade.engine import simulate

from .markets import ASSETS, VENUES, liquidity, prices, random_positions, shock_flows


def fresh(liq):
    market = R.build_market(VENUES, ASSETS, liq, prices(), 1.0)
    p0 = prices().initial_array(ASSETS)
    nm = len(VENUES) * len(ASSETS)
    mst = np.zeros((nm, C.N_MST))
    mst[:, C.MID] = p0[market.mkt_i[:, C.ASSET]]
    mst[:, C.MULT] = np.linspace(0.4, 1.0, nm)  # books thinned differently: B differs per book
    vst = np.zeros((len(VENUES), 3))
    ast = R.initial_asset_state(p0, liq.spot_arrays(ASSETS))
    return market, mst, vst, ast


@pytest.mark.parametrize("touch", [0.0, 2e-4])
@pytest.mark.parametrize("usd", [3e5, -4e6, 2e8])
def test_an_assets_flow_walks_each_book_as_its_own_walk_would(usd, touch):
    """The shared walk (in units of B) against each book walked on its own (flow_fill), on fresh
    books with one profile shape: the same mids and fill accounting to rounding."""
    liq = dataclasses.replace(liquidity(), touch_u=touch)
    market, mst, vst, ast = fresh(liq)
    m2, v2, a2 = mst.copy(), vst.copy(), ast.copy()
    C.start_of_step(mst, ast, market.mkt_i, market.mkt_f, np.zeros(C.N_GLOB))
    C.start_of_step(m2, a2, market.mkt_i, market.mkt_f, np.zeros(C.N_GLOB))
    a = 0
    C.asset_flow(C.Books(mst, vst, ast), market.rules(), a, usd)
    d = 1.0 if usd > 0 else -1.0
    books = [m for m in range(mst.shape[0]) if market.mkt_i[m, C.ASSET] == a]
    total = sum(C.book_side(m2, market.mkt_f, m, d)[0] for m in books)
    for m in books:
        b, _ = C.book_side(m2, market.mkt_f, m, d)
        C.flow_fill(C.Books(m2, v2, a2), market.rules(), m, d, abs(usd) * b / total)
    np.testing.assert_allclose(mst, m2, rtol=1e-13, atol=0)  # U_BID/U_ASK: the moves themselves
    np.testing.assert_allclose(vst, v2, rtol=1e-13, atol=0)
    moved = [mst[m, C.MID] / prices().initial_array(ASSETS)[a] - 1.0 for m in books]
    assert np.ptp(moved) < 1e-15 and abs(moved[0]) > 0  # every book moved by the same fraction


def test_the_carried_distance_is_the_power_law_of_the_usd_walked():
    """Many walks on one side in a step: the distance carried as the sum of the moves stays the
    power law's ``(CONS/B)**(1/kappa)`` of the USD walked (what each walk used to recompute)."""
    market, mst, vst, ast = fresh(liquidity())
    C.start_of_step(mst, ast, market.mkt_i, market.mkt_f, np.zeros(C.N_GLOB))
    rng = np.random.default_rng(5)
    m = 2
    for usd in rng.lognormal(np.log(2e5), 2.0, 400):
        C.fill(mst, market.mkt_f, m, -1.0, usd / mst[m, C.MID])
    b, k = C.book_side(mst, market.mkt_f, m, -1.0)
    exact = (mst[m, C.CONS_BID] / b) ** (1.0 / k)
    assert mst[m, C.U_BID] == pytest.approx(exact, rel=1e-12)
    assert mst[m, C.U_ASK] == 0.0 and mst[m, C.CONS_ASK] == 0.0


def test_event_columns_and_summary_sums_match_the_population_and_numpy():
    pos = random_positions(11, 600, spread=0.02, multi_asset=True)
    run = simulate(
        pos,
        liquidity(),
        prices(),
        shock_flows(-6e6, -2e6, 2, 40),
        n_steps=80,
        insurance_fund={"binance": 1e4, "bybit": 1e3, "hyperliquid": 5e3},
        seed=11,
    )
    ev = run.events
    assert len(ev) > 50
    i = ev["position"].to_numpy()
    # the account gathered page by page, venue, asset and side decoded from the log's code
    np.testing.assert_array_equal(ev["account"].to_numpy(), pos.account[i])
    np.testing.assert_array_equal(ev["venue"].cat.codes.to_numpy(), pos.venue[i])
    np.testing.assert_array_equal(ev["asset"].cat.codes.to_numpy(), pos.asset[i])
    np.testing.assert_array_equal(ev["side"].to_numpy() == "short", pos.side[i] < 0)
    assert set(ev["method"].unique()) <= {"book", "backstop", "adl"}
    s, usd = run.summary, ev["usd"].to_numpy()
    assert s["true_total_liquidated_usd"] == pytest.approx(usd.sum(), rel=1e-13)
    assert s["long_share"] == pytest.approx(usd[ev["side"] == "long"].sum() / usd.sum(), rel=1e-13)
    for v in VENUES:
        assert s["by_venue_usd"][v] == pytest.approx(usd[ev["venue"] == v].sum(), rel=1e-13, abs=1e-9)
    for a in ASSETS:
        assert s["by_asset_usd"][a] == pytest.approx(usd[ev["asset"] == a].sum(), rel=1e-13, abs=1e-9)
    assert s["backstop_usd"] == pytest.approx(usd[ev["method"] == "backstop"].sum(), rel=1e-13, abs=1e-9)
    assert s["adl_usd"] == pytest.approx(usd[ev["method"] == "adl"].sum(), rel=1e-13, abs=1e-9)
    assert s["as_reported_total_usd"] == pytest.approx(R.as_reported(ev)["usd"].sum(), rel=1e-13)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16])
def test_gather_by_page_is_a_gather(dtype):
    rng = np.random.default_rng(3)
    values = rng.integers(-(10**4), 10**4, 50_000).astype(dtype)
    idx = rng.integers(0, len(values), 7_000).astype(np.int32)
    out = np.empty(len(idx), dtype)
    R._gather_by_page(values, idx, out)
    np.testing.assert_array_equal(out, values[idx])


def test_programme_windows_are_the_steps_of_the_mask():
    """A programme's steps as a slice of the ascending step times: the rows of the obvious mask
    ``(t >= start) & (t < end)``, for windows inside, across and outside the day, on and off
    the step grid, empty and reversed."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from liqcascade.engine.flows import _window

    @settings(max_examples=300, deadline=None)
    @given(
        st.integers(1, 500),
        st.sampled_from([0.25, 1.0, 3.0]),
        st.one_of(st.floats(-100.0, 2000.0), st.integers(-5, 600).map(float)),
        st.one_of(st.floats(-100.0, 2000.0), st.integers(-5, 600).map(float)),
    )
    def check(n, dt, start, end):
        t = np.arange(n) * dt
        got = np.zeros(n, bool)
        got[_window(t, start, end)] = True
        assert np.array_equal(got, (t >= start) & (t < end))

    check()


def test_log_ratio_against_a_40_digit_log():
    """The step loop's log of a ratio (the series near 1, ``math.log(a/b)`` elsewhere) against
    the log of the exact ratio to 40 digits: within 4 units in the last place, and no worse than
    ``math.log(a/b)``, which carries the rounding of ``a/b``."""
    import math
    from decimal import Decimal, getcontext

    from hypothesis import given, settings
    from hypothesis import strategies as st

    getcontext().prec = 40

    @settings(max_examples=400, deadline=None)
    @given(st.floats(1e-3, 1e6), st.one_of(st.floats(-1e-2, 1e-2), st.floats(-0.5, 2.0)))
    def check(b, x):
        a = b * (1.0 + x)
        if not a > 0:
            return
        exact = float((Decimal(a) / Decimal(b)).ln())
        got = C.log_ratio(a, b)
        tol = 4 * np.spacing(abs(exact)) if exact != 0 else 0.0
        assert abs(got - exact) <= max(tol, abs(math.log(a / b) - exact))

    check()
    assert C.log_ratio(95_000.0, 95_000.0) == 0.0


def test_fear_index_against_a_40_digit_tanh():
    """The fear index as (1 - e)/(1 + e), e = exp(2y), against -tanh(y) to 40 digits
    (y = log(index/slow) over the scale, index below the slow average): within 2e-15 absolute,
    as -math.tanh(math.log(index/slow)/scale) (both carry the rounding of the log's argument
    divided by the scale, ~1e-15 here); 0 at or above the slow average."""
    from decimal import Decimal, getcontext

    getcontext().prec = 40
    rng = np.random.default_rng(5)
    scale = 0.05
    ratios = np.r_[rng.uniform(0.5, 1.0, 2000), 1.0 - np.logspace(-15, -2, 50), [1.0, 1.2]]
    ast = np.zeros((len(ratios), C.N_AST))
    ast[:, C.INDEX], ast[:, C.SLOW] = 95_000.0 * ratios, 95_000.0
    glob = np.zeros(C.N_GLOB)
    glob[C.FEAR_SCALE] = scale
    C.fear_index(ast, glob)
    for k in range(len(ratios)):
        idx, slow = ast[k, C.INDEX], ast[k, C.SLOW]
        if idx >= slow:
            assert ast[k, C.FEAR] == 0.0
            continue
        e = ((Decimal(idx) / Decimal(slow)).ln() * 2 / Decimal(scale)).exp()
        want = float((1 - e) / (1 + e))
        assert abs(ast[k, C.FEAR] - want) <= 2e-15, (ratios[k], ast[k, C.FEAR], want)
