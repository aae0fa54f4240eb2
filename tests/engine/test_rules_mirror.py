"""The compiled loop restates each rule book's liquidation price, maintenance margin, liquidation
step, fee and ADL key; these tests hold the restatements to the rule books on random positions,
so a rule-book change the kernel misses fails here."""

import numpy as np
import pytest

from liqcascade.engine import core as C
from liqcascade.engine.run import build_market
from liqcascade.venues import get_venue

from liqcascade.engine import Liquidity

from .markets import ASSETS, VENUES, prices

ALL_VENUES = VENUES + ("okx",)

RNG = np.random.default_rng(2024)


def sample(n, p0):
    side = RNG.choice(np.array([-1, 1], np.int8), n)
    entry = p0 * np.exp(RNG.normal(0, 0.05, n))
    notional = np.exp(RNG.uniform(np.log(1e2), np.log(5e8), n))
    size = notional / entry
    lev = np.exp(RNG.uniform(0, np.log(100), n))
    margin = notional / lev
    mark = entry * np.exp(RNG.normal(0, 0.1, n))
    return side, size, entry, margin, mark


@pytest.mark.parametrize("venue", ALL_VENUES)
@pytest.mark.parametrize("asset", ASSETS)
@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_kernel_rules_equal_rule_books(venue, asset, mode):
    mk = build_market(ALL_VENUES, ASSETS, Liquidity.uniform(ALL_VENUES, ASSETS, 1e7), prices(), 1.0)
    v = ALL_VENUES.index(venue)
    m = v * len(ASSETS) + ASSETS.index(asset)
    rules = get_venue(venue)
    table = mk.tables[(venue, asset)]
    side, size, entry, margin, mark = sample(400, {"BTC": 1e5, "ETH": 3e3}[asset])
    lp_book = rules.liquidation_price(side, size, entry, margin, table, mode=mode)
    fixed = mk.ven_i[v, C.FIXED_MM_ISO] == 1 and mode == "isolated"
    args = (mk.rates, mk.amounts, mk.caps, mk.mkt_i, mk.mkt_f)
    lp_k = np.array([C.liquidation_price(float(s), q, e, c, m, fixed, *args)
                     for s, q, e, c in zip(side, size, entry, margin)])
    np.testing.assert_array_equal(lp_k, lp_book)  # same arithmetic, same bits
    mm_book = rules.maintenance_margin(size, mark, table, entry=entry, mode="cross")
    mm_k = np.array([C.maintenance_at(q, p, m, *args) for q, p in zip(size, mark)])
    np.testing.assert_allclose(mm_k, mm_book, rtol=1e-12)
    step_book = rules.liquidation_step(size, mark, table)
    step_k = np.array([C.step_size(q, p, m, v, mk.caps, mk.mkt_i, mk.mkt_f, mk.ven_i, mk.ven_f)
                       for q, p in zip(size, mark)])
    np.testing.assert_allclose(step_k, step_book, rtol=1e-12)
    rem = RNG.normal(0, 1e4, len(size))
    fee_book = rules.liquidation_fee(size * mark, rem, table.symbol)
    fee_k = np.array([C.liquidation_fee(n, r, m, v, mk.mkt_f, mk.ven_i) for n, r in zip(size * mark, rem)])
    np.testing.assert_allclose(fee_k, fee_book, rtol=1e-12)
    key_book = rules.adl_rank_key(side, size, entry, mark, margin, mm_book)
    key_k = np.array([C.adl_key(float(s), q, e, p, c, m, v, *args, mk.ven_i)
                      for s, q, e, p, c in zip(side, size, entry, mark, margin)])
    np.testing.assert_allclose(key_k, key_book, rtol=1e-12)
    eq = margin + side * size * (mark - entry)
    bs_book = rules.backstop_triggered(eq, mm_book)
    bs_k = eq < mk.ven_f[v, C.BACKSTOP_FRAC] * mm_book if mk.ven_f[v, C.BACKSTOP_FRAC] > 0 else np.zeros(len(eq), bool)
    np.testing.assert_array_equal(bs_k, bs_book)
