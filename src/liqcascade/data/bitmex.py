"""BitMEX liquidation orders (the ``liquidation`` websocket table, as recorded to CSV)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from . import _liquidations as liq
from ._common import (
    PathLike,
    check_positive,
    column_to_ms,
    fail,
    first_line,
    normalise_column_name,
    parse_csv,
    read_bytes,
    require_columns,
    to_float,
)

__all__ = ["bitmex_symbol", "read_bitmex_liquidations"]

_XBT_FUTURE = re.compile(r"^XBT(?P<code>[FGHJKMNQUVXZ])(?P<yy>\d{2})$")
_ALT_FUTURE = re.compile(r"^(?P<base>ADA|BCH|EOS|ETH|LTC|TRX|XRP)(?P<code>[FGHJKMNQUVXZ])(?P<yy>\d{2})$")
#: ETHUSD pays 0.000001 XBT per contract per 1 USD of ETH price (100 satoshi).
ETHUSD_MULTIPLIER_XBT = 1e-6


def bitmex_symbol(
    raw: str, *, xbt_usd: float | None = None, name: str = "<bitmex>", row: int | None = None
) -> tuple[str, liq.Contract]:
    """BitMEX symbol → (ccxt unified symbol, contract).

    * ``XBTUSD`` → ``BTC/USD:BTC``; ``XBTZ19`` → ``BTC/USD:BTC-191227``: inverse, one contract =
      1 USD.
    * ``ETHUSD`` → ``ETH/USD:BTC``: quanto, one contract pays 0.000001 XBT per 1 USD of price.
    * ``ADAZ19``, ``XRPZ19``, … → ``ADA/BTC:BTC-191227``: linear, one contract = 1 coin, priced in
      XBT.

    Futures expire on the last Friday of their month.  ``xbt_usd`` (USD per XBT) prices the XBT
    legs; without it their USD value is unknown (NaN).
    """
    s = str(raw).strip().upper()
    if s == "XBTUSD":
        return "BTC/USD:BTC", liq.Contract("inverse", 1.0)
    m = _XBT_FUTURE.match(s)
    if m:
        return f"BTC/USD:BTC-{liq.expiry_from_month_code(m['code'], m['yy'])}", liq.Contract("inverse", 1.0)
    if s == "ETHUSD":
        return "ETH/USD:BTC", liq.Contract("quanto", ETHUSD_MULTIPLIER_XBT, settle_usd=xbt_usd)
    m = _ALT_FUTURE.match(s)
    if m:
        expiry = liq.expiry_from_month_code(m["code"], m["yy"])
        return f"{m['base']}/BTC:BTC-{expiry}", liq.Contract("linear", 1.0, quote_usd=xbt_usd)
    raise fail(
        name,
        f"unknown BitMEX symbol {raw!r} (known: XBTUSD, XBT futures, ETHUSD, XBT-quoted alt futures)",
        row=row,
        field="symbol",
    )


def read_bitmex_liquidations(path: PathLike, *, xbt_usd: float | None = None) -> pd.DataFrame:
    """Read recorded BitMEX liquidation orders → the liquidation frame.

    Parameters
    ----------
    path:
        CSV with ``timestamp_utc`` (or ``timestamp``; ISO-8601 or epoch), ``symbol``, ``side``,
        ``price``, ``leavesQty`` and optionally ``orderID`` — the websocket ``liquidation`` table
        plus the time it was received (BitMEX sends no time with it).
    xbt_usd:
        USD per XBT, to value contracts settled or quoted in XBT (``ETHUSD``, ``ADAZ19``, …).
        Without it their ``usd`` is NaN and a warning says how many rows that affects.

    Notes
    -----
    ``side`` is the liquidation order's side: **Buy means a short was liquidated**.
    ``leavesQty`` is the order's open quantity in contracts: for XBTUSD, contracts of 1 USD, so
    ``usd = leavesQty`` and ``baseValue = leavesQty / price`` (BTC) — the inverse case of the
    contracts × contract size × price rule.
    """
    data, name = read_bytes(path)
    head = [normalise_column_name(h) for h in first_line(data).split(",")]
    time_col = "timestamp_utc" if "timestamp_utc" in head else "timestamp"
    require_columns(name, head, (time_col, "symbol", "side", "price", "leavesqty"))
    df = parse_csv(data, name, header=True, names=head)
    line0 = 2
    ts, _ = column_to_ms(df, time_col, name, line0)
    price = to_float(df, "price", name, line0)
    qty = to_float(df, "leavesqty", name, line0)
    check_positive(price, "price", name, line0)
    check_positive(qty, "leavesQty", name, line0)
    raw_names = [h.strip().lstrip("\ufeff") for h in first_line(data).split(",")]
    info_rows = df.rename(columns=dict(zip(head, raw_names))).to_dict("records")
    rows = []
    unpriced: set[str] = set()
    for i, rec in enumerate(info_rows):
        symbol, contract = bitmex_symbol(
            rec[raw_names[head.index("symbol")]], xbt_usd=xbt_usd, name=name, row=line0 + i
        )
        side = str(rec[raw_names[head.index("side")]]).strip().lower()
        if side not in ("buy", "sell"):
            raise fail(name, f"side must be Buy or Sell, got {side!r}", row=line0 + i, field="side")
        row = liq.liquidation(
            info=rec,
            exchange="bitmex",
            symbol=symbol,
            timestamp=int(ts[i]),
            price=float(price[i]),
            contracts=float(qty[i]),
            contract=contract,
            side=side,
            position_side=liq.position_closed_by(side),
        )
        if np.isnan(row["usd"]):
            unpriced.add(symbol)
        rows.append(row)
    out = liq.frame(rows)
    if unpriced:
        n = int(out["usd"].isna().sum())
        warnings.warn(
            f"{name}: usd is NaN for {n} liquidations in XBT-settled contracts ({', '.join(sorted(unpriced))}); pass xbt_usd",
            UserWarning,
            stacklevel=2,
        )
    return out
