"""Bybit v5 liquidation prints (websocket ``allLiquidation.{symbol}``, and the older
``liquidation.{symbol}`` topic)."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from . import _liquidations as liq
from ._common import epoch_ms_value, fail, get, load_json_records, number

__all__ = ["bybit_symbol", "read_bybit_liquidations"]

_PATTERNS = (
    # (regex, settle kind) — order matters: USDT before USD
    (re.compile(r"^(?P<base>[A-Z0-9]+)USDT-(?P<dd>\d{2})(?P<mmm>[A-Z]{3})(?P<yy>\d{2})$"), "usdt_future"),
    (re.compile(r"^(?P<base>[A-Z0-9]+)USDT$"), "usdt"),
    (re.compile(r"^(?P<base>[A-Z0-9]+)PERP$"), "usdc"),
    (re.compile(r"^(?P<base>[A-Z0-9]+)-(?P<dd>\d{2})(?P<mmm>[A-Z]{3})(?P<yy>\d{2})$"), "usdc_future"),
    (re.compile(r"^(?P<base>[A-Z0-9]+)USD(?P<code>[FGHJKMNQUVXZ])(?P<yy>\d{2})$"), "inverse_future"),
    (re.compile(r"^(?P<base>[A-Z0-9]+)USD$"), "inverse"),
)


def bybit_symbol(raw: str, *, name: str = "<bybit>", row: int | None = None) -> tuple[str, liq.Contract]:
    """Bybit symbol → (ccxt unified symbol, contract).

    ``BTCUSDT`` → ``BTC/USDT:USDT`` and ``BTCPERP`` → ``BTC/USDC:USDC`` (linear, sizes in base
    units); ``BTCUSD`` → ``BTC/USD:BTC`` and ``BTCUSDH25`` → ``BTC/USD:BTC-250328`` (inverse,
    sizes in USD contracts of 1 USD); ``BTCUSDT-26DEC25`` → ``BTC/USDT:USDT-251226``;
    ``BTC-26DEC25`` → ``BTC/USDC:USDC-251226``.
    """
    s = str(raw).strip().upper()
    for pattern, kind in _PATTERNS:
        m = pattern.match(s)
        if not m:
            continue
        base = m["base"]
        if kind == "usdt":
            return f"{base}/USDT:USDT", liq.Contract("linear", 1.0)
        if kind == "usdc":
            return f"{base}/USDC:USDC", liq.Contract("linear", 1.0)
        if kind == "usdt_future":
            return f"{base}/USDT:USDT-{liq.expiry_from_ddmmmyy(m['dd'], m['mmm'], m['yy'])}", liq.Contract(
                "linear", 1.0
            )
        if kind == "usdc_future":
            return f"{base}/USDC:USDC-{liq.expiry_from_ddmmmyy(m['dd'], m['mmm'], m['yy'])}", liq.Contract(
                "linear", 1.0
            )
        if kind == "inverse_future":
            return f"{base}/USD:{base}-{liq.expiry_from_month_code(m['code'], m['yy'])}", liq.Contract("inverse", 1.0)
        return f"{base}/USD:{base}", liq.Contract("inverse", 1.0)
    raise fail(name, f"unknown Bybit symbol {raw!r}", row=row, field="s")


def read_bybit_liquidations(source: Any) -> pd.DataFrame:
    """Bybit liquidation messages → the liquidation frame.

    Parameters
    ----------
    source:
        A ``.json``/``.jsonl`` file (optionally ``.gz``) of recorded messages, or decoded messages:
        ``{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":…,"data":[{"T","s","S","v","p"}]}``
        (also the deprecated ``liquidation.BTCUSDT`` topic with ``data`` =
        ``{"updatedTime","symbol","side","size","price"}``).

    Notes
    -----
    Bybit's ``S``/``side`` is the side of the **position** that was liquidated: ``Buy`` means a
    long was liquidated (Bybit v5 docs, "All Liquidation": "When you receive a Buy update, this
    means that a long position has been liquidated").  The frame's ``side`` is the liquidation
    order's side, so ``S=Buy`` → ``side='sell'``, ``position_side='long'``.  ``v`` is in base
    units for linear contracts and in USD contracts (1 USD each) for inverse ones; ``p`` is the
    bankruptcy price.  ``allLiquidation`` reports every liquidation (no throttle).
    """
    records, name = load_json_records(source)
    rows = []
    for row, msg in records:
        topic = str(get(msg, "topic", "topic", name, row))
        if not topic.startswith(("allLiquidation", "liquidation")):
            raise fail(name, f"not a Bybit liquidation message (topic {topic!r})", row=row, field="topic")
        data = get(msg, "data", "data", name, row)
        items = data if isinstance(data, list) else [data]
        for item in items:
            if not isinstance(item, dict):
                raise fail(name, "data items must be JSON objects", row=row, field="data")
            old = "symbol" in item  # the deprecated `liquidation` topic spells fields out
            raw_symbol = get(item, "symbol" if old else "s", "data.s", name, row)
            symbol, contract = bybit_symbol(raw_symbol, name=name, row=row)
            pos = str(get(item, "side" if old else "S", "data.S", name, row)).lower()
            if pos not in ("buy", "sell"):
                raise fail(
                    name,
                    f"data.S must be Buy or Sell, got {item.get('S', item.get('side'))!r}",
                    row=row,
                    field="data.S",
                )
            position_side = "long" if pos == "buy" else "short"
            order_side = "sell" if position_side == "long" else "buy"
            rows.append(
                liq.liquidation(
                    info=item,
                    exchange="bybit",
                    symbol=symbol,
                    timestamp=epoch_ms_value(item.get("updatedTime") if old else item.get("T"), "data.T", name, row),
                    price=number(item.get("price") if old else item.get("p"), "data.p", name, row),
                    contracts=number(item.get("size") if old else item.get("v"), "data.v", name, row),
                    contract=contract,
                    side=order_side,
                    position_side=position_side,
                )
            )
    return liq.frame(rows)
