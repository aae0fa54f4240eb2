"""How a flow is split across an asset's books (``core.asset_flow``): to one distance from every
book's mid (``core.route_level``), as the observed mode's pin (``core.pin_asset``) moves them.

Specifications, on books of different shapes (exponents, touches, depths, a spot book, books
already walked in the step):

* every book that takes part moves by the same fraction; a book already walked beyond that level
  takes nothing;
* the USD walked is the flow, exactly;
* the pin's implied USD, sent as a flow from the same state, moves every book as the pin did —
  the property that lets a path's implied flow, replayed free, come back to the path.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liqcascade.engine import core as C
from liqcascade.engine import run as R

from .markets import ASSETS, VENUES, liquidity, prices


def books(kappas, mults, touch, spot_kappa, hole=0.0):
    """Fresh state for the test markets with asset 0's books given exponents ``kappas`` (one per
    venue), depth multipliers ``mults``, a touch ``touch`` (fraction) and, when ``spot_kappa``
    is not None, a spot book with that exponent.  ``hole``: with book memory, asset 0's fair
    price at ``1 + hole`` times its index (> 0: its bids eaten from there, < 0: its asks)."""
    liq = liquidity()
    market = R.build_market(VENUES, ASSETS, liq, prices(), 1.0)
    p0 = prices().initial_array(ASSETS)
    nm = len(VENUES) * len(ASSETS)
    mst = np.zeros((nm, C.N_MST))
    mst[:, C.MID] = p0[market.mkt_i[:, C.ASSET]]
    mst[:, C.MULT] = 1.0
    spot = liq.spot_arrays(ASSETS)
    a_books = [m for m in range(nm) if market.mkt_i[m, C.ASSET] == 0]
    for m, k, mult in zip(a_books, kappas, mults):
        market.mkt_f[m, C.BID_K] = market.mkt_f[m, C.ASK_K] = k
        market.mkt_f[m, C.TOUCH_U] = touch
        market.mkt_f[m, C.TOUCH_PW_BID] = market.mkt_f[m, C.TOUCH_PW_ASK] = touch**k
        mst[m, C.MULT] = mult
    if spot_kappa is None:
        spot[0] = 0.0
    else:
        b = market.mkt_f[a_books[0], C.BID_B]
        spot[0] = (b, b, spot_kappa, spot_kappa, 2 * b * 0.01**spot_kappa, touch, touch**spot_kappa, touch**spot_kappa)
    ast = R.initial_asset_state(p0, spot)
    glob = np.zeros(C.N_GLOB)
    if hole:
        glob[C.BOOK_MEMORY] = 1.0
        ast[0, C.FAIR] = p0[0] * (1.0 + hole)
    C.start_of_step(mst, ast, market.mkt_i, market.mkt_f, glob)
    return market, C.Books(mst, np.zeros((len(VENUES), 3)), ast), a_books


def moves(bk, a_books, p0):
    out = [bk.mst[m, C.MID] / p0 - 1.0 for m in a_books]
    if bk.ast[0, C.SP_DEPTH1] > 0:
        out.append(bk.ast[0, C.SPOT_MID] / p0 - 1.0)
    return np.array(out)


def walked(bk, a_books, d):
    cons = C.CONS_ASK if d > 0 else C.CONS_BID
    spot = C.SP_CONS_ASK if d > 0 else C.SP_CONS_BID
    return sum(bk.mst[m, cons] for m in a_books) + bk.ast[0, spot]


shapes = st.fixed_dictionaries(
    {
        "kappas": st.lists(st.floats(0.5, 2.0), min_size=len(VENUES), max_size=len(VENUES)),
        "mults": st.lists(st.floats(0.2, 1.0), min_size=len(VENUES), max_size=len(VENUES)),
        "touch": st.sampled_from([0.0, 2e-4]),
        "spot_kappa": st.one_of(st.none(), st.floats(0.5, 2.0)),
        "hole": st.sampled_from([0.0, 0.004, 0.03, -0.01]),
    }
)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, usd=st.floats(1e4, 5e9), side=st.sampled_from([1.0, -1.0]))
def test_a_flow_moves_every_book_by_one_fraction_and_walks_exactly_the_flow(shape, usd, side):
    market, bk, a_books = books(**shape)
    p0 = prices().initial_array(ASSETS)[0]
    before = walked(bk, a_books, side)  # the hole's USD, with book memory
    C.asset_flow(bk, market.rules(), 0, side * usd)
    mv = moves(bk, a_books, p0)
    assert np.all(np.sign(mv) == side)
    h = abs(shape["hole"]) if shape["hole"] * side < 0 else 0.0  # the walked side's hole
    if np.max(np.abs(mv)) < (C.MAX_WALK - h) * 0.999:  # within the books: one level
        np.testing.assert_allclose(mv, mv[0], rtol=1e-9)
    np.testing.assert_allclose(walked(bk, a_books, side) - before, usd, rtol=1e-12, atol=1e-13 * before)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, fall=st.floats(1e-5, 0.2), side=st.sampled_from([1.0, -1.0]))
def test_the_pins_implied_usd_sent_as_a_flow_moves_the_books_as_the_pin_did(shape, fall, side):
    p0 = prices().initial_array(ASSETS)[0]
    market, pinned, a_books = books(**shape)
    usd = C.pin_asset(pinned, market.rules(), 0, p0 * (1.0 + side * fall))
    market, flowed, _ = books(**shape)
    C.asset_flow(flowed, market.rules(), 0, usd)
    for m in a_books:
        np.testing.assert_allclose(flowed.mst[m, C.MID], pinned.mst[m, C.MID], rtol=1e-10)
    np.testing.assert_allclose(flowed.ast[0, C.SPOT_MID], pinned.ast[0, C.SPOT_MID], rtol=1e-10)
    np.testing.assert_allclose(flowed.vst, pinned.vst, rtol=1e-9, atol=1e-6)  # the venues' fees


def test_a_book_already_walked_past_the_level_takes_nothing():
    """A forced order walked one book 1 % down earlier in the step; a small flow then takes the
    other books to its level and leaves that book where it is."""
    market, bk, a_books = books([0.8, 1.1, 1.4], [1.0, 0.6, 0.9], 0.0, None)
    p0 = prices().initial_array(ASSETS)[0]
    first = a_books[0]
    b, k = C.book_side(bk.mst, market.mkt_f, first, -1.0)
    C.flow_fill(bk, market.rules(), first, -1.0, b * 0.01**k)  # 1 % down on the first book only
    mid_first = bk.mst[first, C.MID]
    C.asset_flow(bk, market.rules(), 0, -1e5)
    assert bk.mst[first, C.MID] == mid_first
    others = [bk.mst[m, C.MID] / p0 - 1.0 for m in a_books[1:]]
    assert -0.01 < others[0] < 0 and np.ptp(others) < 1e-12
