"""Liquidation map: three months of 5-minute bars (26,208 bars), 5 leverage buckets, both sides,
$100 price levels, Binance BTCUSDT tiers.

Prints the absolute time of :func:`liqcascade.liqmap.liquidation_map` and, measured in the same
run on the same input, the ratio to the straightforward per-bar NumPy loop
(``_liquidation_map_reference``: remove crossed buckets, decay, add new ones, histogram the row).
The loop is timed on the first ``REF_BARS`` bars (it grows quadratically); the kernel is timed on
both that prefix and the full series.  Target (issue 5): under 1 s for the full series.

Input: a synthetic GBM path (60 % annual volatility) with a random-walk open interest, so the
benchmark runs without ../shared/data.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from liqcascade import liqmap as lm
from liqcascade.liqmap import _liquidation_map_reference, liquidation_map

N_BARS = 91 * 288  # 91 days of 5-minute bars
REF_BARS = 6_000


def bars(n: int, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sigma = 0.6 / np.sqrt(105_120)
    close = 100_000 * np.exp(np.cumsum(rng.normal(0, sigma, n)))
    high = close * (1 + np.abs(rng.normal(0, sigma, n)))
    low = close * (1 - np.abs(rng.normal(0, sigma, n)))
    oi = 8e9 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    return pd.DataFrame(
        {
            "timestamp": 1_759_276_800_000 + 300_000 * np.arange(n),
            "open": close,
            "high": high,
            "low": low,
            "close": close,
            "open_interest": oi,
        }
    )


def best_of(fn, repeat=5):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    full = bars(N_BARS)
    prefix = full.iloc[:REF_BARS].reset_index(drop=True)
    liquidation_map(prefix.iloc[:50])  # JIT warm-up (compiled kernels are cached on disk)
    t_full, m = best_of(lambda: liquidation_map(full, bin_size=100.0))
    t_prefix, mp = best_of(lambda: liquidation_map(prefix, bin_size=100.0))
    lm.HAVE_NUMBA, had = False, lm.HAVE_NUMBA  # the plain-NumPy grid fill used without Numba
    try:
        t_numpy, _ = best_of(lambda: liquidation_map(full, bin_size=100.0), repeat=3)
    finally:
        lm.HAVE_NUMBA = had
    t_ref, ref = best_of(lambda: _liquidation_map_reference(prefix, bin_size=100.0), repeat=1)
    assert np.allclose(mp.long_usd, ref[0], rtol=1e-9, atol=1e-4) and np.allclose(
        mp.short_usd, ref[1], rtol=1e-9, atol=1e-4
    )
    n_buckets = m.meta["n_buckets"]
    print(
        f"bars: {N_BARS:,} (5-minute, 91 days); buckets: {n_buckets:,} (5 leverages x 2 sides x OI increases); "
        f"grid {m.long_usd.shape[1]:,} levels of $100 x {N_BARS:,} bars x 2 sides"
    )
    print(f"liquidation_map, full series:             {t_full * 1e3:8.1f} ms")
    print(
        f"liquidation_map, full, NumPy grid fill:   {t_numpy * 1e3:8.1f} ms   compiled fill is {t_numpy / t_full:5.1f}x faster"
    )
    print(f"liquidation_map, first {REF_BARS:,} bars:          {t_prefix * 1e3:8.1f} ms")
    print(
        f"per-bar NumPy loop, first {REF_BARS:,} bars:       {t_ref * 1e3:8.1f} ms   kernel is {t_ref / t_prefix:6.1f}x faster"
    )
    print(f"target < 1 s for three months: {'met' if t_full < 1.0 else 'MISSED'} ({t_full * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
