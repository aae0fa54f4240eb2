"""The compiled loop restates each rule book's liquidation price, maintenance margin, liquidation
step, fee and ADL key; these tests hold the restatements to the rule books on random positions,
so a rule-book change the kernel misses fails here."""

import numpy as np
import pytest

from liqcascade.engine import Liquidity
from liqcascade.engine import core as C
from liqcascade.engine.run import build_market
from liqcascade.venues import get_venue

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
    kr = mk.rules()
    lp_k = np.array(
        [C.liquidation_price(float(s), q, e, c, m, fixed, kr) for s, q, e, c in zip(side, size, entry, margin)]
    )
    np.testing.assert_array_equal(lp_k, lp_book)  # same arithmetic, same bits
    mm_book = rules.maintenance_margin(size, mark, table, entry=entry, mode="cross")
    mm_k = np.array([C.maintenance_at(q, p, m, kr) for q, p in zip(size, mark)])
    np.testing.assert_allclose(mm_k, mm_book, rtol=1e-12)
    step_book = rules.liquidation_step(size, mark, table)
    step_k = np.array([C.step_size(q, p, m, v, kr) for q, p in zip(size, mark)])
    np.testing.assert_allclose(step_k, step_book, rtol=1e-12)
    rem = RNG.normal(0, 1e4, len(size))
    fee_book = rules.liquidation_fee(size * mark, rem, table.symbol)
    fee_k = np.array([C.liquidation_fee(n, r, m, v, kr) for n, r in zip(size * mark, rem)])
    np.testing.assert_allclose(fee_k, fee_book, rtol=1e-12)
    key_book = rules.adl_rank_key(side, size, entry, mark, margin, mm_book)
    key_k = np.array(
        [C.adl_key(float(s), q, e, p, c, m, v, kr) for s, q, e, p, c in zip(side, size, entry, mark, margin)]
    )
    np.testing.assert_allclose(key_k, key_book, rtol=1e-12)
    eq = margin + side * size * (mark - entry)
    bs_book = rules.backstop_triggered(eq, mm_book)
    bs_k = eq < mk.ven_f[v, C.BACKSTOP_FRAC] * mm_book if mk.ven_f[v, C.BACKSTOP_FRAC] > 0 else np.zeros(len(eq), bool)
    np.testing.assert_array_equal(bs_k, bs_book)


def _lp_kernel(mk, m, side, size, entry, margin, mode):
    from liqcascade.engine.run import liquidation_prices_into

    return liquidation_prices_into(
        mk,
        side,
        size,
        entry,
        margin,
        np.full(len(size), m, np.int16),
        np.full(len(size), 1 if mode == "cross" else 0, np.int8),
        np.empty(len(size)),
    )


@pytest.mark.parametrize("venue", ALL_VENUES)
@pytest.mark.parametrize("asset", ASSETS)
def test_kernel_lp_finds_the_tier_of_the_extreme_line(venue, asset):
    """The kernel looks for the tier holding q*LP and takes the extreme over it and its
    neighbours; the rule books take the extreme over all lines.  Same bits on many random
    positions (leverage up to 150x, notional to 2e9) and on positions whose LP sits on a tier cap
    (notional at the LP = cap * (1 + d), d from -1e-9 to 1e-9)."""
    mk = build_market(ALL_VENUES, ASSETS, Liquidity.uniform(ALL_VENUES, ASSETS, 1e7), prices(), 1.0)
    v = ALL_VENUES.index(venue)
    m = v * len(ASSETS) + ASSETS.index(asset)
    rules, table = get_venue(venue), mk.tables[(venue, asset)]
    rng = np.random.default_rng([7, v, m])
    p0 = {"BTC": 1e5, "ETH": 3e3}[asset]
    n = 20_000
    side = rng.choice(np.array([-1, 1], np.int8), n)
    entry = p0 * np.exp(rng.normal(0, 0.05, n))
    notional = np.exp(rng.uniform(np.log(1e2), np.log(2e9), n))
    size = notional / entry
    margin = notional / np.exp(rng.uniform(0, np.log(150), n))
    rows = []
    for k in range(int(mk.mkt_i[m, C.NTIER]) - 1):
        cap = mk.caps[m, k] * (table.contract_size if table.basis == "contracts" else 1.0)
        for d in (-1e-9, -1e-12, -1e-15, 0.0, 1e-15, 1e-12, 1e-9):
            for s in (1, -1):
                for lp in (0.9 * p0, 1.1 * p0):
                    q = cap * (1 + d) / lp if table.basis != "contracts" else cap * (1 + d)
                    e = lp / 0.93 if s > 0 else lp / 1.07
                    mm = float(rules.maintenance_margin(np.array([q]), np.array([lp]), table, mode="cross")[0])
                    if mm - s * q * (lp - e) > 0:
                        rows.append((s, q, e, mm - s * q * (lp - e)))
    if rows:
        b = np.array(rows)
        side = np.r_[side, b[:, 0].astype(np.int8)]
        size, entry, margin = np.r_[size, b[:, 1]], np.r_[entry, b[:, 2]], np.r_[margin, b[:, 3]]
    for mode in ("isolated", "cross"):
        book = rules.liquidation_price(side, size, entry, margin, table, mode=mode)
        np.testing.assert_array_equal(_lp_kernel(mk, m, side, size, entry, margin, mode), book)
