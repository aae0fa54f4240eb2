"""The population from the market's history (issue 21 item 3): a synthetic history with a known
map of positions, the closings of open-interest falls, conservation of the start's open interest,
determinism, the event window's openings and closings, refusals, reduced counts, and the real
January-February 2026 files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqcascade.errors import InputError
from liqcascade.population import LeverageComponent, MarketSpec, PopulationParams
from liqcascade.population_history import synthesize_from_history
from liqcascade.venues import get_venue

BAR = 300_000  # ms
START = 1_770_249_600_000  # 2026-02-05 00:00 UTC
N_LB = 20  # look-back bars
LOOKBACK_DAYS = N_LB * BAR / 86_400_000
#: two leverages, half the notional each: 2x (never liquidated here) and 50x
MIX = PopulationParams(
    leverage_mix=[
        LeverageComponent(low=2.0, high=2.0, notional_share=0.5, mean_notional_usd=60.0),
        LeverageComponent(low=50.0, high=50.0, notional_share=0.5, mean_notional_usd=60.0),
    ],
    isolated_share=1.0,
)


def _frame(prices, coins, lows=None, highs=None):
    """Bars from START - N_LB bars: flat bars at ``prices`` (USD), open interest ``coins`` (base
    units at each bar's open, valued at the open) and optional lows/highs per bar index."""
    n = len(prices)
    px = np.asarray(prices, float)
    low, high = px.copy(), px.copy()
    for i, v in (lows or {}).items():
        low[i] = v
    for i, v in (highs or {}).items():
        high[i] = v
    return pd.DataFrame(
        {
            "time_ms": START + (np.arange(n) - N_LB) * BAR,
            "open": px,
            "high": high,
            "low": low,
            "close": px,
            "oi_usd": np.asarray(coins, float) * px,
        }
    )


# The known history: open interest (base units) rises by 1,000 in bar 1 at 100, by 2,000 in bar 3
# at 110 and by 1,000 in bar 5 at 105; the move to 110 crosses the 50x shorts opened at 100, the
# move back to 105 the 50x longs opened at 110, and a dip to 104 in bar 8 crosses nothing else.
# In the event window (bars 20-29) open interest rises by 500 in bar 22 and falls by 900 in bar 25.
PRICES = [100.0] * 3 + [110.0] * 2 + [105.0] * 25
COINS = [0, 0, 1000, 1000, 3000, 3000] + [4000] * 17 + [4500] * 3 + [3600] * 4
MARKET = MarketSpec("binance", "BTC", 4000 * 105.0, 0.6)


def _known(seed=0, n_positions=None, market=MARKET):
    return synthesize_from_history(
        [market],
        {"BTC": _frame(PRICES, COINS, lows={8: 104.0})},
        start_ms=START,
        end_ms=START + 10 * BAR,
        params=MIX,
        n_positions=n_positions,
        seed=seed,
        lookback_days=LOOKBACK_DAYS,
        initial_spread_days=BAR / 86_400_000,
    )


@pytest.fixture(scope="module")
def known():
    return _known()


def _lp(pop, sel):
    rules = get_venue("binance")
    return rules.liquidation_price(
        pop.side[sel], pop.size[sel], pop.entry[sel], pop.margin[sel], rules.tier_table("BTC/USDT:USDT")
    )


def test_known_history_gives_the_known_map(known):
    pop = known
    standing = ~pop.is_pending
    # the 50x cohorts the path crossed are gone, every other cohort is there
    lev = np.round(pop.leverage, 9)  # exp(log(50)) is 50 to the last bit or two
    cells = {(s, e, lv) for s, e, lv in zip(pop.side[standing], pop.entry[standing], lev[standing])}
    assert cells == {
        (1, 100.0, 2.0),
        (1, 110.0, 2.0),
        (1, 105.0, 2.0),
        (1, 100.0, 50.0),
        (1, 105.0, 50.0),
        (-1, 100.0, 2.0),
        (-1, 110.0, 2.0),
        (-1, 105.0, 2.0),
        (-1, 110.0, 50.0),
        (-1, 105.0, 50.0),
    }
    # no crossing: the longs' liquidation prices lie below every later low, the shorts' above
    lp = _lp(pop, standing)
    longs, shorts = pop.side[standing] == 1, pop.side[standing] == -1
    entry = pop.entry[standing]
    assert np.all(lp[longs & (entry == 100.0)] < 100.0) and np.all(lp[longs & (entry == 105.0)] < 104.0)
    assert np.all(lp[longs & (entry == 110.0)] < 104.0) and np.all(lp[shorts & (entry == 100.0)] > 110.0)
    assert np.all(lp[shorts & (entry == 110.0)] > 110.0) and np.all(lp[shorts & (entry == 105.0)] > 105.0)
    # each side's USD over (entry, leverage) in the proportions the rises opened them: half per
    # leverage of 1e5 USD at 100, 2.2e5 at 110, 1.05e5 at 105, less the crossed cohorts
    opened = {100.0: 1000 * 100.0, 110.0: 2000 * 110.0, 105.0: 1000 * 105.0}
    usd = pop.size * pop.entry
    for side, gone_entry in ((1, 110.0), (-1, 100.0)):
        expect = {(e, lv): 0.5 * u for e, u in opened.items() for lv in (2.0, 50.0) if (e, lv) != (gone_entry, 50.0)}
        total = sum(expect.values())
        on_side = standing & (pop.side == side)
        largest = usd[on_side].max() / usd[on_side].sum()  # the allocation is exact to one position
        for (e, lv), u in expect.items():
            got = usd[on_side & (pop.entry == e) & (lev == lv)].sum() / usd[on_side].sum()
            assert got == pytest.approx(u / total, abs=2 * largest + 1e-9), (side, e, lv)


def test_open_interest_at_the_start_met_per_side(known):
    standing = ~known.is_pending
    coins_usd = known.size * 105.0  # the start price: the open of the bar at start_ms
    for side, share in ((1, MARKET.long_share), (-1, 1 - MARKET.long_share)):
        got = coins_usd[standing & (known.side == side)].sum()
        assert got == pytest.approx(MARKET.open_interest_usd * share, rel=1e-9)
    assert np.allclose(known.margin, known.size * known.entry / known.leverage, rtol=1e-12)


def test_event_window_openings_and_closings(known):
    pop = known
    pend = pop.is_pending
    # the rise of bar 22: 500 base units at 105, opened during that bar, 60 % long
    assert np.all((pop.open_s[pend] >= 2 * 300) & (pop.open_s[pend] < 3 * 300))
    assert np.all(np.isnan(pop.open_s[~pend]))
    assert np.all(pop.entry[pend] == 105.0)
    assert (pop.size[pend] * pop.entry[pend]).sum() == pytest.approx(500 * 105.0, rel=1e-9)
    assert (pop.size[pend & (pop.side == 1)] * 105.0).sum() == pytest.approx(0.6 * 500 * 105.0, rel=1e-9)
    assert np.all(pop.entry_time[pend] == START + np.round(pop.open_s[pend] * 1000).astype(np.int64))
    # the fall of bar 25 closes 900 base units (no liquidation there), whole positions at random
    closed = np.isfinite(pop.close_s)
    assert np.all((pop.close_s[closed] >= 5 * 300) & (pop.close_s[closed] < 6 * 300))
    p = 900 / pop.size.sum()  # the probability each live position closes
    sd = np.sqrt(p * (1 - p) * np.sum(pop.size**2))
    assert pop.size[closed].sum() == pytest.approx(900, abs=4 * sd)
    assert 0.1 < closed.mean() < 0.3
    assert np.all(pop.close_s[closed & pend] > pop.open_s[closed & pend])
    f = pop.frame()
    assert {"open_s", "close_s", "pending"} <= set(f.columns) and len(f) == len(pop)


def test_open_interest_falls_close_their_fraction_in_the_look_back():
    """A fall of a quarter of the open interest in the look-back (no liquidation: 2x only, flat
    price) leaves three quarters of the cohort opened before it, in count and in USD; the cohort
    opened after it is whole."""
    params = PopulationParams(
        leverage_mix=[LeverageComponent(low=2.0, high=2.0, notional_share=1.0, mean_notional_usd=60.0)],
        isolated_share=1.0,
    )
    prices = [100.0] * 4 + [101.0] * 26
    coins = [0, 0, 4000, 4000, 4000, 3000] + [3000] * 4 + [7000] * 20  # -1000 in bar 4, +4000 in bar 9
    pop = synthesize_from_history(
        [MarketSpec("binance", "BTC", 7000 * 101.0, 0.5)],
        {"BTC": _frame(prices, coins)},
        start_ms=START,
        end_ms=START + 10 * BAR,
        params=params,
        seed=3,
        lookback_days=LOOKBACK_DAYS,
        initial_spread_days=BAR / 86_400_000,
    )
    early, late = pop.entry == 100.0, pop.entry == 101.0
    # after the final rescale (one factor per side) the early cohort's base units stand to the late's
    # as 3,000 to 4,000
    ratio = pop.size[early].sum() / pop.size[late].sum()
    # each early position survived with probability 3/4: the variance of the survivors' sum is
    # 1/4 of the survivors' sum of squares
    sd = np.sqrt(0.25 * np.sum(pop.size[early] ** 2)) / pop.size[late].sum()
    assert ratio == pytest.approx(3000 / 4000, abs=4 * sd)
    assert early.sum() / (early.sum() + late.sum()) == pytest.approx(3 / 7, abs=0.03)  # in count too
    assert pop.meta["markets"]["binance BTC"]["closed_lookback_usd"] == pytest.approx(1000 * 100.0, rel=0.1)
    assert pop.meta["markets"]["binance BTC"]["liquidated_lookback_usd"] == 0.0


def test_deterministic_per_seed(known):
    again = _known(seed=0)
    for name in ("account", "side", "size", "entry", "margin", "leverage", "open_s", "close_s", "mode"):
        assert np.array_equal(getattr(known, name), getattr(again, name), equal_nan=name.endswith("_s"))
    other = _known(seed=1)
    assert not np.array_equal(known.size, other.size)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(oi=st.floats(1e5, 1e9), long_share=st.floats(0.05, 0.95), seed=st.integers(0, 2**31 - 1))
def test_conservation_property(oi, long_share, seed):
    """Whatever the market's size, long share and seed: the start's open interest per side is met
    to 1e-9, nothing standing is crossed by the look-back after its entry, and each event bar
    opens exactly its rise."""
    m = MarketSpec("binance", "BTC", oi, long_share)
    pop = _known(seed=seed, market=m, n_positions=3_000)
    standing = ~pop.is_pending
    for side, share in ((1, long_share), (-1, 1 - long_share)):
        assert (pop.size[standing & (pop.side == side)] * 105.0).sum() == pytest.approx(oi * share, rel=1e-9)
    k = oi / (4000 * 105.0)  # the market's scale of Binance's open interest
    assert (pop.size[~standing] * 105.0).sum() == pytest.approx(500 * 105.0 * k, rel=1e-9)
    lp = _lp(pop, standing)
    longs = pop.side[standing] == 1
    assert np.all(lp[longs] < 104.0) and np.all(lp[~longs][pop.entry[standing][~longs] == 100.0] > 110.0)


def test_reduced_count_draws_about_n_and_scales_to_the_real_count(known):
    n = _known(seed=2, n_positions=1_500)
    assert len(n) == pytest.approx(1_500, rel=0.1)
    assert n.meta["implied_count"] == pytest.approx(len(known), rel=0.05)
    assert known.meta["implied_count"] == pytest.approx(len(known), rel=1e-3)  # counts are whole
    assert n.meta["count_before_survivorship"] > len(known)


def test_refusals():
    frame = _frame(PRICES, COINS)
    kw = dict(params=MIX, lookback_days=LOOKBACK_DAYS)
    with pytest.raises(InputError, match="no bars for asset ETH"):
        synthesize_from_history([MarketSpec("binance", "ETH", 1e6)], {"BTC": frame}, start_ms=START, end_ms=START, **kw)
    with pytest.raises(InputError, match="oi_usd"):
        synthesize_from_history([MARKET], {"BTC": frame.drop(columns="oi_usd")}, start_ms=START, end_ms=START, **kw)
    with pytest.raises(InputError, match="no bar opening at start_ms"):
        synthesize_from_history([MARKET], {"BTC": frame}, start_ms=START + 1, end_ms=START + BAR, **kw)
    with pytest.raises(InputError, match="look-back needs"):
        synthesize_from_history([MARKET], {"BTC": frame}, start_ms=START, end_ms=START, params=MIX, lookback_days=1.0)
    with pytest.raises(InputError, match="before start_ms"):
        synthesize_from_history([MARKET], {"BTC": frame}, start_ms=START, end_ms=START - 1, **kw)
    bad = frame.copy()
    bad.loc[3, "low"] = -1.0
    with pytest.raises(InputError, match="non-positive"):
        synthesize_from_history([MARKET], {"BTC": bad}, start_ms=START, end_ms=START, **kw)


# ------------------------------------------------------------------------------ the real 2026 files
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KLINES = DATA / "binance_2026_harthor" / "binance_usdm_{}USDT_5m_2026-01-01_2026-02-19.csv"
OI = DATA / "binance_oi_2026_hlreaper" / "binance_usdm_{}USDT_oi_5m_2026-01-01_2026-02-28.csv"


def real_bars(asset: str) -> pd.DataFrame:
    """Binance 5-minute bars and open interest of ``asset`` in the columns the function reads
    (an open-interest stamp a few seconds off the 5-minute grid is put on it)."""
    k = pd.read_csv(str(KLINES).format(asset)).rename(columns={"open_time_ms": "time_ms"})
    o = pd.read_csv(str(OI).format(asset))
    o["time_ms"] = (o["t"] + BAR // 2) // BAR * BAR
    return k.merge(o[["time_ms", "oi_usd"]], on="time_ms", how="inner")


needs_data = pytest.mark.skipif(
    not (Path(str(KLINES).format("BTC")).exists() and Path(str(OI).format("BTC")).exists()),
    reason="the shared 2026 Binance files (../shared/data) are not here",
)


@needs_data
def test_real_btc_book_on_5_february_no_long_the_look_back_crossed():
    bars = real_bars("BTC")
    m = MarketSpec("binance", "BTC", 6.0e9, 0.6)
    pop = synthesize_from_history(
        [m], {"BTC": bars}, start_ms=START, end_ms=START + 48 * 3_600_000, n_positions=60_000, seed=0
    )
    standing = ~pop.is_pending
    lp = _lp(pop, standing)
    t, low, high = bars["time_ms"].to_numpy(), bars["low"].to_numpy(), bars["high"].to_numpy()
    lb = (t >= START - 21 * 86_400_000) & (t < START)
    t, low, high = t[lb], low[lb], high[lb]
    after = np.searchsorted(t, pop.entry_time[standing], side="right")  # bars after the entry's bar
    suffix_low = np.append(np.minimum.accumulate(low[::-1])[::-1], np.inf)
    suffix_high = np.append(np.maximum.accumulate(high[::-1])[::-1], 0.0)
    longs = pop.side[standing] == 1
    assert np.all(lp[longs] < suffix_low[after[longs]])
    assert np.all(lp[~longs] > suffix_high[after[~longs]])
    assert np.all(pop.entry[standing] >= low.min()) and np.all(pop.entry[standing] <= high.max())
    p0 = bars.loc[bars["time_ms"] == START, "open"].item()
    for side, share in ((1, 0.6), (-1, 0.4)):
        assert (pop.size[standing & (pop.side == side)] * p0).sum() == pytest.approx(6.0e9 * share, rel=1e-9)
    # the liquidation map at the start within -5 % / +5 % of the start price, by side (USD of
    # notional at entry); printed for the record
    near = {}
    for side, name in ((1, "long"), (-1, "short")):
        sel = pop.side[standing] == side
        band = (lp[sel] >= 0.95 * p0) & (lp[sel] <= 1.05 * p0)
        near[name] = float((pop.size[standing][sel] * pop.entry[standing][sel])[band].sum())
    print(
        f"\nBTC binance 2026-02-05 00:00, start {p0:,.1f}: USD with a liquidation price within +-5 %: "
        f"longs {near['long']:,.0f}, shorts {near['short']:,.0f}; positions {len(pop):,}, "
        f"pending {int(pop.is_pending.sum()):,}, closing in the window {int(np.isfinite(pop.close_s).sum()):,}"
    )
    assert near["long"] > 0 and near["short"] > 0
    # the event's first two days: the open interest's rises open positions and its falls close some
    assert pop.is_pending.any() and np.isfinite(pop.close_s).any()


@needs_data
def test_scenario_entry_point_builds_the_bundled_scenario_from_history():
    """``build_population(..., bars=...)``: the bundled feb-2026 markets from the 2026 files, each
    market's standing open interest met at the start price, its large positions appended."""
    from liqcascade.scenario import build_population, load_scenario

    sc = load_scenario("feb-2026")
    bars = {a: real_bars(a) for a in sc.spec.assets}
    pop = build_population(sc, n_positions=20_000, seed=0, bars=bars)
    # OKX ETH's table holds tier 1 only (500 ETH): its groups draw enough positions for that tier
    # to hold their open interest (about 15,000), on top of the requested count
    okx_eth = (pop.venue == pop.venues.index("okx")) & (pop.asset == pop.assets.index("ETH"))
    assert pop.meta["method"] == "history" and len(pop) - okx_eth.sum() == pytest.approx(20_000, rel=0.1)
    assert pop.meta["end_ms"] - pop.meta["now_ms"] == sc.spec.horizon_hours * 3_600_000
    standing = ~pop.is_pending
    large = {(w.venue, w.asset) for w in sc.spec.large_positions}
    for m in sc.spec.markets:
        if (m.venue, m.asset) in large:
            continue
        sel = standing & (pop.venue == pop.venues.index(m.venue)) & (pop.asset == pop.assets.index(m.asset))
        p0 = bars[m.asset].loc[bars[m.asset]["time_ms"] == sc.start_ms, "open"].item()
        assert (pop.size[sel] * p0).sum() == pytest.approx(m.open_interest_usd, rel=1e-9)
