"""Liquidation figures of user positions: the library behind ``liqcascade liqprice``.

Three entry points, each callable from a notebook (the CLI only prints what they return):

- :func:`position_figures` — one position on one venue (a dict);
  :func:`compare_venues` — the same position on every venue (a dict keyed by venue).
- :func:`batch_figures` — a DataFrame of positions whose columns are the CLI flags' names
  (:data:`BATCH_COLUMNS`) → the same rows with ``liquidation_price, bankruptcy_price,
  maintenance_margin, tier`` appended.  Vectorised: rows are grouped by (symbol, mode, pinned
  parameters) and each group is one call of :meth:`VenueRules.margin_figures`.
- :func:`account_figures` — a cross-margin account (wallet balance and positions across assets)
  → each position's liquidation price given the others.

Sizing.  A position is given by two or three of size ``Q`` (base units), margin ``M`` (USD) and
leverage ``L``: with ``Q`` and ``L`` the margin is ``Q·E/L``; with ``M`` and ``L`` the size is
``M·L/E``; with ``Q`` and ``M`` the leverage is ``Q·E/M``; with all three, ``M`` is the collateral
and must be at least ``Q·E/L`` (extra margin is allowed and moves the liquidation price away).

Pinned parameters.  ``mmr`` (fraction), ``maintenance_amount`` (USD) and ``max_leverage`` replace
the venue's tier table:

- ``mmr`` and/or ``maintenance_amount`` pin a single tier.  A parameter not given is taken from the
  table's tier that holds the position at entry (for an account position: at its mark).  When the
  venue has no table for the symbol, ``maintenance_amount`` defaults to 0 and ``max_leverage`` to
  ``1/mmr`` — the leverage at which the initial margin equals the maintenance margin, so a
  position at or above it would open already liquidated.  The published examples (Bybit's
  19,700, Binance's calculator) are far below either default.
- ``max_leverage`` alone keeps the tiers and only replaces the leverage cap of the opening check,
  except where the venue derives the maintenance rate from it: on Hyperliquid (``MMR =
  1/(2·maxLev)``) a pinned maximum leverage is a flat margin table at that leverage, so it pins
  the rate (and a zero deduction unless ``maintenance_amount`` is given) on every path — single,
  batch, account.  An explicit ``mmr`` still wins.
- A pin the venue could not have — a maintenance amount larger than ``mmr`` × the notional, which
  would make the maintenance margin negative and put the liquidation price beyond the bankruptcy
  price — is refused (InputError naming ``maintenance_amount``): a tier's amount only applies to
  notionals of at least ``amount/mmr``.
- ``taker_fee`` (fraction) is not a tier parameter: it is passed to the venue, where only OKX
  adds it to the maintenance rate; unset, the venue's default taker fee applies.

Every user error raises :class:`~liqcascade.errors.InputError` with one line naming the field (and
for batches the 1-based data row: row 1 is the first line after the header).
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ._io import write_atomic  # noqa: F401  (the CLI writes batch results with it)
from .errors import InputError
from .venues import VENUES, TierTable, VenueRules, get_venue
from .venues import margin as _m

DEFAULT_SYMBOL = "BTC/USDT:USDT"
DEFAULT_MODE = "isolated"
MODES = ("isolated", "cross")
SIDES = {"long": 1, "buy": 1, "short": -1, "sell": -1}

#: CSV columns of a batch, named as the CLI flags (``max_leverage`` is ``--max-leverage``).
BATCH_COLUMNS = (
    "side",
    "entry",
    "size",
    "margin",
    "leverage",
    "max_leverage",
    "mmr",
    "maintenance_amount",
    "taker_fee",
    "mode",
    "symbol",
)
NUMERIC_COLUMNS = ("entry", "size", "margin", "leverage", "max_leverage", "mmr", "maintenance_amount", "taker_fee")
TEXT_COLUMNS = ("side", "mode", "symbol")
SIZING = ("size", "margin", "leverage")
#: columns a batch appends to its input rows
RESULT_COLUMNS = ("liquidation_price", "bankruptcy_price", "maintenance_margin", "tier")
#: flags that may give a batch's defaults for empty cells
DEFAULTABLE = ("max_leverage", "mmr", "maintenance_amount", "taker_fee", "mode", "symbol")
ACCOUNT_POSITION_KEYS = (
    "symbol",
    "side",
    "size",
    "entry",
    "mark",
    "mmr",
    "maintenance_amount",
    "max_leverage",
    "taker_fee",
)

#: The keys of ccxt's unified position structure (``exchange.fetch_positions()``); an account's
#: position that has ``contracts`` or ``entryPrice`` is read as one of these.
CCXT_POSITION_KEYS = (
    "info",
    "id",
    "symbol",
    "timestamp",
    "datetime",
    "lastUpdateTimestamp",
    "isolated",
    "hedged",
    "side",
    "contracts",
    "contractSize",
    "entryPrice",
    "markPrice",
    "lastPrice",
    "notional",
    "leverage",
    "collateral",
    "initialMargin",
    "initialMarginPercentage",
    "maintenanceMargin",
    "maintenanceMarginPercentage",
    "unrealizedPnl",
    "realizedPnl",
    "liquidationPrice",
    "marginMode",
    "marginRatio",
    "percentage",
    "stopLossPrice",
    "takeProfitPrice",
)

_REL = 1e-12  # relative slack of the opening checks (the venues' own check_opening uses it too)


# ============================================================================ venues and tables
def load_venue(venue: str | VenueRules, *, allow_missing_tables: bool = False, as_of: Any = None) -> VenueRules:
    """The rule book of ``venue`` (a name or a :class:`VenueRules`, e.g. one with live tables).

    ``as_of`` (a date, datetime or ISO string): look tables up at that date (the version in force
    then; :meth:`VenueRules.tier_table`), default the latest.  An unknown name is an
    :class:`InputError`.  When a venue's bundled tables cannot be read, that is an InputError too,
    unless ``allow_missing_tables`` (parameters are pinned): then the rule book comes without tables.
    """
    if isinstance(venue, VenueRules):
        return venue if as_of is None else venue.at(as_of)
    try:
        return get_venue(venue, as_of=as_of)
    except InputError:
        raise
    except Exception as exc:  # bundled table missing or unreadable
        if allow_missing_tables:
            return VENUES[str(venue).lower()](tables={}, as_of=as_of)
        raise InputError(
            f"the tier tables of {venue!r} could not be loaded ({type(exc).__name__}: {exc}); "
            "pin --mmr to use the venue without them",
            field="venue",
        ) from exc


def _group_tables(
    venue: VenueRules,
    symbol: str,
    size: np.ndarray,
    price: np.ndarray,
    *,
    mmr: float | None,
    maintenance_amount: float | None,
    max_leverage: float | None,
) -> tuple[str, list[tuple[np.ndarray, TierTable, bool]]]:
    """The tables of one group of positions: ``(venue symbol, [(row indices, table, pinned)])``.

    Unpinned: the venue's table.  With pins: single-tier tables, one per tier of the venue's table
    at ``price`` when a parameter has to be taken from it (see the module docstring).
    """
    n = len(size)
    if mmr is None and max_leverage is not None:
        # a venue whose maintenance rate follows from the maximum leverage (Hyperliquid: a pinned
        # maximum leverage is a flat margin table at it) pins the rate and a zero deduction too
        implied = venue.maintenance_rate_at_max_leverage(max_leverage)
        if implied is not None:
            mmr = implied
            maintenance_amount = 0.0 if maintenance_amount is None else maintenance_amount
    try:
        base: TierTable | None = venue.tier_table(symbol)
    except InputError:
        if mmr is None:
            raise
        base = None
    if mmr is None and maintenance_amount is None:
        assert base is not None
        if max_leverage is None:
            return base.symbol, [(np.arange(n), base, False)]
        capped = replace(base, max_leverage=np.full(base.n_tiers, float(max_leverage)))
        return base.symbol, [(np.arange(n), capped, True)]
    if base is None:
        assert mmr is not None
        lev = max_leverage if max_leverage is not None else (1.0 / mmr if mmr > 0 else math.inf)
        t = TierTable.single(
            venue.name, symbol, mmr=mmr, max_leverage=lev, maintenance_amount=maintenance_amount or 0.0
        )
        return symbol, [(np.arange(n), t, True)]
    if mmr is not None and maintenance_amount is not None and max_leverage is not None:
        t = TierTable.single(
            venue.name, base.symbol, mmr=mmr, max_leverage=max_leverage, maintenance_amount=maintenance_amount
        )
        return base.symbol, [(np.arange(n), t, True)]
    k = np.minimum(base.tier_index(base.measure(size, price)), base.n_tiers - 1)
    out = []
    for kk in np.unique(k):
        idx = np.flatnonzero(k == kk)
        t = TierTable.single(
            venue.name,
            base.symbol,
            mmr=float(mmr if mmr is not None else base.mmr[kk]),
            max_leverage=float(max_leverage if max_leverage is not None else base.max_leverage[kk]),
            maintenance_amount=float(
                maintenance_amount if maintenance_amount is not None else base.maintenance_amount[kk]
            ),
        )
        out.append((idx, t, True))
    return base.symbol, out


# ============================================================================ validation helpers
class _FirstError:
    """Keeps the error of the lowest row found in one validation stage."""

    def __init__(self, numbered: bool):
        self.numbered = numbered
        self.best: tuple[int, Callable[[int], InputError]] | None = None

    def add(self, mask: np.ndarray, make: Callable[[int], InputError], rows: np.ndarray | None = None) -> None:
        """Record the first True of ``mask``; ``rows`` maps a local mask to global row indices.
        ``make(i)`` builds the error of global row index ``i``."""
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        i = int(idx[0]) if rows is None else int(np.asarray(rows)[idx].min())
        if self.best is None or i < self.best[0]:
            self.best = (i, make)

    def raise_first(self) -> None:
        if self.best is None:
            return
        i, make = self.best
        raise _with_row(make(i), i + 1 if self.numbered else None)


def _with_row(err: InputError, row: int | None) -> InputError:
    """The same error with a row number put in front (messages stay one line)."""
    if row is None or err.row is not None:
        return err
    text = str(err)
    prefix = f"field '{err.field}': " if err.field is not None else ""
    message = text[len(prefix) :] if prefix and text.startswith(prefix) else text
    return InputError(message, field=err.field, row=row)


def _fmt(v: float) -> str:
    v = float(v)
    return f"{v:,.10g}" if math.isfinite(v) and abs(v) < 1e15 else repr(v)


def _side_codes(side: np.ndarray, errors: _FirstError) -> np.ndarray:
    low = np.char.lower(np.char.strip(side.astype(str)))
    code = np.zeros(len(low), dtype=np.int8)
    for name, c in SIDES.items():
        code[low == name] = c
    missing = low == ""
    errors.add(missing, lambda i: InputError("missing: give long or short", field="side"))
    errors.add(
        (code == 0) & ~missing, lambda i: InputError(f"must be 'long' or 'short', got {side[i]!r}", field="side")
    )
    return code


def _check_numbers(cols: Mapping[str, np.ndarray], errors: _FirstError, present: Iterable[str] = BATCH_COLUMNS) -> None:
    """Range checks of the numeric inputs that are given (NaN = not given).  A missing sizing
    value is named among the ``present`` columns first (the empty cell rather than an absent
    column)."""
    present = set(present)

    def positive(name: str) -> None:
        v = cols[name]
        bad = ~np.isnan(v) & ~(np.isfinite(v) & (v > 0))
        errors.add(bad, lambda i: InputError(f"must be a positive number, got {_fmt(v[i])}", field=name))

    positive("entry")
    errors.add(np.isnan(cols["entry"]), lambda i: InputError("missing: give the entry price", field="entry"))
    for name in ("size", "margin", "leverage", "max_leverage"):
        positive(name)
    for name, lo, hi in (("mmr", 0.0, 1.0), ("taker_fee", 0.0, 1.0)):
        v = cols[name]
        bad = ~np.isnan(v) & ~((v >= lo) & (v < hi))
        errors.add(
            bad,
            lambda i, v=v, name=name: InputError(
                f"must be a fraction in [0, 1) (0.005 = 0.5 %), got {_fmt(v[i])}", field=name
            ),
        )
    v = cols["maintenance_amount"]
    bad = ~np.isnan(v) & ~(np.isfinite(v) & (v >= 0))
    errors.add(
        bad, lambda i: InputError(f"must be a non-negative amount in USD, got {_fmt(v[i])}", field="maintenance_amount")
    )
    given = np.stack([~np.isnan(cols[c]) for c in SIZING])
    few = given.sum(axis=0) < 2

    def sizing_error(i: int) -> InputError:
        have = [c for c, g in zip(SIZING, given[:, i]) if g]
        lack = sorted((c for c, g in zip(SIZING, given[:, i]) if not g), key=lambda c: c not in present)
        got = f"got only {have[0]}" if have else "got none"
        return InputError(f"missing: give two of size, margin, leverage ({got})", field=lack[0])

    errors.add(few, sizing_error)


# ============================================================================ the vectorised core
def _evaluate(
    venue: VenueRules, cols: dict[str, np.ndarray], *, numbered: bool, present: Iterable[str] = BATCH_COLUMNS
) -> dict[str, np.ndarray]:
    """Figures of positions given as normalised columns.

    ``cols``: float64 arrays (NaN = not given) for :data:`NUMERIC_COLUMNS`, object arrays of
    stripped strings ("" = default) for :data:`TEXT_COLUMNS`.  Raises the InputError of the
    lowest offending row of the first failing stage.
    """
    n = len(cols["entry"])
    # ---- stage 1: values that do not depend on the venue
    errors = _FirstError(numbered)
    side = _side_codes(cols["side"], errors)
    mode = np.char.lower(cols["mode"].astype(str))
    mode = np.where(mode == "", DEFAULT_MODE, mode)
    bad_mode = ~np.isin(mode, MODES)
    errors.add(bad_mode, lambda i: InputError(f"must be 'isolated' or 'cross', got {cols['mode'][i]!r}", field="mode"))
    symbol = np.where(cols["symbol"].astype(str) == "", DEFAULT_SYMBOL, cols["symbol"].astype(str)).astype(object)
    _check_numbers(cols, errors, present)
    errors.raise_first()

    entry = cols["entry"]
    q_in, m_in, lev_in = cols["size"], cols["margin"], cols["leverage"]
    with np.errstate(all="ignore"):
        size = np.where(np.isnan(q_in), m_in * lev_in / entry, q_in)
        margin = np.where(np.isnan(m_in), size * entry / lev_in, m_in)
    has_lev = ~np.isnan(lev_in)
    notional = size * entry
    fee = np.where(np.isnan(cols["taker_fee"]), venue.default_taker_fee, cols["taker_fee"])

    # ---- stage 2: tables and opening checks, one group at a time
    keys = pd.DataFrame({"symbol": symbol, "mode": mode})
    pins = [c for c in ("mmr", "maintenance_amount", "max_leverage") if not np.all(np.isnan(cols[c]))]
    for c in pins:
        keys[c] = cols[c]
    groups = keys.groupby(list(keys.columns), sort=False, dropna=False).indices if n else {}
    out = {
        name: np.full(n, np.nan)
        for name in (
            "liquidation_price",
            "bankruptcy_price",
            "maintenance_margin",
            "maintenance_margin_at_entry",
            "mmr",
            "maintenance_amount",
            "max_leverage",
        )
    }
    out["tier"] = np.zeros(n, dtype=np.int64)
    out["symbol"] = np.empty(n, dtype=object)
    out["pinned"] = np.zeros(n, dtype=bool)
    jobs = []
    errors = _FirstError(numbered)
    for key, rows in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        kd = dict(zip(keys.columns, key))
        pin = {
            c: (None if c not in kd or pd.isna(kd[c]) else float(kd[c]))
            for c in ("mmr", "maintenance_amount", "max_leverage")
        }
        try:
            vsym, parts = _group_tables(venue, kd["symbol"], size[rows], entry[rows], **pin)
        except InputError as exc:
            errors.add(np.ones(1, bool), lambda i, exc=exc: exc, rows=rows[:1])
            continue
        for idx, table, pinned in parts:
            r = rows[idx]
            q, e, m, lv = size[r], entry[r], margin[r], lev_in[r]
            measure = table.measure(q, e)
            k = np.minimum(table.tier_index(measure), table.n_tiers - 1)
            cap_lev = table.max_leverage[k]
            with np.errstate(all="ignore"):
                eff_lev = np.where(has_lev[r], lv, q * e / m)
                bad = (measure > table.max_position()) | (eff_lev > cap_lev * (1 + _REL))
                bad |= has_lev[r] & (m < q * e / lv * (1 - _REL))

            def opening_error(j: int, table: TierTable = table) -> InputError:
                try:
                    venue.check_opening(
                        float(size[j]),
                        float(entry[j]),
                        float(margin[j]),
                        table,
                        leverage=float(lev_in[j]) if has_lev[j] else None,
                    )
                except InputError as exc:
                    return exc
                return InputError(f"the position cannot be opened on {venue.name} {table.symbol}", field="leverage")

            errors.add(bad, opening_error, rows=r)
            out["symbol"][r] = vsym
            out["pinned"][r] = pinned
            out["max_leverage"][r] = cap_lev
            jobs.append((r, table, kd["mode"]))
    errors.raise_first()

    # ---- stage 3: figures, one margin_figures call per (group, table)
    for r, table, md in jobs:
        fig = venue.margin_figures(side[r], size[r], entry[r], margin[r], table, mode=md, taker_fee=fee[r])
        out["liquidation_price"][r] = fig.liquidation_price
        out["bankruptcy_price"][r] = fig.bankruptcy_price
        out["maintenance_margin"][r] = fig.maintenance_margin
        out["maintenance_margin_at_entry"][r] = fig.maintenance_margin_at_entry
        out["tier"][r] = fig.tier
        out["mmr"][r] = fig.mmr
        out["maintenance_amount"][r] = table.maintenance_amount[np.minimum(fig.tier - 1, table.n_tiers - 1)]
    errors = _FirstError(numbered)
    mm_e = out["maintenance_margin_at_entry"]
    mm_lp = out["maintenance_margin"]
    errors.add((mm_lp < 0) | (mm_e < 0), lambda i: _negative_maintenance(out, i, size[i], entry[i]))
    errors.raise_first()
    errors.add(
        margin <= mm_e,
        lambda i: InputError(
            f"margin {margin[i]:,.2f} does not exceed the maintenance margin {mm_e[i]:,.2f} at entry: "
            "the position would be liquidated as soon as it opens",
            field="margin",
        ),
    )
    errors.raise_first()

    out.update(
        side=side,
        mode=mode,
        entry=entry,
        size=size,
        margin=margin,
        notional=notional,
        leverage=np.where(has_lev, lev_in, notional / margin),
        effective_leverage=notional / margin,
        taker_fee=np.where(venue.fee_in_maintenance, fee, np.nan),
    )
    return out


def _negative_maintenance(out: Mapping[str, np.ndarray], i: int, size: float, entry: float) -> InputError:
    """The pinned maintenance amount that makes a position's maintenance margin negative (at entry,
    else at the liquidation price)."""
    mmr, amount = float(out["mmr"][i]), float(out["maintenance_amount"][i])
    at_entry = float(out["maintenance_margin_at_entry"][i]) < 0
    where, price = ("at entry", entry) if at_entry else ("at the liquidation price", float(out["liquidation_price"][i]))
    mm = float(out["maintenance_margin_at_entry" if at_entry else "maintenance_margin"][i])
    least = f"{amount / mmr:,.2f} USD" if mmr > 0 else "no notional (mmr is 0)"
    return InputError(
        f"maintenance amount {amount:,.2f} USD is more than mmr {mmr:g} x the notional {where} "
        f"({size * price:,.2f} USD): the maintenance margin would be negative ({mm:,.2f} USD) and the "
        f"liquidation price beyond bankruptcy; a tier with that amount holds notionals from {least}",
        field="maintenance_amount",
    )


def _columns_from_scalars(**kw: Any) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for c in NUMERIC_COLUMNS:
        v = kw.get(c)
        if v is None:
            cols[c] = np.array([np.nan])
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            try:
                v = float(str(v).strip())
            except ValueError:
                raise InputError(f"not a number: {v!r}", field=c) from None
        cols[c] = np.array([float(v)])
        if np.isnan(cols[c][0]):
            raise InputError("not a number: nan", field=c)
    for c in TEXT_COLUMNS:
        v = kw.get(c)
        cols[c] = np.array(["" if v is None else str(v).strip()], dtype=object)
    return cols


def _pct(price: float, entry: float) -> float:
    return (price / entry - 1.0) * 100.0


def _result(venue: VenueRules, res: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    def f(name: str) -> float | None:
        v = float(res[name][i])
        return None if math.isnan(v) else v

    entry = float(res["entry"][i])
    lp, bp = float(res["liquidation_price"][i]), float(res["bankruptcy_price"][i])
    return {
        "venue": venue.name,
        "symbol": res["symbol"][i],
        "side": "long" if res["side"][i] > 0 else "short",
        "mode": str(res["mode"][i]),
        "entry": entry,
        "size": f("size"),
        "notional_usd": f("notional"),
        "margin_usd": f("margin"),
        "leverage": f("leverage"),
        "effective_leverage": f("effective_leverage"),
        "liquidation_price": lp,
        "bankruptcy_price": bp,
        "maintenance_margin": f("maintenance_margin"),
        "maintenance_margin_at_entry": f("maintenance_margin_at_entry"),
        "liquidation_distance_pct": _pct(lp, entry),
        "bankruptcy_distance_pct": _pct(bp, entry),
        "tier": int(res["tier"][i]),
        "mmr": f("mmr"),
        "maintenance_amount": f("maintenance_amount"),
        "max_leverage": f("max_leverage"),
        "taker_fee": f("taker_fee"),
        "pinned": bool(res["pinned"][i]),
        "procedure": {
            "partial": venue.procedure.partial,
            "backstop": venue.procedure.backstop,
            "fee_recipient": venue.procedure.fee_recipient,
        },
    }


# ============================================================================ one position
def position_figures(
    side: str,
    entry: float,
    size: float | None = None,
    margin: float | None = None,
    leverage: float | None = None,
    *,
    venue: str | VenueRules = "binance",
    mode: str | None = None,
    symbol: str | None = None,
    max_leverage: float | None = None,
    mmr: float | None = None,
    maintenance_amount: float | None = None,
    taker_fee: float | None = None,
    as_of: Any = None,
) -> dict[str, Any]:
    """Liquidation, bankruptcy and maintenance figures of one position on one venue.

    Prices in USD per base unit, amounts in USD, rates as fractions; ``*_distance_pct`` is the
    signed move from entry in percent (``bankruptcy_distance_pct`` is the move that wipes the
    margin out).  ``tier`` is 1-based, the tier at the liquidation price (Bybit isolated: at
    entry).  ``max_leverage`` is the cap the opening check applied (tier at entry).  ``as_of``: the
    position's date; its tables are the versions in force then (default the latest).
    """
    cols = _columns_from_scalars(
        side=side,
        entry=entry,
        size=size,
        margin=margin,
        leverage=leverage,
        mode=mode,
        symbol=symbol,
        max_leverage=max_leverage,
        mmr=mmr,
        maintenance_amount=maintenance_amount,
        taker_fee=taker_fee,
    )
    rules = load_venue(venue, allow_missing_tables=mmr is not None, as_of=as_of)
    return _result(rules, _evaluate(rules, cols, numbered=False), 0)


def compare_venues(
    side: str,
    entry: float,
    size: float | None = None,
    margin: float | None = None,
    leverage: float | None = None,
    *,
    venues: Iterable[str] | None = None,
    **kw: Any,
) -> dict[str, dict[str, Any]]:
    """:func:`position_figures` on every venue (default: all four), keyed by venue name.

    A venue that refuses the position (leverage above its cap, symbol it does not list) gets
    ``{"venue": name, "error": message}``; when every venue refuses, the first error is raised.
    """
    names = list(venues) if venues is not None else list(VENUES)
    out: dict[str, dict[str, Any]] = {}
    first: InputError | None = None
    for name in names:
        try:
            out[name] = position_figures(side, entry, size, margin, leverage, venue=name, **kw)
        except InputError as exc:
            first = first or exc
            out[name] = {"venue": name, "error": str(exc)}
    if first is not None and all("error" in v for v in out.values()):
        if len(out) > 1 and first.field == "symbol":
            sym = kw.get("symbol") or DEFAULT_SYMBOL
            raise InputError(f"unknown symbol {sym!r} on every venue ({', '.join(out)})", field="symbol")
        raise first
    return out


# ============================================================================ batches
def _frame_columns(frame: pd.DataFrame) -> None:
    names = [str(c) for c in frame.columns]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"column {name!r} appears twice", field=name)
        seen.add(name)
        if name not in BATCH_COLUMNS:
            close = difflib.get_close_matches(name, BATCH_COLUMNS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(BATCH_COLUMNS)})"
            raise InputError(f"unknown column {name!r}{hint}", field=name)
    for name in ("side", "entry"):
        if name not in seen:
            raise InputError(f"missing column {name!r}", field=name)
    have = [c for c in SIZING if c in seen]
    if len(have) < 2:
        lack = [c for c in SIZING if c not in seen]
        raise InputError(
            f"missing column {' or '.join(repr(c) for c in lack)}: each row needs two of size, margin, leverage",
            field=lack[0],
        )


def _parse_numeric(series: pd.Series, name: str, errors: _FirstError) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    s = series.astype("string").str.strip()
    empty = (s.isna() | (s == "")).to_numpy(dtype=bool)
    parsed = pd.to_numeric(s.where(~pd.Series(empty, index=s.index)), errors="coerce")
    vals = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    raw = series.to_numpy(dtype=object)
    errors.add(~empty & np.isnan(vals), lambda i: InputError(f"not a number: {raw[i]!r}", field=name))
    return vals


def _parse_text(series: pd.Series) -> np.ndarray:
    return series.astype("string").str.strip().fillna("").to_numpy(dtype=object)


def batch_figures(
    frame: pd.DataFrame, venue: str | VenueRules, *, defaults: Mapping[str, Any] | None = None, as_of: Any = None
) -> pd.DataFrame:
    """Figures of many positions on one venue.

    ``frame`` has columns named as the CLI flags (:data:`BATCH_COLUMNS`; ``side, entry`` and two
    of ``size, margin, leverage`` are required) holding numbers or strings; an empty cell (or NaN)
    takes the default: for ``mode, symbol, max_leverage, mmr, maintenance_amount, taker_fee``
    the value in ``defaults`` if given, else the single-position default.

    Returns the rows in input order, numeric columns as floats (NaN where empty), with
    ``liquidation_price, bankruptcy_price, maintenance_margin`` (USD) and ``tier`` (1-based)
    appended.  Errors name the column and the 1-based row.  ``as_of``: the positions' date (tables
    in force then; default the latest).
    """
    _frame_columns(frame)
    defaults = dict(defaults or {})
    for k in defaults:
        if k not in DEFAULTABLE:
            raise InputError(f"cannot be a batch default (only {', '.join(DEFAULTABLE)})", field=k)
    n = len(frame)
    errors = _FirstError(numbered=True)
    cols: dict[str, np.ndarray] = {}
    for c in NUMERIC_COLUMNS:
        cols[c] = _parse_numeric(frame[c], c, errors) if c in frame.columns else np.full(n, np.nan)
    for c in TEXT_COLUMNS:
        cols[c] = _parse_text(frame[c]) if c in frame.columns else np.full(n, "", dtype=object)
    errors.raise_first()
    typed = {
        c: (cols[c].copy() if c in NUMERIC_COLUMNS else np.where(cols[c] == "", None, cols[c])) for c in frame.columns
    }
    for k, v in defaults.items():
        if v is None:
            continue
        if k in NUMERIC_COLUMNS:
            cols[k] = np.where(np.isnan(cols[k]), float(v), cols[k])
        else:
            cols[k] = np.where(cols[k] == "", str(v), cols[k]).astype(object)
    rules = load_venue(venue, allow_missing_tables=not np.all(np.isnan(cols["mmr"])), as_of=as_of)
    res = _evaluate(rules, cols, numbered=True, present=[str(c) for c in frame.columns])
    out = pd.DataFrame(typed, index=frame.index)
    for c in RESULT_COLUMNS:
        out[c] = res[c]
    return out


def read_batch_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A batch CSV as a frame of strings (cells verbatim, "" where empty); file and parse errors
    as InputError."""
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except FileNotFoundError:
        raise InputError(f"no such file: {str(p)!r}", field="batch") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {str(p)!r}: {exc}", field="batch") from None
    if not header or all(not h.strip() for h in header):
        raise InputError(
            f"{str(p)!r} is empty: expected a header line with {', '.join(BATCH_COLUMNS[:3])}, …", field="batch"
        )
    try:
        frame = pd.read_csv(
            p, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig", skipinitialspace=True
        )
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        msg = " ".join(str(exc).split())
        raise InputError(f"cannot parse {str(p)!r} as CSV: {msg}", field="batch") from None
    # pandas renames duplicate headers ("entry.1"); report them as written
    stripped = [h.strip() for h in header]
    frame.columns = stripped if len(stripped) == len(frame.columns) else [str(c).strip() for c in frame.columns]
    return frame.fillna("")


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN → None, NumPy scalars → Python)."""
    cols = {c: frame[c].to_numpy() for c in frame.columns}
    out = []
    for i in range(len(frame)):
        rec = {}
        for c, arr in cols.items():
            v = arr[i]
            if isinstance(v, (np.floating, float)):
                v = None if math.isnan(v) else float(v)
            elif isinstance(v, np.integer):
                v = int(v)
            elif isinstance(v, np.bool_):
                v = bool(v)
            elif v is not None and not isinstance(v, (str, int, bool)) and pd.isna(v):
                v = None
            rec[str(c)] = v
        out.append(rec)
    return out


# ============================================================================ cross accounts
def read_account_json(path: str | os.PathLike) -> dict[str, Any]:
    """An account file as a dict; file and JSON errors as InputError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"no such file: {str(p)!r}", field="account") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {str(p)!r}: {exc}", field="account") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{str(p)!r} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", field="account"
        ) from None
    return doc


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or value is None:
        raise InputError(f"must be a number, got {json.dumps(value)}", field=field)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(f"must be a number, got {value!r}", field=field) from None
    if not isinstance(value, (int, float)):
        raise InputError(f"must be a number, got {type(value).__name__}", field=field)
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"must be a finite number, got {v}", field=field)
    return v


def _account_positions(account: Any) -> tuple[float, list[dict[str, Any]]]:
    if not isinstance(account, Mapping):
        raise InputError("must be a JSON object with wallet_balance and positions", field="account")
    if "wallet_balance" not in account:
        raise InputError("missing", field="wallet_balance")
    wallet = _number(account["wallet_balance"], "wallet_balance")
    if wallet <= 0:  # a cross account holds positions only on collateral
        raise InputError(f"must be a positive number of USD, got {wallet:,.2f}", field="wallet_balance")
    if "positions" not in account:
        raise InputError("missing", field="positions")
    positions = account["positions"]
    if not isinstance(positions, list) or not positions:
        raise InputError("must be a non-empty list of positions", field="positions")
    out = []
    for i, pos in enumerate(positions):
        where = f"positions[{i}]"
        if not isinstance(pos, Mapping):
            raise InputError("must be an object with symbol, side, size, entry, mark", field=where)
        if "contracts" in pos or "entryPrice" in pos:
            pos = _from_ccxt_position(pos, where)
        for key in pos:
            if key not in ACCOUNT_POSITION_KEYS:
                close = difflib.get_close_matches(str(key), ACCOUNT_POSITION_KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InputError(f"unknown key{hint}", field=f"{where}.{key}")
        for key in ("symbol", "side", "size", "entry", "mark"):
            if key not in pos:
                raise InputError("missing", field=f"{where}.{key}")
        if not isinstance(pos["symbol"], str) or not pos["symbol"].strip():
            raise InputError("must be a symbol such as 'BTC/USDT:USDT'", field=f"{where}.symbol")
        side = pos["side"]
        if not isinstance(side, str) or side.strip().lower() not in SIDES:
            raise InputError(f"must be 'long' or 'short', got {json.dumps(side)}", field=f"{where}.side")
        rec: dict[str, Any] = {"symbol": pos["symbol"].strip(), "side": SIDES[side.strip().lower()]}
        for key in ("size", "entry", "mark"):
            v = _number(pos[key], f"{where}.{key}")
            if v <= 0:
                raise InputError(f"must be a positive number, got {_fmt(v)}", field=f"{where}.{key}")
            rec[key] = v
        for key in ("mmr", "maintenance_amount", "max_leverage", "taker_fee"):
            rec[key] = None if pos.get(key) is None else _number(pos[key], f"{where}.{key}")
        if rec["max_leverage"] is not None and not rec["max_leverage"] > 0:
            raise InputError(
                f"must be a positive number, got {_fmt(rec['max_leverage'])}", field=f"{where}.max_leverage"
            )
        if rec["mmr"] is not None and not 0 <= rec["mmr"] < 1:
            raise InputError(f"must be a fraction in [0, 1), got {_fmt(rec['mmr'])}", field=f"{where}.mmr")
        if rec["maintenance_amount"] is not None and rec["maintenance_amount"] < 0:
            raise InputError("must not be negative", field=f"{where}.maintenance_amount")
        if rec["taker_fee"] is not None and not 0 <= rec["taker_fee"] < 1:
            raise InputError("must be a fraction in [0, 1)", field=f"{where}.taker_fee")
        out.append(rec)
    return wallet, out


def _from_ccxt_position(pos: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One position of ccxt's unified structure as an account position: ``size = contracts ×
    contractSize`` (base units), ``entry = entryPrice``, ``mark = markPrice`` (USD); the venue's
    own figures (``liquidationPrice``, ``maintenanceMargin``, …) are not used: the rule book
    recomputes them.  An isolated position has no place in a cross account and is refused."""
    for key in pos:
        if key not in CCXT_POSITION_KEYS:
            close = difflib.get_close_matches(str(key), CCXT_POSITION_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"unknown key of a ccxt position{hint}", field=f"{where}.{key}")
    for key in ("symbol", "side", "contracts", "contractSize", "entryPrice", "markPrice"):
        if pos.get(key) is None:
            why = {
                "contractSize": ": size in base units = contracts × contractSize",
                "markPrice": ": the liquidation price holds the other positions at their marks",
            }.get(key, "")
            raise InputError(f"missing (ccxt position){why}", field=f"{where}.{key}")
    mode = pos.get("marginMode")
    if mode == "isolated" or (mode is None and pos.get("isolated") is True):
        raise InputError(
            "an isolated position cannot be part of a cross account (liqprice --venue ... "
            "--mode isolated prices it alone)",
            field=f"{where}.marginMode",
        )
    contracts = _number(pos["contracts"], f"{where}.contracts")
    contract_size = _number(pos["contractSize"], f"{where}.contractSize")
    for key, v in (("contracts", contracts), ("contractSize", contract_size)):
        if v <= 0:
            raise InputError(f"must be a positive number, got {_fmt(v)}", field=f"{where}.{key}")
    return {
        "symbol": pos["symbol"],
        "side": pos["side"],
        "size": contracts * contract_size,
        "entry": pos["entryPrice"],
        "mark": pos["markPrice"],
    }


def account_figures(account: Mapping[str, Any], venue: str | VenueRules, *, as_of: Any = None) -> pd.DataFrame:
    """Each position of a cross-margin account, liquidation price given the others.

    ``account = {"wallet_balance": USD, "positions": [{"symbol", "side", "size", "entry", "mark",
    optional "mmr", "maintenance_amount", "max_leverage", "taker_fee"}]}``; ``max_leverage`` is
    accepted only where it sets the maintenance rate (Hyperliquid); a position may instead be ccxt's
    unified position structure (``fetch_positions``: ``contracts × contractSize`` base units at
    ``entryPrice``, marked at ``markPrice``; see :data:`CCXT_POSITION_KEYS`).  ``as_of``: the
    account's date (tables in force then; default the latest).  Position ``i``'s collateral is
    ``wallet + Σ_{j≠i} (uPnL_j − MM_j)`` with the others' uPnL and cross maintenance margin at
    their marks (:func:`~liqcascade.venues.margin.cross_collateral`); its liquidation price is the
    venue's cross equation with that collateral, all other marks held.

    Columns: symbol (the venue's), side, size, entry, mark, notional_usd (at mark), upnl,
    maintenance_margin (at mark), collateral_usd, liquidation_price, bankruptcy_price,
    liquidation_distance_pct (from the mark), tier, mmr.  ``frame.attrs["account"]`` holds the
    wallet balance, equity, total maintenance margin and margin ratio.
    """
    wallet, positions = _account_positions(account)
    rules = load_venue(venue, allow_missing_tables=any(p["mmr"] is not None for p in positions), as_of=as_of)
    for i, p in enumerate(positions):
        # an account has no opening check: a leverage cap matters only where it sets the rate
        if p["max_leverage"] is not None and rules.maintenance_rate_at_max_leverage(p["max_leverage"]) is None:
            raise InputError(
                f"has no effect on {rules.name}: its maintenance rate does not follow from the "
                "maximum leverage (pin mmr instead)",
                field=f"positions[{i}].max_leverage",
            )
    n = len(positions)
    side = np.array([p["side"] for p in positions], dtype=np.int8)
    size = np.array([p["size"] for p in positions])
    entry = np.array([p["entry"] for p in positions])
    mark = np.array([p["mark"] for p in positions])
    fee = np.array([rules.default_taker_fee if p["taker_fee"] is None else p["taker_fee"] for p in positions])
    tables: list[TierTable] = [None] * n  # type: ignore[list-item]
    symbols = [""] * n
    for i, p in enumerate(positions):
        try:
            sym, parts = _group_tables(
                rules,
                p["symbol"],
                size[i : i + 1],
                mark[i : i + 1],
                mmr=p["mmr"],
                maintenance_amount=p["maintenance_amount"],
                max_leverage=p["max_leverage"],
            )
        except InputError as exc:
            raise InputError(str(exc).split(": ", 1)[-1], field=f"positions[{i}].symbol") from None
        symbols[i], tables[i] = sym, parts[0][1]
        t = tables[i]
        if t.measure(size[i], mark[i]) > t.max_position():
            raise InputError(
                f"position exceeds the largest tier of {rules.name} {t.symbol}", field=f"positions[{i}].size"
            )
    upnl = side * size * (mark - entry)
    mm = np.array(
        [
            float(
                rules.maintenance_margin(
                    size[i : i + 1],
                    mark[i : i + 1],
                    tables[i],
                    entry=entry[i : i + 1],
                    mode="cross",
                    taker_fee=fee[i : i + 1],
                )[0]
            )
            for i in range(n)
        ]
    )
    collateral = _m.cross_collateral(np.zeros(n, dtype=np.int64), np.array([wallet]), upnl, mm)
    lp = np.empty(n)
    bp = np.empty(n)
    tier = np.empty(n, dtype=np.int64)
    mmr = np.empty(n)
    mm_lp = np.empty(n)
    # one margin_figures call per table
    by_table: dict[int, list[int]] = {}
    for i, t in enumerate(tables):
        by_table.setdefault(id(t), []).append(i)
    for idx in by_table.values():
        r = np.array(idx)
        fig = rules.margin_figures(
            side[r], size[r], entry[r], collateral[r], tables[idx[0]], mode="cross", taker_fee=fee[r]
        )
        lp[r], bp[r], tier[r], mmr[r] = fig.liquidation_price, fig.bankruptcy_price, fig.tier, fig.mmr
        mm_lp[r] = fig.maintenance_margin
    bad = np.flatnonzero((mm < 0) | (mm_lp < 0))
    if bad.size:
        i = int(bad[0])
        t = tables[i]
        price, where = (mark[i], "at its mark") if mm[i] < 0 else (lp[i], "at the liquidation price")
        raise InputError(
            f"maintenance amount {float(t.maintenance_amount[0]):,.2f} USD is more than mmr {float(t.mmr[0]):g} x the "
            f"notional {where} ({size[i] * price:,.2f} USD): the maintenance margin would be negative and the "
            "liquidation price beyond bankruptcy",
            field=f"positions[{i}].maintenance_amount",
        )
    frame = pd.DataFrame(
        {
            "symbol": symbols,
            "side": np.where(side > 0, "long", "short"),
            "size": size,
            "entry": entry,
            "mark": mark,
            "notional_usd": size * mark,
            "upnl": upnl,
            "maintenance_margin": mm,
            "collateral_usd": collateral,
            "liquidation_price": lp,
            "bankruptcy_price": bp,
            "liquidation_distance_pct": (lp / mark - 1.0) * 100.0,
            "tier": tier,
            "mmr": mmr,
        }
    )
    equity = wallet + float(upnl.sum())
    total_mm = float(mm.sum())
    frame.attrs["account"] = {
        "venue": rules.name,
        "wallet_balance": wallet,
        "equity": equity,
        "maintenance_margin": total_mm,
        "margin_ratio": total_mm / equity if equity > 0 else math.inf,
        "liquidatable": equity <= total_mm,
    }
    return frame
