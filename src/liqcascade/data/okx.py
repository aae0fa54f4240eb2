"""OKX liquidation prints (websocket channel ``liquidation-orders``, and the REST
``/api/v5/public/liquidation-orders`` response, which has the same ``data`` items)."""

from __future__ import annotations

import re
from typing import Any, Mapping

import pandas as pd

from . import _liquidations as liq
from ._common import epoch_ms_value, fail, get, load_json_records, number

__all__ = ["OKX_CONTRACT_VALUES", "okx_symbol", "read_okx_liquidations"]

#: Contract value (``ctVal``) per instrument family: base units for linear (…-USDT, …-USDC)
#: contracts, USD for inverse (…-USD) ones.  From OKX's instruments endpoint; anything else must
#: be passed as ``contract_sizes`` (e.g. ``{m['id']: m['contractSize'] for m in
#: ccxt.okx().load_markets().values()}``).
OKX_CONTRACT_VALUES: dict[str, float] = {
    "BTC-USDT": 0.01,
    "ETH-USDT": 0.1,
    "SOL-USDT": 1.0,
    "DOGE-USDT": 1000.0,
    "BTC-USD": 100.0,
    "ETH-USD": 10.0,
}

_INST = re.compile(r"^(?P<base>[A-Z0-9]+)-(?P<quote>[A-Z0-9]+)-(?P<kind>SWAP|\d{6})$")


def okx_symbol(inst_id: str, *, name: str = "<okx>", row: int | None = None) -> tuple[str, str, str]:
    """OKX ``instId`` → (ccxt unified symbol, instrument family, ``'linear'``/``'inverse'``).

    ``BTC-USDT-SWAP`` → ``BTC/USDT:USDT``; ``BTC-USD-SWAP`` → ``BTC/USD:BTC`` (inverse);
    ``BTC-USDT-250328`` → ``BTC/USDT:USDT-250328``.
    """
    m = _INST.match(str(inst_id).strip().upper())
    if not m:
        raise fail(name, f"unknown OKX swap/futures instrument {inst_id!r}", row=row, field="instId")
    base, quote = m["base"], m["quote"]
    inverse = quote == "USD"
    settle = base if inverse else quote
    expiry = "" if m["kind"] == "SWAP" else f"-{m['kind']}"
    return f"{base}/{quote}:{settle}{expiry}", f"{base}-{quote}", "inverse" if inverse else "linear"


def read_okx_liquidations(source: Any, *, contract_sizes: Mapping[str, float] | None = None) -> pd.DataFrame:
    """OKX ``liquidation-orders`` messages → the liquidation frame.

    Parameters
    ----------
    source:
        A ``.json``/``.jsonl`` file (optionally ``.gz``) of recorded messages, or decoded messages:
        ``{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"instId","instType",
        "instFamily","uly","details":[{"side","posSide","bkPx","sz","bkLoss","ccy","ts"}]}]}``.
        A REST response (``{"code":"0","data":[…]}``) works too.
    contract_sizes:
        Contract value per ``instId``, unified symbol or instrument family, overriding
        :data:`OKX_CONTRACT_VALUES` (base units for linear, USD for inverse contracts).

    Notes
    -----
    ``sz`` is in **contracts**: BTC-USDT-SWAP has 0.01 BTC per contract, so ``sz=100`` is 1 BTC.
    USD = contracts × contract value × bankruptcy price ``bkPx`` for linear, contracts × contract
    value for inverse contracts.  ``side`` is the liquidation order's side and ``posSide`` the
    liquidated position's; in net mode (``posSide`` ``net`` or empty) the position side is the
    opposite of the order side.  Every item of ``details`` becomes a row; its ``info`` is the data
    item with ``details`` cut down to that one entry.  OKX throttles this channel, so totals are
    lower bounds.
    """
    sizes = {**OKX_CONTRACT_VALUES, **(contract_sizes or {})}
    records, name = load_json_records(source)
    rows = []
    for row, msg in records:
        arg = msg.get("arg") if isinstance(msg, dict) else None
        if isinstance(arg, dict) and arg.get("channel") not in (None, "liquidation-orders"):
            raise fail(
                name, f"not a liquidation-orders message (channel {arg.get('channel')!r})", row=row, field="arg.channel"
            )
        data = get(msg, "data", "data", name, row)
        for item in data if isinstance(data, list) else [data]:
            inst_id = get(item, "instId", "data.instId", name, row)
            inst_type = str(item.get("instType", "SWAP")).upper()
            if inst_type not in ("SWAP", "FUTURES"):
                raise fail(
                    name, f"instType {inst_type} is not a swap or futures contract", row=row, field="data.instType"
                )
            symbol, family, kind = okx_symbol(inst_id, name=name, row=row)
            size = next((sizes[k] for k in (inst_id, symbol, family) if k in sizes), None)
            if size is None:
                raise fail(
                    name,
                    f"contract value of {inst_id} unknown: pass contract_sizes={{'{inst_id}': ctVal}}",
                    row=row,
                    field="contract_sizes",
                )
            contract = liq.Contract(kind, float(size))
            details = get(item, "details", "data.details", name, row)
            for detail in details:
                side = str(get(detail, "side", "details.side", name, row)).lower()
                if side not in ("buy", "sell"):
                    raise fail(
                        name,
                        f"details.side must be buy or sell, got {detail.get('side')!r}",
                        row=row,
                        field="details.side",
                    )
                pos = str(detail.get("posSide") or "").lower()
                position_side = liq.position_closed_by(side)
                if pos in ("long", "short") and pos != position_side:
                    raise fail(
                        name, f"a {side} order cannot liquidate a {pos} position", row=row, field="details.posSide"
                    )
                rows.append(
                    liq.liquidation(
                        info={**item, "details": [detail]},
                        exchange="okx",
                        symbol=symbol,
                        timestamp=epoch_ms_value(detail.get("ts"), "details.ts", name, row),
                        price=number(detail.get("bkPx"), "details.bkPx", name, row),
                        contracts=number(detail.get("sz"), "details.sz", name, row),
                        contract=contract,
                        side=side,
                        position_side=position_side,
                    )
                )
    return liq.frame(rows)
