"""Population synthesis: open interest met exactly, the leverage mix, survivorship, accounts,
determinism, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from liqcascade.errors import InputError
from liqcascade.population import MODE_CROSS, MarketSpec, PopulationParams, synthesize
from liqcascade.venues import get_venue

NOW = 1_770_249_600_000  # 2026-02-05 00:00 UTC, ms
DAY = 86_400_000
BTC = [(NOW - 30 * DAY, 95_000), (NOW - 14 * DAY, 90_000), (NOW - 6 * DAY, 80_000), (NOW, 73_000)]
ETH = [(NOW - 30 * DAY, 3_800), (NOW - 14 * DAY, 3_300), (NOW - 6 * DAY, 2_700), (NOW, 2_150)]
MARKETS = [
    MarketSpec("binance", "BTC", 2e8, 0.6),
    MarketSpec("bybit", "ETH", 1e8, 0.7),
    MarketSpec("hyperliquid", "BTC", 5e7, 0.5),
    MarketSpec("hyperliquid", "ETH", 5e7, 0.8),
]


@pytest.fixture(scope="module")
def pop():
    return synthesize(MARKETS, {"BTC": BTC, "ETH": ETH}, now_ms=NOW, seed=11)


def test_open_interest_met_per_venue_asset_side(pop):
    notional = pop.size * pop.entry
    for m in MARKETS:
        sel = (pop.venue == pop.venues.index(m.venue)) & (pop.asset == pop.assets.index(m.asset))
        longs = notional[sel & (pop.side == 1)].sum()
        shorts = notional[sel & (pop.side == -1)].sum()
        assert longs == pytest.approx(m.open_interest_usd * m.long_share, rel=1e-9)
        assert shorts == pytest.approx(m.open_interest_usd * (1 - m.long_share), rel=1e-9)


def test_leverage_mix_most_notional_2_to_10x_retail_tail_large_in_count(pop):
    notional = pop.size * pop.entry
    core = (pop.leverage >= 2) & (pop.leverage <= 10)
    tail = pop.leverage >= 20
    assert notional[core].sum() / notional.sum() > 0.6
    assert notional[tail].sum() / notional.sum() < 0.15
    assert tail.mean() > 0.3  # large in count


def test_no_position_starts_already_liquidated(pop):
    """Survivorship: every position's liquidation price lies beyond every price since its entry."""
    for vi, vname in enumerate(pop.venues):
        rules = get_venue(vname)
        for ai, asset in enumerate(pop.assets):
            sel = (pop.venue == vi) & (pop.asset == ai)
            if not sel.any():
                continue
            t = rules.tier_table(f"{asset}/USDT:USDT")
            lp = rules.liquidation_price(pop.side[sel], pop.size[sel], pop.entry[sel], pop.margin[sel], t)
            path = np.array(BTC if asset == "BTC" else ETH, dtype=float)
            grid = np.arange(NOW - 21 * DAY, NOW + 1, 300_000)
            px = np.interp(grid, path[:, 0], path[:, 1])
            after = np.searchsorted(grid, pop.entry_time[sel])
            band = 2 * 0.4 * np.sqrt((NOW - grid[after]) / DAY / 365)
            lo = np.minimum.accumulate(px[::-1])[::-1][after] * (1 - band)
            hi = np.maximum.accumulate(px[::-1])[::-1][after] * (1 + band)
            s = pop.side[sel]
            assert np.all(np.where(s > 0, lo > lp, hi < lp))


def test_leverage_within_tier_caps_and_entries_inside_traded_range(pop):
    for vi, vname in enumerate(pop.venues):
        rules = get_venue(vname)
        for ai, asset in enumerate(pop.assets):
            sel = (pop.venue == vi) & (pop.asset == ai)
            if not sel.any():
                continue
            t = rules.tier_table(f"{asset}/USDT:USDT")
            k = np.minimum(t.tier_index(t.measure(pop.size[sel], pop.entry[sel])), t.n_tiers - 1)
            assert np.all(pop.leverage[sel] <= t.max_leverage[k] * (1 + 1e-12))
            np.testing.assert_allclose(pop.margin[sel], pop.size[sel] * pop.entry[sel] / pop.leverage[sel], rtol=1e-12)
            path = np.array(BTC if asset == "BTC" else ETH, dtype=float)
            assert pop.entry[sel].min() >= path[:, 1].min() - 1e-6
            assert pop.entry[sel].max() <= path[:, 1].max() + 1e-6


def test_accounts_cross_multi_asset_one_venue(pop):
    cross = pop.mode == MODE_CROSS
    assert 0.3 < cross.mean() < 0.6
    acct = pop.account[cross]
    ids, counts = np.unique(acct, return_counts=True)
    multi = ids[counts > 1]
    assert len(multi) > 0
    for a in multi[:200]:
        sel = pop.account == a
        assert len(np.unique(pop.venue[sel])) == 1  # one venue per account
        assert len(np.unique(pop.asset[sel])) == sel.sum()  # one position per asset
    assert np.all(pop.wallet[acct] > 0)
    assert np.all(pop.wallet[pop.account[~cross]] == 0)


def test_real_counts_and_determinism(pop):
    again = synthesize(MARKETS, {"BTC": BTC, "ETH": ETH}, now_ms=NOW, seed=11)
    for name in ("account", "venue", "asset", "side", "size", "entry", "margin", "mode", "leverage"):
        assert np.array_equal(getattr(pop, name), getattr(again, name))
    other = synthesize(MARKETS, {"BTC": BTC, "ETH": ETH}, now_ms=NOW, seed=12)
    assert not np.array_equal(pop.size, other.size)


@pytest.mark.parametrize("n_positions", [2_000, 5_000, 20_000])
def test_reduced_draw_holds_about_n_and_its_scale_gives_the_real_count(pop, n_positions):
    """Issue 19 item 5: survivorship removes most of the retail tail, at every count; a reduced
    draw still holds about the requested count after it, and its scale times its count is the
    count of the full draw (not the count before survivorship)."""
    n = synthesize(MARKETS, {"BTC": BTC, "ETH": ETH}, now_ms=NOW, seed=1, n_positions=n_positions)
    assert len(n) == pytest.approx(n_positions, rel=0.05)
    assert n.dropped > 0.3 * len(n)  # survivorship is at work (the real count is well below the candidates')
    assert pop.meta["implied_count"] == pytest.approx(len(pop), rel=1e-3)
    assert n.meta["implied_count"] == pytest.approx(len(pop), rel=0.05)
    assert n.meta["count_before_survivorship"] > 1.5 * len(pop)


def test_refusals():
    with pytest.raises(InputError, match="open_interest"):
        MarketSpec("binance", "BTC", -1.0)
    with pytest.raises(InputError, match="history"):
        synthesize([MarketSpec("binance", "BTC", 1e6)], {"BTC": [(NOW, 1.0)]}, now_ms=NOW)
    with pytest.raises(InputError, match="histories"):
        synthesize([MarketSpec("binance", "SOL", 1e6)], {"BTC": BTC}, now_ms=NOW)
    with pytest.raises(ValueError, match="sum to 1"):
        PopulationParams(leverage_mix=[dict(low=2, high=5, notional_share=0.5, mean_notional_usd=100)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_small_populations_fit_within_the_largest_tier(seed):
    """Few positions for a large open interest: sizes are water-filled up to 95 % of the largest
    tier, and the open interest is still met exactly."""
    m = [MarketSpec("bybit", "BTC", 5e9, 0.6)]  # Bybit BTC's largest tier ends at 80M USD
    pop = synthesize(m, {"BTC": BTC}, now_ms=NOW, seed=seed, n_positions=300)
    notional = pop.size * pop.entry
    assert notional.max() <= 0.95 * 80e6 * (1 + 1e-9)
    assert notional.sum() == pytest.approx(5e9, rel=1e-9)


def test_openers_are_pending_entry_orders_below_the_start_with_the_stated_share():
    """Openers: pending positions whose notional is share_of_oi of each market's OI, split long /
    short by short_share, entries between start*(1-max_drawdown) and the start, never in a
    multi-asset cross account; the standing population is unchanged by their presence."""
    from liqcascade.population import OpenerParams

    params = PopulationParams(
        multi_asset_share=0.5, openers=OpenerParams(share_of_oi=0.2, short_share=0.7, max_drawdown=0.1)
    )
    pop = synthesize(MARKETS, {"BTC": BTC, "ETH": ETH}, now_ms=NOW, seed=11, params=params)
    pend = pop.is_pending
    assert pend.any() and not pend.all()
    start = {"BTC": 73_000.0, "ETH": 2_150.0}
    notional = pop.size * pop.entry
    for m in MARKETS:
        sel = pend & (pop.venue == pop.venues.index(m.venue)) & (pop.asset == pop.assets.index(m.asset))
        short = notional[sel & (pop.side == -1)].sum()
        long_ = notional[sel & (pop.side == 1)].sum()
        assert short + long_ == pytest.approx(0.2 * m.open_interest_usd, rel=1e-6)
        assert short == pytest.approx(0.7 * 0.2 * m.open_interest_usd, rel=1e-6)
        e = pop.entry[sel]
        assert np.all(e <= start[m.asset] * (1 + 1e-12)) and np.all(e >= start[m.asset] * 0.9 * (1 - 1e-12))
        # the standing book still meets the open interest exactly
        standing = ~pend & (pop.venue == pop.venues.index(m.venue)) & (pop.asset == pop.assets.index(m.asset))
        assert notional[standing].sum() == pytest.approx(m.open_interest_usd, rel=1e-9)
    # pending cross positions are single-position accounts
    cross = pend & (pop.mode == MODE_CROSS)
    counts = np.bincount(pop.account, minlength=pop.n_accounts)
    assert np.all(counts[pop.account[cross]] == 1)
    again = synthesize(MARKETS, {"BTC": BTC, "ETH": ETH}, now_ms=NOW, seed=11, params=params)
    assert np.array_equal(again.entry, pop.entry) and np.array_equal(again.pending, pop.pending)


def test_openers_thin_out_to_none_at_the_start_price():
    """The openers' triggers have a density in log price rising linearly from zero at the start
    price: the share of orders within a fraction f of the log range below the start is f**2
    (an order resting at the touch would have been filled before the start).  A uniform density
    put a net sell-stop ladder right under the touch, and noise alone set off a cascade at t = 0."""
    from liqcascade.population import OpenerParams

    params = PopulationParams(openers=OpenerParams(share_of_oi=0.2, short_share=0.7, max_drawdown=0.1))
    pop = synthesize(MARKETS, {"BTC": BTC, "ETH": ETH}, now_ms=NOW, seed=11, params=params)
    start = np.where(np.array(pop.assets)[pop.asset] == "BTC", 73_000.0, 2_150.0)
    pend = pop.is_pending
    x = np.log(pop.entry[pend] / start[pend]) / np.log1p(-0.1)  # 0 at the start, 1 at the deepest
    assert len(x) > 2000 and x.min() >= -1e-12 and x.max() <= 1 + 1e-12
    for f in (0.1, 0.3, 0.5, 0.8):
        share = np.mean(x < f)
        assert share == pytest.approx(f * f, abs=4 * np.sqrt(f * f * (1 - f * f) / len(x)) + 1e-3)


def test_no_openers_leaves_the_population_as_before(pop):
    assert pop.pending is None and not pop.is_pending.any()


def test_panic_ladder_rests_deeper_at_the_retail_tails_leverage():
    """The openers' panic ladder: pending orders whose notional is panic_share_of_oi of each
    market's OI, split by panic_short_share, with triggers uniform in log price between
    start*(1-panic_min_drawdown) and start*(1-panic_max_drawdown), at the leverage of the
    mixture's highest-leverage component (20-100x), and counted in the implied real count."""
    from liqcascade.population import OpenerParams

    op = OpenerParams(
        share_of_oi=0.0, panic_share_of_oi=0.05, panic_short_share=0.8, panic_min_drawdown=0.06, panic_max_drawdown=0.15
    )
    pop = synthesize(MARKETS, {"BTC": BTC, "ETH": ETH}, now_ms=NOW, seed=11, params=PopulationParams(openers=op))
    base = synthesize(MARKETS, {"BTC": BTC, "ETH": ETH}, now_ms=NOW, seed=11)
    pend = pop.is_pending
    assert pend.any()
    start = {"BTC": 73_000.0, "ETH": 2_150.0}
    notional = pop.size * pop.entry
    for m in MARKETS:
        sel = pend & (pop.venue == pop.venues.index(m.venue)) & (pop.asset == pop.assets.index(m.asset))
        short = notional[sel & (pop.side == -1)].sum()
        assert notional[sel].sum() == pytest.approx(0.05 * m.open_interest_usd, rel=1e-6)
        assert short == pytest.approx(0.8 * 0.05 * m.open_interest_usd, rel=1e-6)
        e = pop.entry[sel]
        assert np.all(e <= start[m.asset] * 0.94 * (1 + 1e-12)) and np.all(e >= start[m.asset] * 0.85 * (1 - 1e-12))
    assert np.all(pop.leverage[pend] <= 100.0 * (1 + 1e-12))
    assert np.median(pop.leverage[pend]) > 20.0  # the retail tail (a tier cap can only lower it)
    # uniform in log price between the two depths
    s = np.where(np.array(pop.assets)[pop.asset] == "BTC", 73_000.0, 2_150.0)[pend]
    x = (np.log(pop.entry[pend] / s) - np.log(0.94)) / (np.log(0.85) - np.log(0.94))
    for f in (0.2, 0.5, 0.8):
        assert np.mean(x < f) == pytest.approx(f, abs=4 * np.sqrt(f * (1 - f) / len(x)) + 1e-3)
    # the panic orders add to the implied real count; the standing book is the one drawn without them
    assert pop.meta["implied_count"] > base.meta["implied_count"]
    for k in ("size", "entry", "side", "leverage"):
        assert np.array_equal(np.sort(getattr(pop, k)[~pend]), np.sort(getattr(base, k)))


def test_panic_ladder_needs_its_deepest_trigger_below_its_shallowest():
    from pydantic import ValidationError

    from liqcascade.population import OpenerParams

    with pytest.raises(ValidationError):
        OpenerParams(panic_min_drawdown=0.1, panic_max_drawdown=0.1)


def test_panic_ladder_off_by_default():
    from liqcascade.population import OpenerParams

    assert OpenerParams().panic_share_of_oi == 0.0
    a = synthesize(
        MARKETS,
        {"BTC": BTC, "ETH": ETH},
        now_ms=NOW,
        seed=11,
        params=PopulationParams(openers=OpenerParams(share_of_oi=0.2, short_share=0.7, max_drawdown=0.1)),
    )
    b = synthesize(
        MARKETS,
        {"BTC": BTC, "ETH": ETH},
        now_ms=NOW,
        seed=11,
        params=PopulationParams(
            openers=OpenerParams(
                share_of_oi=0.2, short_share=0.7, max_drawdown=0.1, panic_min_drawdown=0.02, panic_max_drawdown=0.3
            )
        ),
    )
    for k in ("account", "side", "size", "entry", "margin", "leverage", "pending"):
        assert np.array_equal(getattr(a, k), getattr(b, k))


def test_open_and_close_times_default_to_nan_and_follow_appended_positions(pop):
    """``open_s`` / ``close_s`` (s after the start): NaN for a standing, held position; kept
    consistent by ``with_position`` and shown by ``frame``; a wrong length is refused."""
    assert np.isnan(pop.open_s).all() and np.isnan(pop.close_s).all() and len(pop.open_s) == len(pop)
    bigger = pop.with_position(
        venue="binance", asset="BTC", side=1, size=1.0, entry=73_000.0, leverage=10.0, entry_time=NOW
    )
    assert len(bigger.open_s) == len(bigger.close_s) == len(pop) + 1 and np.isnan(bigger.open_s[-1])
    f = bigger.frame()
    assert f["open_s"].isna().all() and f["close_s"].isna().all()
    with pytest.raises(InputError, match="open_s"):
        type(pop)(
            **{
                **{
                    k: getattr(pop, k)
                    for k in (
                        "venues",
                        "assets",
                        "account",
                        "venue",
                        "asset",
                        "side",
                        "size",
                        "entry",
                        "margin",
                        "mode",
                        "leverage",
                        "entry_time",
                        "wallet",
                    )
                },
                "open_s": np.zeros(3),
            }
        )
