"""Venue rule books as specifications: published examples, the margin identity, properties over
random positions, and the vectorised kernel against a slow obvious reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from liqcascade.errors import InputError
from liqcascade.venues import VENUES, TierTable, derive_maintenance_amounts, get_venue
from liqcascade.venues import margin as m

VENUE_NAMES = list(VENUES)


def available_venues():
    out = []
    for name in VENUE_NAMES:
        try:
            get_venue(name)
        except FileNotFoundError:  # a table file not yet bundled
            continue
        out.append(name)
    return out


# ----------------------------------------------------------------------------- reference
def reference_liquidation_price(
    venue, side: int, q: float, e: float, collateral: float, table: TierTable, mode="isolated", taker_fee=None
) -> float:
    """Slow and literal: solve with the entry tier, find the tier that holds Q*LP, re-solve until
    consistent (a long's negative LP means a notional of ~0 at the LP, tier 0; 0 is returned only
    when that is consistent).  Falls back to trying every tier when the iteration does not settle."""
    extra = venue._extra_rate(taker_fee)
    if table.basis == "contracts":
        k = min(int(table.tier_index(q / table.contract_size)), table.n_tiers - 1)
        r = table.mmr[k] + extra
        lp = (collateral - side * q * e) / (q * r - side * q)
        return max(lp, 0.0) if side > 0 else lp
    if venue.name == "bybit" and mode == "isolated":
        k = min(int(table.tier_index(q * e)), table.n_tiers - 1)
        mm = q * e * table.mmr[k] - table.maintenance_amount[k]
        lp = e - side * (collateral - mm) / q
        return max(lp, 0.0) if side > 0 else lp

    def solve(k):
        r = table.mmr[k] + extra
        return (collateral + table.maintenance_amount[k] - side * q * e) / (q * r - side * q)

    k = min(int(table.tier_index(q * e)), table.n_tiers - 1)
    for _ in range(60):
        lp = solve(k)
        # a long whose LP at this tier is negative: the notional at the LP is ~0, i.e. tier 0,
        # which may give a positive LP (the entry tier's rate can overstate the maintenance)
        k2 = min(int(table.tier_index(q * max(lp, 0.0))), table.n_tiers - 1)
        if k2 == k:
            return max(lp, 0.0) if side > 0 else lp
        k = k2
    consistent = [
        solve(k)
        for k in range(table.n_tiers)
        if min(int(table.tier_index(q * max(solve(k), 0.0))), table.n_tiers - 1) == k
    ]
    assert consistent, "no consistent tier"
    return max(consistent[0], 0.0) if side > 0 else consistent[0]


# ----------------------------------------------------------------------------- published examples
def test_binance_calculator_eth_example_to_the_cent():
    v = get_venue("binance")
    t = TierTable.single("binance", "ETH/USDT:USDT", mmr=0.10, max_leverage=10, maintenance_amount=135_365)
    lp = float(v.liquidation_price("long", 3_683.979, 1_456.84, 1_535_443.01, t)[()])
    assert abs(lp - 1_114.78) < 0.01


def test_binance_calculator_btc_example_to_the_cent():
    v = get_venue("binance")
    t = TierTable.single("binance", "BTC/USDT:USDT", mmr=0.025, max_leverage=20, maintenance_amount=16_300)
    lp = float(v.liquidation_price("long", 109.488, 32_481.98, 1_535_443.01, t)[()])
    assert abs(lp - 18_778.73) < 0.01


def test_bybit_published_example_19700():
    v = get_venue("bybit")
    t = v.tier_table("BTC/USDT:USDT")
    # 1 BTC long at 20,000, 50x: IM 400, MM 100 (MMR 0.5 %, MMD 0) -> 19,700
    f = v.margin_figures("long", 1.0, 20_000.0, 400.0, t)
    assert float(f.liquidation_price[()]) == pytest.approx(19_700.0, abs=1e-9)
    assert float(f.maintenance_margin[()]) == pytest.approx(100.0, abs=1e-9)
    assert float(f.bankruptcy_price[()]) == pytest.approx(19_600.0, abs=1e-9)


def test_tier_at_liquidation_example_binance():
    """100 BTC long at 30,000, 10x: 27,157.07 with the entry tier, 27,167.09 consistent."""
    v = get_venue("binance")
    t = v.tier_table("BTC/USDT:USDT")
    f = v.margin_figures("long", 100.0, 30_000.0, 300_000.0, t)
    assert round(float(f.liquidation_price[()]), 2) == 27_167.09
    assert int(f.tier[()]) == 3  # 2.7M notional at the liquidation price: tier 3
    # the entry tier (tier 4, 1 %, cum 11,450) would give the published wrong answer
    wrong = (300_000 + 11_450 - 100 * 30_000) / (100 * 0.01 - 100)
    assert round(wrong, 2) == 27_157.07


def test_binance_cum_column_is_the_recursion():
    t = get_venue("binance").tier_table("BTC/USDT:USDT")
    np.testing.assert_allclose(t.maintenance_amount, derive_maintenance_amounts(t.floors, t.mmr), atol=1e-6)
    assert t.maintenance_amount[6] == 2_981_450


def test_bybit_mmd_recursion_published_values():
    t = get_venue("bybit").tier_table("BTC/USDT:USDT")
    assert t.maintenance_amount[1] == pytest.approx(1_200)
    assert t.maintenance_amount[7] == pytest.approx(20_500)
    assert t.maintenance_amount[19] == pytest.approx(1_482_000)


def test_hyperliquid_formula_identity():
    """Hyperliquid's own form liq = P - s*avail/Q/(1 - l*s) equals the common equation."""
    v = get_venue("hyperliquid")
    t = v.tier_table("ETH/USDC:USDC")
    rng = np.random.default_rng(7)
    for _ in range(200):
        s = rng.choice([1, -1])
        q = rng.uniform(0.01, 500)
        e = rng.uniform(1_000, 5_000)
        lev = rng.uniform(1.5, 25)
        margin = q * e / lev
        p = e * rng.uniform(0.97, 1.03)  # any current mark inside tier 1
        l = 1 / (2 * 25)
        avail = margin + s * q * (p - e) - q * p * l
        hl = p - s * avail / q / (1 - l * s)
        ours = float(v.liquidation_price(int(s), q, e, margin, t)[()])
        if q * ours < 100e6:  # the identity is stated for the first tier
            assert ours == pytest.approx(max(hl, 0.0), rel=1e-12, abs=1e-9)


def test_hyperliquid_mmr_is_half_initial_at_max_leverage():
    v = get_venue("hyperliquid")
    for sym, lev in (("BTC/USDC:USDC", 40), ("ETH/USDC:USDC", 25), ("SOL/USDC:USDC", 20)):
        t = v.tier_table(sym)
        assert t.max_leverage[0] == lev
        assert t.mmr[0] == pytest.approx(1 / (2 * lev))


def test_okx_fee_in_denominator():
    try:
        v = get_venue("okx")
    except FileNotFoundError:
        pytest.skip("OKX tier table not bundled yet")
    t = TierTable.single("okx", "BTC/USDT:USDT", mmr=0.004, max_leverage=100)
    q, e, margin, fee = 2.0, 50_000.0, 2_000.0, 0.0005
    lp = float(v.liquidation_price("long", q, e, margin, t, taker_fee=fee)[()])
    assert lp == pytest.approx((e - margin / q) / (1 - (0.004 + fee)), rel=1e-14)
    lp_s = float(v.liquidation_price("short", q, e, margin, t, taker_fee=fee)[()])
    assert lp_s == pytest.approx((e + margin / q) / (1 + (0.004 + fee)), rel=1e-14)


def test_symbol_resolution_and_unknowns():
    assert get_venue("hyperliquid").tier_table("BTC/USDT:USDT").symbol == "BTC/USDC:USDC"
    with pytest.raises(InputError, match="venue"):
        get_venue("deribit")
    with pytest.raises(InputError, match="symbol"):
        get_venue("binance").tier_table("NOPE/USDT:USDT")


def test_opening_checks():
    v = get_venue("binance")
    t = v.tier_table("BTC/USDT:USDT")
    with pytest.raises(InputError, match="leverage"):
        v.check_opening(10.0, 95_000.0, 950_000 / 80, t)  # 950k notional is tier 3: 75x max
    v.check_opening(10.0, 95_000.0, 950_000 / 75, t)
    with pytest.raises(InputError, match="margin"):
        v.check_opening(1.0, 95_000.0, 1_000.0, t, leverage=10)  # needs 9,500
    with pytest.raises(InputError, match="size"):
        v.check_opening(-1.0, 95_000.0, 1_000.0, t)
    with pytest.raises(InputError, match="size"):
        v.check_opening(30_000.0, 95_000.0, 3e9, t)  # beyond the last tier


def test_tier_table_validation():
    with pytest.raises(InputError, match="contiguous"):
        TierTable.from_rows(
            "x",
            "A",
            [dict(floor=0, cap=10, max_leverage=10, mmr=0.01), dict(floor=20, cap=30, max_leverage=5, mmr=0.02)],
        )
    with pytest.raises(InputError, match="fall"):
        TierTable.from_rows(
            "x",
            "A",
            [dict(floor=0, cap=10, max_leverage=10, mmr=0.02), dict(floor=10, cap=30, max_leverage=5, mmr=0.01)],
        )
    with pytest.raises(InputError, match="continuous"):
        TierTable.from_rows(
            "x",
            "A",
            [
                dict(floor=0, cap=10, max_leverage=10, mmr=0.01, maintenance_amount=0),
                dict(floor=10, cap=30, max_leverage=5, mmr=0.02, maintenance_amount=7),
            ],
        )


# ----------------------------------------------------------------------------- properties
@st.composite
def positions(draw):
    name = draw(st.sampled_from(available_venues()))
    v = get_venue(name)
    sym = draw(st.sampled_from(v.symbols()))
    t = draw(st.sampled_from(v.table_versions(sym)))  # every dated version, not only the latest
    side = draw(st.sampled_from([1, -1]))
    entry = draw(st.floats(10.0, 200_000.0))
    if t.basis == "contracts":
        hi = min(t.caps[-1], 1e7) * 0.9
        contracts = draw(st.floats(1.0, hi))
        q = contracts * t.contract_size
    else:
        notional = math.exp(draw(st.floats(math.log(50.0), math.log(min(t.caps[-1], 2e9) * 0.9))))
        q = notional / entry
    k = int(t.tier_index(t.measure(q, entry)))
    assume(k < t.n_tiers)
    max_lev = float(t.max_leverage[k])
    lev = draw(st.floats(min(1.2, max_lev), max_lev))
    extra = draw(st.floats(0.0, 0.5))
    margin = q * entry / lev * (1 + extra)
    mode = draw(st.sampled_from(["isolated", "cross"]))
    return v, t, side, q, entry, margin, mode


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(positions())
def test_equity_equals_maintenance_at_liquidation(p):
    v, t, s, q, e, margin, mode = p
    f = v.margin_figures(s, q, e, margin, t, mode=mode)
    lp = float(f.liquidation_price[()])
    assume(lp > 0)
    eq = float(m.equity(s, q, e, margin, lp)[()])
    mm = float(v.maintenance_margin(q, lp, t, entry=e, mode=mode)[()])
    assert eq == pytest.approx(mm, abs=1e-9 * q * e + 1e-9)
    assert float(f.maintenance_margin[()]) == pytest.approx(mm, abs=1e-9 * q * e + 1e-9)


@SETTINGS
@given(positions())
def test_liquidation_between_entry_and_bankruptcy(p):
    v, t, s, q, e, margin, mode = p
    f = v.margin_figures(s, q, e, margin, t, mode=mode)
    lp, bp = float(f.liquidation_price[()]), float(f.bankruptcy_price[()])
    assert float(f.maintenance_margin[()]) >= 0 and float(f.maintenance_margin_at_entry[()]) >= 0
    if s > 0:
        assert lp < e
        assert lp >= bp
        if bp > 0:
            assert lp > bp
    else:
        assert e < lp < bp


@SETTINGS
@given(positions(), st.floats(1.0001, 3.0))
def test_more_margin_never_brings_liquidation_closer(p, factor):
    v, t, s, q, e, margin, mode = p
    lp1 = float(v.liquidation_price(s, q, e, margin, t, mode=mode)[()])
    lp2 = float(v.liquidation_price(s, q, e, margin * factor, t, mode=mode)[()])
    if s > 0:
        assert lp2 <= lp1
    else:
        assert lp2 >= lp1


@SETTINGS
@given(positions())
def test_kernel_equals_iterate_to_consistency_reference(p):
    v, t, s, q, e, margin, mode = p
    fast = float(v.liquidation_price(s, q, e, margin, t, mode=mode)[()])
    slow = reference_liquidation_price(v, s, q, e, margin, t, mode=mode)
    assert fast == pytest.approx(slow, rel=1e-12, abs=1e-9)
    if t.basis == "notional" and not (v.name == "bybit" and mode == "isolated") and fast > 0:
        f = v.margin_figures(s, q, e, margin, t, mode=mode)
        k = int(f.tier[()]) - 1
        n = q * fast
        assert t.floors[k] - 1e-6 <= n  # the tier holds Q*LP (the last tier extends beyond its cap)
        assert n <= t.caps[k] + 1e-6 or k == t.n_tiers - 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(positions(), min_size=1, max_size=40))
def test_vectorised_equals_scalar(ps):
    # group by (venue, table, mode) as a caller would, one call per group
    groups: dict = {}
    for p in ps:
        groups.setdefault((p[0].name, p[1].symbol, p[6]), []).append(p)
    for (_, _, mode), rows in groups.items():
        v, t = rows[0][0], rows[0][1]
        side = np.array([r[2] for r in rows])
        q, e, mg = (np.array([r[i] for r in rows]) for i in (3, 4, 5))
        vec = v.margin_figures(side, q, e, mg, t, mode=mode)
        for i, r in enumerate(rows):
            one = v.margin_figures(r[2], r[3], r[4], r[5], t, mode=mode)
            for field in ("liquidation_price", "bankruptcy_price", "maintenance_margin", "tier"):
                assert getattr(vec, field)[i] == getattr(one, field)[()]


def test_python_fallback_equals_compiled():
    """The plain-Python kernel (no Numba) gives the same numbers as the compiled one."""
    t = get_venue("binance").tier_table("BTC/USDT:USDT")
    rng = np.random.default_rng(3)
    n = 500
    side = rng.choice([1, -1], n).astype(np.int8)
    q = rng.uniform(0.001, 2_000, n)
    e = rng.uniform(20_000, 120_000, n)
    c = q * e / rng.uniform(1.5, 20, n)
    x = np.zeros(n)
    out_c = np.empty(n)
    out_p = np.empty(n)
    m._liq_price_lines(side, q, e, c, t.mmr, t.maintenance_amount, x, out_c)
    m._liq_price_lines.py_func(side, q, e, c, t.mmr, t.maintenance_amount, x, out_p)
    np.testing.assert_array_equal(out_c, out_p)


# ----------------------------------------------------------------------------- cross margin
def test_cross_liquidation_accounts_for_other_positions_across_assets():
    v = get_venue("binance")
    btc, eth = v.tier_table("BTC/USDT:USDT"), v.tier_table("ETH/USDT:USDT")
    wallet = 20_000.0
    # account: long 2 BTC at 95,000 (mark 90,000) and long 30 ETH at 3,800 (mark 3,400)
    q = np.array([2.0, 30.0])
    e = np.array([95_000.0, 3_800.0])
    mark = np.array([90_000.0, 3_400.0])
    upnl = q * (mark - e)
    mm = np.array(
        [float(v.maintenance_margin(q[0], mark[0], btc)[()]), float(v.maintenance_margin(q[1], mark[1], eth)[()])]
    )
    coll = m.cross_collateral(np.array([0, 0]), np.array([wallet]), upnl, mm)
    lp_btc = float(v.liquidation_price("long", q[0], e[0], coll[0], btc, mode="cross")[()])
    # at that BTC price, with ETH at its mark, the whole account's equity equals its whole MM
    equity = wallet + q[0] * (lp_btc - e[0]) + upnl[1]
    total_mm = float(v.maintenance_margin(q[0], lp_btc, btc)[()]) + mm[1]
    assert equity == pytest.approx(total_mm, rel=1e-12)
    # the losing ETH leg brings BTC's liquidation closer than with the wallet alone
    alone = float(v.liquidation_price("long", q[0], e[0], wallet, btc, mode="cross")[()])
    assert lp_btc > alone


def test_cross_collateral_by_account():
    coll = m.cross_collateral(
        np.array([0, 1, 0, 1]),
        np.array([100.0, 50.0]),
        np.array([10.0, -5.0, -20.0, 1.0]),
        np.array([1.0, 2.0, 3.0, 4.0]),
    )
    np.testing.assert_allclose(coll, [100 - 23, 50 - 3, 100 + 9, 50 - 7])


# ----------------------------------------------------------------------------- procedures
def test_partial_liquidation_policies():
    b = get_venue("binance")
    t = b.tier_table("BTC/USDT:USDT")
    # 100 BTC at 27,000: 2.7M notional in tier 3; one step takes it down to tier 2's cap (600k)
    step = float(b.liquidation_step(100.0, 27_000.0, t)[()])
    assert step == pytest.approx(100.0 - 600_000 / 27_000)
    assert float(b.liquidation_step(1.0, 27_000.0, t)[()]) == 1.0  # tier 1: whole
    h = get_venue("hyperliquid")
    th = h.tier_table("BTC/USDC:USDC")
    assert float(h.liquidation_step(10.0, 60_000.0, th)[()]) == pytest.approx(2.0)  # 600k > 100k: 20 %
    assert float(h.liquidation_step(1.0, 60_000.0, th)[()]) == 1.0
    assert h.procedure.cooldown_s == 30.0
    assert bool(h.backstop_triggered(60.0, 100.0)[()]) and not bool(h.backstop_triggered(70.0, 100.0)[()])


def test_liquidation_fees_and_recipients():
    b = get_venue("binance")
    assert float(b.liquidation_fee(100_000.0, 5_000.0, "BTC/USDT:USDT")[()]) == pytest.approx(300.0)
    assert float(b.liquidation_fee(100_000.0, 100.0, "BTC/USDT:USDT")[()]) == pytest.approx(100.0)  # capped
    assert float(get_venue("bybit").liquidation_fee(100_000.0, 420.0)[()]) == pytest.approx(420.0)
    assert float(get_venue("hyperliquid").liquidation_fee(100_000.0, 420.0)[()]) == 0.0
    assert get_venue("hyperliquid").procedure.fee_recipient == "liquidator_vault"
    assert {get_venue(n).procedure.feed_throttle_s for n in ("binance",)} == {1.0}


def test_adl_rank_keys_rank_profit_and_leverage():
    for name in available_venues():
        v = get_venue(name)
        # two profitable shorts (price fell from 100 to 80) and one losing long
        side = np.array([-1, -1, 1])
        size = np.array([10.0, 10.0, 10.0])
        entry = np.array([100.0, 100.0, 100.0])
        coll = np.array([100.0, 500.0, 100.0])  # the first is more leveraged
        key = v.adl_rank_key(side, size, entry, 80.0, coll, np.array([5.0, 5.0, 5.0]))
        assert key[0] > key[1] > key[2]
        assert key[2] == -np.inf


def test_a_barely_leveraged_long_whose_entry_tier_gives_a_negative_lp():
    """Found by Hypothesis: a 1.09x long on Binance SOLUSDT, $178M notional (tier 9, MMR 25 %)
    whose LP with the entry tier is negative; at the LP the notional is ~$15M (tier 6, MMR 5 %)
    and the consistent LP is positive: 0.8637 USD."""
    v = get_venue("binance")
    t = v.tier_table("SOL/USDT:USDT")
    q, e, margin = 17_848_230.096318725, 10.0, 163_608_775.88292164
    lp = float(v.liquidation_price(1, q, e, margin, t)[()])
    k = int(t.tier_index(q * lp))
    assert t.mmr[k] == 0.05
    assert lp == pytest.approx((margin + t.maintenance_amount[k] - q * e) / (q * t.mmr[k] - q), rel=1e-12)
    assert lp == pytest.approx(reference_liquidation_price(v, 1, q, e, margin, t), rel=1e-12)
