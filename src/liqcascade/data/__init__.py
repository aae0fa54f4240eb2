"""Market data in: readers for venue archives, vendor CSVs and recorded venue payloads.

Every reader returns a pandas DataFrame in one shape: ``timestamp`` (int64 epoch milliseconds,
UTC) and ``datetime`` (tz-aware UTC) first, ccxt unified symbols (``BTC/USDT:USDT``), units in
the column names or docstrings, the source path in ``df.attrs['source']``.

Time series
    :func:`read_binance_klines` — Binance kline archives (trade, mark- and index-price).
    :func:`read_binance_book_depth` — Binance ``bookDepth`` with frozen and inverted buckets
    dropped, plus a :class:`BookDepthCleaning` report; :func:`clean_book_depth` applies the same
    cleaning to a frame in memory (the analytics use it).
    :func:`read_binance_metrics` — Binance ``metrics`` (open interest, long/short ratios).
    :func:`read_binance_bars` — perpetual OHLCV bars on a regular grid (gaps and overlaps refused).
    :func:`read_binance_open_interest` — open interest every 5 minutes (``t,oi,oi_usd``).
    :func:`read_binance_funding` — funding settlements in any known convention, as ``rate_8h``
    (fraction per 8 hours).
    :func:`read_ohlcv` — any OHLCV CSV (time column and unit detected).
    :func:`read_trades` — spot tick trades.
    :func:`read_coinalyze_open_interest`, :func:`read_coinalyze_funding` — open interest (USD)
    and funding (normalised to a fraction per 8 h).

Liquidation prints, all in one frame (:data:`LIQUIDATION_COLUMNS`): ccxt's liquidation structure
plus ``exchange``, ``position_side`` (the side of the liquidated position) and ``usd``
(recomputed from contracts × contract size × price), raw payload under ``info``.
    :func:`read_binance_force_orders`, :func:`read_bybit_liquidations`,
    :func:`read_okx_liquidations`, :func:`read_bitmex_liquidations`,
    :func:`read_hyperliquid_liquidations`.

Positions
    :func:`read_hyperliquid_positions` — accounts' ``clearinghouseState`` → observed positions
    and liquidation prices.

Bad input raises :class:`~liqcascade.errors.InputError` with one line naming the file, the row
(the line number in the decompressed file; the record number for JSON arrays) and the problem.
Documented cleaning (bookDepth) warns with :class:`DataCleaningWarning` instead.
"""

from ._common import DataCleaningWarning
from ._liquidations import LIQUIDATION_COLUMNS
from .binance import (
    BookDepthCleaning,
    FrozenStretch,
    clean_book_depth,
    read_binance_bars,
    read_binance_book_depth,
    read_binance_force_orders,
    read_binance_funding,
    read_binance_klines,
    read_binance_metrics,
    read_binance_open_interest,
)
from .bitmex import read_bitmex_liquidations
from .bybit import read_bybit_liquidations
from .coinalyze import read_coinalyze_funding, read_coinalyze_open_interest
from .hyperliquid import read_hyperliquid_liquidations, read_hyperliquid_positions
from .ohlcv import read_ohlcv
from .okx import OKX_CONTRACT_VALUES, read_okx_liquidations
from .trades import read_trades

__all__ = [
    "LIQUIDATION_COLUMNS",
    "OKX_CONTRACT_VALUES",
    "BookDepthCleaning",
    "DataCleaningWarning",
    "FrozenStretch",
    "clean_book_depth",
    "read_binance_bars",
    "read_binance_book_depth",
    "read_binance_force_orders",
    "read_binance_funding",
    "read_binance_klines",
    "read_binance_metrics",
    "read_binance_open_interest",
    "read_bitmex_liquidations",
    "read_bybit_liquidations",
    "read_coinalyze_funding",
    "read_coinalyze_open_interest",
    "read_hyperliquid_liquidations",
    "read_hyperliquid_positions",
    "read_ohlcv",
    "read_okx_liquidations",
    "read_trades",
]
