"""How fast the readers load a year of 1-minute klines (target: 525,600 rows in under 2 s).

Run: ``.venv/bin/python benchmarks/bench_readers.py [--rows N] [--repeat R]``

Writes a synthetic Binance kline archive (12 columns, no header, epoch-ms times, a random walk
price) to a temporary directory, as CSV and as the zip Binance serves, then times
:func:`liqcascade.data.read_binance_klines` on both, best of ``--repeat`` runs.  For scale it
also times a bare ``pandas.read_csv`` of the same file (no validation, no conversion) in the
same run and prints the ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from liqcascade.data import read_binance_klines, read_ohlcv

TARGET_SECONDS = 2.0


def write_klines(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    t0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
    open_time = t0 + 60_000 * np.arange(rows, dtype=np.int64)
    close = 42_000 * np.exp(np.cumsum(rng.normal(0, 8e-4, rows)))
    open_ = np.concatenate([[42_000.0], close[:-1]])
    spread = np.abs(rng.normal(0, 5e-4, rows)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.gamma(2.0, 20.0, rows)
    trades = rng.integers(100, 5000, rows)
    frame = pd.DataFrame(
        {
            "open_time": open_time,
            "open": open_.round(2),
            "high": high.round(2),
            "low": low.round(2),
            "close": close.round(2),
            "volume": volume.round(3),
            "close_time": open_time + 59_999,
            "quote_volume": (volume * close).round(4),
            "count": trades,
            "taker_buy_volume": (volume / 2).round(3),
            "taker_buy_quote_volume": (volume * close / 2).round(4),
            "ignore": 0,
        }
    )
    frame.to_csv(path, header=False, index=False)


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=525_600, help="bars to generate (default: one year of 1m)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best is kept")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "BTCUSDT-1m-2024.csv"
        write_klines(csv_path, args.rows)
        zip_path = Path(tmp) / "BTCUSDT-1m-2024.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(csv_path, csv_path.name)
        ohlcv_path = Path(tmp) / "ohlcv.csv"
        pd.read_csv(csv_path, header=None, usecols=range(6)).set_axis(
            ["timestamp", "open", "high", "low", "close", "volume"], axis=1
        ).to_csv(ohlcv_path, index=False)

        t_pandas, _ = best_of(args.repeat, lambda: pd.read_csv(csv_path, header=None))
        t_csv, df = best_of(args.repeat, lambda: read_binance_klines(csv_path))
        t_zip, _ = best_of(args.repeat, lambda: read_binance_klines(zip_path))
        t_ohlcv, _ = best_of(args.repeat, lambda: read_ohlcv(ohlcv_path))
        assert len(df) == args.rows

        size_mb = csv_path.stat().st_size / 1e6
        print(f"{args.rows:,} 1-minute klines, {size_mb:.1f} MB of CSV, best of {args.repeat}")
        print(f"{'reader':<32}{'seconds':>9}{'rows/s':>14}{'x pandas.read_csv':>20}")
        for label, t in (
            ("pandas.read_csv (no checks)", t_pandas),
            ("read_binance_klines (csv)", t_csv),
            ("read_binance_klines (zip)", t_zip),
            ("read_ohlcv (csv, 6 columns)", t_ohlcv),
        ):
            print(f"{label:<32}{t:>9.3f}{args.rows / t:>14,.0f}{t / t_pandas:>20.2f}")
        ok = max(t_csv, t_zip) < TARGET_SECONDS
        print(f"target: a year of 1m klines in < {TARGET_SECONDS:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
