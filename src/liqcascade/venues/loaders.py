"""Tier tables from live sources: venue API responses, ccxt's ``fetchLeverageTiers`` and saved files.

Every loader returns ``dict[str, TierTable]`` keyed by ccxt unified symbol (``BTC/USDT:USDT``;
Hyperliquid perps are ``BTC/USDC:USDC``) and raises :class:`~liqcascade.errors.InputError` with a
one-line message naming the field (and the symbol and tier) for any payload it cannot use.

What each source means, read off the venues' documentation and real responses:

* **Binance** ``GET /fapi/v1/leverageBracket``: a list of ``{symbol, brackets: [...]}``; each
  bracket has ``notionalFloor``, ``notionalCap`` (USD notional), ``maintMarginRatio`` (fraction),
  ``initialLeverage`` and ``cum`` (the maintenance amount).  Numbers may arrive as JSON numbers
  or strings.
* **Bybit** ``GET /v5/market/risk-limit?category=linear``: ``result.list`` rows with
  ``riskLimitValue`` (the tier's cap in USDT; the floor is the previous tier's cap),
  ``maintenanceMargin`` and ``initialMargin`` (fractions, strings or numbers), ``maxLeverage`` and
  ``mmDeduction`` (empty on the first tier, sometimes absent).  Rows are not guaranteed to be
  sorted, so they are sorted by ``riskLimitValue``.  Bybit's own documentation example (an
  inverse contract) shows ``"0.5"``/``"1"`` beside 100x, i.e. percent; a row whose
  ``initialMargin * maxLeverage`` is about 100 instead of about 1 is refused rather than guessed.
* **OKX** ``GET /api/v5/public/position-tiers?instType=SWAP``: ``data`` rows with ``minSz``,
  ``maxSz`` in **contracts**, ``mmr``, ``imr``, ``maxLever``, grouped by ``instFamily`` (or
  ``uly``).  The table keeps ``basis="contracts"`` and the instrument's ``ctVal`` as
  ``contract_size`` (from ``contract_sizes`` or :data:`OKX_CONTRACT_SIZES`).  OKX has no
  maintenance amount.  Older OKX tables start tier *n* at ``maxSz(n-1) + 1`` (whole contracts);
  a gap of at most one contract is closed (floor = previous cap), a larger gap is an error.
  Inverse families (``BTC-USD``) are skipped: their contracts are worth USD, not base units.
* **Hyperliquid** info ``{"type": "meta"}``: ``universe[{name, maxLeverage, marginTableId}]`` and
  ``marginTables: [[id, {description, marginTiers: [{lowerBound, maxLeverage}]}], ...]``.  Per
  the API (and SDKs that mirror it), an id below 50 is not listed: it denotes a flat table at that
  leverage, and an asset without an id is held to its ``maxLeverage`` at any size — both become a
  single tier at the asset's ``maxLeverage``.  A listed table's tier ``n`` runs from its
  ``lowerBound`` to the next one; each tier's leverage is capped at the asset's ``maxLeverage``;
  ``mmr = 1 / (2 * maxLeverage)``; the deduction follows the continuity recursion.  The last tier
  has no published cap: :data:`UNBOUNDED_CAP` stands for none (as in the bundled tables).
* **ccxt** ``fetchLeverageTiers``: ``{symbol: [{tier, minNotional, maxNotional,
  maintenanceMarginRate, maxLeverage, info}]}``.  The unified tier has no maintenance amount: it
  is read from ``info`` (Binance ``cum``, Bybit ``mmDeduction``) or derived.  **OKX trap:** ccxt's
  ``okx.parse_market_leverage_tiers`` fills ``minNotional``/``maxNotional`` from OKX's
  ``minSz``/``maxSz``, i.e. contracts, not USD; such tables are built on the contract basis.  For
  Bybit, ccxt derives ``minNotional`` from the previous row *in response order*, which is wrong
  when the response is unsorted, so floors are recomputed from the sorted caps.

Maintenance amounts read from a venue are checked against the continuity recursion by
:class:`TierTable`; where a venue gives none they are derived by it.

The bundled format (``venues/tables/<venue>.json``) keeps, per symbol, one table or its dated
``versions`` (``as_of``: the ISO day from which a version is known to be in force, ``source``:
where it was read); :func:`bundled_versions` reads every version, :func:`load_tier_file` the latest.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from .tiers import TierTable, derive_maintenance_amounts

__all__ = [
    "UNBOUNDED_CAP",
    "OKX_CONTRACT_SIZES",
    "from_ccxt_leverage_tiers",
    "from_binance_leverage_bracket",
    "from_bybit_risk_limit",
    "from_okx_position_tiers",
    "from_hyperliquid_meta",
    "load_tier_file",
    "detect_format",
    "bundled_versions",
]

#: Cap used for a last tier that has no published upper bound (USD notional or contracts).
UNBOUNDED_CAP = 1e12

#: OKX ``ctVal`` (base units per contract) of the linear swaps the project bundles; pass
#: ``contract_sizes`` for any other instrument.
OKX_CONTRACT_SIZES: dict[str, float] = {
    "BTC/USDT:USDT": 0.01,
    "ETH/USDT:USDT": 0.1,
    "SOL/USDT:USDT": 1.0,
    "DOGE/USDT:USDT": 1000.0,
}

_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD")
_CCXT_VENUE_ALIASES = {"binanceusdm": "binance", "okx5": "okx", "okex": "okx", "okex5": "okx"}


# ---------------------------------------------------------------------------------------- helpers
def _fail(where: str, message: str, field: str) -> InputError:
    return InputError(f"{where}: {message}", field=field)


def _num(value: Any, field: str, where: str) -> float:
    """A finite float from a JSON number or numeric string; anything else is an InputError."""
    if value is None or isinstance(value, bool):
        raise _fail(where, f"expected a number, got {value!r}", field)
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise _fail(where, "expected a number, got an empty string", field)
        try:
            out = float(text)
        except ValueError:
            raise _fail(where, f"expected a number, got {value!r}", field) from None
    else:
        raise _fail(where, f"expected a number, got {type(value).__name__}", field)
    if not math.isfinite(out):
        raise _fail(where, f"expected a finite number, got {value!r}", field)
    return out


def _field(row: Any, field: str, where: str) -> Any:
    if not isinstance(row, Mapping):
        raise _fail(where, f"expected an object, got {type(row).__name__}", field)
    if field not in row:
        raise _fail(where, "missing", field)
    return row[field]


def _get_num(row: Any, field: str, where: str) -> float:
    return _num(_field(row, field, where), field, where)


def _optional_num(row: Mapping, field: str, where: str) -> float | None:
    """A number, or None when the field is absent, null or an empty string."""
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _num(value, field, where)


def _list(value: Any, field: str, where: str) -> list:
    if not isinstance(value, list):
        raise _fail(where, f"expected a list, got {type(value).__name__}", field)
    if not value:
        raise _fail(where, "is empty", field)
    return value


def _check_contiguous(where: str, floors: np.ndarray, caps: np.ndarray, floor_field: str) -> None:
    for k in range(1, len(floors)):
        if not math.isclose(floors[k], caps[k - 1], rel_tol=1e-12, abs_tol=1e-9):
            raise _fail(
                f"{where} tier {k + 1}",
                f"floor {floors[k]:g} does not equal the previous tier's cap {caps[k - 1]:g} (tiers must be contiguous)",
                floor_field,
            )
        if caps[k] <= floors[k]:
            raise _fail(f"{where} tier {k + 1}", f"cap {caps[k]:g} does not exceed floor {floors[k]:g}", "cap")
    if len(caps) and caps[0] <= floors[0]:
        raise _fail(f"{where} tier 1", f"cap {caps[0]:g} does not exceed floor {floors[0]:g}", "cap")


def _build(
    venue: str,
    symbol: str,
    floors,
    caps,
    lev,
    mmr,
    amounts,
    *,
    basis="notional",
    contract_size=1.0,
    as_of="",
    source="",
    floor_field="floor",
) -> TierTable:
    floors = np.asarray(floors, dtype=np.float64)
    caps = np.asarray(caps, dtype=np.float64)
    mmr = np.asarray(mmr, dtype=np.float64)
    where = f"{venue} {symbol}"
    _check_contiguous(where, floors, caps, floor_field)
    if basis == "contracts":
        d = np.zeros_like(mmr)
    elif amounts is None:
        d = derive_maintenance_amounts(floors, mmr)
    else:
        d = np.asarray(amounts, dtype=np.float64)
    return TierTable(
        venue,
        symbol,
        floors,
        caps,
        np.asarray(lev, dtype=np.float64),
        mmr,
        d,
        basis,
        float(contract_size),
        as_of,
        source,
    )


def _binance_symbol(raw: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT:USDT``; ``BTCUSDT_241227`` -> ``BTC/USDT:USDT-241227``; else unchanged."""
    core, _, expiry = raw.partition("_")
    for quote in _QUOTES:
        if core.endswith(quote) and len(core) > len(quote):
            sym = f"{core[: -len(quote)]}/{quote}:{quote}"
            return f"{sym}-{expiry}" if expiry else sym
    return raw


def _bybit_symbol(raw: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT:USDT``; ``BTCPERP`` (USDC perpetual) -> ``BTC/USDC:USDC``; else unchanged."""
    if "-" not in raw:
        if raw.endswith("PERP") and len(raw) > 4:
            return f"{raw[:-4]}/USDC:USDC"
        for quote in ("USDT", "USDC"):
            if raw.endswith(quote) and len(raw) > len(quote):
                return f"{raw[: -len(quote)]}/{quote}:{quote}"
    return raw


def _okx_symbol(family: str) -> str | None:
    """``BTC-USDT`` -> ``BTC/USDT:USDT``; inverse families (``BTC-USD``) -> None."""
    parts = family.split("-")
    if len(parts) >= 2 and parts[1] in ("USDT", "USDC"):
        return f"{parts[0]}/{parts[1]}:{parts[1]}"
    return None


def _close_okx_gaps(where: str, mins: list[float], maxs: list[float], min_field: str) -> list[float]:
    """Floors for contract tiers: tier n starts at the previous ``maxSz``; OKX's older tables start
    it one contract later (``maxSz + 1``), which is the same tier on whole contracts."""
    floors = [0.0 if mins[0] <= 1.0 else mins[0]]
    for k in range(1, len(mins)):
        gap = mins[k] - maxs[k - 1]
        if not (-1e-9 <= gap <= 1.0 + 1e-9):
            raise _fail(
                f"{where} tier {k + 1}",
                f"{min_field} {mins[k]:g} does not follow the previous tier's maxSz {maxs[k - 1]:g} "
                "(tiers must be contiguous)",
                min_field,
            )
        floors.append(maxs[k - 1])
    return floors


def _okx_contract_size(symbol: str, contract_sizes: Mapping[str, float] | None, family: str | None = None) -> float:
    for key in (symbol, family):
        if key is not None and contract_sizes and key in contract_sizes:
            return _num(contract_sizes[key], "contract_size", f"okx {symbol}")
    if symbol in OKX_CONTRACT_SIZES:
        return OKX_CONTRACT_SIZES[symbol]
    raise _fail(
        f"okx {symbol}",
        "tiers are in contracts and the contract size (ctVal) is unknown; pass contract_sizes={symbol: ctVal}",
        "contract_size",
    )


def _deductions(values: list[float | None]) -> list[float] | None:
    """Venue maintenance amounts when every tier has one (the first may be blank: D_1 = 0); else None."""
    if values and values[0] is None:
        values = [0.0] + values[1:]
    if all(v is not None for v in values):
        return [float(v) for v in values]  # type: ignore[arg-type]
    return None


def _ms_date(ms: Any) -> str:
    try:
        return _dt.datetime.fromtimestamp(float(ms) / 1000.0, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


# ---------------------------------------------------------------------------------------- ccxt
def from_ccxt_leverage_tiers(
    venue: str, data: Mapping[str, Any], *, contract_sizes: Mapping[str, float] | None = None, as_of: str = ""
) -> dict[str, TierTable]:
    """Tables from ccxt's ``fetchLeverageTiers`` result for ``venue`` (``binance``, ``bybit``,
    ``okx`` or any other ccxt id, read as USD-notional tiers with derived amounts).

    OKX: ccxt's ``minNotional``/``maxNotional`` are OKX's ``minSz``/``maxSz`` (contracts); the
    table is built on the contract basis with ``contract_size`` from ``contract_sizes`` (keyed by
    symbol) or :data:`OKX_CONTRACT_SIZES`.
    """
    v = _CCXT_VENUE_ALIASES.get(str(venue).lower(), str(venue).lower())
    if not isinstance(data, Mapping) or not data:
        raise InputError("ccxt leverage tiers: expected a non-empty {symbol: [tiers]} object", field="tiers")
    source = f"ccxt fetchLeverageTiers ({v})"
    out: dict[str, TierTable] = {}
    for symbol, tiers in data.items():
        where = f"{v} {symbol}"
        rows = _list(tiers, "tiers", where)
        parsed = []
        for i, row in enumerate(rows):
            w = f"{where} tier {i + 1}"
            info = row.get("info") if isinstance(row, Mapping) else None
            info = info if isinstance(info, Mapping) else {}
            lo = _get_num(row, "minNotional", w)
            hi_raw = _field(row, "maxNotional", w)
            hi = UNBOUNDED_CAP if hi_raw is None and i == len(rows) - 1 else _num(hi_raw, "maxNotional", w)
            mmr = _get_num(row, "maintenanceMarginRate", w)
            lev = _get_num(row, "maxLeverage", w)
            if v == "binance":
                amount = _optional_num(info, "cum", w)
            elif v == "bybit":
                amount = _optional_num(info, "mmDeduction", w)
            else:
                amount = None
            if v == "okx":
                # the unit trap: ccxt copies minSz/maxSz (contracts) into min/maxNotional
                lo = _optional_num(info, "minSz", w) if "minSz" in info else lo
                hi = _optional_num(info, "maxSz", w) if "maxSz" in info else hi
                if lo is None or hi is None:
                    raise _fail(w, "expected a number, got an empty string", "minSz" if lo is None else "maxSz")
            parsed.append((lo, hi, mmr, lev, amount, info))
        parsed.sort(key=lambda r: (r[1], r[0]))
        caps = [r[1] for r in parsed]
        mmr = [r[2] for r in parsed]
        lev = [r[3] for r in parsed]
        if v == "okx":
            family = next((str(r[5].get("instFamily") or r[5].get("uly") or "") for r in parsed), "") or None
            floors = _close_okx_gaps(where, [r[0] for r in parsed], caps, "minNotional")
            size = _okx_contract_size(symbol, contract_sizes, family)
            out[symbol] = _build(
                "okx",
                symbol,
                floors,
                caps,
                lev,
                mmr,
                None,
                basis="contracts",
                contract_size=size,
                as_of=as_of,
                source=source + ": minNotional/maxNotional are OKX minSz/maxSz (contracts)",
                floor_field="minNotional",
            )
            continue
        if v == "bybit":
            floors = [0.0] + caps[:-1]  # ccxt's minNotional follows response order; recompute
        else:
            floors = [r[0] for r in parsed]
        amounts = _deductions([r[4] for r in parsed]) if v in ("binance", "bybit") else None
        out[symbol] = _build(
            v, symbol, floors, caps, lev, mmr, amounts, as_of=as_of, source=source, floor_field="minNotional"
        )
    return out


# ---------------------------------------------------------------------------------------- Binance
def from_binance_leverage_bracket(payload: Any, *, as_of: str = "") -> dict[str, TierTable]:
    """Tables from Binance USDⓈ-M ``GET /fapi/v1/leverageBracket`` (all symbols or one)."""
    if isinstance(payload, Mapping) and "brackets" not in payload and "code" in payload:
        raise InputError(
            f"binance leverageBracket: error response {payload.get('code')}: {payload.get('msg', '')}", field="code"
        )
    items = [payload] if isinstance(payload, Mapping) else payload
    items = _list(items, "brackets", "binance leverageBracket")
    out: dict[str, TierTable] = {}
    for n, item in enumerate(items):
        raw = _field(item, "symbol", f"binance leverageBracket item {n + 1}")
        if not isinstance(raw, str) or not raw:
            raise _fail(f"binance leverageBracket item {n + 1}", f"expected a symbol string, got {raw!r}", "symbol")
        symbol = _binance_symbol(raw)
        where = f"binance {raw}"
        brackets = _list(_field(item, "brackets", where), "brackets", where)
        rows = []
        for i, b in enumerate(brackets):
            w = f"{where} bracket {b.get('bracket', i + 1) if isinstance(b, Mapping) else i + 1}"
            rows.append(
                (
                    _get_num(b, "notionalFloor", w),
                    _get_num(b, "notionalCap", w),
                    _get_num(b, "initialLeverage", w),
                    _get_num(b, "maintMarginRatio", w),
                    _optional_num(b, "cum", w),
                )
            )
        rows.sort(key=lambda r: r[0])
        out[symbol] = _build(
            "binance",
            symbol,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
            _deductions([r[4] for r in rows]),
            as_of=as_of,
            source="Binance GET /fapi/v1/leverageBracket",
            floor_field="notionalFloor",
        )
    return out


# ---------------------------------------------------------------------------------------- Bybit
def from_bybit_risk_limit(payload: Any, *, as_of: str = "") -> dict[str, TierTable]:
    """Tables from Bybit ``GET /v5/market/risk-limit?category=linear`` (one or several symbols).

    ``as_of`` defaults to the response's ``time`` when it has one.
    """
    if not isinstance(payload, Mapping):
        raise InputError("bybit risk-limit: expected a response object", field="result")
    if "retCode" in payload and str(payload.get("retCode")) != "0":
        raise InputError(
            f"bybit risk-limit: error response {payload.get('retCode')}: {payload.get('retMsg', '')}", field="retCode"
        )
    result = _field(payload, "result", "bybit risk-limit")
    if isinstance(result, Mapping) and str(result.get("category", "linear")).lower() == "inverse":
        raise InputError(
            "bybit risk-limit: category 'inverse' is not supported (linear contracts only)", field="category"
        )
    rows = _list(_field(result, "list", "bybit risk-limit result"), "list", "bybit risk-limit result")
    if not as_of and "time" in payload:
        as_of = _ms_date(payload["time"])
    grouped: dict[str, list] = {}
    for n, row in enumerate(rows):
        raw = _field(row, "symbol", f"bybit risk-limit row {n + 1}")
        w = f"bybit {raw} risk id {row.get('id', n + 1)}"
        cap = _get_num(row, "riskLimitValue", w)
        mm = _get_num(row, "maintenanceMargin", w)
        lev = _get_num(row, "maxLeverage", w)
        im = _optional_num(row, "initialMargin", w)
        if im is not None and lev > 0 and im * lev > 10:
            raise _fail(
                w,
                f"maintenanceMargin {mm:g} / initialMargin {im:g} at {lev:g}x look like percent; "
                "expected fractions (linear risk limits)",
                "maintenanceMargin",
            )
        if not 0 <= mm < 1:
            raise _fail(w, f"{mm:g} is not a fraction in [0, 1)", "maintenanceMargin")
        grouped.setdefault(str(raw), []).append((cap, lev, mm, _optional_num(row, "mmDeduction", w)))
    out: dict[str, TierTable] = {}
    for raw, tiers in grouped.items():
        tiers.sort(key=lambda r: r[0])
        caps = [r[0] for r in tiers]
        for k in range(1, len(caps)):
            if caps[k] == caps[k - 1]:
                raise _fail(
                    f"bybit {raw} tier {k + 1}", f"two tiers share the riskLimitValue {caps[k]:g}", "riskLimitValue"
                )
        symbol = _bybit_symbol(raw)
        out[symbol] = _build(
            "bybit",
            symbol,
            [0.0] + caps[:-1],
            caps,
            [r[1] for r in tiers],
            [r[2] for r in tiers],
            _deductions([r[3] for r in tiers]),
            as_of=as_of,
            source="Bybit GET /v5/market/risk-limit (category=linear)",
            floor_field="riskLimitValue",
        )
    return out


# ---------------------------------------------------------------------------------------- OKX
def from_okx_position_tiers(
    payload: Any, *, contract_sizes: Mapping[str, float] | None = None, as_of: str = ""
) -> dict[str, TierTable]:
    """Tables from OKX ``GET /api/v5/public/position-tiers?instType=SWAP`` (contracts basis).

    ``contract_sizes`` maps a ccxt symbol (or an OKX ``instFamily``) to ``ctVal``; the bundled
    linear swaps default to :data:`OKX_CONTRACT_SIZES`.  Inverse families are skipped.
    """
    if not isinstance(payload, Mapping):
        raise InputError("okx position-tiers: expected a response object", field="data")
    if "code" in payload and str(payload.get("code")) != "0":
        raise InputError(
            f"okx position-tiers: error response {payload.get('code')}: {payload.get('msg', '')}", field="code"
        )
    rows = _list(_field(payload, "data", "okx position-tiers"), "data", "okx position-tiers")
    grouped: dict[str, list] = {}
    for n, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise _fail(f"okx position-tiers row {n + 1}", "expected an object", "data")
        family = row.get("instFamily") or row.get("uly") or str(row.get("instId") or "").removesuffix("-SWAP")
        if not family:
            raise _fail(f"okx position-tiers row {n + 1}", "missing (no instFamily, uly or instId)", "instFamily")
        w = f"okx {family} tier {row.get('tier', n + 1)}"
        tier_no = _get_num(row, "tier", w) if "tier" in row else float(n + 1)
        grouped.setdefault(str(family), []).append(
            (
                tier_no,
                _get_num(row, "minSz", w),
                _get_num(row, "maxSz", w),
                _get_num(row, "maxLever", w),
                _get_num(row, "mmr", w),
            )
        )
    out: dict[str, TierTable] = {}
    for family, tiers in grouped.items():
        symbol = _okx_symbol(family)
        if symbol is None:
            continue
        tiers.sort(key=lambda r: (r[0], r[1]))
        maxs = [r[2] for r in tiers]
        floors = _close_okx_gaps(f"okx {family}", [r[1] for r in tiers], maxs, "minSz")
        out[symbol] = _build(
            "okx",
            symbol,
            floors,
            maxs,
            [r[3] for r in tiers],
            [r[4] for r in tiers],
            None,
            basis="contracts",
            contract_size=_okx_contract_size(symbol, contract_sizes, family),
            as_of=as_of,
            source="OKX GET /api/v5/public/position-tiers (instType=SWAP; bounds in contracts)",
            floor_field="minSz",
        )
    if not out:
        raise InputError("okx position-tiers: no linear (USDT/USDC) swap family in the response", field="instFamily")
    return out


# ---------------------------------------------------------------------------------------- Hyperliquid
FLAT_TABLE_IDS_BELOW = 50


def _hl_tables(raw: Any) -> dict[int, list[tuple[float, float]]]:
    tables: dict[int, list[tuple[float, float]]] = {}
    if raw is None:
        return tables
    if not isinstance(raw, list):
        raise InputError(
            f"hyperliquid meta: expected a list of [id, table] pairs, got {type(raw).__name__}", field="marginTables"
        )
    for n, pair in enumerate(raw):
        where = f"hyperliquid marginTables entry {n + 1}"
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[1], Mapping):
            raise _fail(where, "expected an [id, {description, marginTiers}] pair", "marginTables")
        tid = int(_num(pair[0], "marginTables", where))
        tiers = _list(_field(pair[1], "marginTiers", f"{where} (table {tid})"), "marginTiers", f"{where} (table {tid})")
        parsed = []
        for i, t in enumerate(tiers):
            w = f"hyperliquid margin table {tid} tier {i + 1}"
            parsed.append((_get_num(t, "lowerBound", w), _get_num(t, "maxLeverage", w)))
        parsed.sort(key=lambda r: r[0])
        if parsed[0][0] != 0:
            raise _fail(f"hyperliquid margin table {tid} tier 1", f"lowerBound {parsed[0][0]:g} is not 0", "lowerBound")
        for i in range(1, len(parsed)):
            if parsed[i][0] == parsed[i - 1][0]:
                raise _fail(
                    f"hyperliquid margin table {tid} tier {i + 1}",
                    f"lowerBound {parsed[i][0]:g} repeats the previous tier's",
                    "lowerBound",
                )
        tables[tid] = parsed
    return tables


def from_hyperliquid_meta(payload: Any, *, as_of: str = "") -> dict[str, TierTable]:
    """Tables from the Hyperliquid info endpoint ``{"type": "meta"}`` (or ``metaAndAssetCtxs``,
    whose first element is the meta).  See the module docstring for ``marginTableId``."""
    if isinstance(payload, list) and payload and isinstance(payload[0], Mapping) and "universe" in payload[0]:
        payload = payload[0]
    if not isinstance(payload, Mapping):
        raise InputError("hyperliquid meta: expected a response object", field="universe")
    universe = _list(_field(payload, "universe", "hyperliquid meta"), "universe", "hyperliquid meta")
    tables = _hl_tables(payload.get("marginTables"))
    out: dict[str, TierTable] = {}
    for n, asset in enumerate(universe):
        name = _field(asset, "name", f"hyperliquid universe entry {n + 1}")
        if not isinstance(name, str) or not name:
            raise _fail(f"hyperliquid universe entry {n + 1}", f"expected a name, got {name!r}", "name")
        where = f"hyperliquid {name}"
        max_lev = _get_num(asset, "maxLeverage", where)
        if max_lev <= 0:
            raise _fail(where, f"{max_lev:g} is not positive", "maxLeverage")
        tid_raw = asset.get("marginTableId")
        if tid_raw is None:
            tiers = [(0.0, max_lev)]
        else:
            tid = int(_num(tid_raw, "marginTableId", where))
            if tid in tables:
                tiers = tables[tid]
            elif tid < FLAT_TABLE_IDS_BELOW:
                tiers = [(0.0, max_lev)]
            else:
                raise _fail(where, f"margin table {tid} is not in marginTables", "marginTableId")
        floors = [t[0] for t in tiers]
        caps = floors[1:] + [UNBOUNDED_CAP]
        lev = [min(t[1], max_lev) for t in tiers]
        if any(x <= 0 for x in lev):
            raise _fail(where, "a tier's maxLeverage is not positive", "maxLeverage")
        mmr = [1.0 / (2.0 * x) for x in lev]
        symbol = f"{name}/USDC:USDC"
        out[symbol] = _build(
            "hyperliquid",
            symbol,
            floors,
            caps,
            lev,
            mmr,
            None,
            as_of=as_of,
            source="Hyperliquid info meta (marginTables; MMR = 1/(2*maxLeverage))",
            floor_field="lowerBound",
        )
    return out


# ---------------------------------------------------------------------------------------- files
def _bundled_version(where: str, file_venue: str, symbol: str, spec: Any) -> TierTable:
    if not isinstance(spec, Mapping):
        raise _fail(where, "expected an object", "symbols")
    rows = _list(_field(spec, "tiers", where), "tiers", where)
    clean = []
    for i, r in enumerate(rows):
        w = f"{where} tier {i + 1}"
        row = {k: _get_num(r, k, w) for k in ("floor", "cap", "max_leverage", "mmr")}
        if isinstance(r, Mapping) and r.get("maintenance_amount") not in (None, ""):
            row["maintenance_amount"] = _num(r["maintenance_amount"], "maintenance_amount", w)
        clean.append(row)
    clean.sort(key=lambda r: r["floor"])
    basis = spec.get("basis", "notional")
    if basis not in ("notional", "contracts"):
        raise _fail(where, f"basis must be 'notional' or 'contracts', got {basis!r}", "basis")
    _check_contiguous(where, np.array([r["floor"] for r in clean]), np.array([r["cap"] for r in clean]), "floor")
    return TierTable.from_rows(
        file_venue,
        symbol,
        clean,
        basis=basis,
        contract_size=_num(spec.get("contract_size", 1.0), "contract_size", where),
        as_of=str(spec.get("as_of", "")),
        source=str(spec.get("source", "")),
    )


def bundled_versions(doc: Mapping[str, Any], venue: str | None = None) -> dict[str, list[TierTable]]:
    """Every dated version of every table in a document of the bundled format, oldest first.

    A symbol's entry is either one table (``as_of, source, basis, contract_size, tiers``) or
    ``{"versions": [table, ...]}``.  Versions carry ISO dates in ``as_of`` (the day from which the
    table is known to be in force), distinct per symbol; a single table may carry any text.
    """
    file_venue = str(doc.get("venue") or venue or "")
    if venue and file_venue and venue.lower() != file_venue.lower():
        raise InputError(f"tier file is for venue {file_venue!r}, not {venue!r}", field="venue")
    symbols = doc.get("symbols")
    if not isinstance(symbols, Mapping) or not symbols:
        raise InputError("tier file: 'symbols' must be a non-empty object", field="symbols")
    out: dict[str, list[TierTable]] = {}
    for symbol, spec in symbols.items():
        where = f"{file_venue} {symbol}"
        if isinstance(spec, Mapping) and "versions" in spec:
            specs = _list(spec["versions"], "versions", where)
            tables = [
                _bundled_version(f"{where} version {i + 1}", file_venue, str(symbol), v) for i, v in enumerate(specs)
            ]
            for i, t in enumerate(tables):
                if t.as_of_date is None:
                    raise _fail(
                        f"{where} version {i + 1}", f"as_of {t.as_of!r} is not an ISO date (2024-10-24)", "as_of"
                    )
            tables.sort(key=lambda t: t.as_of_date)
            for a, b in zip(tables, tables[1:]):
                if a.as_of_date == b.as_of_date:
                    raise _fail(where, f"two versions are dated {a.as_of}", "as_of")
            out[str(symbol)] = tables
        else:
            out[str(symbol)] = [_bundled_version(where, file_venue, str(symbol), spec)]
    return out


def _from_bundled(doc: Mapping[str, Any], venue: str | None) -> dict[str, TierTable]:
    """The latest version of each table (see :func:`bundled_versions`)."""
    return {symbol: versions[-1] for symbol, versions in bundled_versions(doc, venue).items()}


def _ccxt_venue_of(data: Mapping[str, Any]) -> str | None:
    for tiers in data.values():
        for row in tiers if isinstance(tiers, list) else []:
            info = row.get("info") if isinstance(row, Mapping) else None
            if isinstance(info, Mapping):
                if "notionalFloor" in info or "cum" in info:
                    return "binance"
                if "riskLimitValue" in info:
                    return "bybit"
                if "minSz" in info or "maxSz" in info:
                    return "okx"
    return None


def _is_ccxt(doc: Any) -> bool:
    if not isinstance(doc, Mapping) or not doc:
        return False
    return all(isinstance(v, list) and v and isinstance(v[0], Mapping) and "maxNotional" in v[0] for v in doc.values())


def detect_format(doc: Any) -> str:
    """Which source a parsed JSON document comes from: ``bundled``, ``binance``, ``bybit``,
    ``okx``, ``hyperliquid`` or ``ccxt``; InputError when none fits."""
    if isinstance(doc, Mapping):
        if "symbols" in doc and isinstance(doc.get("symbols"), Mapping):
            return "bundled"
        if "universe" in doc:
            return "hyperliquid"
        if "retCode" in doc or (isinstance(doc.get("result"), Mapping) and "list" in doc["result"]):
            return "bybit"
        if "data" in doc and "code" in doc:
            return "okx"
        if "brackets" in doc:
            return "binance"
        if _is_ccxt(doc):
            return "ccxt"
    if isinstance(doc, list) and doc and isinstance(doc[0], Mapping):
        if "brackets" in doc[0]:
            return "binance"
        if "universe" in doc[0]:
            return "hyperliquid"
    raise InputError(
        "unknown tier file format (expected a bundled table, a Binance leverageBracket, Bybit "
        "risk-limit, OKX position-tiers or Hyperliquid meta response, or ccxt fetchLeverageTiers)",
        field="format",
    )


def load_tier_file(path: str | Path, venue: str | None = None) -> dict[str, TierTable]:
    """Read a JSON file saved from any supported source (or in the bundled-table format) and
    return its tables.  ``venue`` is required only for a ccxt dump whose venue cannot be told from
    the raw ``info``; when given for other formats it must match."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read tier file {str(p)!r}: {exc.strerror or exc}", field="path") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"tier file {p.name!r} is not valid JSON (line {exc.lineno}, column {exc.colno})", field="path"
        ) from None
    fmt = detect_format(doc)
    wanted = _CCXT_VENUE_ALIASES.get(venue.lower(), venue.lower()) if venue else None
    try:
        mtime = _dt.datetime.fromtimestamp(p.stat().st_mtime, tz=_dt.timezone.utc).strftime("%Y-%m-%d")
    except OSError:
        mtime = ""
    as_of = f"file {p.name} saved {mtime}" if mtime else f"file {p.name}"
    if fmt == "bundled":
        return _from_bundled(doc, wanted)
    if fmt == "ccxt":
        found = _ccxt_venue_of(doc)
        if wanted and found and wanted != found:
            raise InputError(f"ccxt tiers in {p.name!r} look like {found!r}, not {venue!r}", field="venue")
        v = wanted or found
        if v is None:
            raise InputError(f"cannot tell the venue of the ccxt tiers in {p.name!r}; pass venue=", field="venue")
        return from_ccxt_leverage_tiers(v, doc, as_of=as_of)
    if wanted and wanted != fmt:
        raise InputError(f"{p.name!r} is a {fmt} response, not {venue!r}", field="venue")
    if fmt == "binance":
        return from_binance_leverage_bracket(doc, as_of=as_of)
    if fmt == "bybit":
        return from_bybit_risk_limit(doc, as_of=_ms_date(doc.get("time")) or as_of)
    if fmt == "okx":
        return from_okx_position_tiers(doc, as_of=as_of)
    return from_hyperliquid_meta(doc, as_of=as_of)
