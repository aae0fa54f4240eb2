"""Hyperliquid: liquidation fills, the early liquidation list, and accounts' positions
(``clearinghouseState``) — the data of an **observed** liquidation map."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _liquidations as liq
from ._common import (
    check_positive,
    column_to_ms,
    epoch_ms_value,
    fail,
    first_line,
    get,
    load_json_records,
    ms_to_datetime,
    normalise_column_name,
    number,
    parse_csv,
    read_bytes,
    require_columns,
    to_float,
)

__all__ = ["hyperliquid_symbol", "read_hyperliquid_liquidations", "read_hyperliquid_positions"]

POSITION_COLUMNS = (
    "account",
    "symbol",
    "coin",
    "side",
    "size",
    "entry_price",
    "mark_price",
    "notional_usd",
    "liquidation_price",
    "margin_usd",
    "leverage",
    "mode",
    "unrealized_pnl_usd",
    "account_value_usd",
    "timestamp",
    "datetime",
    "kind",
)


def hyperliquid_symbol(coin: str) -> str:
    """Hyperliquid perp ``coin`` → ccxt unified symbol: ``BTC`` → ``BTC/USDC:USDC``."""
    return f"{str(coin).strip()}/USDC:USDC"


# ------------------------------------------------------------------------------ liquidations


def read_hyperliquid_liquidations(source: Any, *, user: str | None = None) -> pd.DataFrame:
    """Hyperliquid liquidations → the liquidation frame.

    Parameters
    ----------
    source:
        Either

        * fills in Hyperliquid's ``userFills`` format — the REST response (a JSON list of fills),
          websocket ``{"channel":"userFills","data":{"user","isSnapshot","fills":[…]}}`` messages,
          or decoded lists/dicts of those.  Fills carrying a ``liquidation`` object
          (``{"liquidatedUser","markPx","method"}``) or a ``dir`` of ``Liquidated Cross/Isolated
          Long/Short`` are kept, the rest ignored; or
        * Hyperliquid's early liquidation list (CSV: ``time,user,liquidated_ntl_pos,
          liquidated_account_value,leverage_type``).

    user:
        The account whose fills these are, when the source does not say (a REST ``userFills``
        response names no account; websocket messages and node fills do).

    Notes
    -----
    A fill is the liquidated account's own when its account is the ``liquidatedUser`` (or, with
    no ``liquidation`` object, when ``dir`` reads ``Liquidated …``): its ``side`` (``A`` = sell,
    ``B`` = buy) is then the liquidation order's side, and a sell closes a long.  Otherwise it is
    the counterparty's (the liquidator, or a resting order): the counterparty bought (``B``)
    from a liquidated long.  The same trade seen from both accounts (same ``tid``) is counted
    once, from the liquidated account's view.  ``sz`` is in base units; ``usd = sz × px``.

    The early CSV list has neither coin nor price: its rows have ``symbol``, ``price``,
    ``contracts``, ``side`` and ``position_side`` empty, and ``usd`` = ``quoteValue`` =
    ``liquidated_ntl_pos`` (USD) as published; ``info`` keeps the account, its value at
    liquidation and the margin mode.
    """
    if isinstance(source, (str, os.PathLike)):
        suffixes = [s.lower() for s in Path(source).suffixes]
        if ".csv" in suffixes[-2:]:
            return _read_liquidation_list(source)
    records, name = load_json_records(source)
    fills: list[tuple[int, dict[str, Any], str | None]] = []
    for row, rec in records:
        if isinstance(rec, dict) and rec.get("channel") == "userFills":
            data = get(rec, "data", "data", name, row)
            for f in get(data, "fills", "data.fills", name, row):
                fills.append((row, f, data.get("user")))
        elif isinstance(rec, list):
            fills.extend((row, f, None) for f in rec)
        elif isinstance(rec, dict) and "coin" in rec:
            fills.append((row, rec, None))
        elif isinstance(rec, dict) and rec.get("channel") in ("subscriptionResponse", "pong"):
            continue
        else:
            raise fail(name, "not a Hyperliquid fill or userFills message", row=row)
    rows = []
    seen: dict[Any, int] = {}
    for row, fill, owner in fills:
        if not isinstance(fill, dict):
            raise fail(name, "a fill must be a JSON object", row=row)
        direction = str(fill.get("dir") or "")
        says_liquidated = direction.lower().startswith("liquidated")
        details = fill.get("liquidation")
        if not details and not says_liquidated:
            continue
        coin = str(get(fill, "coin", "coin", name, row))
        if coin.startswith("@") or "/" in coin:
            continue  # spot fills cannot be liquidations
        fill_side = {"A": "sell", "B": "buy"}.get(str(get(fill, "side", "side", name, row)))
        if fill_side is None:
            raise fail(name, f"side must be A or B, got {fill.get('side')!r}", row=row, field="side")
        owner = fill.get("user") or owner or user
        if details and owner is not None:
            own = str(owner).lower() == str(details.get("liquidatedUser", "")).lower()
        elif says_liquidated:
            own = True
        else:
            raise fail(
                name,
                "a liquidation fill whose account is unknown: pass user= (the account whose fills these are)",
                row=row,
                field="user",
            )
        if own:  # the liquidated account's own fill: its side is the liquidation order's
            order_side = fill_side
            position_side = liq.position_closed_by(order_side)
            named = direction.split()[-1].lower() if direction else ""
            if named in ("long", "short") and named != position_side:
                raise fail(name, f"dir {direction!r} contradicts side {fill['side']!r}", row=row, field="dir")
        else:  # the counterparty took the other side of the liquidation order
            order_side = liq.opposite(fill_side)
            position_side = liq.position_closed_by(order_side)
        user_info = {"user": owner} if owner is not None and "user" not in fill else {}
        key = fill.get("tid")
        record = liq.liquidation(
            info={**fill, **user_info},
            exchange="hyperliquid",
            symbol=hyperliquid_symbol(coin),
            timestamp=epoch_ms_value(fill.get("time"), "time", name, row),
            price=number(fill.get("px"), "px", name, row),
            contracts=number(fill.get("sz"), "sz", name, row),
            contract=liq.Contract("linear", 1.0),
            side=order_side,
            position_side=position_side,
        )
        if key is not None and key in seen:
            if own:  # prefer the liquidated account's own view of the trade
                rows[seen[key]] = record
            continue
        if key is not None:
            seen[key] = len(rows)
        rows.append(record)
    return liq.frame(rows)


def _read_liquidation_list(path: Any) -> pd.DataFrame:
    data, name = read_bytes(path)
    raw_names = [h.strip().lstrip("\ufeff") for h in first_line(data).split(",")]
    head = [normalise_column_name(h) for h in raw_names]
    require_columns(name, head, ("time", "user", "liquidated_ntl_pos", "liquidated_account_value"))
    df = parse_csv(data, name, header=True, names=head)
    line0 = 2
    ts, _ = column_to_ms(df, "time", name, line0)
    notional = to_float(df, "liquidated_ntl_pos", name, line0)
    check_positive(notional, "liquidated_ntl_pos", name, line0)
    value = to_float(df, "liquidated_account_value", name, line0)
    finite = np.isfinite(value)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise fail(name, "liquidated_account_value is missing", row=line0 + i, field="liquidated_account_value")
    infos = df.rename(columns=dict(zip(head, raw_names))).to_dict("records")
    rows = []
    for i, info in enumerate(infos):
        rec = liq.liquidation(
            info=info,
            exchange="hyperliquid",
            symbol=None,
            timestamp=int(ts[i]),
            price=float("nan"),
            contracts=float("nan"),
            contract=None,
            side=None,
            position_side=None,
        )
        rec["quoteValue"] = rec["usd"] = float(notional[i])
        rows.append(rec)
    return liq.frame(rows)


# --------------------------------------------------------------------------------- positions


def read_hyperliquid_positions(source: Any, *, account: str | None = None) -> pd.DataFrame:
    """Accounts' ``clearinghouseState`` → one row per open position (an **observed** map's input).

    Parameters
    ----------
    source:
        A ``.json``/``.jsonl`` file, or decoded objects, holding any of:

        * an ``info`` response ``{"marginSummary", "crossMarginSummary", "assetPositions",
          "time", …}`` (pass ``account`` to label it);
        * a websocket message ``{"channel":"clearinghouseState","data":{"user","dex",
          "clearinghouseState":{…}}}`` or its ``data``;
        * ``{"user": "0x…", "clearinghouseState" | "state": {…}}`` records;
        * a mapping ``{"0x…": response, …}`` from account to response;
        * a list of any of these.
    account:
        Account address for a bare response without one.

    Returns
    -------
    DataFrame, one row per position with non-zero size, columns: ``account``, ``symbol`` (ccxt
    unified, ``BTC/USDC:USDC``), ``coin``, ``side`` (``'long'``/``'short'``), ``size`` (base units,
    positive), ``entry_price``, ``mark_price`` (``positionValue / size``), ``notional_usd``
    (``positionValue``), ``liquidation_price`` (NaN when Hyperliquid reports none — a position
    the account's collateral covers at any price), ``margin_usd`` (``marginUsed``), ``leverage``
    (the account's leverage setting), ``mode`` (``'cross'``/``'isolated'``),
    ``unrealized_pnl_usd``, ``account_value_usd`` (``marginSummary.accountValue``), ``timestamp``
    (int64 ms, the response's ``time``; 0 if absent), ``datetime`` and ``kind`` =
    ``'observed'``: these are real positions and the venue's own liquidation prices, not an
    estimate.  ``df.attrs['kind']`` is ``'observed'`` too.
    """
    records, name = load_json_records(source)
    states: list[tuple[int, str | None, dict[str, Any]]] = []
    for row, rec in records:
        states.extend(_states(rec, account, name, row))
    rows = []
    for row, user, state in states:
        summary = state.get("marginSummary") or {}
        account_value = float(summary["accountValue"]) if summary.get("accountValue") not in (None, "") else np.nan
        t = state.get("time")
        ts = epoch_ms_value(t, "time", name, row) if t not in (None, "") else 0
        for ap in get(state, "assetPositions", "assetPositions", name, row):
            p = get(ap, "position", "assetPositions.position", name, row)
            coin = str(get(p, "coin", "position.coin", name, row))
            szi = number(get(p, "szi", "position.szi", name, row), "position.szi", name, row, positive=False)
            if szi == 0:
                continue  # a closed position can stay listed at size zero
            size = abs(szi)
            lev = get(p, "leverage", "position.leverage", name, row)
            mode = str(get(lev, "type", "position.leverage.type", name, row)).lower()
            if mode not in ("cross", "isolated"):
                raise fail(
                    name,
                    f"leverage type must be cross or isolated, got {lev.get('type')!r}",
                    row=row,
                    field="position.leverage.type",
                )
            value = number(
                get(p, "positionValue", "position.positionValue", name, row), "position.positionValue", name, row
            )
            liq_px = p.get("liquidationPx")
            rows.append(
                {
                    "account": user,
                    "symbol": hyperliquid_symbol(coin),
                    "coin": coin,
                    "side": "long" if szi > 0 else "short",
                    "size": size,
                    "entry_price": number(p.get("entryPx"), "position.entryPx", name, row),
                    "mark_price": value / size,
                    "notional_usd": value,
                    "liquidation_price": np.nan
                    if liq_px in (None, "")
                    else number(liq_px, "position.liquidationPx", name, row),
                    "margin_usd": number(p.get("marginUsed"), "position.marginUsed", name, row, allow_zero=True),
                    "leverage": number(lev.get("value"), "position.leverage.value", name, row),
                    "mode": mode,
                    "unrealized_pnl_usd": number(
                        p.get("unrealizedPnl", "0"), "position.unrealizedPnl", name, row, positive=False
                    ),
                    "account_value_usd": account_value,
                    "timestamp": ts,
                }
            )
    df = pd.DataFrame.from_records(rows, columns=[c for c in POSITION_COLUMNS if c not in ("datetime", "kind")])
    df["timestamp"] = df["timestamp"].astype(np.int64)
    df.insert(df.columns.get_loc("timestamp") + 1, "datetime", ms_to_datetime(df["timestamp"].to_numpy()))
    df["kind"] = "observed"
    df.attrs["kind"] = "observed"
    df.attrs["source"] = name
    return df


def _states(rec: Any, account: str | None, name: str, row: int) -> list[tuple[int, str | None, dict[str, Any]]]:
    """Every (row, account, clearinghouseState) inside one decoded record."""
    if isinstance(rec, list):
        return [s for r in rec for s in _states(r, account, name, row)]
    if not isinstance(rec, dict):
        raise fail(name, "not a clearinghouseState record", row=row)
    if rec.get("channel") == "clearinghouseState":
        return _states(rec.get("data"), account, name, row)
    if "assetPositions" in rec:
        return [(row, account, rec)]
    for key in ("clearinghouseState", "state"):
        if isinstance(rec.get(key), dict):
            return [(row, rec.get("user") or account, rec[key])]
    if rec and all(isinstance(k, str) and k.startswith("0x") and isinstance(v, dict) for k, v in rec.items()):
        return [(row, k, v) for k, v in rec.items()]
    raise fail(name, "not a clearinghouseState record (no assetPositions)", row=row, field="assetPositions")
