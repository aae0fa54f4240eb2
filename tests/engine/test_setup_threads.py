"""The run's setup (liquidation prices, the sort) on several threads gives the same run, bit for
bit, as on one; a bad thread count is refused."""

import numpy as np
import pandas as pd
import pytest

from liqcascade.engine import run as R
from liqcascade.engine import simulate
from liqcascade.errors import InputError

from .markets import liquidity, prices, random_positions, shock_flows


def _run(monkeypatch, threads, pos):
    monkeypatch.setenv("LIQCASCADE_THREADS", str(threads))
    return simulate(
        pos,
        liquidity(depth_btc=2e9, depth_eth=6e8),
        prices(),
        shock_flows(-3e8, -1e8, 5, 120),
        n_steps=240,
        insurance_fund=1e9,
        seed=2,
    )


def test_threads_do_not_change_the_run(monkeypatch):
    # above the size from which the liquidation prices are computed in chunks
    pos = random_positions(5, 250_000, spread=0.02, multi_asset=True)
    one, two = _run(monkeypatch, 1, pos), _run(monkeypatch, 2, pos)
    assert one.summary["liquidation_events"] > 1000  # the sweep has work to do
    pd.testing.assert_frame_equal(one.events, two.events, check_exact=True)
    pd.testing.assert_frame_equal(one.steps, two.steps, check_exact=True)
    # the pieces themselves, against the obvious serial versions
    market = R.build_market(pos.venues, tuple(pos.assets), liquidity(), prices(), 1.0)
    monkeypatch.setenv("LIQCASCADE_THREADS", "3")
    lp = R.initial_liquidation_prices(pos, market)
    serial = np.empty(len(pos))
    R.liquidation_prices_into(market, pos.side, pos.size, pos.entry, pos.margin, pos.market(), pos.mode, serial)
    assert np.array_equal(lp, serial)
    order, start, end = R.sort_positions(lp, pos.side, pos.market(), len(market.mkt_i))
    grp = 2 * pos.market().astype(np.int64) + (pos.side < 0)
    for g in range(len(start)):
        idx = order[start[g] : end[g]]
        assert np.array_equal(np.sort(idx), np.flatnonzero(grp == g))
        key = lp[idx] if g % 2 else -lp[idx]
        assert np.all(np.diff(key) >= 0)


def test_packed_positions_match_the_obvious_arrays(monkeypatch):
    """The run's packed records hold the positions' fields, their LPs and flag 0; the markets'
    totals are the obvious sums (to rounding) and the same bits on any number of threads."""
    pos = random_positions(7, 250_000, spread=0.02, multi_asset=True)
    market = R.build_market(pos.venues, tuple(pos.assets), liquidity(), prices(), 1.0)
    mkt = pos.market()
    open_size = pos.size * (np.arange(len(pos)) % 5 != 0)  # some not (yet) open
    got = {}
    for threads in (1, 2, 3):
        monkeypatch.setenv("LIQCASCADE_THREADS", str(threads))
        got[threads] = R.packed_positions(pos, market, mkt, open_size)
    hot, codes, tot, blocks = got[1]
    assert hot.ctypes.data % 64 == 0 and codes.ctypes.data % 64 == 0  # records on cache lines
    for threads in (2, 3):
        for a, b in zip(got[1], got[threads]):
            assert np.array_equal(a, b)
    serial = np.empty(len(pos))
    R.liquidation_prices_into(market, pos.side, pos.size, pos.entry, pos.margin, mkt, pos.mode, serial)
    assert np.array_equal(hot[:, R.H_SIZE], open_size) and np.array_equal(hot[:, R.H_ENTRY], pos.entry)
    assert np.array_equal(hot[:, R.H_MARGIN], pos.margin) and np.array_equal(hot[:, R.H_LP], serial)
    assert np.array_equal(codes[:, R.K_SIDE], pos.side) and np.array_equal(codes[:, R.K_MODE], pos.mode)
    assert np.array_equal(codes[:, R.K_MKT], mkt) and not codes[:, R.K_FLAG].any()
    nm, s = len(market.mkt_i), pos.side.astype(float)
    want = [
        np.bincount(mkt, s * open_size, nm),
        np.bincount(mkt, s * open_size * pos.entry, nm),
        np.bincount(mkt, open_size * (s > 0), nm),
        np.bincount(mkt, open_size * (s < 0), nm),
    ]
    np.testing.assert_allclose(tot, np.array(want), rtol=1e-12)
    # each block's count per sort group (2*market + short), and the sort taking them instead of counting
    grp = 2 * mkt.astype(np.int64) + (pos.side < 0)
    for b in range(len(blocks)):
        np.testing.assert_array_equal(
            blocks[b], np.bincount(grp[b * R.PACK_BLOCK : (b + 1) * R.PACK_BLOCK], minlength=2 * nm)
        )
    for threads in (1, 2, 3):
        monkeypatch.setenv("LIQCASCADE_THREADS", str(threads))
        counted = R.sort_positions(serial, pos.side, mkt, nm)
        given = R.sort_positions(serial, pos.side, mkt, nm, blocks)
        for a, b in zip(counted, given):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("column", [False, True])
def test_sort_is_exact_lp_then_index(column):
    """The sort keys drop the LPs' lowest bits for the position index: LPs that differ only
    there (a few units in the last place), equal LPs, zeros and a signed zero still come out in
    exact order, LP then index, whether the LPs are an array or a column of the packed records."""
    rng = np.random.default_rng(3)
    n = 300_000
    base = rng.choice(np.array([0.0, -0.0, 61_000.0, 95_000.0, 1e-300, 3.3e3]), n)
    lp = np.where(rng.random(n) < 0.5, base, rng.normal(9e4, 4e3, n))
    ulp = rng.integers(-3, 4, n)  # neighbours in the last bits
    lp = np.where(rng.random(n) < 0.3, lp + ulp * np.spacing(lp), lp)
    lp = np.abs(lp)
    lp[:5] = -0.0
    side = np.where(rng.random(n) < 0.6, 1, -1).astype(np.int8)
    mkt = rng.integers(0, 4, n).astype(np.int16)
    if column:
        packed = np.zeros((n, 4))
        packed[:, 3] = lp
        lp = packed[:, 3]
    order, start, end = R.sort_positions(lp, side, mkt, 4)
    grp = 2 * mkt.astype(np.int64) + (side < 0)
    for g in range(8):
        members = np.flatnonzero(grp == g)
        key = lp[members] if g % 2 else -lp[members]
        want = members[np.lexsort((members, key + 0.0))]  # + 0.0: -0.0 and 0.0 are one LP
        got = order[start[g] : end[g]]
        assert np.array_equal(got, want)


@pytest.mark.parametrize("value", ["0x", "two", "0", "-2"])
def test_bad_thread_count_is_refused(monkeypatch, value):
    monkeypatch.setenv("LIQCASCADE_THREADS", value)
    with pytest.raises(InputError, match="LIQCASCADE_THREADS"):
        R.setup_threads()


def test_a_forked_child_runs_with_its_own_threads(monkeypatch):
    """A process forked after a run (multiprocessing's default on Linux) must not wait forever
    on the parent's setup threads, which do not exist in the child."""
    import multiprocessing as mp

    monkeypatch.setenv("LIQCASCADE_THREADS", "2")
    pos = random_positions(5, 250_000, spread=0.02)
    market = R.build_market(pos.venues, tuple(pos.assets), liquidity(), prices(), 1.0)
    lp = R.initial_liquidation_prices(pos, market)  # the parent's pool now exists
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        res = pool.apply_async(_child_lp_sum, (pos, market))
        assert res.get(timeout=60) == float(lp.sum())


def _child_lp_sum(pos, market):
    return float(R.initial_liquidation_prices(pos, market).sum())


def test_prefault_maps_pages_without_touching_contents(monkeypatch):
    """The records' pages are mapped on a setup thread while the step loop writes them: what is
    already written stays, and the rest reads as zeros (a fresh calloc'd array)."""
    from liqcascade.engine import threads as T

    monkeypatch.setenv("LIQCASCADE_THREADS", "2")
    a = np.zeros((10, 86_400, 6))
    a[0, :1000] = 7.0  # written before and while the pages are mapped
    wait = T.prefault_async(a)
    a[1, :1000] = 3.0
    wait()
    assert np.all(a[0, :1000] == 7.0) and np.all(a[1, :1000] == 3.0)
    assert not a[2:].any() and not a[0, 1000:].any()
    monkeypatch.setenv("LIQCASCADE_THREADS", "1")
    assert T.prefault_async(a)() is None  # one thread: nothing to overlap with
