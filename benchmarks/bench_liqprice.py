"""Liquidation prices for 1,000,000 mixed positions (every tier, both sides, Binance BTCUSDT).

Prints absolute times and, measured in the same run, the ratio to
- a plain NumPy implementation of "solve, find the tier at Q*LP, re-solve until consistent";
- NumPy's argsort of the resulting 1M prices (a yardstick for "one pass over the data").
Target (issue 2): under 0.5 s for the 1M positions.
"""

from __future__ import annotations

import time

import numpy as np

from liqcascade.venues import get_venue


def numpy_iterative(side, q, e, c, t):
    k = np.minimum(np.searchsorted(t.caps, q * e), t.n_tiers - 1)
    for _ in range(t.n_tiers + 2):
        lp = (c + t.maintenance_amount[k] - side * q * e) / (q * t.mmr[k] - side * q)
        k2 = np.minimum(np.searchsorted(t.caps, q * np.maximum(lp, 0.0)), t.n_tiers - 1)
        if np.array_equal(k2, k):
            break
        k = k2
    return np.where((side > 0) & (lp < 0), 0.0, lp)


def best_of(fn, repeat=5):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(n: int = 1_000_000) -> None:
    v = get_venue("binance")
    t = v.tier_table("BTC/USDT:USDT")
    rng = np.random.default_rng(42)
    side = rng.choice(np.array([1, -1], dtype=np.int8), n)
    entry = rng.uniform(60_000, 126_000, n)
    notional = np.exp(rng.uniform(np.log(100), np.log(400e6), n))  # spans tiers 1-8
    q = notional / entry
    k = np.searchsorted(t.caps, notional)
    lev = rng.uniform(1.0, t.max_leverage[k])
    margin = notional / lev
    tiers_hit = len(np.unique(k))

    v.liquidation_price(side[:10], q[:10], entry[:10], margin[:10], t)  # JIT warm-up (cached on disk)
    t_kernel, lp = best_of(lambda: v.liquidation_price(side, q, entry, margin, t))
    t_numpy, lp_np = best_of(lambda: numpy_iterative(side, q, entry, margin, t))
    t_sort, _ = best_of(lambda: np.argsort(lp))
    assert np.allclose(lp, lp_np, rtol=1e-12, atol=1e-9)
    t_full, _ = best_of(lambda: v.margin_figures(side, q, entry, margin, t), repeat=3)

    print(f"positions: {n:,} (Binance BTCUSDT, {tiers_hit} tiers, both sides)")
    print(f"liquidation_price (compiled kernel):    {t_kernel * 1e3:8.1f} ms   {n / t_kernel / 1e6:7.1f} M positions/s")
    print(f"margin_figures (LP, BP, MM, tier):      {t_full * 1e3:8.1f} ms")
    print(
        f"NumPy iterate-to-consistency:           {t_numpy * 1e3:8.1f} ms   kernel is {t_numpy / t_kernel:5.1f}x faster"
    )
    print(
        f"np.argsort of the 1M prices:            {t_sort * 1e3:8.1f} ms   kernel = {t_kernel / t_sort:5.2f}x argsort"
    )
    print(f"target < 500 ms for 1M: {'met' if t_kernel < 0.5 else 'MISSED'} ({t_kernel * 1e3:.1f} ms)")

    # the CLI's batch path: 100,000 CSV-like rows (strings, empty cells, two symbols, both modes)
    import pandas as pd

    from liqcascade import liqprice as lp

    m = 100_000
    frame = pd.DataFrame(
        {
            "side": rng.choice(["long", "short"], m),
            "entry": rng.uniform(20_000, 120_000, m).round(2).astype(str),
            "size": rng.uniform(0.001, 40, m).round(4).astype(str),
            "margin": [""] * m,
            "leverage": rng.integers(1, 20, m).astype(str),
            "mode": rng.choice(["isolated", "cross", ""], m),
            "symbol": rng.choice(["BTC/USDT:USDT", "ETH/USDT:USDT", ""], m),
        }
    )
    lp.batch_figures(frame.head(50), "binance")
    t_batch, _ = best_of(lambda: lp.batch_figures(frame, "binance"), repeat=3)
    print(
        f"batch_figures, 100,000 CSV rows (validation + figures): {t_batch * 1e3:8.1f} ms   "
        f"= {t_batch / (t_kernel / 10):5.1f}x the kernel on 100k positions"
    )


if __name__ == "__main__":
    main()
