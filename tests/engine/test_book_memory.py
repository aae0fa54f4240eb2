"""Book memory (``[prices] books = "memory"``): depth eaten by the transient part of earlier
moves stays eaten until the index returns to the fair price (Obizhaeva & Wang's resilient book).
Each book is anchored at the asset's fair price; the side the index has moved into is eaten from
there to the mid, and the step's walks go on from that hole."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from liqcascade.engine import PriceConfig, simulate
from liqcascade.engine import core as C
from liqcascade.engine import run as R

from .markets import ASSETS, VENUES, liquidity, prices, random_positions, shock_flows


def state(hole, memory=True, kappa=1.16):
    """The test markets at their start prices with asset 0's fair price ``1 + hole`` times its
    index, after :func:`core.start_of_step`."""
    liq = liquidity(kappa=kappa)
    market = R.build_market(VENUES, ASSETS, liq, prices(), 1.0)
    p0 = prices().initial_array(ASSETS)
    nm = len(VENUES) * len(ASSETS)
    mst = np.zeros((nm, C.N_MST))
    mst[:, C.MID] = p0[market.mkt_i[:, C.ASSET]]
    mst[:, C.MULT] = np.linspace(0.4, 1.0, nm)
    ast = R.initial_asset_state(p0, liq.spot_arrays(ASSETS))
    ast[0, C.FAIR] = p0[0] * (1.0 + hole)
    glob = np.zeros(C.N_GLOB)
    glob[C.BOOK_MEMORY] = 1.0 if memory else 0.0
    C.start_of_step(mst, ast, market.mkt_i, market.mkt_f, glob)
    books = [m for m in range(nm) if market.mkt_i[m, C.ASSET] == 0]
    return market, mst, ast, books


@pytest.mark.parametrize("hole", [0.02, -0.015])
def test_the_side_the_index_moved_into_is_eaten_from_the_fair_price(hole):
    """The hole's distance and USD on every book of the asset (B times the multiplier times
    ``h**kappa``, no touch here), the other side and the other asset fresh."""
    market, mst, ast, books = state(hole)
    h = abs(hole)  # FAIR/INDEX - 1 on the bids, 1 - FAIR/INDEX on the asks
    eaten, fresh = (C.CONS_BID, C.CONS_ASK) if hole > 0 else (C.CONS_ASK, C.CONS_BID)
    u, hole_col = (C.U_BID, C.HOLE_BID) if hole > 0 else (C.U_ASK, C.HOLE_ASK)
    assert ast[0, hole_col] == pytest.approx(h, rel=1e-14)
    b_col, k_col = (C.BID_B, C.BID_K) if hole > 0 else (C.ASK_B, C.ASK_K)
    for m in books:
        assert mst[m, u] == ast[0, hole_col]
        want = market.mkt_f[m, b_col] * mst[m, C.MULT] * h ** market.mkt_f[m, k_col]
        assert mst[m, eaten] == pytest.approx(want, rel=1e-14)
        assert mst[m, fresh] == 0.0
    others = [m for m in range(mst.shape[0]) if m not in books]
    assert all(mst[m, C.CONS_BID] == mst[m, C.CONS_ASK] == mst[m, C.U_BID] == mst[m, C.U_ASK] == 0.0 for m in others)
    assert ast[1, C.HOLE_BID] == ast[1, C.HOLE_ASK] == 0.0


def test_without_memory_every_side_is_fresh_whatever_the_fair_price():
    _, mst, ast, _ = state(0.02, memory=False)
    for col in (C.CONS_BID, C.CONS_ASK, C.U_BID, C.U_ASK):
        assert not mst[:, col].any()
    assert not ast[:, [C.SP_CONS_BID, C.SP_CONS_ASK, C.HOLE_BID, C.HOLE_ASK]].any()


@pytest.mark.parametrize("kappa", [0.7, 1.0, 1.35])
def test_a_sell_into_the_hole_walks_on_from_it(kappa):
    """A sell of ``v`` USD on a book with a hole ``h`` moves the mid by ``((B h^k + v)/B)^(1/k) - h``
    (B: depth times multiplier), by hand; on the fresh book by ``(v/B)^(1/k)``.  For ``k < 1``
    (depth concentrated near the mid, Binance BTC's 1-5 % bands) the hole moves it further, for
    ``k > 1`` less, for ``k = 1`` the same."""
    h, v = 0.01, 3e6
    market, mst, _, books = state(h, kappa=kappa)
    _, mst_f, _, _ = state(h, memory=False, kappa=kappa)
    m = books[0]
    b, k = C.book_side(mst, market.mkt_f, m, -1.0)
    mid = mst[m, C.MID]
    C.fill(mst, market.mkt_f, m, -1.0, v / mid)
    C.fill(mst_f, market.mkt_f, m, -1.0, v / mid)
    moved, moved_fresh = 1.0 - mst[m, C.MID] / mid, 1.0 - mst_f[m, C.MID] / mid
    assert moved == pytest.approx(((b * h**k + v) / b) ** (1.0 / k) - h, rel=1e-12)
    assert moved_fresh == pytest.approx((v / b) ** (1.0 / k), rel=1e-12)
    if kappa < 1.0:
        assert moved > moved_fresh * 1.05
    elif kappa > 1.0:
        assert moved < moved_fresh / 1.05
    else:
        assert moved == pytest.approx(moved_fresh, rel=1e-12)


def test_the_pin_lands_on_its_target_from_the_hole():
    market, mst, ast, books = state(0.03)
    bk = C.Books(mst, np.zeros((len(VENUES), 3)), ast)
    target = ast[0, C.INDEX] * 0.98
    usd = C.pin_asset(bk, market.rules(), 0, target)
    assert usd < 0 and ast[0, C.INDEX] == pytest.approx(target, rel=1e-12)


def test_memory_is_inert_when_every_move_stays():
    """With the whole move permanent the fair price is the index and there is never a hole: a
    run with memory is bit-identical to one without."""
    pos = random_positions(3, 400, spread=0.02)
    kw = dict(n_steps=60, insurance_fund=1e5, seed=3)
    runs = [
        simulate(pos, liquidity(), PriceConfig(dict(prices().initial), book_memory=mem), shock_flows(), **kw)
        for mem in (False, True)
    ]
    assert runs[0].events.equals(runs[1].events) and runs[0].steps.equals(runs[1].steps)


def test_memory_changes_a_cascade_with_transient_impact_and_keeps_the_ledger():
    pos = random_positions(3, 400, spread=0.02)
    kw = dict(n_steps=120, insurance_fund=1e5, seed=3)
    pr = PriceConfig(dict(prices().initial), permanent_impact=0.2, resilience_half_life_s=20.0)
    runs = [
        simulate(pos, liquidity(), dataclasses.replace(pr, book_memory=mem), shock_flows(-8e6, -2e6), **kw)
        for mem in (False, True)
    ]
    assert not runs[0].steps["mid"].equals(runs[1].steps["mid"])
    for r in runs:
        assert r.ledger["ok"], r.ledger
