"""Small random markets for the engine's tests."""

from __future__ import annotations

import numpy as np

from liqcascade.engine import Flows, Liquidity, MarketMakerResponse, Positions, PriceConfig, programme
from liqcascade.engine.positions import venue_symbol
from liqcascade.venues import get_venue

VENUES = ("binance", "bybit", "hyperliquid")
ASSETS = ("BTC", "ETH")
P0 = {"BTC": 100_000.0, "ETH": 3_000.0}


def random_positions(
    seed,
    n,
    venues=VENUES,
    assets=ASSETS,
    max_lev=None,
    cross_share=0.2,
    size_usd=2e4,
    spread=0.01,
    multi_asset=False,
    pending_share=0.0,
):
    """``n`` positions with a leverage mix (most 2-10x, a tail to the venue maximum), entries
    around the starting price, some single-position cross accounts."""
    rng = np.random.default_rng(seed)
    v = rng.integers(0, len(venues), n)
    a = rng.integers(0, len(assets), n)
    side = rng.choice(np.array([-1, 1], np.int8), n)
    p0 = np.array([P0[x] for x in assets])
    entry = p0[a] * np.exp(rng.normal(0.0, spread, n))
    # pending entry orders: resting 0-4 % below the start price (a fifth of them above)
    prng = np.random.default_rng([seed, 7])  # its own stream: the other columns stay as they were
    pend = prng.random(n) < pending_share
    k = int(pend.sum())
    entry[pend] = p0[a[pend]] * (1.0 + np.where(prng.random(k) < 0.8, -1.0, 1.0) * prng.uniform(0, 0.04, k))
    notional = np.minimum(rng.lognormal(np.log(size_usd), 1.5, n), 5e7)
    size = notional / entry
    lev = np.where(rng.random(n) < 0.8, rng.uniform(2, 10, n), rng.uniform(10, 100, n))
    cap = np.empty(n)
    for vi, vn in enumerate(venues):
        for ai, an in enumerate(assets):
            sel = (v == vi) & (a == ai)
            t = get_venue(vn).tier_table(venue_symbol(vn, an))
            biggest = t.max_position() * (t.contract_size if t.basis == "contracts" else 1.0 / entry[sel])
            size[sel] = np.minimum(size[sel], 0.9 * biggest)
            k = np.minimum(t.tier_index(t.measure(size[sel], entry[sel])), t.n_tiers - 1)
            cap[sel] = t.max_leverage[k]
    if max_lev is not None:
        cap = np.minimum(cap, max_lev)
    lev = np.minimum(lev, cap)
    margin = size * entry / lev * np.where(rng.random(n) < 0.3, rng.uniform(1.0, 1.5, n), 1.0)
    mode = (rng.random(n) < cross_share).astype(np.int8)
    account = np.arange(n)
    if multi_asset:  # pair cross positions of different assets on one venue into one account
        for vi in range(len(venues)):
            first = np.flatnonzero((mode == 1) & (v == vi) & (a == 0))
            second = np.flatnonzero((mode == 1) & (v == vi) & (a == 1))
            k = min(len(first), len(second))
            account[second[:k]] = account[first[:k]]
    pending = None
    if pending_share > 0:  # single-position accounts only
        pending = pend & ~np.isin(account, np.flatnonzero(np.bincount(account, minlength=n) > 1))
    return Positions.from_arrays(
        account=account,
        venue=v,
        asset=a,
        side=side,
        size=size,
        entry=entry,
        margin=margin,
        leverage=lev,
        mode=mode,
        venues=venues,
        assets=assets,
        pending=pending,
    )


def shock_flows(btc_usd_per_s=-3e6, eth_usd_per_s=-1e6, start=5, end=60, noise=True):
    return Flows(
        programmes=[
            programme("BTC", btc_usd_per_s * 86_400, start, end),
            programme("ETH", eth_usd_per_s * 86_400, start, end),
        ],
        noise_usd={"BTC": 2e5, "ETH": 5e4} if noise else {},
    )


def liquidity(depth_btc=2e7, depth_eth=6e6, kappa=1.16, spot=None, **resp):
    """Uniform perpetual books; ``spot``: per asset USD per side within 1 % of a spot book."""
    from liqcascade.engine import DepthProfile

    liq = Liquidity.uniform(
        VENUES, ASSETS, {"BTC": depth_btc, "ETH": depth_eth}, kappa=kappa, response=MarketMakerResponse(**resp)
    )
    if spot:
        liq.spot.update({a: DepthProfile.from_depth_1pct(d, 1.1) for a, d in spot.items()})
    return liq


def prices():
    return PriceConfig(dict(P0))
